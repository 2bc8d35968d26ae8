"""From spectra to the value vectors an image shows.

Three steps, all on plain numpy arrays:

1. Spectra arrive as one :class:`~spectromer.spectra.SpectrumBatch` (from a source,
   :func:`spectromer.spectra.as_source`; :func:`as_batch` for small inputs).
2. :func:`resample` puts each spectrum onto the configured grid: a fixed
   wavelength-true grid, the array index (the published mapping) or the
   spectrum's own range stretched over the image. Masked pixels never leak:
   they are interpolated over or flagged, as the config says.
3. :func:`normalize` scales each row to [0, 1] ignoring flagged values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..spectra import SpectrumBatch, as_source
from .config import RenderConfig

__all__ = ["Batch", "as_batch", "grid_wavelengths", "resample", "extend_edges", "normalize"]

#: The imaging name of the one batch type (:class:`spectromer.spectra.SpectrumBatch`).
Batch = SpectrumBatch


def as_batch(
    spectra: Any,
    wavelength: Any = None,
    *,
    mask: np.ndarray | None = None,
    z: Any = None,
    indices: Sequence[int] | np.ndarray | None = None,
) -> SpectrumBatch:
    """All of some spectra as one :class:`~spectromer.spectra.SpectrumBatch`.

    A convenience for small inputs: ``as_source(spectra, ...).batch(all)`` (see
    :func:`spectromer.spectra.as_source`), with the redshifts optionally replaced.

    Parameters
    ----------
    spectra : Spectrum, sequence of Spectrum, SpectraDataset, SpectrumBatch, dict or ndarray
        Anything :func:`~spectromer.spectra.as_source` takes, or a batch (returned as is).
    wavelength : array or Quantity, optional
        For flux arrays: the wavelength grid, (L,) shared or (N, L) per row,
        in Angstrom unless a Quantity.
    mask : ndarray of bool, optional
        For flux arrays: True where a pixel is bad.
    z : float or array, optional
        Redshift(s) for rest-frame grids; overrides ``meta["z"]``.
    indices : array of int, optional
        For datasets: which rows.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging.prepare import as_batch
    >>> b = as_batch(load_sample(), indices=[0, 1], z=0.0)
    >>> len(b), b.z.tolist()
    (2, [0.0, 0.0])
    """
    if isinstance(spectra, SpectrumBatch):
        batch = spectra
    else:
        src = as_source(spectra, wavelength=wavelength, mask=mask, indices=indices)
        batch = src.batch(np.arange(len(src)))
    if z is not None:
        batch.z = np.broadcast_to(np.asarray(z, dtype=np.float64), (len(batch),)).copy()
    return batch


@lru_cache(maxsize=16)
def _fixed_grid(grid: str, lo: float, hi: float, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Wavelengths of a ``log``/``linear`` grid and their log10 (read-only, cached)."""
    if grid == "log":
        lam = np.geomspace(lo, hi, n_values)
    elif grid == "linear":
        lam = np.linspace(lo, hi, n_values)
    else:
        raise ValueError(f"grid {grid!r} has no fixed wavelengths")
    log_lam = np.log10(lam)
    lam.setflags(write=False)
    log_lam.setflags(write=False)
    return lam, log_lam


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
    return _fixed_grid(config.grid, *config.wave_range, n_values)[0].copy()


def _positions(
    batch: SpectrumBatch,
    rows: np.ndarray,
    target: np.ndarray,
    log_grid: np.ndarray | None = None,
    log_shift: np.ndarray | None = None,
) -> np.ndarray:
    """Fractional native pixel index of every target wavelength of some rows, (R, M) float64.

    ``target`` (R, M) belongs to batch rows ``rows``. Rows whose grid is stored
    as parameters (log-linear or linear) are done by arithmetic; the others by
    one :func:`numpy.interp` over all rows laid end to end (each row offset by
    more than any wavelength). Targets outside a row's pixels get positions
    outside ``[0, length - 1]``. ``log_grid`` (M,) and ``log_shift`` (R,) give
    ``log10(target)`` as a sum, which saves a logarithm per value for fixed
    grids.
    """
    from spectromer.utils.grid import LINEAR, LOGLINEAR

    n, m = target.shape
    pos = np.empty((n, m))
    done = np.zeros(n, bool)
    if batch.grid_kind is not None:
        kind = np.asarray(batch.grid_kind)[rows]
        start = np.asarray(batch.grid_start, dtype=np.float64)[rows][:, None]
        step = np.asarray(batch.grid_step, dtype=np.float64)[rows][:, None]
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
        wave = batch.wave[rows[rest]]
        finite = np.isfinite(wave)
        offset = 2.0 * max(float(np.max(np.where(finite, wave, 0.0))), float(target.max()), 1.0)
        at = np.arange(rest.size, dtype=np.float64)[:, None]
        key = (np.where(finite, wave, 0.0) + offset * at)[finite]
        index = np.broadcast_to(np.arange(wave.shape[1], dtype=np.float64), wave.shape)[finite]
        tkey = target[rest] + offset * at
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


def _unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First row of each distinct (bytewise) row of ``keys`` (R, K), and each row's group."""
    keys = np.ascontiguousarray(keys)
    void = keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
    _, first, inv = np.unique(void, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _grid_positions(
    batch: SpectrumBatch, config: RenderConfig, m: int, has: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the grid values on each row's native pixels, shared between rows.

    Rows on the same parametric wavelength grid (and redshift) have the same
    positions, so they are computed once per distinct grid: row ``i`` uses
    ``pos[inv[i]]``. Returns ``pos`` (U, M) float64 and ``inv`` (N,) int.
    """
    from spectromer.utils.grid import LINEAR, LOGLINEAR

    n = len(batch)
    if config.grid == "index":
        lengths, inv = np.unique(batch.length, return_inverse=True)
        col = np.arange(m, dtype=np.float64)[None, :]
        return np.where(col < lengths[:, None], col, np.inf), inv.ravel()
    if config.grid not in ("log", "linear"):  # stretch: each spectrum's own good range
        rows = np.arange(n)
        good = batch.good
        width = good.shape[1]
        first = np.where(has, np.argmax(good, axis=1), 0)
        last = np.where(has, width - 1 - np.argmax(good[:, ::-1], axis=1), 0)
        lo = batch.wave[rows, first]
        hi = batch.wave[rows, last]
        target = np.linspace(np.where(has, lo, 1.0), np.where(has, hi, 2.0), m, axis=1)
        return _positions(batch, rows, target), rows
    grid, log_grid = _fixed_grid(config.grid, *config.wave_range, m)
    zz = None
    if config.frame == "rest":
        z = batch.z
        missing = has & ~np.isfinite(z)
        if missing.any():
            name = batch.names[int(np.flatnonzero(missing)[0])]
            raise ValueError(f"{name}: frame='rest' needs a redshift (meta['z'] or z=...)")
        zz = np.where(np.isfinite(z), z, 0.0)
    inv = np.arange(n)
    reps = inv
    if batch.grid_kind is not None and n > 1:
        kind = np.asarray(batch.grid_kind)
        param = np.flatnonzero((kind == LOGLINEAR) | (kind == LINEAR))
        if param.size > 1:
            cols = [
                kind[param].astype(np.float64),
                np.asarray(batch.grid_start, dtype=np.float64)[param],
                np.asarray(batch.grid_step, dtype=np.float64)[param],
            ]
            if zz is not None:
                cols.append(zz[param])
            first, group = _unique_rows(np.stack(cols, axis=1))
            explicit = np.setdiff1d(np.arange(n), param, assume_unique=True)
            reps = np.concatenate([param[first], explicit])
            inv = np.empty(n, np.int64)
            inv[param] = group
            inv[explicit] = first.size + np.arange(explicit.size)
    target = np.broadcast_to(grid, (reps.size, m))
    log_shift = None
    if zz is not None:
        target = target * (1.0 + zz[reps])[:, None]
        log_shift = np.log10(1.0 + zz[reps])
    return _positions(batch, reps, target, log_grid, log_shift), inv


def _coverage(
    pos: np.ndarray, inv: np.ndarray, has: np.ndarray, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's covered grid values as a run ``[start, stop)``.

    A value is covered where its position lies between the row's first and
    last good pixel (within 1e-9). Positions increase along the grid, so the
    covered values are one run per row, found by binary search on the shared
    positions; rows on a grid that does not increase are tested value by value
    (and a non-contiguous coverage, which only a non-monotonic wavelength array
    can give, is taken from its first to its last covered value).
    """
    n = inv.size
    u, m = pos.shape
    lo = first.astype(np.float64) - 1e-9
    hi = last.astype(np.float64) + 1e-9
    start = np.zeros(n, np.int64)
    stop = np.zeros(n, np.int64)
    if m == 0 or n == 0:
        return start, stop
    rising = np.all(pos[:, 1:] >= pos[:, :-1], axis=1) if m > 1 else np.ones(u, bool)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(u + 1))
    slow = []
    if u <= 64:
        for g in np.flatnonzero(rising):
            rows = order[bounds[g] : bounds[g + 1]]
            start[rows] = np.searchsorted(pos[g], lo[rows], side="left")
            stop[rows] = np.searchsorted(pos[g], hi[rows], side="right")
        slow = [order[bounds[g] : bounds[g + 1]] for g in np.flatnonzero(~rising)]
    else:
        slow = [np.arange(n)]
    for rows in slow:
        if rows.size == 0:
            continue
        p = pos[inv[rows]]
        inside = (p >= lo[rows, None]) & (p <= hi[rows, None])
        anyin = inside.any(axis=1)
        start[rows] = np.where(anyin, np.argmax(inside, axis=1), 0)
        stop[rows] = np.where(anyin, m - np.argmax(inside[:, ::-1], axis=1), 0)
    start[~has] = 0
    stop[~has] = 0
    np.maximum(stop, start, out=stop)
    return start, stop


def _covered(start: np.ndarray, stop: np.ndarray, m: int) -> np.ndarray:
    """(N, M) bool mask of the runs ``[start, stop)`` of each row."""
    col = np.arange(m)
    return (col >= start[:, None]) & (col < stop[:, None])


def _zero_outside(arr: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Set every value of ``arr`` (..., N, M) outside its row's run ``[start, stop)`` to 0.

    The blanks between one row's run and the next one's are a single span of
    the flattened array, so this is N + 1 slice assignments whatever M.
    """
    n, m = arr.shape[-2:]
    if not arr.flags.c_contiguous:
        arr[..., ~_covered(start, stop, m)] = 0
        return arr
    flat = arr.reshape(*arr.shape[:-2], n * m)
    base = np.arange(n, dtype=np.int64) * m
    begin = np.concatenate([[0], base + stop]).tolist()
    end = np.concatenate([base + start, [n * m]]).tolist()
    for b, e in zip(begin, end, strict=True):
        if e > b:
            flat[..., b:e] = 0
    return arr


def _fill_masked(
    batch: SpectrumBatch, bad: np.ndarray, has: np.ndarray, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """Flux with masked pixels linearly interpolated from good neighbours (float32).

    ``bad`` (N, L) marks the masked pixels within each spectrum. Each row is
    done on its own, as :func:`numpy.interp` over its good pixels would (a
    masked run before the first or after the last good pixel takes that
    pixel's value; a row without good pixels is left as it is), but only the
    masked pixels and their two good neighbours are touched, so the cost is
    proportional to how many there are.
    """
    flux = batch.flux
    n, width = flux.shape
    idx = np.flatnonzero(bad & has[:, None])
    if idx.size == 0:
        return flux
    row = idx // width
    col = idx - row * width
    # runs of consecutive masked pixels within a row, and the good pixels around them
    new = np.ones(idx.size, bool)
    new[1:] = (idx[1:] != idx[:-1] + 1) | (col[1:] == 0)
    run = np.cumsum(new) - 1
    r_row = row[new]
    r_start = idx[new]
    r_end = idx[np.append(new[1:], True)] + 1
    base = r_row * width
    prev = np.where(r_start > base + first[r_row], r_start - 1, -1)[run]
    next_ = np.where(r_end <= base + last[r_row], r_end, -1)[run]
    values = flux.reshape(-1)
    inner = (prev >= 0) & (next_ >= 0)
    pj = np.where(inner, prev, 0)
    nj = np.where(inner, next_, 0)
    x = idx.astype(np.float64)
    xj = pj.astype(np.float64)
    xk = nj.astype(np.float64)
    yj = values[pj].astype(np.float64)
    yk = values[nj].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        slope = (yk - yj) / (xk - xj)
        fill = slope * (x - xj) + yj
        nan = np.isnan(fill)
        if nan.any():  # as numpy.interp: try from the other side, then the flat value
            fill = np.where(nan, slope * (x - xk) + yk, fill)
            fill = np.where(np.isnan(fill) & (yj == yk), yj, fill)
    if not inner.all():  # before the first / after the last good pixel of the row
        edge_first = values[row * width + first[row]].astype(np.float64)
        edge_last = values[row * width + last[row]].astype(np.float64)
        fill = np.where(prev < 0, edge_first, np.where(next_ < 0, edge_last, fill))
    out = flux.copy()
    out.reshape(-1)[idx] = fill
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


def _lerp_shared(flux: np.ndarray, pos: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """:func:`_lerp` of row ``i`` at ``pos[inv[i]]``: index and weight once per distinct row.

    Bit for bit what :func:`_lerp` gives at the covered positions (others are
    any value; the caller blanks them).
    """
    n, width = flux.shape
    u, m = pos.shape
    if width == 1 or u > 64:
        return _lerp(flux, np.nan_to_num(pos[inv], nan=0.0))
    p = np.clip(np.nan_to_num(pos, nan=0.0), 0.0, width - 1.000001)
    i0 = p.astype(np.int64)
    frac = (p - i0).astype(np.float32)
    step = np.subtract(flux[:, 1:], flux[:, :-1])  # flux[i0 + 1] - flux[i0], precomputed
    if u == 1:
        out = np.take(flux, i0[0], axis=1)
        d = np.take(step, i0[0], axis=1)
        d *= frac[0]
        out += d
        return out
    out = np.empty((n, m), np.float32)
    for g in range(u):
        rows = np.flatnonzero(inv == g)
        if rows.size == 0:
            continue
        a = np.take(flux[rows], i0[g], axis=1)
        d = np.take(step[rows], i0[g], axis=1)
        d *= frac[g]
        a += d
        out[rows] = a
    return out


def _bin_means(
    values: np.ndarray, pos: np.ndarray, length: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the pixels in each target bin (bins between target midpoints).

    Bins are cut at each row's ``length`` (default: the array width), so the
    padding of a shorter spectrum never counts.
    """
    n, m = pos.shape
    edges = np.empty((n, m + 1))
    edges[:, 1:-1] = 0.5 * (pos[:, 1:] + pos[:, :-1])
    edges[:, 0] = pos[:, 0] - 0.5 * (pos[:, 1] - pos[:, 0])
    edges[:, -1] = pos[:, -1] + 0.5 * (pos[:, -1] - pos[:, -2])
    width = values.shape[1]
    top = width if length is None else np.minimum(length, width)[:, None]
    e = np.clip(np.ceil(edges), 0, top).astype(np.int64)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(values, axis=1, dtype=np.float64)], axis=1)
    sums = np.diff(np.take_along_axis(csum, e, axis=1), axis=1)
    count = np.diff(e, axis=1)
    return (sums / np.maximum(count, 1)).astype(np.float32), count


@dataclass
class _Resampled:
    """Values of a batch on the render grid, with each row's coverage as a run.

    ``values`` (N, M) float32 is 0 outside each spectrum's coverage, which is
    the run ``start[i] <= j < stop[i]`` of row ``i``; ``touched`` (N, M) bool,
    or None when not looked for or nowhere true, marks values a masked pixel
    contributed to.
    """

    values: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    touched: np.ndarray | None = None


def _resample_runs(
    batch: SpectrumBatch,
    config: RenderConfig,
    longest: int | None = None,
    n_values: int | None = None,
) -> _Resampled:
    """:func:`resample`, with the coverage as one run per row instead of masks.

    This is what the renderers use: runs make blanking, derivatives and
    normalisation cheap, and positions are computed once per distinct grid.
    Every row is done on its own; ``longest`` (default: this batch's longest
    spectrum) sets the number of values of an index grid, so that parts of a
    batch come out as the whole would; ``n_values`` overrides the number of
    grid values the image size implies.
    """
    n = len(batch)
    if not batch.has_wavelength and config.grid in ("log", "linear"):
        raise ValueError(
            f"grid={config.grid!r} places pixels by wavelength, but these spectra came as a "
            "flux array without wavelength=...: pass their wavelength grid, or use "
            "grid='index' or 'stretch'"
        )
    if longest is None:
        longest = int(batch.length.max()) if n else 0
    m = config.n_values(longest) if n_values is None else int(n_values)
    if n == 0:
        z = np.zeros(0, np.int64)
        return _Resampled(np.zeros((0, m), np.float32), z, z)
    good = batch.good
    width = batch.flux.shape[1]
    has = good.any(axis=1)
    first = np.where(has, np.argmax(good, axis=1), 0)
    last = np.where(has, width - 1 - np.argmax(good[:, ::-1], axis=1), -1)
    pos, inv = _grid_positions(batch, config, m, has)
    start, stop = _coverage(pos, inv, has, first, last)
    bad = ~good
    if (batch.length < width).any():
        bad &= np.arange(width)[None, :] < batch.length[:, None]
    flux = _fill_masked(batch, bad, has, first, last)
    if config.grid == "index":  # integer positions: no interpolation needed
        values = np.empty((n, m), np.float32)
        k = min(m, width)
        values[:, :k] = flux[:, :k]
        values[:, k:] = 0.0
    else:
        values = _lerp_shared(flux, pos, inv)
    if m > 1 and config.grid != "index":
        # native pixels per grid step, measured inside each spectrum's coverage
        n_in = stop - start
        wide = np.flatnonzero(n_in > 1)
        span = np.abs(pos[inv[wide], stop[wide] - 1] - pos[inv[wide], start[wide]])
        spacing = span / np.maximum(n_in[wide] - 1, 1)
        sel = wide[spacing > 1.5]
        if sel.size:
            psel = np.clip(pos[inv[sel]], -1.0, width + 1.0)
            mean, count = _bin_means(flux[sel], psel, batch.length[sel])
            values[sel] = np.where(count > 0, mean, values[sel])
    touched = None
    if (config.mask_channel or config.mask_policy == "zero") and bad.any():
        inside = _covered(start, stop, m)
        badness = _lerp(bad.astype(np.float32), np.where(inside, pos[inv], 0.0))
        touched = (badness > 0) & inside
        if not touched.any():
            touched = None
    _zero_outside(values, start, stop)
    return _Resampled(values, start, stop, touched)


def resample(
    batch: SpectrumBatch, config: RenderConfig, n_values: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Values to show, per spectrum, on the configured grid (all rows vectorised).

    Masked pixels are first replaced by linear interpolation between their good
    neighbours. Then each grid point takes the linearly interpolated flux at
    its wavelength; where the grid is more than 1.5 times coarser than the
    spectrum, it takes the mean of the pixels in its bin instead, so no pixel
    is dropped and noise is not aliased.

    Parameters
    ----------
    batch : SpectrumBatch
        Spectra (from a source's ``batch``, or :func:`as_batch`).
    config : RenderConfig
        Grid (``log``, ``linear``, ``index``, ``stretch``), wavelength range, frame
        and mask policy.
    n_values : int, optional
        Number of grid values M. By default the number the image of ``config``
        shows; give it to resample onto a grid of any length (for example the
        feature grid of :class:`spectromer.baselines.SpectrumResampler`).

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

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.imaging.prepare import as_batch, resample
    >>> values, flagged, hidden, inside = resample(as_batch(load_sample()[0]), RenderConfig())
    >>> values.shape, bool(inside.any()), bool((values[~inside] == 0).all())
    ((1, 5476), True, True)
    >>> resample(as_batch(load_sample()[0]), RenderConfig(), n_values=1000)[0].shape
    (1, 1000)
    """
    if n_values is not None and (not isinstance(n_values, (int, np.integer)) or n_values < 1):
        raise ValueError(f"n_values must be a positive integer, got {n_values!r}")
    r = _resample_runs(batch, config, n_values=n_values)
    inside = _covered(r.start, r.stop, r.values.shape[1])
    flagged = ~inside if r.touched is None else ~inside | r.touched
    hidden = flagged if config.mask_policy == "zero" else ~inside
    return r.values, flagged, hidden, inside


def extend_edges(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Each row with the values beyond its coverage replaced by its nearest covered one.

    The counterpart of the zeros that :func:`resample` puts outside a spectrum's
    coverage, for models that standardise each spectrum over the whole grid: a constant
    continuation of the edge adds no step and barely moves the mean and the spread. A
    row with no covered value stays as it is.

    Parameters
    ----------
    values : ndarray (N, M)
        Values on a grid, e.g. from :func:`resample`.
    inside : ndarray (N, M) bool
        The covered values, a contiguous run per row (``resample``'s ``inside``).

    Returns
    -------
    ndarray (N, M)
        A new array, the dtype of ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.imaging.prepare import extend_edges
    >>> extend_edges(np.array([[0.0, 2.0, 3.0, 0.0]]), np.array([[0, 1, 1, 0]], bool))
    array([[2., 2., 3., 3.]])
    """
    values = np.asarray(values)
    inside = np.asarray(inside, dtype=bool)
    m = values.shape[1]
    has = inside.any(axis=1)
    first = np.argmax(inside, axis=1)
    last = m - 1 - np.argmax(inside[:, ::-1], axis=1)
    col = np.clip(np.arange(m)[None, :], first[:, None], last[:, None])
    out = np.take_along_axis(values, col, axis=1)
    out[~has] = values[~has]
    return out


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
    if method == "fixed":
        out = (x - np.float32(vmin)) * np.float32(1.0 / (vmax - vmin))
        return np.clip(out, 0.0, 1.0, out=out)
    valid = np.asarray(valid, bool)
    all_valid = bool(valid.all())
    any_valid = valid.any(axis=1) if not all_valid else np.ones(x.shape[0], bool)
    if method in ("median", "arcsinh"):
        med = (
            np.median(np.abs(x), axis=1)
            if all_valid
            else np.array(
                [np.median(np.abs(r[v])) if v.any() else 1.0 for r, v in zip(x, valid, strict=True)]
            )
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
