"""Reference implementation of the published Spectromer per-spectrum renderer.

This module re-implements, one spectrum at a time, the image renderers of the
published Spectromer method (Moraes et al. 2025, arXiv:2506.00294; the
``SpectraPlotter`` class of the public ``astromer-science/spectromer`` code).
It exists only as a **speed and fidelity reference** for the fast, vectorised
renderers in :mod:`spectromer.imaging`: it is slow by design (one matplotlib
figure, or one Python loop over the image blocks, per spectrum) and keeps the
published method's quirks, listed below, on purpose.

The image kinds (``kind=``) are those of the published code:

``"plot"``
    A line plot of flux against wavelength (line width 0.5, default colour,
    axis off) on a 2.24 x 2.24 inch figure at 100 dpi, written to PNG with
    ``bbox_inches="tight", pad_inches=0`` and read back with PIL.
``"overlapsplit"``
    The spectrum split into three equal parts (`numpy.array_split`), the
    wavelengths of each part rescaled to [0, 1] and the parts overlaid in red,
    green and blue (line width 0.5, alpha 0.5); PNG round trip as above.
``"map2d"``
    Each flux value becomes a ``block_size`` x ``block_size`` block, in
    row-major order, of a 224 x 224 float canvas (``224 // block_size`` blocks
    a side; zero elsewhere), shown with ``imshow`` in the viridis colour map
    with the fixed limits ``vmin=-1.13, vmax=144.97``, axes filling the figure,
    axis off; PNG round trip as above.  As in the published code, values past
    the last full block row still write the clipped partial row below it
    (rows 222-223 for ``block_size=3``) and values beyond that are dropped.
``"map2dnormal"``
    No matplotlib: the flux min-max scaled to 0..255 and truncated with
    ``int()`` goes into the red channel (green = blue = 0) of a 224 x 224
    uint8 array, one block per value, in ``"standard"`` (row-major) or
    ``"boustrophedon"`` (odd block rows right to left) order; values beyond
    ``(224 // block_size) ** 2`` are dropped and unused blocks stay 0.  With
    ``interpolate=True`` and fewer values than blocks, the flux is first
    resampled linearly onto ``(224 // block_size) ** 2`` wavelengths evenly
    spaced between the smallest and largest wavelength.
``"map2dnormaldev"``
    As ``"map2dnormal"``, plus green = min-max scaled ``np.gradient(flux)``
    and blue = min-max scaled gradient of that gradient (both taken per
    sample, i.e. with unit spacing, not per Angstrom).
``"roi"``
    Red as ``"map2dnormal"`` (row-major order, no interpolation), green = 50
    in the blocks of samples that lie in one of the 50 "regions of interest"
    of largest absolute equivalent width.  Regions are the runs of samples
    where the Savitzky-Golay smoothed flux (window 25, order 3) differs by
    more than 1.5 (absolute flux units) from its centred 50-sample rolling
    median; the rolling median is undefined (so no region) within 25 samples
    of the start and 24 of the end, as with pandas'
    ``rolling(50, center=True).median()``.  A region's equivalent width is the
    trapezoid integral over wavelength of ``(smoothed - median) / median``.

The matplotlib kinds return the PNG's pixels converted to RGB (the published
training code opens each PNG with ``Image.open(path).convert("RGB")`` and only
then resizes it to 224 x 224), so their size is whatever the tight bounding
box gives: 224 x 224 for the default ``size=224`` with current matplotlib, but
a pixel more or less is possible with other versions.  ``block_size``,
``fill_order`` and ``interpolate`` are ignored by the kinds that do not use
them, as they were in the published code, where they were global options.
Figures are drawn under matplotlib's default style (``style.context("default")``)
so that the result does not depend on the caller's rcParams, with
`matplotlib.figure.Figure` and the Agg canvas: importing or using this module
never selects a matplotlib backend.

Timing: per spectrum this module costs about what the published code does
(within the run-to-run noise of a few tens of percent), except for ``"roi"``,
whose published version walks the spectrum row by row through a pandas
DataFrame (``.loc``) and is roughly ten times slower than the numpy/scipy
region search here; for ``"roi"`` the reference timing is therefore a lower
bound on the published cost.  The images are the published ones pixel for
pixel (checked against the published code on real LAMOST spectra).

The published pipeline also cropped every spectrum to 3536.714-10413.580 A and,
for LAMOST, divided the flux by ``1 + z`` before rendering; that preprocessing
is not part of the renderer and is not done here.

matplotlib, Pillow and scipy are needed (imported when a spectrum is rendered).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from . import kinds as _kinds  # noqa: F401 - registers the kinds renderers are attached to
from .registry import KindNames, get_kind, register_reference

__all__ = ["render_reference", "REFERENCE_KINDS", "REFERENCE_FILL_ORDERS"]

#: Image kinds of the published renderer: those with a reference renderer in the kind
#: registry (attached below with :func:`~spectromer.imaging.registry.register_reference`).
REFERENCE_KINDS = KindNames(lambda kind: kind.reference is not None)
#: Block fill orders of the published ``map2dnormal``/``map2dnormaldev`` renderer.
REFERENCE_FILL_ORDERS: tuple[str, ...] = ("standard", "boustrophedon")

# Constants of the published method.
_DPI = 100
_MAP2D_VMIN = -1.13
_MAP2D_VMAX = 144.97
_LINEWIDTH = 0.5
_SPLIT_COLORS = ("red", "green", "blue")
_SPLIT_ALPHA = 0.5
_SAVGOL_WINDOW = 25
_SAVGOL_ORDER = 3
_MEDIAN_WINDOW = 50
_DEVIATION_THRESHOLD = 1.5
_MAX_REGIONS = 50
_ROI_GREEN = 50


def render_reference(
    wavelength: Any,
    flux: Any,
    kind: str,
    *,
    block_size: int = 3,
    fill_order: str = "standard",
    interpolate: bool = False,
    size: int = 224,
) -> np.ndarray:
    """Render one spectrum exactly as the published Spectromer code does (slowly).

    See the module docstring (:mod:`spectromer.imaging.reference`) for what
    each kind draws.  This is the reference the fast renderers of
    :mod:`spectromer.imaging` are timed and checked against; use those for
    real work.

    Parameters
    ----------
    wavelength, flux : array-like or `~astropy.units.Quantity`
        1-D arrays of the same length (units, if any, are dropped).  Non-finite
        values are allowed only for the matplotlib kinds (``"plot"``,
        ``"overlapsplit"``, ``"map2d"``), where matplotlib handles them.
    kind : {"plot", "overlapsplit", "map2d", "map2dnormal", "map2dnormaldev", "roi"}
        The published image kind.
    block_size : int, optional
        Side in pixels of the block that one flux value fills (the ``map2d*``
        and ``roi`` kinds; published default 3).
    fill_order : {"standard", "boustrophedon"}, optional
        Block order of ``"map2dnormal"`` and ``"map2dnormaldev"``; the other
        kinds always fill row-major.
    interpolate : bool, optional
        For ``"map2dnormal"`` and ``"map2dnormaldev"``: linearly resample a
        spectrum with fewer values than blocks onto as many wavelengths as
        there are blocks, evenly spaced over its range.
    size : int, optional
        Canvas side in pixels (published: 224).  The matplotlib kinds use a
        ``size / 100`` inch figure at 100 dpi.

    Returns
    -------
    image : `numpy.ndarray`
        ``uint8`` array of shape ``(height, width, 3)``, RGB.  ``size`` x
        ``size`` for the array kinds; for the matplotlib kinds the size of the
        PNG that ``bbox_inches="tight"`` produced (224 x 224 at ``size=224``
        with matplotlib 3.8-3.11).

    Raises
    ------
    ValueError
        For an unknown ``kind`` or ``fill_order``, a bad ``block_size`` or
        ``size``, arrays that are not 1-D or differ in length, too few values
        for the kind, or, for the min-max scaled kinds, non-finite or constant
        values (the published scaling divides by zero there).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.imaging.reference import render_reference
    >>> wave = np.linspace(3900.0, 9000.0, 3900)
    >>> flux = 10 + np.sin(wave / 200.0)
    >>> img = render_reference(wave, flux, "map2dnormal", block_size=3)
    >>> img.shape, img.dtype
    ((224, 224, 3), dtype('uint8'))
    >>> int(img[0, 0, 0]), int(img[:, :, 1:].max())  # red only
    (204, 0)
    """
    if kind not in REFERENCE_KINDS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(map(repr, REFERENCE_KINDS))}")
    if fill_order not in REFERENCE_FILL_ORDERS:
        raise ValueError(
            f"fill_order={fill_order!r} is not one of the published orders "
            f"{', '.join(map(repr, REFERENCE_FILL_ORDERS))}"
        )
    size = _positive_int(size, "size")
    block_size = _positive_int(block_size, "block_size")
    if block_size > size:
        raise ValueError(f"block_size={block_size} is larger than the image size={size}")
    wave = np.asarray(getattr(wavelength, "value", wavelength), dtype=np.float64)
    flx = np.asarray(getattr(flux, "value", flux), dtype=np.float64)
    if wave.ndim != 1 or flx.ndim != 1:
        raise ValueError(
            f"wavelength and flux must be 1-D, got shapes {wave.shape} and {flx.shape}"
        )
    if wave.shape != flx.shape:
        raise ValueError(
            f"wavelength ({wave.size} values) and flux ({flx.size} values) differ in length"
        )
    return get_kind(kind).reference(wave, flx, size, block_size, fill_order, interpolate)


# --------------------------------------------------------------------------- checks


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _require_length(flux: np.ndarray, minimum: int, kind: str) -> None:
    if flux.size < minimum:
        raise ValueError(f"kind={kind!r} needs at least {minimum} flux values, got {flux.size}")


def _require_finite(values: np.ndarray, name: str, kind: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} non-finite value(s) (first at index "
            f"{int(np.argmax(bad))}); kind={kind!r} cannot scale them"
        )


def _minmax_255(values: np.ndarray, what: str) -> np.ndarray:
    """The published 0..255 scaling, same operation order (truncated later by ``int``)."""
    lo = np.min(values)
    hi = np.max(values)
    if not hi > lo:
        raise ValueError(
            f"{what} is constant ({float(lo)!r}); the published min-max scaling divides by zero"
        )
    return 255 * (values - lo) / (hi - lo)


# --------------------------------------------------------------------------- figures


def _figure_to_rgb(draw, size: int, tight_layout: bool) -> np.ndarray:
    """Draw on a fresh ``size / 100`` inch figure, PNG round trip, return RGB pixels."""
    from matplotlib import style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    buffer = io.BytesIO()
    with style.context("default"):
        fig = Figure(figsize=(size / _DPI, size / _DPI), dpi=_DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        draw(ax)
        if tight_layout:
            fig.tight_layout(pad=0)
        fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", pad_inches=0)
    buffer.seek(0)
    with Image.open(buffer) as png:
        return np.array(png.convert("RGB"), dtype=np.uint8)


# Each published kind's renderer is attached to its registry entry and called as
# ``func(wave, flux, size, block_size, fill_order, interpolate)`` once the arguments
# common to all kinds are checked; it checks what its kind needs of the flux.


@register_reference("plot")
def _render_plot(wave, flux, size, block_size, fill_order, interpolate) -> np.ndarray:
    _require_length(flux, 1, "plot")

    def draw(ax):
        ax.plot(wave, flux, linewidth=_LINEWIDTH)
        ax.axis("off")

    return _figure_to_rgb(draw, size, tight_layout=True)


@register_reference("overlapsplit")
def _render_overlapsplit(wave, flux, size, block_size, fill_order, interpolate) -> np.ndarray:
    _require_length(flux, 2 * len(_SPLIT_COLORS), "overlapsplit")
    flux_parts = np.array_split(flux, len(_SPLIT_COLORS))
    wave_parts = np.array_split(wave, len(_SPLIT_COLORS))

    def draw(ax):
        for color, w, f in zip(_SPLIT_COLORS, wave_parts, flux_parts):
            lo, hi = np.min(w), np.max(w)
            ax.plot((w - lo) / (hi - lo), f, color=color, linewidth=_LINEWIDTH, alpha=_SPLIT_ALPHA)
        ax.axis("off")

    return _figure_to_rgb(draw, size, tight_layout=True)


@register_reference("map2d")
def _render_map2d(wave, flux, size, block_size, fill_order, interpolate) -> np.ndarray:
    _require_length(flux, 1, "map2d")
    per_side = size // block_size
    canvas = np.zeros((size, size))
    # One slice assignment per value, like the published loop: values whose
    # block row starts past the canvas give empty slices (dropped), and the
    # row starting at per_side * block_size is clipped to the canvas.
    for index, value in enumerate(flux):
        top = (index // per_side) * block_size
        left = (index % per_side) * block_size
        canvas[top : top + block_size, left : left + block_size] = value

    def draw(ax):
        ax.imshow(canvas, cmap="viridis", vmin=_MAP2D_VMIN, vmax=_MAP2D_VMAX)
        ax.axis("off")
        ax.set_position([0, 0, 1, 1])

    return _figure_to_rgb(draw, size, tight_layout=False)


# --------------------------------------------------------------------------- block maps


def _columns(per_side: int, row: int, fill_order: str) -> range:
    """Block columns of block row ``row`` in the order the published loops visit them."""
    if fill_order == "boustrophedon" and row % 2 == 1:
        return range(per_side - 1, -1, -1)
    return range(per_side)


@register_reference("map2dnormal")
def _render_map2dnormal(wave, flux, size, block_size, fill_order, interpolate) -> np.ndarray:
    return _map2dnormal(wave, flux, size, block_size, fill_order, interpolate, "map2dnormal")


@register_reference("map2dnormaldev")
def _render_map2dnormaldev(wave, flux, size, block_size, fill_order, interpolate) -> np.ndarray:
    return _map2dnormal(wave, flux, size, block_size, fill_order, interpolate, "map2dnormaldev")


def _map2dnormal(
    wave: np.ndarray,
    flux: np.ndarray,
    size: int,
    block_size: int,
    fill_order: str,
    interpolate: bool,
    kind: str,
) -> np.ndarray:
    _require_length(flux, 2, kind)
    _require_finite(wave, "wavelength", kind)
    _require_finite(flux, "flux", kind)
    derivatives = kind == "map2dnormaldev"
    per_side = size // block_size
    n_blocks = per_side * per_side
    if interpolate and flux.size < n_blocks:
        from scipy.interpolate import interp1d

        resample = interp1d(wave, flux, kind="linear", fill_value="extrapolate")
        flux = resample(np.linspace(np.min(wave), np.max(wave), n_blocks))
    red = _minmax_255(flux, "flux")
    if derivatives:
        first = np.gradient(flux)
        green = _minmax_255(first, "the first derivative of flux")
        blue = _minmax_255(np.gradient(first), "the second derivative of flux")
    image = np.zeros((size, size, 3), dtype=np.uint8)
    n_values = flux.size
    index = 0
    # The per-block Python loop (over every block, like the published one) is
    # the published method's cost: kept on purpose.
    for row in range(per_side):
        top, bottom = row * block_size, (row + 1) * block_size
        for col in _columns(per_side, row, fill_order):
            if index < n_values:
                left, right = col * block_size, (col + 1) * block_size
                image[top:bottom, left:right, 0] = int(red[index])
                if derivatives:
                    image[top:bottom, left:right, 1] = int(green[index])
                    image[top:bottom, left:right, 2] = int(blue[index])
                index += 1
    return image


def _rolling_median_centered(values: np.ndarray, window: int) -> np.ndarray:
    """pandas ``Series.rolling(window, center=True).median()`` for finite input.

    The window for sample ``i`` is ``[i - window // 2, i + (window - 1) // 2]``
    (pandas' centring for even and odd windows); samples whose window does not
    fit inside the array are NaN (pandas' default ``min_periods=window``).
    """
    out = np.full(values.shape, np.nan)
    if values.size < window:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(values, window)
    start = window // 2
    out[start : start + windows.shape[0]] = np.median(windows, axis=1)
    return out


def _regions_of_interest(wave: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """Boolean flag per sample: inside one of the top-50 |EW| deviating regions."""
    from scipy.integrate import trapezoid
    from scipy.signal import savgol_filter

    smoothed = savgol_filter(flux, _SAVGOL_WINDOW, _SAVGOL_ORDER)
    median = _rolling_median_centered(smoothed, _MEDIAN_WINDOW)
    with np.errstate(invalid="ignore"):
        significant = np.abs(smoothed - median) > _DEVIATION_THRESHOLD  # NaN -> False
    regions = []  # (first, last, equivalent width)
    first = None
    for index, flag in enumerate(significant.tolist() + [False]):
        if flag and first is None:
            first = index
        elif not flag and first is not None:
            part = slice(first, index)
            with np.errstate(divide="ignore", invalid="ignore"):
                relative = (smoothed[part] - median[part]) / median[part]
            regions.append((first, index - 1, float(trapezoid(relative, wave[part]))))
            first = None
    # Python's sort is stable, so ties keep spectral order, as in the published code.
    strongest = sorted(regions, key=lambda region: abs(region[2]), reverse=True)[:_MAX_REGIONS]
    flags = np.zeros(flux.shape, dtype=bool)
    for first, last, _ in strongest:
        flags[first : last + 1] = True
    return flags


@register_reference("roi")
def _render_roi(wave, flux, size, block_size, fill_order, interpolate) -> np.ndarray:
    _require_length(flux, _SAVGOL_WINDOW, "roi")
    _require_finite(wave, "wavelength", "roi")
    _require_finite(flux, "flux", "roi")
    per_side = size // block_size
    red = _minmax_255(flux, "flux")
    flags = _regions_of_interest(wave, flux)
    image = np.zeros((size, size, 3), dtype=np.uint8)
    n_values = flux.size
    index = 0
    for row in range(per_side):
        top, bottom = row * block_size, (row + 1) * block_size
        for col in range(per_side):
            if index < n_values:
                left, right = col * block_size, (col + 1) * block_size
                image[top:bottom, left:right, 0] = int(red[index])
                if flags[index]:
                    image[top:bottom, left:right, 1] = _ROI_GREEN
                index += 1
    return image
