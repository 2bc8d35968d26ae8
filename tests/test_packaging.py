"""Packaging checks: citation metadata, console entry point, minimum-version pins, CI script.

These tests read files of the source tree (``CITATION.cff``, ``setup.cfg``, ``tox.ini``,
``.ci/``) and the metadata of the installed ``spectromer`` distribution, so they need
``pip install -e .`` (or a regular install) to have been run first.
"""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
ARXIV_ID = "2506.00294"


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None)
    read = cfg.read(REPO / "setup.cfg", encoding="utf-8")
    assert read, f"cannot read {REPO / 'setup.cfg'}"
    return cfg


def _install_requires() -> list[Requirement]:
    lines = _setup_cfg()["options"]["install_requires"].strip().splitlines()
    return [Requirement(line.strip()) for line in lines if line.strip()]


def _lower_bound(spec: SpecifierSet) -> str | None:
    for s in spec:
        if s.operator in (">=", "==", "~="):
            return s.version
    return None


@pytest.fixture(scope="module")
def citation() -> dict:
    path = REPO / "CITATION.cff"
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{path} does not parse to a YAML mapping"
    return data


def test_citation_cff_is_valid_cff_for_this_release(citation):
    meta = _setup_cfg()["metadata"]
    assert citation["cff-version"] == "1.2.0"
    assert citation["type"] == "software"
    assert citation["title"] == "Spectromer"
    # the software entry must track the package's version and licence
    assert citation["version"] == meta["version"]
    assert citation["license"] == meta["license"] == "BSD-3-Clause"
    assert citation["authors"], "CITATION.cff lists no authors"
    for field in ("message", "authors", "title", "cff-version"):
        assert field in citation, f"CITATION.cff lacks the required field {field!r}"


def test_citation_cff_prefers_the_arxiv_paper(citation):
    paper = citation["preferred-citation"]
    assert paper["type"] == "article"
    assert paper["title"] and paper["authors"]
    values = [str(ident["value"]) for ident in paper.get("identifiers", [])]
    assert any(ARXIV_ID in v for v in values), values
    assert paper["url"] == f"https://arxiv.org/abs/{ARXIV_ID}"
    # and the raw file mentions it, for tools that only grep
    assert ARXIV_ID in (REPO / "CITATION.cff").read_text(encoding="utf-8")


def test_console_entry_point_resolves():
    try:
        distribution("spectromer")
    except PackageNotFoundError:  # pragma: no cover - depends on the environment
        pytest.fail("spectromer is not installed: run `pip install -e .` first")
    eps = entry_points(group="console_scripts", name="spectromer")
    assert len(eps) == 1, f"expected one 'spectromer' console script, found {list(eps)}"
    (ep,) = eps
    assert ep.value == "spectromer.cli:main"
    from spectromer.cli import main

    assert ep.load() is main


def test_python_m_spectromer_help(tmp_path):
    # run from an empty folder so the installed package, not the source tree, is imported
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "spectromer", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: spectromer" in proc.stdout
    from spectromer.cli import _COMMANDS

    for command in _COMMANDS:
        assert command in proc.stdout, f"sub-command {command!r} missing from --help"


def test_python_m_spectromer_rejects_unknown_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "spectromer", "no-such-command"],
        cwd=tmp_path,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no-such-command" in proc.stderr


def test_oldest_constraints_pin_every_lower_bound():
    """``.ci/oldest-constraints.txt`` pins each install_requires entry at its lower bound."""
    path = REPO / ".ci" / "oldest-constraints.txt"
    pins: dict[str, Version] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = list(req.specifier)
        assert spec.operator == "==", f"{path}: {line!r} is not an exact pin"
        pins[req.name.lower()] = Version(spec.version)

    expected = {}
    for req in _install_requires():
        low = _lower_bound(req.specifier)
        assert low is not None, f"setup.cfg: {req} has no lower bound to test against"
        expected[req.name.lower()] = Version(low)
    mismatches = {
        name: f"setup.cfg lower bound {expected.get(name)}, {path.name} pins {pins.get(name)}"
        for name in sorted(set(pins) | set(expected))
        if pins.get(name) != expected.get(name)
    }
    assert not mismatches, f"change setup.cfg and {path} together: {mismatches}"


def test_tox_oldestdeps_uses_the_constraints_file():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini", encoding="utf-8")
    envlist = tox["tox"]["envlist"]
    for env in ("py{310,311,312,313}-test", "oldestdeps", "build_docs", "codestyle"):
        assert env in envlist
    assert ".ci/oldest-constraints.txt" in tox["testenv:oldestdeps"]["install_command"]
    assert (REPO / ".ci" / "oldest-constraints.txt").is_file()


def test_ci_script_is_executable_and_strict():
    script = REPO / ".ci" / "run"
    mode = script.stat().st_mode
    assert mode & stat.S_IXUSR, f"{script} is not executable"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
