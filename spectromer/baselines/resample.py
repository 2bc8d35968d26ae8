"""``SpectrumResampler``: spectra of any grid to a fixed feature matrix, for scikit-learn."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = ["SpectrumResampler", "RESAMPLER_NORMALIZATIONS"]

#: Per-spectrum normalisations of :class:`SpectrumResampler`.
RESAMPLER_NORMALIZATIONS = ("median", "mean", "zscore", "minmax", "none")


class SpectrumResampler(TransformerMixin, BaseEstimator):
    """Resample spectra onto one log-wavelength grid: the features of classical baselines.

    Masked and non-finite pixels are interpolated from their good neighbours, grid
    points coarser than the native pixels take the mean of the pixels in their bin (the
    resampler of :mod:`spectromer.imaging`), each spectrum is normalised, and grid
    points outside a spectrum's coverage get the spectrum's normalised median (so they
    carry no signal).

    Parameters
    ----------
    n_pixels : int
        Length of the common grid.
    wave_range : (float, float) or "auto"
        Grid limits in Angstrom (vacuum, observed frame). ``"auto"`` learns them in
        ``fit``: the range that 95% of the training spectra cover.
    normalization : {"median", "mean", "zscore", "minmax", "none"}
        Divide by the median (or mean) flux, standardise, scale to [0, 1], or nothing.
    batch_size : int
        Spectra resampled at once (memory is O(batch_size)).

    Attributes
    ----------
    wave_range_ : (float, float) or None
        The grid limits used; None in pixel space.
    wavelength_ : ndarray or None
        The grid (Angstrom); None in pixel space.

    Notes
    -----
    A flux array given without wavelengths (as scikit-learn's own estimator checks pass
    data) is resampled in *pixel space*: each spectrum's pixels are spread evenly over
    the ``n_pixels`` features (``grid="stretch"``), and the fitted resampler then only
    takes such arrays.

    Examples
    --------
    >>> from spectromer.baselines import SpectrumResampler
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.spectra import as_source
    >>> X = as_source(load_sample(), indices=range(20))
    >>> features = SpectrumResampler(n_pixels=500).fit_transform(X)
    >>> features.shape, features.dtype.name
    ((20, 500), 'float32')
    """

    def __init__(
        self,
        n_pixels: int = 2000,
        wave_range: tuple[float, float] | str = "auto",
        normalization: str = "median",
        batch_size: int = 512,
    ) -> None:
        self.n_pixels = n_pixels
        self.wave_range = wave_range
        self.normalization = normalization
        self.batch_size = batch_size

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_pixels": [Interval(Integral, 2, None, closed="left")],
        "wave_range": [StrOptions({"auto"}), tuple, list],
        "normalization": [StrOptions(set(RESAMPLER_NORMALIZATIONS))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # non-finite pixels are interpolated over
        tags.transformer_tags.preserves_dtype = ["float32"]  # features are float32
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"allow_nan": True, "preserves_dtype": [np.float32]}

    def _check(self) -> None:
        self._validate_params()
        if self.wave_range != "auto":
            lo, hi = (float(v) for v in self.wave_range)
            if not 0 < lo < hi:
                raise ValueError(
                    f"wave_range must be (low, high) with 0 < low < high, got {self.wave_range}"
                )

    def _config(self) -> Any:
        from ..imaging import RenderConfig

        if self.wave_range_ is None:  # pixel space: each spectrum's pixels, evenly
            return RenderConfig(grid="stretch")
        return RenderConfig(grid="log", wave_range=tuple(self.wave_range_))

    def fit(self, X: Any, y: Any = None) -> SpectrumResampler:
        """Learn the grid limits (with ``wave_range="auto"``); ``y`` is ignored."""
        from ..spectra import as_source

        self._check()
        source = as_source(X)
        if not source.has_wavelength:
            if self.wave_range != "auto":
                raise ValueError(
                    f"wave_range={self.wave_range!r} needs spectra with wavelengths, but X is "
                    "a flux array without them: pass spectra with their grid, or keep "
                    "wave_range='auto' to resample in pixel space"
                )
            self.wave_range_ = self.wavelength_ = None
        elif self.wave_range != "auto":
            self.wave_range_ = (float(self.wave_range[0]), float(self.wave_range[1]))
        else:
            self.wave_range_ = self._common_range(source)
        if self.wave_range_ is not None:
            self.wavelength_ = np.geomspace(*self.wave_range_, int(self.n_pixels))
        self.n_features_out_ = int(self.n_pixels)
        return self

    def _common_range(self, source: Any) -> tuple[float, float]:
        """The wavelength range that 95% of (up to 2000 of) the spectra cover."""
        rows = np.arange(len(source))
        if rows.size > 2000:
            rows = np.random.default_rng(0).choice(rows, 2000, replace=False)
        starts, ends = [], []
        for s in range(0, rows.size, self.batch_size):
            b = source.batch(np.sort(rows[s : s + self.batch_size]))
            w = np.where(b.good, b.wave, np.nan)
            ok = b.good.any(axis=1)
            starts.append(np.nanmin(w[ok], axis=1))
            ends.append(np.nanmax(w[ok], axis=1))
        starts, ends = np.concatenate(starts), np.concatenate(ends)
        if starts.size == 0:
            raise ValueError("X: no spectrum has a valid pixel; cannot choose a wavelength grid")
        lo, hi = float(np.percentile(starts, 95)), float(np.percentile(ends, 5))
        if not lo < hi:
            raise ValueError(
                f"X: the spectra share no common wavelength range ({lo:.0f} >= {hi:.0f} A); "
                "set wave_range=(low, high)"
            )
        return lo, hi

    def transform(self, X: Any) -> np.ndarray:
        """The resampled, normalised spectra, ``(n, n_pixels)`` float32."""
        from ..imaging.prepare import resample
        from ..spectra import as_source

        if not hasattr(self, "wave_range_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("SpectrumResampler is not fitted: call fit() first")
        source = as_source(X)
        if self.wave_range_ is None and source.has_wavelength:
            raise ValueError(
                "this SpectrumResampler was fitted on flux arrays without wavelengths (pixel "
                "space); X has wavelengths: fit it on spectra with wavelengths"
            )
        cfg = self._config()
        out = np.empty((len(source), int(self.n_pixels)), np.float32)
        for s in range(0, len(source), self.batch_size):
            idx = np.arange(s, min(s + self.batch_size, len(source)))
            values, _, _, inside = resample(source.batch(idx), cfg, n_values=int(self.n_pixels))
            out[idx] = self._normalize(values, inside)
        return out

    def _normalize(self, values: np.ndarray, inside: np.ndarray) -> np.ndarray:
        v = np.where(inside, values, np.nan).astype(np.float64)
        empty = ~inside.any(axis=1)
        v[empty] = 0.0
        method = self.normalization
        with np.errstate(invalid="ignore", divide="ignore"):
            if method in ("median", "mean"):
                centre = np.nanmedian(v, axis=1) if method == "median" else np.nanmean(v, axis=1)
                scale = np.where(np.isfinite(centre) & (np.abs(centre) > 0), np.abs(centre), 1.0)
                v = v / scale[:, None]
            elif method == "zscore":
                mu, sd = np.nanmean(v, axis=1), np.nanstd(v, axis=1)
                v = (v - mu[:, None]) / np.where(sd > 0, sd, 1.0)[:, None]
            elif method == "minmax":
                lo, hi = np.nanmin(v, axis=1), np.nanmax(v, axis=1)
                v = (v - lo[:, None]) / np.where(hi > lo, hi - lo, 1.0)[:, None]
            fill = np.nanmedian(v, axis=1)
        v = np.where(np.isnan(v), np.where(np.isfinite(fill), fill, 0.0)[:, None], v)
        return v.astype(np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``flux_<wavelength>`` of the output columns."""
        if self.wavelength_ is None:  # pixel space
            return np.array([f"flux_{i}" for i in range(int(self.n_pixels))], dtype=object)
        return np.array([f"flux_{w:.2f}" for w in self.wavelength_], dtype=object)
