"""Tests of the survey simulator (spectromer.simulation, simulate_survey, simulate_sdss)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.ndimage import median_filter

from spectromer.datasets import SpectraDataset, simulate_sdss, simulate_survey
from spectromer.simulation import INSTRUMENTS, META_COLUMNS, SURVEYS, instrument
from spectromer.simulation import survey as survey_module
from spectromer.simulation.instruments import Mixture
from spectromer.simulation.library import library_path, load_library, parse_mk, star_library

DATA = Path(__file__).parent / "data"
HYPO = settings(max_examples=10, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def surveys(tmp_path_factory):
    """30 spectra of each survey (all classes), and their noiseless twins."""
    folder = tmp_path_factory.mktemp("surveys")
    out = {}
    for s in SURVEYS:
        noisy = simulate_survey(30, folder / f"{s}.h5", survey=s, seed=3)
        clean = simulate_survey(30, folder / f"{s}_clean.h5", survey=s, seed=3, noise=False)
        out[s] = (noisy, clean)
    return out


# --- the packaged library ------------------------------------------------------------


def test_library_is_packaged_small_and_complete():
    path = library_path()
    assert path.exists() and path.stat().st_size < 3_000_000
    assert "shared" not in str(path)
    lib = load_library()
    stars = star_library()
    # the MK-typed ELODIE stars but "Am (78362)", which has no subtype to place it by
    assert (stars.source == "ELODIE").sum() == 116
    assert (stars.source == "SDSS").sum() >= 20  # the MK-typed SDSS subclass templates
    assert np.all(np.isfinite(stars.flux)) and np.all(stars.flux >= 0)
    for s, inst in INSTRUMENTS.items():
        keys = [f"ivar_{s}"] if len(inst.arms) == 1 else [f"ivar_{s}_{a.name}" for a in inst.arms]
        for key, arm in zip(keys, inst.arms):
            assert lib[key].shape == (arm.n_pix,)
            assert np.all(lib[key] >= 0) and np.median(lib[key]) > 0


@pytest.mark.parametrize(
    "name, expected",
    [
        ("F6V (16673)", (36.0, "V")),
        ("K3III (101673)", (53.0, "III")),
        ("B0.5Iae (185859)", (10.5, "I")),
        ("sd:F0 (G_84-29)", (30.0, "VI")),
        ("M0V", (60.0, "V")),
        ("Am (78362)", None),
        ("WDhotter", None),
        ("Carbon", None),
    ],
)
def test_parse_mk(name, expected):
    assert parse_mk(name) == expected


def test_mixture_stays_in_its_range():
    rng = np.random.default_rng(0)
    m = Mixture(((0.5, 0.3, 0.1, 0.0, 0.5), (0.5, 2.0, np.inf, 1.0, 3.0)))
    x = m.draw(rng, 2000)
    assert x.min() >= 0.0 and x.max() <= 3.0
    assert 0.4 < np.mean(x > 1.0) < 0.6
    assert m.clipped(0.0, 0.4).high == 0.4
    with pytest.raises(ValueError, match="no part"):
        m.clipped(5.0, 6.0)


# --- grids -----------------------------------------------------------------------------


@pytest.mark.parametrize("survey", SURVEYS)
def test_each_survey_on_its_own_grid(surveys, survey):
    ds, _ = surveys[survey]
    inst = instrument(survey)
    lo, hi = inst.wavelength_range
    for i in range(len(ds)):
        w = ds.wavelength(i)
        assert w[0] == pytest.approx(lo, abs=0.01) and w[-1] == pytest.approx(hi, abs=0.01)
        assert np.all(np.diff(w) > 0)
    w = ds.wavelength(0)
    if survey == "desi":
        assert np.allclose(np.diff(w), 0.8, atol=1e-6)  # linear arms, overlaps merged
        assert w.size == 7781
    else:
        step = np.diff(np.log10(w))
        assert np.allclose(step, 1e-4, atol=1e-9)
    ranges = {"lamost": (3690, 3710, 9090, 9110), "sdss": (3795, 3805, 9190, 9210),
              "boss": (3595, 3605, 10390, 10410), "desi": (3599, 3601, 9823, 9825)}
    a, b, c, d = ranges[survey]
    assert a < w[0] < b and c < w[-1] < d


def test_grids_match_the_real_files():
    from spectromer.io import read_spectra

    real = {
        "lamost": read_spectra(DATA / "spec-59517-EG025613N082253M02_sp08-200.fits.gz")[0],
        "boss": read_spectra(DATA / "spec-3655-55240-0002.fits")[0],
        "desi": read_spectra(DATA / "coadd-4-80613-thru20210324.fits")[0],
    }
    for s, spec in real.items():
        w_real = spec.spectral_axis.to_value("Angstrom")
        w_sim = np.concatenate([a.wavelength() for a in instrument(s).arms])
        if s == "desi":
            w_sim = np.unique(np.round(w_sim, 3))
            assert w_sim.size == w_real.size
            assert np.allclose(w_sim, w_real, atol=1e-3)
        else:  # same log-lambda step, pixels on the real grid, nearly all inside its range
            ll_real, ll_sim = np.log10(w_real), np.log10(w_sim)
            assert np.allclose(np.diff(ll_real).mean(), 1e-4, rtol=1e-3)
            offset = (ll_sim[0] - ll_real[0]) / 1e-4
            assert abs(offset - round(offset)) < 0.05, offset
            # real BOSS files end where their plate's red coverage ends (this one 10315 A);
            # the simulated BOSS grid runs to the spectrograph's 10400 A
            inside = (ll_sim >= ll_real[0] - 1.5e-4) & (ll_sim <= ll_real[-1] + 1.5e-4)
            assert inside.mean() > 0.99, (s, inside.mean())


# --- labels ----------------------------------------------------------------------------


@pytest.mark.parametrize("survey", SURVEYS)
def test_labels_like_the_readers(surveys, survey):
    ds, _ = surveys[survey]
    meta = ds.meta
    assert set(META_COLUMNS) <= set(meta.colnames)
    assert np.all(np.asarray(meta["simulated"]).astype(bool))
    assert set(np.asarray(meta["survey"]).astype(str)) == {instrument(survey).name}
    assert ds._file().attrs["simulated"]
    cls = np.asarray(meta["class"]).astype(str)
    assert set(cls) <= {"STAR", "GALAXY", "QSO"} and len(set(cls)) == 3
    for row in (ds.meta_row(i) for i in range(len(ds))):
        if row["class"] == "STAR":
            letter, sub = row["type"], row["subtype"]
            assert letter in "OBAFGKM" and sub == row["subclass"] and sub[0] == letter
            assert abs(row["z"]) < 0.003  # radial velocity only
            if row["lumclass"] == "V":
                assert 2000 < row["teff"] < 45000
            else:
                assert np.isnan(row["teff"])
        else:
            assert row["type"] == "" and row["z"] >= 0
        assert row["object_id"].startswith(f"sim-{survey}-3-")


def test_star_types_and_class_fractions(tmp_path):
    ds = simulate_survey(40, tmp_path / "afg.h5", classes=["STAR"], star_types="AFG", seed=1)
    assert set(ds.labels("type").astype(str)) <= set("AFG")
    ds = simulate_survey(200, tmp_path / "f.h5", survey="sdss", seed=2, noise=False,
                         class_fractions={"STAR": 0.0, "GALAXY": 3, "QSO": 1})
    cls = ds.labels("class").astype(str)
    assert "STAR" not in cls
    assert 0.65 < np.mean(cls == "GALAXY") < 0.85


def test_survey_redshift_distributions(tmp_path):
    boss = simulate_survey(150, tmp_path / "b.h5", survey="boss", classes=["QSO"], noise=False)
    z = boss.labels("z")
    assert z.max() <= 3.5 and np.mean(z > 2.0) > 0.55  # BOSS quasars: mostly z > 2.15
    gal = simulate_survey(150, tmp_path / "g.h5", survey="boss", classes=["GALAXY"], noise=False)
    z = gal.labels("z")
    assert z.max() <= 0.8 and 0.3 < np.median(z) < 0.6


# --- astrophysics, checked on the noiseless spectra --------------------------------------


def _offset(wave, flux, expected, half_width, kind):
    win = np.abs(wave - expected) < half_width
    detail = (flux - median_filter(flux, 151))[win]
    j = np.argmax(detail) if kind == "max" else np.argmin(detail)
    return np.log10(wave[win][j] / expected) / 1e-4


@pytest.mark.parametrize("survey", ["sdss", "desi"])
def test_lines_at_their_redshift(tmp_path, survey):
    ds = simulate_survey(25, tmp_path / "g.h5", survey=survey, classes=["GALAXY"], noise=False,
                         z_range=(0.02, 0.3), seed=4)
    offsets = []
    for i in range(len(ds)):
        a, row = ds.arrays(i), ds.meta_row(i)
        if row["ew_halpha"] < 5:
            continue
        offsets.append(_offset(a["wave"], a["flux"], 6564.61 * (1 + row["z"]), 15, "max"))
    assert len(offsets) >= 5
    assert np.max(np.abs(offsets)) < 2.5  # within the pixels of H-alpha + [N II] blend


def test_quasar_lyman_alpha_and_forest(tmp_path):
    ds = simulate_survey(12, tmp_path / "q.h5", survey="boss", classes=["QSO"], noise=False,
                         z_range=(2.3, 2.8), seed=5)
    for i in range(len(ds)):
        a, z = ds.arrays(i), ds.meta_row(i)["z"]
        w, f = a["wave"], np.where(a["mask"], np.nan, a["flux"])
        lya = 1215.67 * (1 + z)
        peak = np.nanmedian(f[np.abs(w - lya) < 10])
        forest = np.nanmedian(f[(w > 1040 * (1 + z)) & (w < 1180 * (1 + z))])
        red = np.nanmedian(f[(w > 1270 * (1 + z)) & (w < 1350 * (1 + z))])
        assert peak > 1.5 * red  # the Lyman-alpha emission line
        assert forest < peak  # absorbed blueward


def test_stellar_velocity_shifts_the_lines(tmp_path):
    ds = simulate_survey(20, tmp_path / "s.h5", classes=["STAR"], star_types="AF", noise=False,
                         seed=6)
    offsets = [
        _offset(ds.arrays(i)["wave"], ds.arrays(i)["flux"],
                6564.61 * (1 + ds.meta_row(i)["z"]), 12, "min")
        for i in range(len(ds))
    ]
    assert np.median(np.abs(offsets)) < 1.0


# --- noise -----------------------------------------------------------------------------


@pytest.mark.parametrize("survey", SURVEYS)
def test_noise_matches_ivar_and_snr(surveys, survey):
    noisy, clean = surveys[survey]
    pulls, ratio = [], []
    for i in range(len(noisy)):
        a, b = noisy.arrays(i), clean.arrays(i)
        assert np.array_equal(a["ivar"], b["ivar"]) and np.array_equal(a["mask"], b["mask"])
        good = (a["ivar"] > 0) & ~a["mask"]
        assert np.all(a["ivar"][a["mask"]] == 0)
        pulls.append(((a["flux"] - b["flux"]) * np.sqrt(a["ivar"]))[good])
        snr = np.median((np.abs(b["flux"]) * np.sqrt(b["ivar"]))[b["ivar"] > 0])
        ratio.append(snr / noisy.meta_row(i)["snr"])
    pull = np.concatenate(pulls)
    # unit normal away from the sky-line residuals (robust spread)
    mad = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.95 < mad < 1.1
    assert abs(np.median(pull)) < 0.05
    assert np.median(ratio) == pytest.approx(1.0, rel=0.1)


def test_snr_follows_magnitude(tmp_path):
    ds = simulate_survey(80, tmp_path / "m.h5", survey="sdss", classes=["STAR"], noise=False)
    mag, snr = ds.labels("mag_r"), ds.labels("snr")
    assert np.corrcoef(mag, np.log(snr))[0, 1] < -0.8


def test_fixed_snr_range(tmp_path):
    ds = simulate_survey(20, tmp_path / "f.h5", survey="lamost", snr=(5, 10), seed=2)
    snr = ds.labels("snr")
    assert snr.min() >= 5 and snr.max() <= 10


# --- determinism, chunks, workers, resume --------------------------------------------


def _same(a: SpectraDataset, b: SpectraDataset, n: int | None = None) -> bool:
    n = len(a) if n is None else n
    for i in range(n):
        x, y = a.arrays(i), b.arrays(i)
        if not all(np.array_equal(x[k], y[k]) for k in ("wave", "flux", "ivar", "mask")):
            return False
        if a.meta_row(i)["object_id"] != b.meta_row(i)["object_id"]:
            return False
    return True


def test_determinism_by_seed_and_prefix_stability(tmp_path):
    a = simulate_survey(9, tmp_path / "a.h5", survey="desi", seed=5, chunk_size=4)
    b = simulate_survey(9, tmp_path / "b.h5", survey="desi", seed=5, chunk_size=9)
    c = simulate_survey(9, tmp_path / "c.h5", survey="desi", seed=6)
    d = simulate_survey(5, tmp_path / "d.h5", survey="desi", seed=5)
    assert _same(a, b)
    assert not _same(a, c)
    assert _same(a, d, 5)  # a larger n extends a smaller one


def test_parallel_workers_give_the_same_file(tmp_path):
    one = simulate_survey(12, tmp_path / "one.h5", survey="boss", seed=1, chunk_size=3)
    two = simulate_survey(12, tmp_path / "two.h5", survey="boss", seed=1, chunk_size=3, n_jobs=2)
    assert _same(one, two)


def test_resume_after_an_interruption(tmp_path, monkeypatch):
    out = tmp_path / "r.h5"
    fresh = simulate_survey(10, tmp_path / "fresh.h5", seed=2)
    real = survey_module._write_shard
    calls = []

    def flaky(*args):
        calls.append(args[2])
        if len(calls) == 3:
            raise RuntimeError("killed")  # the job dies while writing its third chunk
        return real(*args)

    monkeypatch.setattr(survey_module, "_write_shard", flaky)
    with pytest.raises(RuntimeError, match="killed"):
        simulate_survey(10, out, seed=2, chunk_size=3)
    assert not out.exists()
    parts = sorted((tmp_path / "r.h5.parts").glob("shard-*.h5"))
    assert len(parts) == 2 and not list((tmp_path / "r.h5.parts").glob("*.tmp*"))
    calls.clear()
    ds = simulate_survey(10, out, seed=2, chunk_size=3)
    assert calls == [6, 9]  # only the chunks not finished before
    assert not (tmp_path / "r.h5.parts").exists()
    assert _same(ds, fresh)
    calls.clear()
    again = simulate_survey(10, out, seed=2, chunk_size=3)  # complete: nothing to do
    assert calls == [] and len(again) == 10


def test_existing_file_with_other_arguments(tmp_path):
    out = tmp_path / "x.h5"
    simulate_survey(4, out, seed=1)
    with pytest.raises(FileExistsError, match="resume=False"):
        simulate_survey(4, out, seed=2)
    ds = simulate_survey(4, out, seed=2, resume=False)
    assert ds.meta_row(0)["object_id"] == "sim-lamost-2-00000000"


def test_simulate_sdss_is_an_alias(tmp_path):
    a = simulate_sdss(5, tmp_path / "a.h5", grid="boss", seed=3)
    b = simulate_survey(5, tmp_path / "b.h5", survey="boss", seed=3)
    assert _same(a, b)
    with pytest.raises(ValueError, match="grid must be one of"):
        simulate_sdss(5, tmp_path / "c.h5", grid="desi")


# --- bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must be at least 1"),
        ({"n": 2.5}, "n must be an integer"),
        ({"survey": "gaia"}, "survey must be one of"),
        ({"classes": ["GALAXY", "PLANET"]}, "classes: unknown class 'PLANET'"),
        ({"classes": []}, "classes must name at least one class"),
        ({"classes": ["STAR", "STAR"]}, "repeated"),
        ({"star_types": "AXG"}, "star_types must be MK letters"),
        ({"z_range": (0.5, 0.1)}, "z_range must be finite with low <= high"),
        ({"z_range": "abc"}, "z_range must be a pair"),
        ({"z_range": {"GALAXY": (0.0, 5.0)}}, "z_range for GALAXY"),
        ({"z_range": {"STAR": (0.0, 0.1)}}, "z_range: stars"),
        ({"z_range": {"BLAZAR": (0.0, 0.1)}}, "z_range: unknown class"),
        ({"snr": (0.0, 10.0)}, "snr must be positive"),
        ({"class_fractions": {"QUASAR": 1.0}}, "class_fractions"),
        ({"class_fractions": {"GALAXY": -1.0, "QSO": 2.0}}, "class_fractions must be"),
        ({"encoding": "int8"}, "encoding must be"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, match):
    args = {"n": 3, **kwargs}
    n = args.pop("n")
    out = tmp_path / "bad.h5"
    with pytest.raises((ValueError, TypeError), match=match):
        simulate_survey(n, out, **args)
    assert not out.exists() and not list(tmp_path.iterdir())


@HYPO
@given(lo=st.floats(0.0, 2.0), width=st.floats(0.0, 1.0))
def test_z_range_respected_or_refused(tmp_path_factory, lo, width):
    hi = lo + width
    out = tmp_path_factory.mktemp("z") / "z.h5"
    zmin, zmax = survey_module._z_limits("GALAXY", instrument("sdss"))
    if hi > zmax:
        with pytest.raises(ValueError, match="z must lie in"):
            simulate_survey(3, out, survey="sdss", classes=["GALAXY"], z_range=(lo, hi))
        return
    ds = simulate_survey(3, out, survey="sdss", classes=["GALAXY"], z_range=(lo, hi), noise=False)
    z = ds.labels("z")
    assert np.all((z >= lo) & (z <= hi))
    assert np.all(np.isfinite(ds.arrays(0)["flux"]))
