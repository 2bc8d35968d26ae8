"""``spectromer simulate``: the survey simulator on the command line."""

from __future__ import annotations

import re

import numpy as np
import pytest

from spectromer.cli import build_parser, main
from spectromer.datasets import SpectraDataset
from spectromer.simulation import INSTRUMENTS, SURVEYS

_SUMMARY = re.compile(
    r"^(simulated|already complete:) (\d+) (\w+) spectra \(([^)]*)\) -> (.+) \((.+)\)$"
)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["simulate", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def _summary(out: str) -> tuple[str, int, str, dict[str, int], str]:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    match = _SUMMARY.match(lines[0])
    assert match is not None, lines[0]
    verb, n, survey, counts, path, _size = match.groups()
    pairs = dict(part.rsplit(" ", 1) for part in counts.split(", "))
    return verb, int(n), survey, {k: int(v) for k, v in pairs.items()}, path


def _fluxes(path) -> list[np.ndarray]:
    with SpectraDataset(path) as ds:
        return [ds.arrays(i)["flux"] for i in range(len(ds))]


@pytest.mark.parametrize("survey", SURVEYS)
def test_every_survey_on_its_grid_with_a_true_summary(tmp_path, capsys, survey):
    out = tmp_path / f"{survey}.h5"
    rc, text, err = _run(capsys, "6", str(out), "--survey", survey.upper())
    assert rc == 0 and err == ""
    verb, n, name, counts, path = _summary(text)
    inst = INSTRUMENTS[survey]
    assert (verb, n, name, path) == ("simulated", 6, inst.name, str(out))
    with SpectraDataset(out) as ds:
        assert len(ds) == 6
        assert bool(ds.labels("simulated").all())
        assert set(ds.labels("survey").tolist()) == {inst.name}
        classes = ds.labels("class").tolist()
        assert counts == {c: classes.count(c) for c in set(classes)}
        lo, hi = inst.wavelength_range
        wave = ds.wavelength(0)
        assert wave[0] == pytest.approx(lo, rel=1e-5) and wave[-1] == pytest.approx(hi, rel=1e-5)
    assert f"{out.stat().st_size / 1024:.1f} KiB" in text


def test_options_reach_the_simulator(tmp_path, capsys):
    out = tmp_path / "qso.h5"
    rc, text, _ = _run(
        capsys,
        "6", str(out), "--survey", "boss", "--classes", "qso", "--z-range", "2.3,2.4",
        "--snr", "20", "--no-noise", "--encoding", "float16", "--seed", "4",
    )  # fmt: skip
    assert rc == 0
    assert _summary(text)[3] == {"QSO": 6}
    with SpectraDataset(out) as ds:
        z = ds.labels("z").astype(float)
        assert np.all((z >= 2.3) & (z <= 2.4))
        assert np.allclose(ds.labels("snr").astype(float), 20.0)
        assert ds.encoding == "float16"
        assert '"noise": false' in ds.attrs["simulation_config"]
        assert '"seed": 4' in ds.attrs["simulation_config"]
    stars = tmp_path / "stars.h5"
    rc, text, _ = _run(capsys, "6", str(stars), "--classes", "STAR", "--star-types", "a")
    assert rc == 0 and _summary(text)[3] == {"STAR": 6}
    with SpectraDataset(stars) as ds:
        assert {s[0] for s in ds.labels("subclass").tolist()} == {"A"}


def test_chunk_size_does_not_change_the_spectra(tmp_path, capsys):
    one = tmp_path / "one.h5"
    many = tmp_path / "many.h5"
    assert _run(capsys, "5", str(one), "--survey", "sdss")[0] == 0
    assert _run(capsys, "5", str(many), "--survey", "sdss", "--chunk-size", "2")[0] == 0
    for a, b in zip(_fluxes(one), _fluxes(many), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_returns_the_same_file(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert _run(capsys, "6", str(out), "--survey", "desi", "--seed", "1")[0] == 0
    first = out.stat().st_mtime_ns, _fluxes(out)
    rc, text, _ = _run(capsys, "6", str(out), "--survey", "desi", "--seed", "1")
    assert rc == 0 and _summary(text)[0] == "already complete:"
    assert out.stat().st_mtime_ns == first[0]
    for a, b in zip(first[1], _fluxes(out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_other_arguments_need_overwrite(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert _run(capsys, "6", str(out), "--survey", "lamost")[0] == 0
    before = _fluxes(out)
    rc, text, err = _run(capsys, "6", str(out), "--survey", "lamost", "--seed", "9")
    assert rc == 1 and text == ""
    assert str(out) in err and "--overwrite" in err and len(err.splitlines()) == 1
    for a, b in zip(before, _fluxes(out), strict=True):  # left as it was
        np.testing.assert_array_equal(a, b)
    rc, text, _ = _run(capsys, "6", str(out), "--survey", "lamost", "--seed", "9", "--overwrite")
    assert rc == 0 and _summary(text)[0] == "simulated"
    with SpectraDataset(out) as ds:
        assert '"seed": 9' in ds.attrs["simulation_config"]
    after = _fluxes(out)
    assert len(after) == 6 and not all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(before, after, strict=True)
    )


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["0", "x.h5"], "argument N: expected an integer >= 1"),
        (["two", "x.h5"], "argument N: expected an integer >= 1"),
        (["3", "x.h5", "--survey", "euclid"], "argument --survey: invalid choice: 'euclid'"),
        (["3", "x.h5", "--snr", "a,3"], "argument --snr: expected X or LO,HI"),
        (["3", "x.h5", "--snr", "1,2,3"], "argument --snr: expected X or LO,HI"),
        (["3", "x.h5", "--z-range", "0.1"], "argument --z-range: expected LO,HI"),
        (["3", "x.h5", "--classes", "STAR,,QSO"], "argument --classes: expected names"),
        (["3", "x.h5", "--seed", "-1"], "argument --seed: expected an integer >= 0"),
        (["3", "x.h5", "--chunk-size", "0"], "argument --chunk-size: expected an integer >= 1"),
        (["3", "x.h5", "-j", "0"], "argument -j/--n-jobs: expected a positive integer or -1"),
        (["3", "x.h5", "--encoding", "int8"], "argument --encoding: invalid choice"),
    ],
)
def test_unparseable_options_exit_2(tmp_path, capsys, argv, match):
    argv = [str(tmp_path / a) if a == "x.h5" else a for a in argv]
    with pytest.raises(SystemExit) as stop:
        main(["simulate", *argv])
    assert stop.value.code == 2
    assert match in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--classes", "STAR,FOO"], "classes: unknown class 'FOO'"),
        (["--classes", "STAR,STAR"], "classes: repeated class"),
        (["--classes", "STAR", "--star-types", "XZ"], "star_types must be MK letters"),
        (["--classes", "GALAXY", "--z-range", "5,6"], "z_range for GALAXY is (5.0, 6.0)"),
        (["--z-range", "0.3,0.1"], "z_range must be finite with low <= high"),
        (["--snr", "0,3"], "snr must be positive"),
    ],
)
def test_bad_values_exit_1_naming_the_argument(tmp_path, capsys, argv, match):
    out = tmp_path / "x.h5"
    rc, text, err = _run(capsys, "3", str(out), *argv)
    assert rc == 1 and text == ""
    assert err.startswith("spectromer simulate: error: ") and match in err
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_defaults_are_simulate_survey_defaults():
    import inspect

    from spectromer.datasets import simulate_survey

    args = build_parser(["simulate"]).parse_args(["simulate", "4", "o.h5"])
    defaults = {
        k: p.default
        for k, p in inspect.signature(simulate_survey).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert args.survey == defaults["survey"]
    assert tuple(args.classes) == tuple(defaults["classes"])
    assert (args.seed, args.chunk_size, args.n_jobs) == (
        defaults["seed"], defaults["chunk_size"], defaults["n_jobs"]
    )  # fmt: skip
    assert (args.encoding, args.star_types, args.z_range, args.snr) == (
        defaults["encoding"], defaults["star_types"], defaults["z_range"], defaults["snr"]
    )  # fmt: skip
    assert (not args.no_noise, not args.overwrite) == (defaults["noise"], defaults["resume"])
