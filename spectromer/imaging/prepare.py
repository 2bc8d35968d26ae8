"""From spectra to the value vectors an image shows.

Three steps, all on plain numpy arrays:

1. :func:`as_batch` turns the many forms a user may hold (``Spectrum`` objects,
   a ``SpectraDataset``, flux arrays with a wavelength grid) into one padded
   batch (wavelength in Angstrom, flux, good-pixel mask, redshift).
2. :func:`resample` puts each spectrum onto the configured grid: a fixed
   wavelength-true grid, the array index (the published mapping) or the
   spectrum's own range stretched over the image. Masked pixels never leak:
   they are interpolated over or flagged, as the config says.
3. :func:`normalize` scales each row to [0, 1] ignoring flagged values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import RenderConfig

__all__ = ["Batch", "as_batch", "grid_wavelengths", "resample", "normalize"]


@dataclass
class Batch:
    """Padded spectra: ``wave`` (N, L) Angstrom (NaN pad), ``flux`` (N, L),
    ``good`` (N, L) bool, ``length`` (N,), ``z`` (N,) (NaN if unknown),
    ``names`` (for messages), and optionally each row's wavelength grid as
    parameters (``grid_kind``, ``grid_start``, ``grid_step``; see
    :mod:`spectromer.datasets._grid`), which lets resampling find pixel
    positions by arithmetic instead of searching."""

    wave: np.ndarray
    flux: np.ndarray
    good: np.ndarray
    length: np.ndarray
    z: np.ndarray
    names: list[str]
    grid_kind: np.ndarray | None = None
    grid_start: np.ndarray | None = None
    grid_step: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.flux.shape[0])


def _from_arrays(
    waves: Sequence[np.ndarray],
    fluxes: Sequence[np.ndarray],
    goods: Sequence[np.ndarray],
    zs: Sequence[float],
    names: list[str],
) -> Batch:
    n = len(fluxes)
    width = max((f.size for f in fluxes), default=0)
    wave = np.full((n, width), np.nan)
    flux = np.zeros((n, width), np.float32)
    good = np.zeros((n, width), bool)
    length = np.zeros(n, np.int64)
    for i, (w, f, g) in enumerate(zip(waves, fluxes, goods, strict=True)):
        k = f.size
        wave[i, :k] = w
        flux[i, :k] = np.where(np.isfinite(f), f, 0)
        good[i, :k] = g & np.isfinite(f) & np.isfinite(w)
        length[i] = k
    return Batch(wave, flux, good, length, np.asarray(zs, dtype=np.float64), names)


def _describe_rows(batch: Batch) -> None:
    """Recognise log-linear and linear wavelength grids of a batch, all rows at once.

    Sets ``grid_kind/start/step`` so that resampling can use arithmetic; rows
    that are neither stay explicit (0). Same tolerance as the dataset's
    :func:`~spectromer.datasets._grid.describe_grid`: every wavelength within
    1% of a pixel of the parametric grid.
    """
    from spectromer.datasets._grid import EXPLICIT, GRID_TOLERANCE, LINEAR, LOGLINEAR

    n, width = batch.wave.shape
    kind = np.full(n, EXPLICIT, np.uint8)
    start = np.full(n, np.nan)
    step = np.full(n, np.nan)
    length = batch.length
    ok = length >= 3
    if ok.any() and width >= 3:
        rows = np.flatnonzero(ok)
        w = batch.wave[rows]
        last = (length[rows] - 1)[:, None]
        idx = np.arange(width, dtype=np.float64)[None, :]
        valid = idx <= last
        w0 = w[:, :1]
        wl = np.take_along_axis(w, last, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pix = np.nanmin(np.where(valid[:, 1:], np.diff(w, axis=1), np.inf), axis=1)
            tol = GRID_TOLERANCE * pix
            for k, fwd, inv in (
                (LOGLINEAR, np.log10, lambda v: 10.0**v),
                (LINEAR, lambda v: v, lambda v: v),
            ):
                a, b = fwd(w0), fwd(wl)
                st = (b - a) / last
                model = inv(a + st * idx)
                dev = np.where(valid, np.abs(model - w), 0.0).max(axis=1)
                hit = np.isfinite(dev) & (dev <= tol) & (kind[rows] == EXPLICIT)
                kind[rows[hit]] = k
                start[rows[hit]] = a[hit, 0]
                step[rows[hit]] = st[hit, 0]
    batch.grid_kind, batch.grid_start, batch.grid_step = kind, start, step


def _spectrum_arrays(spec: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from spectromer.io import spectrum_arrays

    wave, flux, _, bad = spectrum_arrays(spec)
    z = spec.meta.get("z", np.nan) if isinstance(spec.meta, dict) else np.nan
    try:
        z = float(z)
    except (TypeError, ValueError):
        z = np.nan
    return wave, flux, ~bad, z


def _name_of(spec: Any, i: int) -> str:
    meta = getattr(spec, "meta", None) or {}
    for key in ("source", "object_id"):
        if meta.get(key):
            return f"spectrum {i} ({meta[key]})"
    return f"spectrum {i}"


def as_batch(
    spectra: Any,
    wavelength: Any = None,
    *,
    mask: np.ndarray | None = None,
    z: Any = None,
    indices: Sequence[int] | np.ndarray | None = None,
) -> Batch:
    """Coerce any supported input into a :class:`Batch`.

    Parameters
    ----------
    spectra : Spectrum, sequence of Spectrum, SpectraDataset, dict or ndarray
        A ``specutils.Spectrum`` (1-D), a list of them, a
        :class:`~spectromer.datasets.SpectraDataset` (rows ``indices``), a batch
        dict from ``SpectraDataset.iter_batches`` or a flux array (1-D or
        (N, L)) with ``wavelength``.
    wavelength : array or Quantity, optional
        For flux arrays: the wavelength grid, (L,) shared or (N, L) per row,
        in Angstrom unless a Quantity.
    mask : ndarray of bool, optional
        For flux arrays: True where a pixel is bad.
    z : float or array, optional
        Redshift(s) for rest-frame grids; overrides ``meta["z"]``.
    indices : array of int, optional
        For datasets: which rows.
    """
    from specutils import Spectrum

    if isinstance(spectra, Spectrum):
        spectra = [spectra]
    if hasattr(spectra, "iter_batches") and hasattr(spectra, "arrays"):  # SpectraDataset
        ds = spectra
        idx = np.arange(len(ds)) if indices is None else np.asarray(indices, dtype=np.int64)
        data = ds._batch(idx) if idx.size else None
        if data is None:
            return _from_arrays([], [], [], [], [])
        batch = _batch_from_dict(data)  # the dict carries the grid parameters
        if "z" in ds.meta.colnames:
            zz = np.asarray(
                ds.meta["z"].filled(np.nan) if hasattr(ds.meta["z"], "filled") else ds.meta["z"],
                dtype=np.float64,
            )
            batch.z = zz[idx]
        names = ds.meta["source"] if "source" in ds.meta.colnames else None
        batch.names = [
            f"spectrum {i}" + (f" ({names[i]})" if names is not None else "") for i in idx
        ]
    elif isinstance(spectra, dict) and "flux" in spectra:
        batch = _batch_from_dict(spectra)
    elif isinstance(spectra, np.ndarray) or (
        hasattr(spectra, "unit") and hasattr(spectra, "value")
    ):
        batch = _batch_from_flux(spectra, wavelength, mask)
    else:
        try:
            items = list(spectra)
        except TypeError:
            raise TypeError(
                "spectra must be a Spectrum, a sequence of Spectrum, a SpectraDataset or a "
                f"flux array with wavelength=..., got {type(spectra).__name__}"
            ) from None
        parts = []
        for i, s in enumerate(items):
            if not isinstance(s, Spectrum):
                raise TypeError(f"item {i} is a {type(s).__name__}, not a specutils Spectrum")
            parts.append(_spectrum_arrays(s))
        names = [_name_of(s, i) for i, s in enumerate(items)]
        batch = _from_arrays(
            [p[0] for p in parts],
            [p[1] for p in parts],
            [p[2] for p in parts],
            [p[3] for p in parts],
            names,
        )
        _describe_rows(batch)
    if z is not None:
        zz = np.broadcast_to(np.asarray(z, dtype=np.float64), (len(batch),))
        batch.z = zz.copy()
    return batch


def _batch_from_dict(data: dict[str, np.ndarray]) -> Batch:
    flux = np.asarray(data["flux"], dtype=np.float32)
    if flux.ndim == 1:
        flux = flux[None]
    wave = np.asarray(data["wave"], dtype=np.float64).reshape(flux.shape)
    bad = np.asarray(data.get("mask", np.zeros(flux.shape, bool)), bool).reshape(flux.shape)
    if "ivar" in data:
        bad = bad | ~(np.asarray(data["ivar"]).reshape(flux.shape) > 0)
    length = np.asarray(data.get("length", np.full(flux.shape[0], flux.shape[1])), np.int64)
    good = ~bad & np.isfinite(flux) & np.isfinite(wave)
    idx = data.get("index", np.arange(flux.shape[0]))
    batch = Batch(
        wave,
        np.where(np.isfinite(flux), flux, 0).astype(np.float32),
        good,
        length,
        np.full(flux.shape[0], np.nan),
        [f"spectrum {int(i)}" for i in idx],
    )
    if "grid_kind" in data:
        batch.grid_kind = np.asarray(data["grid_kind"])
        batch.grid_start = np.asarray(data["grid_start"], dtype=np.float64)
        batch.grid_step = np.asarray(data["grid_step"], dtype=np.float64)
    else:
        _describe_rows(batch)
    return batch


def _batch_from_flux(flux: Any, wavelength: Any, mask: np.ndarray | None) -> Batch:
    import astropy.units as u

    if wavelength is None:
        raise ValueError("a flux array needs its wavelength grid: pass wavelength=...")
    if isinstance(wavelength, u.Quantity):
        wavelength = wavelength.to_value(u.AA, equivalencies=u.spectral())
    flux = np.asarray(getattr(flux, "value", flux), dtype=np.float64)
    if flux.ndim == 1:
        flux = flux[None]
    if flux.ndim != 2:
        raise ValueError(f"flux must be 1-D or 2-D (N, L), got shape {flux.shape}")
    wave = np.asarray(wavelength, dtype=np.float64)
    if wave.ndim == 1:
        if wave.size != flux.shape[1]:
            raise ValueError(
                f"wavelength has {wave.size} values but flux rows have {flux.shape[1]}"
            )
        wave = np.broadcast_to(wave, flux.shape)
    elif wave.shape != flux.shape:
        raise ValueError(f"wavelength shape {wave.shape} does not match flux shape {flux.shape}")
    bad = np.zeros(flux.shape, bool) if mask is None else np.asarray(mask, bool)
    if bad.shape != flux.shape:
        raise ValueError(f"mask shape {bad.shape} does not match flux shape {flux.shape}")
    n = flux.shape[0]
    good = ~bad & np.isfinite(flux) & np.isfinite(wave)
    batch = Batch(
        np.array(wave, dtype=np.float64),
        np.where(np.isfinite(flux), flux, 0.0).astype(np.float32),
        good,
        np.full(n, flux.shape[1], np.int64),
        np.full(n, np.nan),
        [f"spectrum {i}" for i in range(n)],
    )
    shared = np.ndim(wavelength) == 1
    if shared and wave.shape[1] > 2 and np.all(np.diff(wave[0]) > 0):
        from spectromer.datasets._grid import describe_grid

        kind, start, step = describe_grid(wave[0])
        batch.grid_kind = np.full(n, kind, np.uint8)
        batch.grid_start = np.full(n, start)
        batch.grid_step = np.full(n, step)
    elif not shared:
        batch.length = np.where(
            np.isfinite(batch.wave).any(axis=1),
            batch.wave.shape[1] - np.argmax(np.isfinite(batch.wave)[:, ::-1], axis=1),
            0,
        ).astype(np.int64)
        _describe_rows(batch)
    return batch


def grid_wavelengths(config: RenderConfig, n_values: int) -> np.ndarray:
    """Wavelengths (Angstrom, in the config's frame) of a fixed ``log``/``linear`` grid.

    Examples
    --------
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.imaging.prepare import grid_wavelengths
    >>> g = grid_wavelengths(RenderConfig(grid="log", wave_range=(4000, 8000)), 3)
    >>> [round(v) for v in g]
    [4000, 5657, 8000]
    """
    lo, hi = config.wave_range
    if config.grid == "log":
        return np.geomspace(lo, hi, n_values)
    if config.grid == "linear":
        return np.linspace(lo, hi, n_values)
    raise ValueError(f"grid {config.grid!r} has no fixed wavelengths")


def _positions(
    batch: Batch, target: np.ndarray, log_grid: np.ndarray | None = None,
    log_shift: np.ndarray | None = None,
) -> np.ndarray:
    """Fractional native pixel index of every target wavelength, (N, M) float64.

    Rows whose grid is stored as parameters (log-linear or linear) are done by
    arithmetic; the others by one :func:`numpy.interp` over all rows laid end
    to end (each row offset by more than any wavelength). Targets outside a
    row's pixels get positions outside ``[0, length - 1]``. ``log_grid``
    (M,) and ``log_shift`` (N,) give ``log10(target)`` as a sum, which saves
    a logarithm per value for fixed grids.
    """
    from spectromer.datasets._grid import LINEAR, LOGLINEAR

    n, m = target.shape
    pos = np.empty((n, m))
    done = np.zeros(n, bool)
    if batch.grid_kind is not None:
        kind = np.asarray(batch.grid_kind)
        start = np.asarray(batch.grid_start, dtype=np.float64)[:, None]
        step = np.asarray(batch.grid_step, dtype=np.float64)[:, None]
        log_rows = kind == LOGLINEAR
        if log_rows.any():
            if log_grid is not None:
                shift = 0.0 if log_shift is None else log_shift[log_rows, None]
                logt = log_grid[None, :] + (shift - start[log_rows])
                pos[log_rows] = logt / step[log_rows]
            else:
                pos[log_rows] = (np.log10(target[log_rows]) - start[log_rows]) / step[log_rows]
        lin_rows = kind == LINEAR
        if lin_rows.any():
            pos[lin_rows] = (target[lin_rows] - start[lin_rows]) / step[lin_rows]
        done = log_rows | lin_rows
    rest = np.flatnonzero(~done)
    if rest.size:
        wave = batch.wave[rest]
        finite = np.isfinite(wave)
        offset = 2.0 * max(float(np.max(np.where(finite, wave, 0.0))), float(target.max()), 1.0)
        rows = np.arange(rest.size, dtype=np.float64)[:, None]
        key = (np.where(finite, wave, 0.0) + offset * rows)[finite]
        index = np.broadcast_to(np.arange(wave.shape[1], dtype=np.float64), wave.shape)[finite]
        tkey = target[rest] + offset * rows
        p = np.interp(tkey.ravel(), key, index, left=-1.0, right=np.inf).reshape(tkey.shape)
        # np.interp clamps at a row boundary to the neighbouring row's index: undo that
        first = np.where(finite.any(axis=1), np.argmax(finite, axis=1), 0)[:, None]
        last = (finite.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1))[:, None]
        lo_w = np.take_along_axis(np.where(finite, wave, np.inf), first, axis=1)
        hi_w = np.take_along_axis(np.where(finite, wave, -np.inf), last, axis=1)
        t = target[rest]
        p = np.where(t < lo_w, -1.0, np.where(t > hi_w, np.inf, p))
        pos[rest] = p
    return pos


def _fill_masked(batch: Batch) -> np.ndarray:
    """Flux with masked pixels linearly interpolated from good neighbours (float32).

    Only the masked pixels are computed (one flat interpolation over all rows),
    so the cost is proportional to how many there are.
    """
    flux = batch.flux
    bad = ~batch.good & (np.arange(flux.shape[1])[None, :] < batch.length[:, None])
    if not bad.any():
        return flux
    n, width = flux.shape
    key = np.arange(width, dtype=np.float64)[None, :] + (width + 1.0) * np.arange(n)[:, None]
    has = batch.good.any(axis=1)
    use = batch.good & has[:, None]
    out = flux.copy()
    if use.any():
        fill = np.interp(key[bad], key[use], flux[use].astype(np.float64))
        out[bad] = fill
    return out


def _lerp(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of each row of ``values`` at fractional positions (float32)."""
    n, width = values.shape
    flat = values.reshape(-1)
    if width == 1:
        return np.repeat(flat[:, None], pos.shape[1], axis=1).astype(np.float32)
    p = np.clip(pos, 0.0, width - 1.000001)
    i0 = p.astype(np.int64)
    frac = (p - i0).astype(np.float32)
    i0 += (np.arange(n, dtype=np.int64) * width)[:, None]
    a = flat[i0]
    b = flat[i0 + 1]
    b -= a
    b *= frac
    a += b
    return a.astype(np.float32, copy=False)


def _bin_means(values: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the pixels in each target bin (bins between target midpoints)."""
    n, m = pos.shape
    edges = np.empty((n, m + 1))
    edges[:, 1:-1] = 0.5 * (pos[:, 1:] + pos[:, :-1])
    edges[:, 0] = pos[:, 0] - 0.5 * (pos[:, 1] - pos[:, 0])
    edges[:, -1] = pos[:, -1] + 0.5 * (pos[:, -1] - pos[:, -2])
    width = values.shape[1]
    e = np.clip(np.ceil(edges), 0, width).astype(np.int64)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(values, axis=1, dtype=np.float64)], axis=1)
    sums = np.diff(np.take_along_axis(csum, e, axis=1), axis=1)
    count = np.diff(e, axis=1)
    return (sums / np.maximum(count, 1)).astype(np.float32), count


def resample(
    batch: Batch, config: RenderConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Values to show, per spectrum, on the configured grid (all rows vectorised).

    Masked pixels are first replaced by linear interpolation between their good
    neighbours. Then each grid point takes the linearly interpolated flux at
    its wavelength; where the grid is more than 1.5 times coarser than the
    spectrum, it takes the mean of the pixels in its bin instead, so no pixel
    is dropped and noise is not aliased.

    Returns
    -------
    values : ndarray (N, M) float32
        Flux on the grid (0 outside each spectrum's coverage).
    flagged : ndarray (N, M) bool
        True where the value is not a clean measurement: outside the
        spectrum's coverage, or (only looked for when the config needs it: a
        mask channel or ``mask_policy="zero"``) touched by a masked pixel.
    hidden : ndarray (N, M) bool
        True where the image must show nothing: outside coverage, and with
        ``mask_policy="zero"`` wherever a masked pixel contributed.
    inside : ndarray (N, M) bool
        True within each spectrum's coverage (a contiguous run per row).
    """
    n = len(batch)
    longest = int(batch.length.max()) if n else 0
    m = config.n_values(longest)
    if n == 0:
        empty = np.zeros((0, m), bool)
        return np.zeros((0, m), np.float32), empty, empty, empty
    good = batch.good
    has = good.any(axis=1)
    width = batch.flux.shape[1]
    first = np.where(has, np.argmax(good, axis=1), 0).astype(np.float64)[:, None]
    last = np.where(has, width - 1 - np.argmax(good[:, ::-1], axis=1), -1).astype(np.float64)[
        :, None
    ]
    if config.grid == "index":
        pos = np.broadcast_to(np.arange(m, dtype=np.float64), (n, m))
        pos = np.where(pos < batch.length[:, None], pos, np.inf)
    else:
        log_grid = log_shift = None
        if config.grid in ("log", "linear"):
            grid = grid_wavelengths(config, m)
            log_grid = np.log10(grid)
            target = np.broadcast_to(grid, (n, m))
            if config.frame == "rest":
                z = batch.z
                missing = has & ~np.isfinite(z)
                if missing.any():
                    name = batch.names[int(np.flatnonzero(missing)[0])]
                    raise ValueError(f"{name}: frame='rest' needs a redshift (meta['z'] or z=...)")
                zz = np.where(np.isfinite(z), z, 0.0)
                target = target * (1.0 + zz)[:, None]
                log_shift = np.log10(1.0 + zz)
        else:  # stretch: each spectrum's own good range, evenly in wavelength
            rows = np.arange(n)
            lo = batch.wave[rows, first[:, 0].astype(np.int64)]
            hi = batch.wave[rows, np.maximum(last[:, 0], 0).astype(np.int64)]
            target = np.linspace(np.where(has, lo, 1.0), np.where(has, hi, 2.0), m, axis=1)
        pos = _positions(batch, target, log_grid, log_shift)
    inside = (pos >= first - 1e-9) & (pos <= last + 1e-9) & has[:, None]
    flux = _fill_masked(batch)
    if config.grid == "index":  # integer positions: no interpolation needed
        values = np.zeros((n, m), np.float32)
        k = min(m, width)
        values[:, :k] = flux[:, :k]
    else:
        values = _lerp(flux, np.where(inside, pos, 0.0))
    if m > 1 and config.grid != "index":
        # native pixels per grid step, measured inside each spectrum's coverage
        # (coverage is one contiguous run per row)
        n_in = inside.sum(axis=1)
        i_first = np.argmax(inside, axis=1)
        i_last = m - 1 - np.argmax(inside[:, ::-1], axis=1)
        rows = np.arange(n)
        span = np.abs(pos[rows, i_last] - pos[rows, i_first])
        spacing = np.where(n_in > 1, span / np.maximum(n_in - 1, 1), 0.0)
        coarse = spacing > 1.5
        if coarse.any():
            sel = np.flatnonzero(coarse)
            psel = np.clip(pos[sel], -1.0, width + 1.0)
            mean, count = _bin_means(flux[sel], psel)
            values[sel] = np.where(count > 0, mean, values[sel])
    need_flags = config.mask_channel or config.mask_policy == "zero"
    bad_native = ~good & (np.arange(width)[None, :] < batch.length[:, None])
    if need_flags and bad_native.any():
        badness = _lerp(bad_native.astype(np.float32), np.where(inside, pos, 0.0))
        flagged = ~inside | (badness > 0)
    else:
        flagged = ~inside
    hidden = flagged if config.mask_policy == "zero" else ~inside
    values[~inside] = 0.0
    return values, flagged, hidden, inside


def normalize(
    values: np.ndarray, valid: np.ndarray, method: str, vmin: float = 0.0, vmax: float = 1.0
) -> np.ndarray:
    """Scale each row to [0, 1] using only ``valid`` entries to set the scale.

    A row with no valid entry, or a constant one, becomes 0.5 (mid-scale)
    under the per-spectrum methods, so that constant input gives a defined
    image rather than a division by zero.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.imaging.prepare import normalize
    >>> normalize(np.array([[1.0, 2.0, 3.0]]), np.ones((1, 3), bool), "minmax").tolist()
    [[0.0, 0.5, 1.0]]
    """
    x = np.asarray(values, dtype=np.float32)
    valid = np.asarray(valid, bool)
    if method == "fixed":
        out = (x - np.float32(vmin)) * np.float32(1.0 / (vmax - vmin))
        return np.clip(out, 0.0, 1.0, out=out)
    all_valid = bool(valid.all())
    any_valid = valid.any(axis=1) if not all_valid else np.ones(x.shape[0], bool)
    if method in ("median", "arcsinh"):
        med = np.median(np.abs(x), axis=1) if all_valid else np.array(
            [np.median(np.abs(r[v])) if v.any() else 1.0 for r, v in zip(x, valid, strict=True)]
        )
        med = np.where(np.isfinite(med) & (med > 0), med, 1.0).astype(np.float32)[:, None]
        if method == "median":
            out = np.clip(x / med * np.float32(0.5), 0.0, 1.0)
            out[~any_valid] = 0.5
            return out
        x = np.arcsinh(x / med)
    if method == "percentile":
        if all_valid:
            lo, hi = np.percentile(x, [1.0, 99.0], axis=1)
        else:
            masked = np.where(valid, x, np.nan)
            masked[~any_valid] = 0.0
            lo, hi = np.nanpercentile(masked, [1.0, 99.0], axis=1)
    elif method in ("minmax", "arcsinh"):
        if all_valid:
            lo, hi = x.min(axis=1), x.max(axis=1)
        else:
            lo = np.where(valid, x, np.inf).min(axis=1)
            hi = np.where(valid, x, -np.inf).max(axis=1)
    else:
        raise ValueError(f"unknown normalization {method!r}")
    span = (hi - lo).astype(np.float32)
    ok = any_valid & np.isfinite(span) & (span > 0)
    # divide (not multiply by 1/span): the maximum then maps to exactly 1.0
    out = x - np.where(ok, lo, 0.0).astype(np.float32)[:, None]
    out /= np.where(ok, span, 1.0)[:, None]
    np.clip(out, 0.0, 1.0, out=out)
    if not ok.all():
        out[~ok] = 0.5
    return out
