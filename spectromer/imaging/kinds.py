"""The renderers of the image kinds, and the registration of the built-in kinds.

Each kind is a function registered with its facts by
:func:`~spectromer.imaging.registry.register_kind` (the table at the end of this
module); it receives the resampled values of a batch and the
:class:`RenderConfig`. A *block* kind returns a list of per-value channels, each
``(N, M)`` in [0, 1], which the renderer quantises, interleaves and places with
:func:`layout_blocks` (so the heavy image-sized arrays are built once, in the
output dtype); a *line* kind returns a :class:`Palette`, a colour index per pixel
drawn with :func:`rasterize_lines`. Everything is vectorised over the batch: no
matplotlib, no per-pixel Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from .config import RenderConfig
from .layout import block_grid, fill_order
from .prepare import _covered, _zero_outside, normalize
from .registry import get_kind, register_kind

__all__ = ["register_kind", "get_kind", "Values", "layout_blocks", "rasterize_lines"]


@dataclass
class Values:
    """Resampled values of a batch on the render grid.

    ``values`` (N, M) flux, 0 outside each spectrum's coverage, which is the
    run ``start[i] <= j < stop[i]`` of row ``i``; ``grid`` (M,) observed
    wavelength of each value in Angstrom for fixed grids (None otherwise) and
    ``z`` (N,) the redshifts it is shifted by in the rest frame; :meth:`wave`
    combines them (used by ``roi`` for equivalent widths); ``touched`` (N, M)
    values a masked pixel contributed to (None: none, or not looked for);
    ``mask_policy`` the config's. The masks ``inside`` (coverage),
    ``flagged`` (not a clean measurement) and ``hidden`` (shown as nothing)
    are built from these when first asked for.
    """

    values: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    grid: np.ndarray | None = None
    z: np.ndarray | None = None
    touched: np.ndarray | None = None
    mask_policy: str = "interpolate"

    @cached_property
    def inside(self) -> np.ndarray:
        """(N, M) bool: within each spectrum's coverage (a contiguous run per row)."""
        return _covered(self.start, self.stop, self.values.shape[1])

    @cached_property
    def flagged(self) -> np.ndarray:
        """(N, M) bool: outside coverage, or touched by a masked pixel."""
        return ~self.inside if self.touched is None else ~self.inside | self.touched

    @cached_property
    def hidden(self) -> np.ndarray:
        """(N, M) bool: shown as nothing (outside coverage; masked with ``zero``)."""
        return self.flagged if self.mask_policy == "zero" else ~self.inside

    @property
    def hidden_is_outside(self) -> bool:
        """Whether ``hidden`` is exactly the complement of the coverage runs."""
        return self.touched is None or self.mask_policy != "zero"

    def wave(self, i: int) -> np.ndarray | None:
        """Wavelengths of row ``i`` in Angstrom, or None on per-spectrum grids."""
        if self.grid is None:
            return None
        if self.z is None:
            return self.grid
        return self.grid * (1.0 + self.z[i])


# --------------------------------------------------------------------------- blocks
def layout_blocks(
    channels: np.ndarray,
    config: RenderConfig,
    out: np.ndarray | None = None,
    channels_first: bool = False,
) -> np.ndarray:
    """Place per-value channels (N, M, C) into block images.

    Value ``k`` fills the ``k``-th block of the fill order; blocks without a
    value and the padding right of and below the last full block are 0.

    Parameters
    ----------
    channels : ndarray (N, M, C)
        Per-value channels, already in the output dtype.
    config : RenderConfig
        Size, block size and fill order.
    out : ndarray, optional
        Where to write: (N, H, W, C), or (N, C, H, W) with ``channels_first``.
    channels_first : bool
        Lay out as (N, C, H, W).

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.imaging.kinds import layout_blocks
    >>> cfg = RenderConfig(kind="map2dnormal", size=8, block_size=2)
    >>> values = np.arange(16, dtype=np.uint8).reshape(1, 16, 1)
    >>> layout_blocks(values, cfg)[0, :4, :4, 0].tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1], [4, 4, 5, 5], [4, 4, 5, 5]]
    """
    chans = [channels[..., j] for j in range(channels.shape[2])]
    return _place_blocks(
        chans, config, channels.dtype, channels.shape[0], out=out, channels_first=channels_first
    )


@lru_cache(maxsize=64)
def _block_of_value(rows: int, cols: int, order: str) -> np.ndarray:
    """Value shown by each block (row-major), for a full image of values."""
    inverse = np.empty(rows * cols, np.int64)
    inverse[fill_order(rows, cols, order)] = np.arange(rows * cols)
    inverse.setflags(write=False)
    return inverse


def _in_block_order(x: np.ndarray, rows: int, cols: int, order: str) -> np.ndarray:
    """Per-value array (N, M, ...) rearranged to one entry per block, row-major (N, rows*cols, ...).

    Blocks without a value get 0.
    """
    n, m = x.shape[:2]
    k = min(m, rows * cols)
    if order == "standard" and m == rows * cols:
        return x
    if k == rows * cols:  # every block holds a value: gather the value of each block
        return np.take(x, _block_of_value(rows, cols, order), axis=1)
    grid = np.zeros((n, rows * cols, *x.shape[2:]), dtype=x.dtype)
    grid[:, fill_order(rows, cols, order)[:k]] = x[:, :k]
    return grid


def _packed_rgb(packed: np.ndarray, rows: int, cols: int, b: int, out: np.ndarray) -> np.ndarray:
    """Lay out 3-channel uint8 blocks given as words ``R | G << 8 | B << 16 | R << 24``.

    ``packed`` (N, rows*cols) uint32 in block order; ``out`` (N, H, W, 3)
    uint8, C-contiguous. One image row of every block row is built first:
    block ``j`` occupies bytes ``3*b*j`` to ``3*b*(j+1)`` and its ``b`` pixels
    are written as ``b`` unaligned 4-byte stores at byte ``3*k``, the last
    pixel first; each store's fourth byte (R) spills one byte into the next
    pixel, which is already R for the pixels of the same block, and is
    overwritten by the later store of the next block's first pixel. Each of
    those rows is then copied ``b`` times into the image. Needs ``b >= 2``
    (so that one store never overlaps another of the same pass).
    """
    n, h, w, _ = out.shape
    rowlen = 3 * w
    used = 3 * b * cols
    buf = np.empty(n * rows * rowlen + 4, np.uint8)
    rb = buf[: n * rows * rowlen].reshape(n, rows, rowlen)
    words = packed.reshape(n, rows, cols)
    for k in range(b - 1, -1, -1):
        dst = np.ndarray(
            (n, rows, cols),
            np.uint32,
            buffer=buf,
            offset=3 * k,
            strides=(rows * rowlen, rowlen, 3 * b),
        )
        dst[...] = words
    if used < rowlen:
        rb[:, :, used:] = 0
    image = out.reshape(n, h, rowlen)
    image[:, : rows * b].reshape(n, rows, b, rowlen)[...] = rb[:, :, None, :]
    image[:, rows * b :] = 0
    return out


def _place_blocks(
    chans: list[np.ndarray | None],
    config: RenderConfig,
    dtype: np.dtype | type,
    n: int,
    out: np.ndarray | None = None,
    channels_first: bool = False,
) -> np.ndarray:
    """Place per-value channels, each (N, M) in ``dtype`` or None (all 0), into block images.

    As :func:`layout_blocks`, with the channels given separately (no
    interleaved copy is needed).
    """
    c = len(chans)
    h, w = config.shape
    m = next((x.shape[1] for x in chans if x is not None), 0)
    b = config.resolved_block_size(m)
    rows, cols = block_grid(h, w, b)
    shape = (n, c, h, w) if channels_first else (n, h, w, c)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    blocks = [
        None if x is None else _in_block_order(x, rows, cols, config.fill_order) for x in chans
    ]
    if channels_first:
        for j, x in enumerate(blocks):
            plane = out[:, j]
            if x is None:
                plane[...] = 0
                continue
            # repeat along columns first (a small array), then broadcast down rows
            wide = np.repeat(x.reshape(n, rows, cols), b, axis=2)  # n, rows, cols*b
            plane[:, : rows * b].reshape(n, rows, b, w)[..., : cols * b] = wide[:, :, None, :]
            plane[:, rows * b :] = 0
            plane[:, : rows * b, cols * b :] = 0
        return out
    # channels last: one image row per block row (n, rows, cols, b, c), then b copies of it
    row = np.empty((n, rows, cols, b, c), dtype=out.dtype)
    for j, x in enumerate(blocks):
        for k in range(b):
            row[:, :, :, k, j] = 0 if x is None else x.reshape(n, rows, cols)
    out[:, : rows * b].reshape(n, rows, b, w, c)[:, :, :, : cols * b] = row.reshape(
        n, rows, 1, cols * b, c
    )
    out[:, rows * b :] = 0
    out[:, : rows * b, cols * b :] = 0
    return out


def _place_rgb_levels(
    chans: list[np.ndarray | None], config: RenderConfig, n: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Quantise three channels in [0, 1] to 0-255 (truncating) and lay out uint8 RGB blocks.

    The levels are packed into one 32-bit word per value (see
    :func:`_packed_rgb`), so the image is written with a few wide stores
    instead of one store per byte.
    """
    h, w = config.shape
    m = next((x.shape[1] for x in chans if x is not None), 0)
    b = config.resolved_block_size(m)
    rows, cols = block_grid(h, w, b)
    shape = (n, h, w, 3)
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    elif out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if b < 2 or not out.flags.c_contiguous:
        levels = [None if x is None else _levels(x).astype(np.uint8) for x in chans]
        return _place_blocks(levels, config, np.uint8, n, out=out)
    packed = np.zeros((n, m), np.uint32)
    for j, x in enumerate(chans):
        if x is None:
            continue
        level = _levels(x).astype(np.uint32)
        level &= 0xFF
        if j:
            level <<= 8 * j
        packed |= level
    top = packed << 24  # R again in the fourth byte
    packed |= top
    return _packed_rgb(_in_block_order(packed, rows, cols, config.fill_order), rows, cols, b, out)


def _levels(x: np.ndarray) -> np.ndarray:
    """0-255 levels (still float; truncated by the integer cast) of values in [0, 1]."""
    q = np.clip(x, 0.0, 1.0)
    q *= 255.0
    return q


def _minmax_runs(x: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """``normalize(x, covered, "minmax")`` with the valid entries given as runs.

    The extremes of each run come from one :func:`numpy.minimum.reduceat`
    (and maximum) over the flattened array.
    """
    x = np.asarray(x, dtype=np.float32)
    n, m = x.shape
    nonempty = stop > start
    if n == 0 or m == 0:
        return x.copy()
    base = np.arange(n, dtype=np.int64) * m
    idx = np.empty(2 * n, np.int64)
    idx[0::2] = base + np.where(nonempty, start, 0)
    idx[1::2] = base + np.where(nonempty, stop, 0)
    if idx[-1] >= n * m:  # the last run reaches the end of the array
        idx = idx[:-1]
    flat = x.reshape(-1)
    lo = np.minimum.reduceat(flat, idx)[0::2]
    hi = np.maximum.reduceat(flat, idx)[0::2]
    span = (hi - lo).astype(np.float32)
    ok = nonempty & np.isfinite(span) & (span > 0)
    # divide (not multiply by 1/span): the maximum then maps to exactly 1.0
    out = x - np.where(ok, lo, 0.0).astype(np.float32)[:, None]
    out /= np.where(ok, span, 1.0)[:, None]
    np.clip(out, 0.0, 1.0, out=out)
    if not ok.all():
        out[~ok] = 0.5
    return out


def _channel(x: np.ndarray, v: Values, config: RenderConfig) -> np.ndarray:
    """Normalise one per-value quantity and blank the hidden entries."""
    if v.hidden_is_outside and config.norm in ("minmax", "fixed"):
        if config.norm == "minmax":
            out = _minmax_runs(x, v.start, v.stop)
        else:
            out = normalize(x, None, "fixed", config.vmin, config.vmax)
        return _zero_outside(out, v.start, v.stop)
    valid = ~v.hidden
    out = normalize(x, valid, config.norm, config.vmin, config.vmax)
    out[v.hidden] = 0.0
    return out


def _with_mask(channels: list[np.ndarray], v: Values, config: RenderConfig) -> list[np.ndarray]:
    if config.mask_channel:
        channels = [*channels, v.flagged.astype(np.float32)]
    return channels


def _map2dnormal(v: Values, config: RenderConfig) -> np.ndarray:
    r = _channel(v.values, v, config)
    return _with_mask([r, None, None], v, config)


def gradient_rows(x: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
    """:func:`numpy.gradient` of each row over its own covered run only.

    Central differences inside, one-sided differences at the first and last
    covered value of each row (exactly ``np.gradient`` of the covered
    segment), zero outside: the blank margin of a spectrum that does not
    fill the grid never shows up as a huge derivative at its edge.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.imaging.kinds import gradient_rows
    >>> x = np.array([[0.0, 1.0, 4.0, 9.0, 0.0]])
    >>> gradient_rows(x, np.array([[True, True, True, True, False]])).tolist()
    [[1.0, 2.0, 4.0, 5.0, 0.0]]
    """
    n, m = x.shape
    if inside is None or m < 2:
        start, stop = np.zeros(n, np.int64), np.full(n, m, np.int64)
    else:
        has = inside.any(axis=1)
        start = np.where(has, np.argmax(inside, axis=1), 0)
        stop = np.where(has, m - np.argmax(inside[:, ::-1], axis=1), 0)
    d = _gradient_runs(x, start, stop)
    if inside is not None:
        d[~inside] = 0.0
    return d


def _gradient_runs(x: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """:func:`gradient_rows` with the covered values given as runs ``[start, stop)``."""
    n, m = x.shape
    if m < 2:
        return np.zeros_like(x)
    d = np.empty_like(x)
    np.subtract(x[:, 2:], x[:, :-2], out=d[:, 1:-1])
    d[:, 1:-1] *= np.asarray(0.5, x.dtype)
    d[:, 0] = x[:, 1] - x[:, 0]
    d[:, -1] = x[:, -1] - x[:, -2]
    if (start == 0).all() and (stop == m).all():
        return d
    rows = np.flatnonzero(stop > start)
    f, la = start[rows], stop[rows] - 1
    single = f == la
    nxt = np.minimum(f + 1, m - 1)
    prv = np.maximum(la - 1, 0)
    d[rows, f] = np.where(single, 0.0, x[rows, nxt] - x[rows, f])
    d[rows, la] = np.where(single, 0.0, x[rows, la] - x[rows, prv])
    return _zero_outside(d, start, stop)


def _map2dnormaldev(v: Values, config: RenderConfig) -> np.ndarray:
    x = v.values
    d1 = _gradient_runs(x, v.start, v.stop)
    d2 = _gradient_runs(d1, v.start, v.stop)
    chans = [_channel(x, v, config), _channel(d1, v, config), _channel(d2, v, config)]
    return _with_mask(chans, v, config)


@lru_cache(maxsize=8)
def _colormap_lut(name: str) -> np.ndarray:
    import matplotlib

    cmap = matplotlib.colormaps[name].resampled(256)
    return (cmap(np.arange(256))[:, :3]).astype(np.float64)


def _map2d(v: Values, config: RenderConfig) -> np.ndarray:
    x = _channel(v.values, v, config)
    if config.cmap is None:
        chans = [x]
    else:
        lut = _colormap_lut(config.cmap).astype(np.float32)
        level = np.minimum((x * 255.0).astype(np.intp), 255)
        chans = [lut[:, 0][level], lut[:, 1][level], lut[:, 2][level]]
    return _with_mask(chans, v, config)


def roi_flags(v: Values, config: RenderConfig) -> np.ndarray:
    """Values inside the strongest line regions (``roi`` kind), (N, M) bool.

    The flux is smoothed (Savitzky-Golay, window 25, order 3) and compared
    with a pseudo-continuum, the median of consecutive windows of 50 values
    interpolated linearly between window centres (the published method used a
    running median over 50 values, which costs 20 times more and gives nearly
    the same continuum); runs where the relative deviation exceeds
    ``roi_threshold`` are regions, ranked by the absolute equivalent width of
    the deviation; the ``roi_regions`` largest are kept. The published method
    used an absolute threshold of 1.5 flux units, which depends on the
    survey's flux scale; a relative one does not.
    """
    from scipy.signal import savgol_filter

    x = v.values
    n, m = x.shape
    flags = np.zeros((n, m), bool)
    if m < 60 or config.roi_regions == 0:
        return flags
    smooth = savgol_filter(x, 25, 3, axis=1)
    med = _window_median(smooth, 50)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(med) > 0, (smooth - med) / np.abs(med), 0.0)
    sig = (np.abs(rel) > config.roi_threshold) & ~v.hidden
    sig[:, :25] = False  # the running median is incomplete at the ends
    sig[:, m - 24 :] = False
    for i in range(n):
        s = sig[i]
        if not s.any():
            continue
        edges = np.diff(np.concatenate([[0], s.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        wave = v.wave(i)
        xw = wave if wave is not None else np.arange(m, dtype=np.float64)
        seg = 0.5 * (rel[i, 1:] + rel[i, :-1]) * np.diff(xw)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        ew = np.abs(cum[ends - 1] - cum[starts])
        keep = np.argsort(-ew, kind="stable")[: config.roi_regions]
        for j in keep:
            flags[i, starts[j] : ends[j]] = True
    return flags


def _window_median(x: np.ndarray, win: int) -> np.ndarray:
    """Median of consecutive windows, linearly interpolated to every position."""
    n, m = x.shape
    nb = -(-m // win)
    padded = np.pad(x, ((0, 0), (0, nb * win - m)), mode="edge")
    med = np.median(padded.reshape(n, nb, win), axis=2)
    if nb == 1:
        return np.repeat(med, m, axis=1)
    centres = np.arange(nb) * win + (win - 1) / 2.0
    pos = np.clip((np.arange(m) - centres[0]) / win, 0.0, nb - 1.0)
    j0 = np.minimum(pos.astype(np.int64), nb - 2)
    frac = (pos - j0)[None, :]
    return med[:, j0] * (1.0 - frac) + med[:, j0 + 1] * frac


def _roi(v: Values, config: RenderConfig) -> np.ndarray:
    r = _channel(v.values, v, config)
    g = roi_flags(v, config).astype(np.float32) * np.float32(config.roi_value / 255.0)
    return _with_mask([r, g, None], v, config)


# --------------------------------------------------------------------------- lines
def rasterize_lines(y: np.ndarray, height: int, width: int, margin: float, line_width: int = 1):
    """Rasterise polylines of evenly spaced samples into a boolean image.

    Parameters
    ----------
    y : ndarray (N, M)
        Heights in [0, 1] (1 at the top), evenly spaced in x over the full
        width; NaN leaves a gap.
    height, width : int
        Image size.
    margin : float
        Blank margin as a fraction of the data range on each side (as
        matplotlib's axes margins).
    line_width : int
        Line width in pixels.

    Returns
    -------
    ndarray of bool, shape (N, height, width)
        True on the line. Each column is filled between the lowest and highest
        point of the line within it, joined to the next column, which is what
        drawing the polyline one pixel wide gives.
    """
    n, m = y.shape
    frac = margin / (1.0 + 2.0 * margin)
    left, right = frac * (width - 1), (1.0 - frac) * (width - 1)
    top, bottom = frac * (height - 1), (1.0 - frac) * (height - 1)
    n_cols = int(round(right)) - int(round(left)) + 1
    if m < 2 * n_cols:  # upsample so that every column holds samples
        t_old = np.linspace(0.0, 1.0, m)
        t_new = np.linspace(0.0, 1.0, 2 * n_cols)
        ok = np.isfinite(y)
        filled = np.where(ok, y, 0.0)
        y = np.stack([np.interp(t_new, t_old, row) for row in filled])
        okf = np.stack([np.interp(t_new, t_old, row.astype(np.float64)) for row in ok])
        y[okf < 1.0 - 1e-9] = np.nan
        m = y.shape[1]
    cols = np.rint(left + np.linspace(0.0, 1.0, m) * (right - left)).astype(np.int64)
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], cols])))
    col_ids = cols[starts]
    with np.errstate(invalid="ignore"):
        ymin = np.fmin.reduceat(y, starts, axis=1)
        ymax = np.fmax.reduceat(y, starts, axis=1)
        first = y[:, starts]
        nxt = np.concatenate([first[:, 1:], np.full((n, 1), np.nan)], axis=1)
        last = y[:, np.concatenate([starts[1:] - 1, [m - 1]])]
        joined = np.isfinite(last) & np.isfinite(nxt)
        ymin = np.where(joined, np.fmin(ymin, nxt), ymin)
        ymax = np.where(joined, np.fmax(ymax, nxt), ymax)
    row_lo = top + (1.0 - ymax) * (bottom - top)
    row_hi = top + (1.0 - ymin) * (bottom - top)
    half = (line_width - 1) / 2.0
    lo = np.floor(row_lo - half + 0.5)
    hi = np.floor(row_hi + half + 0.5)
    rows = np.arange(height, dtype=np.float64)[None, :, None]
    on = (rows >= lo[:, None, :]) & (rows <= hi[:, None, :])  # NaN compares False
    img = np.zeros((n, height, width), bool)
    img[:, :, col_ids] = on
    if line_width > 1:
        out = img.copy()
        for s in range(1, line_width // 2 + 1):
            out[:, :, s:] |= img[:, :, :-s]
            out[:, :, :-s] |= img[:, :, s:]
        img = out
    return img


def _line_y(v: Values, config: RenderConfig) -> np.ndarray:
    y = normalize(v.values, ~v.hidden, config.norm, config.vmin, config.vmax)
    return np.where(v.hidden, np.nan, y)


def _hex_rgb(color: str) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.asarray(to_rgb(color), dtype=np.float64)


def _mask_columns(v: Values, config: RenderConfig, n: int) -> np.ndarray:
    """Mask channel for line kinds: 1 in columns whose values are flagged, (N, W)."""
    h, w = config.shape
    m = v.flagged.shape[1]
    cols = np.minimum((np.arange(m) * w) // m, w - 1)
    colmask = np.zeros((n, w), np.float32)
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], cols])))
    colmask[:, cols[starts]] = np.maximum.reduceat(v.flagged.astype(np.float32), starts, axis=1)
    return colmask


@dataclass
class Palette:
    """A line kind's image: a colour index per pixel and the colours.

    ``codes`` (N, H, W) uint8 indexes ``colors`` (K, 3) in [0, 1]; ``mask``
    (N, W) is the optional mask channel, one value per column.
    """

    codes: np.ndarray
    colors: np.ndarray
    mask: np.ndarray | None = None


def _plot(v: Values, config: RenderConfig) -> Palette:
    h, w = config.shape
    n = v.values.shape[0]
    on = rasterize_lines(_line_y(v, config), h, w, config.margin, config.line_width)
    colors = np.stack([np.ones(3), _hex_rgb(config.color)])  # white background, line
    mask = _mask_columns(v, config, n) if config.mask_channel else None
    return Palette(on.view(np.uint8), colors, mask)


#: Colours and opacity of the three thirds in ``overlapsplit`` (as published).
OVERLAP_COLORS = ("red", "green", "blue")
OVERLAP_ALPHA = 0.5


def _overlap_colors() -> np.ndarray:
    """Colour of every combination of the three lines drawn over white, in order.

    Code bit k set means line k covers the pixel; lines are blended in order
    with opacity :data:`OVERLAP_ALPHA`, exactly as drawing them one after the
    other would.
    """
    colors = np.ones((8, 3))
    for code in range(8):
        c = np.ones(3)
        for k, name in enumerate(OVERLAP_COLORS):
            if code >> k & 1:
                c = (1 - OVERLAP_ALPHA) * c + OVERLAP_ALPHA * _hex_rgb(name)
        colors[code] = c
    return colors


def _overlapsplit(v: Values, config: RenderConfig) -> Palette:
    h, w = config.shape
    n, m = v.values.shape
    y = _line_y(v, config)
    codes = np.zeros((n, h, w), np.uint8)
    for k, part in enumerate(np.array_split(np.arange(m), 3)):
        if part.size < 2:
            continue
        on = rasterize_lines(y[:, part], h, w, config.margin, config.line_width)
        codes |= on.view(np.uint8) << k
    mask = _mask_columns(v, config, n) if config.mask_channel else None
    return Palette(codes, _overlap_colors(), mask)


# --------------------------------------------------------------------------- the kinds
# One registration per kind: its facts and its renderer (spectromer.imaging.registry).
register_kind("plot", block=False)(_plot)
register_kind("overlapsplit", block=False)(_overlapsplit)
register_kind("map2d", colormap=True, normalization="fixed")(_map2d)
register_kind("map2dnormal")(_map2dnormal)
register_kind("map2dnormaldev")(_map2dnormaldev)
register_kind("roi")(_roi)
