"""The command line starts light: no specutils, PyTorch, scikit-learn, astroquery, matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "sklearn", "astroquery", "matplotlib", "specutils", "timm")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the heavy modules it imported and its output."""
    probe = f"""
import contextlib, io, json, sys
out = io.StringIO()
with contextlib.redirect_stdout(out):
{chr(10).join('    ' + line for line in code.strip().splitlines())}
print(json.dumps({{"heavy": [m for m in {HEAVY!r} if m in sys.modules], "out": out.getvalue()}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_spectromer_is_light():
    assert _modules_after("import spectromer")["heavy"] == []


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"]]
    + [[name, "--help"] for name in __import__("spectromer.cli").cli._COMMANDS],
)
def test_cli_help_imports_nothing_heavy(argv):
    """Issue 13: ``train --help`` (and pretrain, render) imported scikit-learn and specutils."""
    result = _modules_after(
        f"from spectromer.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    )
    assert result["heavy"] == []
    assert "spectromer" in result["out"]
    if argv == ["--help"]:  # every sub-command is listed with its one-line help
        listed = ("info", "ingest", "simulate", "render", "pretrain", "train", "predict", "fetch")
        for name in listed:
            assert f"\n    {name} " in result["out"]


@pytest.mark.parametrize("first", ["spectromer", "specutils"])
def test_readers_and_to_image_are_registered_whatever_the_import_order(first):
    second = "specutils" if first == "spectromer" else "spectromer"
    result = _modules_after(
        f"""
import {first}
import {second}
from astropy.io import registry
from specutils import Spectrum
print(hasattr(Spectrum, "to_image"), "LAMOST-LRS" in registry.get_formats(Spectrum)["Format"])
"""
    )
    assert result["out"].split() == ["True", "True"]


def test_lazy_names_of_the_package():
    import spectromer

    assert spectromer.SpectromerModel.__name__ == "SpectromerModel"
    assert spectromer.read_spectra is spectromer.io.read_spectra
    assert spectromer.render is spectromer.imaging.render
    assert set(spectromer.__all__) <= set(dir(spectromer))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        spectromer.nope  # noqa: B018


def test_every_sub_command_is_probed():
    from spectromer.cli import _COMMANDS

    expected = {
        "info", "ingest", "simulate", "render", "pretrain", "train", "predict", "benchmark", "fetch"
    }
    assert expected <= set(_COMMANDS)


def test_estimator_options_are_left_unset_unless_given():
    """Not given, an option sets no parameter: the estimator's own default applies."""
    from spectromer.cli import build_parser
    from spectromer.cli.train import NEGATED_FLAGS, TRAIN_OPTIONS, estimator_params

    args = build_parser(["train"]).parse_args(["train", "sample", "--label", "type", "--out", "m"])
    assert estimator_params(args, TRAIN_OPTIONS) == {}
    args = build_parser(["train"]).parse_args(
        ["train", "sample", "--label", "type", "--out", "m", "--epochs", "3", "--no-augment"]
    )
    assert estimator_params(args, TRAIN_OPTIONS) == {"epochs": 3, "augment": False}
    assert set(NEGATED_FLAGS.values()) == {"augment", "progress"}
