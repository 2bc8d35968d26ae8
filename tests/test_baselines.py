"""SpectrumResampler and the SVM / random forest / kNN baselines on small known cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from spectromer.baselines import BASELINES, SpectrumResampler, make_baseline
from spectromer.spectra import as_source

WAVE = np.geomspace(4000.0, 8000.0, 800)


def _line_spectra(n: int, seed: int = 0, noise: float = 0.01):
    """Continuum 1 with an absorption line at 5000 A (class a) or 6500 A (class b)."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b"] * (n // 2))
    centre = np.where(y == "a", 5000.0, 6500.0)[:, None]
    flux = 1.0 - 0.5 * np.exp(-0.5 * ((WAVE[None, :] - centre) / 40.0) ** 2)
    flux = flux * rng.uniform(0.5, 2.0, (n, 1)) + rng.normal(0, noise, (n, WAVE.size))
    return as_source(flux.astype(np.float32), wavelength=WAVE), y


def test_resampler_shape_grid_and_feature_names():
    X, _ = _line_spectra(6)
    r = SpectrumResampler(n_pixels=100).fit(X)
    assert r.wave_range_ == pytest.approx((4000.0, 8000.0), rel=1e-6)
    assert r.wavelength_.shape == (100,)
    assert np.allclose(np.diff(np.log(r.wavelength_)), np.log(2.0) / 99)
    F = r.transform(X)
    assert F.shape == (6, 100) and F.dtype == np.float32 and np.isfinite(F).all()
    names = r.get_feature_names_out()
    assert names[0] == "flux_4000.00" and names.size == 100


def test_resampler_interpolates_a_smooth_spectrum_exactly():
    flux = (WAVE / 1000.0).astype(np.float64)[None, :]  # linear in wavelength
    # finer than the native pixels: linear interpolation, exact for a linear spectrum
    r = SpectrumResampler(n_pixels=1500, wave_range=(4500, 7500), normalization="none")
    F = r.fit_transform(as_source(flux, wavelength=WAVE))
    assert np.allclose(F[0], r.wavelength_ / 1000.0, rtol=1e-5)
    # coarser: bin means, centred on each grid point to within one native pixel
    r.set_params(n_pixels=50).fit(as_source(flux, wavelength=WAVE))
    F = r.transform(as_source(flux, wavelength=WAVE))
    assert np.allclose(F[0], r.wavelength_ / 1000.0, rtol=np.log(2) / WAVE.size)


def test_resampler_bins_when_downsampling_and_keeps_the_mean():
    rng = np.random.default_rng(1)
    flux = 1.0 + rng.normal(0, 0.3, (1, WAVE.size))
    r = SpectrumResampler(n_pixels=40, normalization="none").fit(as_source(flux, wavelength=WAVE))
    F = r.transform(as_source(flux, wavelength=WAVE))
    # bin means of 20 pixels: the scatter shrinks by about sqrt(20)
    assert F.std() < 0.3 / 2.5
    assert F.mean() == pytest.approx(flux.mean(), abs=0.03)


def test_resampler_never_spreads_masked_pixels():
    flux = np.ones((1, WAVE.size))
    mask = np.zeros_like(flux, bool)
    flux[0, 400:410] = 1e6  # a cosmic ray, flagged
    mask[0, 400:410] = True
    r = SpectrumResampler(n_pixels=200, normalization="none")
    F = r.fit_transform(as_source(flux, wavelength=WAVE, mask=mask))
    assert np.allclose(F, 1.0)


def test_resampler_fills_outside_coverage_with_the_median():
    flux = np.vstack([np.full(WAVE.size, 2.0), np.full(WAVE.size, 2.0)])
    wave = np.vstack([WAVE, WAVE * 1.5])  # second one covers 6000-12000 A only
    r = SpectrumResampler(n_pixels=100, wave_range=(4000, 8000), normalization="median")
    F = r.fit_transform(as_source(flux, wavelength=wave))
    assert np.allclose(F, 1.0)  # normalised: 1 inside, median (1) outside


@pytest.mark.parametrize(
    "method, check",
    [
        ("median", lambda v: np.median(v, axis=1) == pytest.approx(1.0, rel=1e-5)),
        ("mean", lambda v: v.mean(axis=1) == pytest.approx(1.0, rel=1e-4)),
        ("zscore", lambda v: np.allclose(v.mean(1), 0, atol=1e-5) and np.allclose(v.std(1), 1)),
        ("minmax", lambda v: np.allclose(v.min(1), 0) and np.allclose(v.max(1), 1)),
    ],
)
def test_resampler_normalizations(method, check):
    X, _ = _line_spectra(4)
    F = SpectrumResampler(n_pixels=300, normalization=method).fit_transform(X)
    assert check(F.astype(np.float64))


@settings(max_examples=25, deadline=None)
@given(
    scale=st.floats(1e-3, 1e3),
    n=st.integers(2, 300),
    method=st.sampled_from(["median", "zscore", "minmax"]),
)
def test_resampler_output_is_finite_and_scale_free(scale, n, method):
    X, _ = _line_spectra(2, noise=0.0)
    flux = X.batch([0, 1])["flux"]
    r = SpectrumResampler(n_pixels=n, normalization=method, wave_range=(4100, 7900))
    a = r.fit_transform(as_source(flux, wavelength=WAVE))
    b = r.transform(as_source(flux * scale, wavelength=WAVE))
    assert np.isfinite(a).all() and a.shape == (2, n)
    assert np.allclose(a, b, rtol=1e-3, atol=1e-4)


def test_resampler_constant_and_all_bad_spectra_are_defined():
    flux = np.vstack([np.full(WAVE.size, 3.0), np.full(WAVE.size, np.nan)])
    F = SpectrumResampler(n_pixels=50, wave_range=(4000, 8000), normalization="zscore")
    out = F.fit_transform(as_source(flux, wavelength=WAVE))
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_pixels": 1}, "n_pixels"),
        ({"normalization": "log"}, "normalization"),
        ({"wave_range": (8000, 4000)}, "wave_range"),
    ],
)
def test_resampler_bad_parameters_name_the_argument(params, match):
    X, _ = _line_spectra(2)
    with pytest.raises(ValueError, match=match):
        SpectrumResampler(**params).fit(X)


def test_resampler_unfitted_and_disjoint_coverage_errors():
    X, _ = _line_spectra(2)
    with pytest.raises(NotFittedError):
        SpectrumResampler().transform(X)
    wave = np.vstack([np.linspace(3000, 4000, 50), np.linspace(9000, 9500, 50)])
    with pytest.raises(ValueError, match="common wavelength range"):
        SpectrumResampler().fit(as_source(np.ones((2, 50)), wavelength=wave))


def test_resampler_follows_the_scikit_learn_contract():
    r = SpectrumResampler(n_pixels=64, normalization="zscore")
    assert r.get_params()["n_pixels"] == 64
    c = clone(r).set_params(n_pixels=32)
    assert c.n_pixels == 32 and r.n_pixels == 64


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_each_baseline_separates_two_line_positions(name):
    X, y = _line_spectra(40, seed=2)
    Xt, yt = _line_spectra(20, seed=3)
    model = make_baseline(name, n_pixels=200, quick=True, cv=2)
    model.fit(X, y)
    assert set(model.best_params_) == set(BASELINES[name]["quick_grid"])
    assert model.score(Xt, yt) == 1.0


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_each_baseline_regresses_a_line_depth(name):
    rng = np.random.default_rng(4)
    depth = rng.uniform(0.1, 0.9, 160)
    flux = 1.0 - depth[:, None] * np.exp(-0.5 * ((WAVE[None, :] - 5500.0) / 60.0) ** 2)
    flux = flux + rng.normal(0, 0.01, flux.shape)
    X = as_source(flux, wavelength=WAVE)
    model = make_baseline(name, task="regression", n_pixels=200, cv=2, n_jobs=1)
    model.fit(X[:120], depth[:120])
    assert model.score(X[120:], depth[120:]) > 0.85  # R^2
    assert all(k.startswith("regressor__model__") for k in model.best_params_)


def test_svm_gamma_grid_is_relative_to_the_number_of_features():
    search = make_baseline("svm", n_pixels=500)
    assert search.param_grid["model__gamma"] == ["scale", 0.3 / 500, 3.0 / 500]
    assert search.scoring == "accuracy"
    assert make_baseline("svm", task="regression").scoring == "r2"


def test_make_baseline_rejects_unknown_names_and_tasks():
    with pytest.raises(ValueError, match="unknown baseline 'xgb'"):
        make_baseline("xgb")
    with pytest.raises(ValueError, match="task"):
        make_baseline("svm", task="clustering")
