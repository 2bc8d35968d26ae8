"""Tests of ``spectromer train`` and ``spectromer predict``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from astropy.table import Table  # noqa: E402

from spectromer import SpectromerModel  # noqa: E402
from spectromer.cli import main  # noqa: E402
from spectromer.datasets import sample_path  # noqa: E402

TINY = [
    "--backbone", "vit_tiny_patch16_224", "--pretrained", "none", "--seed", "0",
    "--image-size", "32", "--backbone-option", "patch_size=8", "--backbone-option", "depth=2",
    "--batch-size", "32", "--no-progress", "--device", "cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    code = main(
        ["train", str(sample_path()), "--label", "type", "--split", "default", "--out", str(out),
         "--epochs", "2", "--kind", "map2dnormaldev", "--fill-order", "hilbert", *TINY]
    )  # fmt: skip
    assert code == 0
    return out


def test_train_writes_a_loadable_model(trained, capsys):
    model = SpectromerModel.load(trained)
    assert model.classes_.tolist() == ["A", "F", "G"]
    assert model.render_config_.fill_order == "hilbert"
    assert model.backbone_options == {"patch_size": 8, "depth": 2}
    assert len(model.history_) == 2
    assert (trained / "checkpoints" / "checkpoint.pt").is_file()
    assert (trained / "checkpoints" / "history.csv").is_file()


def test_train_resume_and_report(tmp_path, capsys):
    out = tmp_path / "m"
    args = ["train", str(sample_path()), "--label", "type", "--split", "default", "--out",
            str(out), "--epochs", "1", *TINY]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "test accuracy on split 'default' (89 spectra)" in text
    assert "saved the model" in text
    assert main([*args, "--resume"]) == 0  # already complete: nothing to redo
    assert main([*args, "--lr", "0.5", "--resume"]) == 1
    assert "different training run" in capsys.readouterr().err


def test_train_errors(tmp_path, capsys):
    code = main(["train", str(sample_path()), "--label", "colour", "--out", str(tmp_path), *TINY])
    assert code == 1
    assert "no metadata column 'colour'" in capsys.readouterr().err
    code = main(["train", str(tmp_path / "none.h5"), "--label", "type", "--out", str(tmp_path)])
    assert code == 1
    assert "no such dataset file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(sample_path()), "--label", "type", "--out", "x",
              "--backbone-option", "depth"])  # fmt: skip


def test_train_regression(tmp_path, capsys):
    out = tmp_path / "reg"
    code = main(
        ["train", str(sample_path()), "--label", "z", "--task", "regression", "--loss",
         "gaussian_nll", "--out", str(out), "--epochs", "1", "--split", "default", *TINY]
    )  # fmt: skip
    assert code == 0
    assert "test R^2" in capsys.readouterr().out
    table = tmp_path / "z.ecsv"
    args = ["predict", str(out), str(sample_path()), "--out", str(table), "--no-progress"]
    assert main(args) == 0
    t = Table.read(table)
    assert len(t) == 600 and (np.asarray(t["std"]) > 0).all()


def test_predict_files_skips_bad_ones(trained, data_dir, tmp_path, capsys):
    bad = tmp_path / "spec-broken.fits"
    bad.write_text("not a fits file")
    out = tmp_path / "pred.csv"
    code = main(["predict", str(trained), str(data_dir), str(bad), "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "spec-broken.fits" in captured.err
    t = Table.read(out, format="ascii.csv")
    n_files = len(list(data_dir.glob("spec-*"))) + 1  # + the DESI coadd
    assert len(t) >= n_files
    assert set(t["prediction"]) <= {"A", "F", "G"}
    np.testing.assert_allclose(t["p_A"] + t["p_F"] + t["p_G"], 1, atol=1e-5)
    model = SpectromerModel.load(trained)
    from spectromer.io import read_spectra

    first = read_spectra(data_dir / t["source"][0])[int(t["index"][0])]
    assert model.predict([first])[0] == t["prediction"][0]


def test_predict_errors(trained, tmp_path, capsys):
    assert main(["predict", str(tmp_path), "x.fits", "--no-progress"]) == 1
    assert "not a saved SpectromerModel" in capsys.readouterr().err
    assert main(["predict", str(trained), str(tmp_path), "--no-progress"]) == 1
    assert "no spectrum files found" in capsys.readouterr().err
    assert main(["predict", str(trained), str(sample_path()), "--out", "p.txt"]) == 1
    assert ".csv, .ecsv or .fits" in capsys.readouterr().err


class _Stop(ValueError):
    """Raised by the fit spy: the CLI built its estimator, nothing is trained."""


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_cli_defaults_are_the_estimator_defaults(command, tmp_path, monkeypatch, capsys):
    from spectromer.cli.pretrain import PRETRAIN_OPTIONS
    from spectromer.cli.train import NEGATED_FLAGS, TRAIN_OPTIONS
    from spectromer.models import MaskedImagePretrainer

    cls = SpectromerModel if command == "train" else MaskedImagePretrainer
    built = []

    def spy(self, *args, **kwargs):
        built.append(self.get_params())
        raise _Stop("stop")

    monkeypatch.setattr(cls, "fit", spy)
    args = ["--label", "type"] if command == "train" else []
    out = tmp_path / ("m" if command == "train" else "b.safetensors")
    assert main([command, str(sample_path()), *args, "--out", str(out)]) == 1
    (params,) = built
    defaults = cls().get_params()
    if command == "train":  # the CLI checkpoints by default, into the model's folder
        assert params.pop("checkpoint_dir") == str(out / "checkpoints")
        defaults.pop("checkpoint_dir")
    assert params == defaults
    options = TRAIN_OPTIONS if command == "train" else PRETRAIN_OPTIONS
    assert set(options.values()) | set(NEGATED_FLAGS.values()) <= set(defaults) | {
        "checkpoint_dir"
    }  # every option names a real parameter
