"""Render options as data: :class:`RenderConfig`.

Every renderer is driven by one frozen dataclass, so a configuration can be
stored with a trained model (``asdict``), compared, and rebuilt exactly.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, fields, replace
from typing import Any

from .layout import FILL_ORDERS, block_grid
from .registry import BLOCK_KINDS, KINDS, get_kind

__all__ = [
    "RenderConfig",
    "KINDS",
    "BLOCK_KINDS",
    "GRIDS",
    "NORMALIZATIONS",
    "DEFAULT_WAVE_RANGE",
    "PUBLISHED_VMIN",
    "PUBLISHED_VMAX",
    "MAX_SIZE",
    "check_images_fit",
]

# KINDS (the image representations) and BLOCK_KINDS (those laying values out in blocks)
# come from the kind registry, spectromer.imaging.registry, which derives them.

#: How spectrum pixels become the values laid out in the image.
GRIDS = ("log", "linear", "index", "stretch")
#: Per-spectrum normalisations of the values to [0, 1].
NORMALIZATIONS = ("minmax", "percentile", "median", "arcsinh", "fixed")
#: Default wavelength range (vacuum Angstrom) of the wavelength-true grids: it
#: covers SDSS, BOSS, LAMOST and DESI spectra.
DEFAULT_WAVE_RANGE = (3600.0, 10400.0)
#: The fixed colour scale of the published ``map2d`` (SDSS flux, 1e-17 erg/s/cm2/A).
PUBLISHED_VMIN, PUBLISHED_VMAX = -1.13, 144.97
#: Values the automatic block size aims to fit (the length of a survey spectrum).
TARGET_VALUES = 4000
#: Largest image side in pixels (vision transformers use 224 to 512).
MAX_SIZE = 4096


def _format_bytes(n: float) -> str:
    """``n`` bytes in binary units, e.g. ``'27.9 GiB'``."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _pixels(value: Any, size: Any) -> int:
    """One image side as an int; whole floats such as 64.0 are accepted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"size must be a whole number of pixels or (height, width), got {size!r}")
    if not isinstance(value, numbers.Integral) and not float(value).is_integer():
        raise ValueError(f"size must be a whole number of pixels, got {size!r}")
    return int(value)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None if unknown.

    ``MemAvailable`` of ``/proc/meminfo`` on Linux (free memory plus what the
    page cache can give back), else the physical memory (``os.sysconf``).

    Examples
    --------
    >>> from spectromer.imaging.config import available_memory
    >>> (available_memory() or 1) > 0
    True
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_images_fit(config: RenderConfig, n: int, output: str = "uint8") -> int:
    """Check that ``n`` images of ``config`` fit in the memory available.

    Parameters
    ----------
    config : RenderConfig
        The render options (image size and channels).
    n : int
        Number of images to allocate at once.
    output : {"uint8", "float32"}
        Pixel type (1 or 4 bytes).

    Returns
    -------
    int
        The bytes the images need.

    Raises
    ------
    MemoryError
        Naming the bytes needed and available, if they do not fit.

    Examples
    --------
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.imaging.config import check_images_fit
    >>> check_images_fit(RenderConfig(size=64), 10)
    122880
    """
    h, w = config.shape
    nbytes = n * h * w * config.channels * (1 if output == "uint8" else 4)
    available = available_memory()
    if available is not None and nbytes > available:
        raise MemoryError(
            f"{n} {output} images of {h}x{w}x{config.channels} need {_format_bytes(nbytes)} "
            f"({nbytes} bytes), more than the {_format_bytes(available)} of memory "
            "available; render them a batch at a time with render_batches(...), "
            "or use a smaller size"
        )
    return nbytes


@dataclass(frozen=True)
class RenderConfig:
    """All the options of a spectrum-to-image renderer.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`: ``plot`` (line plot), ``overlapsplit`` (three
        thirds of the spectrum overlaid in red, green and blue), ``map2d``
        (values as blocks on a fixed colour scale), ``map2dnormal`` (blocks,
        per-spectrum scale, red channel), ``map2dnormaldev`` (flux, first and
        second derivative in R, G, B), ``roi`` (flux in red, regions of strong
        lines marked in green).
    size : int or (int, int)
        Image height and width in pixels.
    block_size : int, optional
        Side of the square block each value fills (block kinds). Default: the
        largest block that still fits about 4000 values (3 at 224 pixels, 1 at
        64), or, with ``grid="index"``, all the spectrum's pixels.
    fill_order : str
        ``standard``, ``boustrophedon`` or ``hilbert`` (see
        :mod:`spectromer.imaging.layout`).
    grid : str
        How pixels become values. ``log`` (default) and ``linear`` resample
        every spectrum onto one fixed wavelength grid over ``wave_range`` (log-
        or linearly spaced), so a pixel means the same wavelength for every
        spectrum and every instrument. ``index`` is the published mapping:
        array index i goes to block i, whatever its wavelength (values that do
        not fit are dropped). ``stretch`` resamples each spectrum's own range
        evenly onto all blocks (the published ``interpolate`` option).
    wave_range : (float, float) or Quantity
        Vacuum wavelength range of the ``log``/``linear`` grids, in Angstrom
        (or any spectral Quantity, converted).
    frame : {"observed", "rest"}
        Frame of the wavelength grid; ``rest`` de-redshifts with ``z`` (the
        spectrum's ``meta["z"]`` unless given to the renderer).
    normalization : str, optional
        Per-spectrum scaling to [0, 1]: ``minmax``, ``percentile`` (clip to
        the 1st-99th percentiles, robust to cosmic rays), ``median`` (flux over
        its median, 0..2 mapped to 0..1: keeps line depths comparable between
        spectra), ``arcsinh`` (arcsinh of flux over its median, then min-max:
        tames strong emission lines) or ``fixed`` (``vmin``..``vmax``). Default:
        ``fixed`` for ``map2d`` (the published fixed scale), ``minmax`` otherwise
        (as published).
    vmin, vmax : float
        Fixed scale for ``normalization="fixed"``; the defaults are the
        published ones for SDSS fluxes.
    mask_policy : {"interpolate", "zero"}
        Masked and NaN pixels inside the spectrum are linearly interpolated from
        their good neighbours (``interpolate``) or shown as zero (``zero``).
        Wavelengths the spectrum does not cover are always zero (and gaps in
        line plots).
    mask_channel : bool
        Append a channel that is 255 (1.0) where a value was masked,
        interpolated or outside the spectrum's coverage.
    cmap : str, optional
        Matplotlib colour map for ``map2d`` (default ``viridis``, as published);
        ``None`` gives one grey channel.
    line_width : int
        Line width in pixels for ``plot`` and ``overlapsplit``.
    color : str
        Line colour of ``plot`` (matplotlib's default blue).
    margin : float
        Blank margin of line plots as a fraction of each axis (matplotlib's 0.05).
    roi_threshold : float
        ``roi``: a pixel is in a region of interest where the smoothed flux
        deviates from its running median by more than this fraction of it.
    roi_regions : int
        ``roi``: how many regions (largest equivalent width first) are marked.
    roi_value : int
        ``roi``: green level of marked pixels (50, as published).

    Examples
    --------
    >>> from spectromer.imaging import RenderConfig
    >>> cfg = RenderConfig(kind="map2dnormaldev", size=64)
    >>> cfg.resolved_block_size(), cfg.n_values()
    (1, 4096)
    >>> RenderConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    kind: str = "map2dnormaldev"
    size: int | tuple[int, int] = 224
    block_size: int | None = None
    fill_order: str = "standard"
    grid: str = "log"
    wave_range: tuple[float, float] = DEFAULT_WAVE_RANGE
    frame: str = "observed"
    normalization: str | None = None
    vmin: float = PUBLISHED_VMIN
    vmax: float = PUBLISHED_VMAX
    mask_policy: str = "interpolate"
    mask_channel: bool = False
    cmap: str | None = "viridis"
    line_width: int = 1
    color: str = "#1f77b4"
    margin: float = 0.05
    roi_threshold: float = 0.05
    roi_regions: int = 50
    roi_value: int = 50

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, allowed: Any) -> ValueError:
            return ValueError(f"{name} must be one of {allowed}, got {value!r}")

        if self.kind not in KINDS:
            raise bad("kind", self.kind, tuple(KINDS))
        if self.fill_order not in FILL_ORDERS:
            raise bad("fill_order", self.fill_order, FILL_ORDERS)
        if self.grid not in GRIDS:
            raise bad("grid", self.grid, GRIDS)
        if self.frame not in ("observed", "rest"):
            raise bad("frame", self.frame, ("observed", "rest"))
        if self.mask_policy not in ("interpolate", "zero"):
            raise bad("mask_policy", self.mask_policy, ("interpolate", "zero"))
        if self.normalization is not None and self.normalization not in NORMALIZATIONS:
            raise bad("normalization", self.normalization, NORMALIZATIONS)
        if isinstance(self.size, (tuple, list)):
            if len(self.size) != 2:
                raise ValueError(f"size must be an int or (height, width), got {self.size!r}")
            object.__setattr__(self, "size", tuple(_pixels(v, self.size) for v in self.size))
        else:
            object.__setattr__(self, "size", _pixels(self.size, self.size))
        h, w = self.shape
        if h < 8 or w < 8:
            raise ValueError(f"size must be at least 8 pixels, got {self.size!r}")
        if h > MAX_SIZE or w > MAX_SIZE:
            one = h * w * self.channels
            raise ValueError(
                f"size must be at most {MAX_SIZE} pixels per side, got {self.size!r} "
                f"(one {h}x{w} image of {self.channels} channel(s) would take "
                f"{_format_bytes(one)} as uint8)"
            )
        lo, hi = (float(v) for v in self.wave_range)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(
                f"wave_range must be (low, high) with 0 < low < high, got {self.wave_range}"
            )
        object.__setattr__(self, "wave_range", (lo, hi))
        if not self.vmax > self.vmin:
            raise ValueError(f"vmax must be larger than vmin, got {self.vmin}, {self.vmax}")
        if self.block_size is not None:
            block_grid(h, w, int(self.block_size))
        if self.line_width < 1:
            raise ValueError(f"line_width must be >= 1, got {self.line_width}")
        if not 0 <= self.margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {self.margin}")
        if self.roi_regions < 0 or not 0 <= self.roi_value <= 255:
            raise ValueError("roi_regions must be >= 0 and roi_value in 0..255")

    # ------------------------------------------------------------------ derived
    @property
    def shape(self) -> tuple[int, int]:
        """Image (height, width)."""
        if isinstance(self.size, (tuple, list)):
            h, w = (int(v) for v in self.size)
        else:
            h = w = int(self.size)
        return h, w

    @property
    def is_block(self) -> bool:
        """Whether the kind lays values out in blocks (rather than drawing lines)."""
        return get_kind(self.kind).is_block

    @property
    def norm(self) -> str:
        """The normalisation in effect (the kind's default if none was given)."""
        if self.normalization is not None:
            return self.normalization
        return get_kind(self.kind).normalization

    @property
    def channels(self) -> int:
        """Number of image channels, the mask channel included."""
        return get_kind(self.kind).n_channels(self.mask_channel, self.cmap)

    def resolved_block_size(self, n_pixels: int | None = None) -> int:
        """Block size in use (line kinds: 1).

        ``n_pixels`` (the longest spectrum) matters only for ``grid="index"``
        with an automatic block size: the largest block that fits them all.
        """
        if not self.is_block:
            return 1
        if self.block_size is not None:
            return int(self.block_size)
        h, w = self.shape
        target = TARGET_VALUES if (self.grid != "index" or not n_pixels) else int(n_pixels)
        for b in range(min(h, w), 0, -1):
            if (h // b) * (w // b) >= target:
                return b
        return 1

    def n_values(self, n_pixels: int | None = None) -> int:
        """How many values the image shows (blocks, or line-plot samples)."""
        h, w = self.shape
        if not self.is_block:
            return max(4 * w, 256)
        rows, cols = block_grid(h, w, self.resolved_block_size(n_pixels))
        return rows * cols

    # ------------------------------------------------------------------ as data
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        d["wave_range"] = list(d["wave_range"])
        if isinstance(d["size"], tuple):
            d["size"] = list(d["size"])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown render options: {', '.join(sorted(unknown))}")
        data = dict(data)
        if "wave_range" in data:
            data["wave_range"] = tuple(data["wave_range"])
        if isinstance(data.get("size"), list):
            data["size"] = tuple(data["size"])
        return cls(**data)

    def replace(self, **changes: Any) -> RenderConfig:
        """A copy with some options changed."""
        return replace(self, **changes)


def make_config(config: RenderConfig | None = None, **options: Any) -> RenderConfig:
    """A :class:`RenderConfig` from a config and/or keyword options (options win)."""
    if config is not None and not isinstance(config, RenderConfig):
        raise TypeError(f"config must be a RenderConfig, got {type(config).__name__}")
    known = {f.name for f in fields(RenderConfig) if not f.name.startswith("_")}
    unknown = set(options) - known
    if unknown:
        raise TypeError(
            f"unknown render option(s) {', '.join(sorted(unknown))}; "
            f"valid: {', '.join(sorted(known))}"
        )
    wr = options.get("wave_range")
    if wr is not None:
        import astropy.units as u

        if isinstance(wr, u.Quantity):  # any spectral unit at the API boundary
            wr = wr.to_value(u.AA, equivalencies=u.spectral())
        options["wave_range"] = tuple(sorted(float(v) for v in wr))
    base = config if config is not None else RenderConfig()
    return replace(base, **options) if options else base
