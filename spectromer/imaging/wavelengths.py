"""Which wavelength each pixel of an image shows."""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import RenderConfig, make_config
from .layout import pixel_index_map
from .prepare import as_batch, grid_wavelengths

__all__ = ["pixel_wavelengths"]


def pixel_wavelengths(
    spectrum: Any = None,
    *,
    config: RenderConfig | None = None,
    z: float | None = None,
    **options: Any,
) -> np.ndarray:
    """The observed-frame wavelength (Angstrom) each pixel of an image shows.

    Useful to label images, and to map a ViT's attention back onto the
    spectrum. With a fixed (``log``/``linear``) grid in the observed frame the
    answer is the same for every spectrum and ``spectrum`` may be omitted;
    ``index``/``stretch`` grids and the rest frame need the spectrum (or ``z``).

    Parameters
    ----------
    spectrum : specutils.Spectrum, optional
        The spectrum being rendered.
    config : RenderConfig, optional
        Render options; keyword ``options`` override its fields.
    z : float, optional
        Redshift for ``frame="rest"`` (default ``spectrum.meta["z"]``).

    Returns
    -------
    ndarray (H, W)
        Wavelength per pixel; NaN for padding pixels and empty blocks. For
        ``plot``/``overlapsplit`` each column's wavelength (for
        ``overlapsplit``, that of the first third).

    Examples
    --------
    >>> from spectromer.imaging import pixel_wavelengths
    >>> wl = pixel_wavelengths(kind="map2dnormaldev", size=224, fill_order="hilbert")
    >>> wl.shape, round(float(wl[0, 0]))
    ((224, 224), 3600)
    """
    cfg = make_config(config, **options)
    h, w = cfg.shape
    fixed = cfg.grid in ("log", "linear")
    if spectrum is None and not (fixed and cfg.frame == "observed"):
        raise ValueError(
            f"grid={cfg.grid!r}, frame={cfg.frame!r}: the wavelengths depend on the spectrum; "
            "pass it"
        )
    batch = as_batch(spectrum, z=z) if spectrum is not None else None
    n_pix = int(batch.length[0]) if batch is not None else None
    m = cfg.n_values(n_pix)
    if fixed:
        lam = grid_wavelengths(cfg, m)
        if cfg.frame == "rest":
            zz = batch.z[0]
            if not np.isfinite(zz):
                raise ValueError("frame='rest' needs a redshift (meta['z'] or z=...)")
            lam = lam * (1.0 + zz)
    else:
        wv = batch.wave[0, : batch.length[0]]
        good = batch.good[0, : batch.length[0]]
        if cfg.grid == "index":
            lam = np.full(m, np.nan)
            k = min(m, wv.size)
            lam[:k] = wv[:k]
        else:
            lam = np.linspace(wv[good][0], wv[good][-1], m)
    if cfg.is_block:
        idx = pixel_index_map(h, w, cfg.resolved_block_size(n_pix), cfg.fill_order)
        out = np.full((h, w), np.nan)
        ok = (idx >= 0) & (idx < m)
        out[ok] = lam[idx[ok]]
        return out
    if cfg.kind == "overlapsplit":
        lam = np.array_split(lam, 3)[0]
    frac = cfg.margin / (1.0 + 2.0 * cfg.margin)
    x = (np.arange(w) - frac * (w - 1)) / ((1 - 2 * frac) * (w - 1))
    col = np.interp(x, np.linspace(0, 1, lam.size), lam, left=np.nan, right=np.nan)
    return np.broadcast_to(col, (h, w)).copy()
