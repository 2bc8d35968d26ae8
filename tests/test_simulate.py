"""Tests of spectromer.datasets.simulate_sdss (simulated SDSS spectra from the SDSS templates)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.ndimage import median_filter

from spectromer.datasets import SpectraDataset, simulate_sdss
from spectromer.datasets.simulate import (
    CLASSES,
    DEFAULT_Z_RANGE,
    STAR_VELOCITY_SIGMA,
    grid_loglam,
    templates_path,
)

C_KMS = 299792.458
HYPO = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _all_arrays(ds: SpectraDataset) -> list[dict[str, np.ndarray]]:
    return [ds.arrays(i) for i in range(len(ds))]


def _feature_offsets(ds: SpectraDataset, rest: float, half_width: float, kind: str) -> np.ndarray:
    """Offset (pixels of 1e-4 dex) of a line's extremum from (1+z) * rest, per spectrum."""
    out = []
    for i in range(len(ds)):
        a = ds.arrays(i)
        wave, flux, z = a["wave"], a["flux"], float(ds.meta["z"][i])
        expected = rest * (1 + z)
        win = np.abs(wave - expected) < half_width
        assert win.sum() > 5, f"{rest} A at z={z} is off the grid"
        detail = (flux - median_filter(flux, 101))[win]
        j = np.argmin(detail) if kind == "min" else np.argmax(detail)
        out.append(np.log10(wave[win][j] / expected) / 1e-4)
    return np.array(out)


def _der_snr(flux: np.ndarray) -> float:
    """DER_SNR (Stoehr et al. 2008): S/N estimated from the flux alone."""
    noise = 1.482602 / np.sqrt(6.0) * np.median(np.abs(2 * flux[2:-2] - flux[:-4] - flux[4:]))
    return float(np.median(flux) / noise)


def test_packaged_templates_are_small_and_present():
    path = templates_path()
    assert path.exists()
    assert path.stat().st_size < 1_500_000
    with np.load(path) as f:
        assert f["gal_eigen"].shape[0] == 4 and f["qso_eigen"].shape[0] == 4
        assert f["star_templates"].shape[0] == f["star_names"].size == 123
        assert f["ivar_shape_sdss"].size == grid_loglam("sdss").size
        assert f["ivar_shape_boss"].size == grid_loglam("boss").size


def test_grids_are_sdss_log_lambda():
    for grid, (lo, hi) in (("sdss", (3800, 9200)), ("boss", (3600, 10400))):
        ll = grid_loglam(grid)
        np.testing.assert_allclose(np.diff(ll), 1e-4, atol=1e-12)
        assert lo <= 10 ** ll[0] < lo * 1.00024 and hi * 0.99977 < 10 ** ll[-1] <= hi


def test_reproducible_with_seed(tmp_path):
    a = simulate_sdss(9, tmp_path / "a.h5", seed=5)
    b = simulate_sdss(9, tmp_path / "b.h5", seed=5)
    c = simulate_sdss(9, tmp_path / "c.h5", seed=6)
    for x, y in zip(_all_arrays(a), _all_arrays(b)):
        for key in ("wave", "flux", "ivar", "mask"):
            np.testing.assert_array_equal(x[key], y[key])
    assert a.labels("class").tolist() == b.labels("class").tolist()
    np.testing.assert_array_equal(a.labels("z"), b.labels("z"))
    assert not np.array_equal(a.labels("z"), c.labels("z"))


def test_meta_is_labelled_simulated(tmp_path):
    ds = simulate_sdss(12, tmp_path / "s.h5", seed=2)
    assert set(ds.labels("survey").tolist()) == {"SDSS (simulated)"}
    assert ds.labels("simulated").all()
    assert bool(ds.attrs["simulated"]) and "Simulated" in ds.attrs["provenance"]
    ids = ds.labels("object_id").tolist()
    assert len(set(ids)) == 12 and all(i.startswith("sim-sdss-2-") for i in ids)
    cls = ds.labels("class")
    sub = ds.labels("subclass")
    stars = cls == "STAR"
    assert stars.any() and (~stars).any()
    assert all(s == "" for s in sub[~stars]) and all(s != "" for s in sub[stars])
    for i in np.flatnonzero(stars):
        row = ds.meta_row(i)
        if row.get("type") is not None:  # MK templates; "Carbon", "WD..." have none
            assert row["subclass"].upper().lstrip("SD:").startswith(row["type"])
    spec = ds.spectrum(0)
    assert spec.meta["simulated"] and spec.flux.unit.to_string() == "1e-17 erg / (Angstrom s cm2)"


@HYPO
@given(
    n=st.integers(1, 40),
    weights=st.lists(st.integers(0, 5), min_size=3, max_size=3).filter(lambda w: sum(w) > 0),
)
def test_class_fractions_respected(tmp_path_factory, n, weights):
    fractions = dict(zip(CLASSES, weights))
    ds = simulate_sdss(n, tmp_path_factory.mktemp("f") / "f.h5", class_fractions=fractions)
    labels = ds.labels("class").tolist()
    assert len(labels) == n
    total = sum(weights)
    for cls, w in fractions.items():
        count = labels.count(cls)
        assert abs(count - n * w / total) < 1, (cls, count, n, weights)
        if w == 0:
            assert count == 0


@HYPO
@given(
    galaxy=st.tuples(st.floats(0, 0.8), st.floats(0, 0.8)).map(sorted),
    qso=st.tuples(st.floats(0.1, 4.0), st.floats(0.1, 4.0)).map(sorted),
    grid=st.sampled_from(["sdss", "boss"]),
)
def test_z_ranges_respected(tmp_path_factory, galaxy, qso, grid):
    ranges = {"GALAXY": tuple(galaxy), "QSO": tuple(qso)}
    ds = simulate_sdss(30, tmp_path_factory.mktemp("z") / "z.h5", z_range=ranges, grid=grid)
    cls, z = ds.labels("class"), ds.labels("z")
    for name, (lo, hi) in ranges.items():
        sel = z[cls == name]
        assert sel.size > 0 and np.all((sel >= lo) & (sel <= hi)), (name, lo, hi, sel)
    stars = z[cls == "STAR"]
    assert np.all(np.abs(stars) < 6 * STAR_VELOCITY_SIGMA / C_KMS)
    ll = grid_loglam(grid)
    np.testing.assert_allclose(ds.wavelength(0), 10**ll)


def test_default_z_ranges(tmp_path):
    ds = simulate_sdss(300, tmp_path / "d.h5", seed=1)
    cls, z = ds.labels("class"), ds.labels("z")
    for name, (lo, hi) in DEFAULT_Z_RANGE.items():
        sel = z[cls == name]
        assert sel.min() >= lo and sel.max() <= hi
        assert sel.max() - sel.min() > 0.8 * (hi - lo)  # uniform draws fill the range
    v = z[cls == "STAR"] * C_KMS
    assert 60 < np.std(v) < 140


def test_galaxy_ca_k_lands_at_redshifted_wavelength(tmp_path):
    ds = simulate_sdss(
        60, tmp_path / "g.h5", classes=["GALAXY"], z_range=(0.02, 0.6), noise=False, seed=3
    )
    off = _feature_offsets(ds, 3934.78, 12.0, "min")  # Ca II K, vacuum
    assert abs(np.median(off)) < 0.5
    assert np.mean(np.abs(off) <= 1.5) >= 0.9


def test_galaxy_halpha_emission_lands_at_redshifted_wavelength(tmp_path):
    ds = simulate_sdss(
        60, tmp_path / "h.h5", classes=["GALAXY"], z_range=(0.0, 0.35), noise=False, seed=4
    )
    off = _feature_offsets(ds, 6564.61, 8.0, "max")  # H-alpha, vacuum
    assert abs(np.median(off)) < 0.5


@pytest.mark.parametrize(
    ("rest", "z_range"), [(2799.1, (0.5, 2.2)), (1215.67, (2.3, 3.5))], ids=["MgII", "Lya"]
)
def test_quasar_broad_line_lands_at_redshifted_wavelength(tmp_path, rest, z_range):
    ds = simulate_sdss(40, tmp_path / "q.h5", classes=["QSO"], z_range=z_range, noise=False, seed=5)
    off = _feature_offsets(ds, rest, 40.0, "max")
    # broad lines: the peak of the eigenspectrum combination sits within a few
    # pixels of the nominal wavelength; a wrong redshift would move it by hundreds
    assert abs(np.median(off)) < 6
    assert np.mean(np.abs(off) < 20) >= 0.9


@HYPO
@given(
    snr=st.floats(3.0, 60.0),
    cls=st.sampled_from(CLASSES),
    grid=st.sampled_from(["sdss", "boss"]),
)
def test_noise_matches_requested_snr(tmp_path_factory, snr, cls, grid):
    folder = tmp_path_factory.mktemp("n")
    kw = dict(classes=[cls], snr=snr, grid=grid, seed=7)
    noisy = simulate_sdss(20, folder / "noisy.h5", **kw)
    clean = simulate_sdss(20, folder / "clean.h5", noise=False, **kw)
    np.testing.assert_allclose(noisy.labels("snr"), snr)
    pulls, der = [], []
    for a, b in zip(_all_arrays(noisy), _all_arrays(clean)):
        np.testing.assert_array_equal(a["ivar"], b["ivar"])
        good = ~a["mask"]
        np.testing.assert_array_equal(a["mask"], a["ivar"] <= 0)
        sq = np.sqrt(a["ivar"][good])
        # the noiseless spectrum has exactly the requested median per-pixel S/N
        assert np.median(b["flux"][good] * sq) == pytest.approx(snr, rel=1e-3)
        pulls.append((a["flux"][good] - b["flux"][good]) * sq)
        # DER_SNR also counts the spectrum's own pixel-to-pixel structure (absorption
        # lines) as noise: add that part, measured on the noiseless spectrum, in quadrature
        intrinsic = _der_snr(b["flux"][good])
        der.append(_der_snr(a["flux"][good]) * np.sqrt(1 / snr**2 + 1 / intrinsic**2))
    pulls = np.concatenate(pulls)
    assert abs(np.mean(pulls)) < 0.02 and np.std(pulls) == pytest.approx(1.0, abs=0.02)
    # measured from the noisy flux alone, the S/N agrees with the request
    assert np.median(der) == pytest.approx(1.0, rel=0.25)


def test_flux_levels_are_sdss_like(tmp_path):
    ds = simulate_sdss(90, tmp_path / "f.h5", seed=8, noise=False)
    for i in range(len(ds)):
        a = ds.arrays(i)
        r = (a["wave"] > 5600) & (a["wave"] < 6800)
        mag = float(ds.meta["mag_r"][i])
        f_lambda = 3631e-23 * 10 ** (-0.4 * mag) * 2.99792458e18 / 6231.0**2 / 1e-17
        assert np.median(a["flux"][r]) == pytest.approx(f_lambda, rel=1e-3)
        if ds.meta["class"][i] != "STAR":
            assert a["flux"].min() > 0  # eigenspectrum combinations are redrawn when negative


def test_renderers_and_readers_accept_output(tmp_path):
    from spectromer import render

    ds = simulate_sdss(6, tmp_path / "r.h5", seed=9, snr=20)
    imgs = render(ds, size=32, errors="raise")
    assert imgs.shape == (6, 32, 32, 3) and imgs.dtype == np.uint8
    assert all(img.std() > 0 for img in imgs)
    rest = render(ds, indices=[0, 1], size=32, frame="rest", output="float32")
    assert rest.shape[0] == 2 and np.isfinite(rest).all()
    batches = list(ds.iter_batches(batch_size=4))
    assert [b["flux"].shape for b in batches] == [(4, 3840), (2, 3840)]
    reopened = SpectraDataset(tmp_path / "r.h5")
    assert len(reopened) == 6 and reopened.summary()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be at least 1"),
        ({"n": -3}, "n must be at least 1"),
        ({"n": 2.5}, "n must be an integer"),
        ({"classes": ["GALAXY", "PLANET"]}, "classes: unknown class 'PLANET'"),
        ({"classes": []}, "classes must name at least one class"),
        ({"z_range": (0.5, 0.1)}, "z_range must be finite with low <= high"),
        ({"z_range": (0.0, np.nan)}, "z_range must be finite"),
        ({"z_range": "abc"}, "z_range must be a pair"),
        ({"z_range": {"GALAXY": (0.0, 5.0)}}, "z_range for GALAXY"),
        ({"z_range": {"QSO": (0.0, 9.0)}}, "z_range for QSO"),
        ({"z_range": {"STAR": (0.0, 0.1)}}, "z_range: stars are simulated"),
        ({"z_range": {"BLAZAR": (0.0, 0.1)}}, "z_range: unknown class"),
        ({"snr": (0.0, 10.0)}, "snr must be positive"),
        ({"snr": (20.0, 10.0)}, "snr must be finite with low <= high"),
        ({"class_fractions": {"QUASAR": 1.0}}, "class_fractions"),
        ({"class_fractions": {"GALAXY": -1.0, "QSO": 2.0}}, "class_fractions must be"),
        ({"grid": "desi"}, "grid must be one of"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, match):
    args = {"n": 3, **kwargs}
    n = args.pop("n")
    out = tmp_path / "bad.h5"
    with pytest.raises((ValueError, TypeError), match=match):
        simulate_sdss(n, out, **args)
    assert not out.exists()  # nothing written for bad arguments
    assert not list(tmp_path.iterdir())
