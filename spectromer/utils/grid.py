"""Compact storage of wavelength grids.

Most survey spectra sit on a grid that is linear in wavelength (DESI) or in
log10 wavelength (SDSS, LAMOST). Such a grid is stored as two numbers, which
halves the size of a dataset; any other grid is stored explicitly. A grid is
accepted as parametric only if it reproduces every stored wavelength to within
a small fraction of a pixel (:data:`GRID_TOLERANCE`).
"""

from __future__ import annotations

import numpy as np

#: Grid kinds stored in a dataset's ``wave/kind`` array.
EXPLICIT, LOGLINEAR, LINEAR = 0, 1, 2
KIND_NAMES = {EXPLICIT: "explicit", LOGLINEAR: "log-linear", LINEAR: "linear"}

#: Largest deviation allowed between a parametric grid and the original
#: wavelengths, as a fraction of the smallest pixel width.
GRID_TOLERANCE = 0.01


def describe_grid(wave: np.ndarray) -> tuple[int, float, float]:
    """Find the most compact exact description of a wavelength grid.

    Parameters
    ----------
    wave : ndarray
        Strictly increasing wavelengths.

    Returns
    -------
    kind, start, step : int, float, float
        ``LOGLINEAR`` (``wave = 10**(start + step*i)``), ``LINEAR``
        (``wave = start + step*i``) or ``EXPLICIT`` (start and step are NaN).
    """
    wave = np.asarray(wave, dtype=np.float64)
    n = wave.size
    if n < 3:
        return EXPLICIT, np.nan, np.nan
    tol = GRID_TOLERANCE * float(np.min(np.diff(wave)))
    idx = np.arange(n, dtype=np.float64)
    for kind, values in ((LOGLINEAR, np.log10(wave)), (LINEAR, wave)):
        step, start = np.polyfit(idx, values, 1)
        model = expand_grid(kind, start, step, n)
        if np.max(np.abs(model - wave)) <= tol:
            return kind, float(start), float(step)
    return EXPLICIT, np.nan, np.nan


def expand_grid(kind: int, start: float, step: float, n: int) -> np.ndarray:
    """Rebuild the wavelengths of a parametric grid (inverse of :func:`describe_grid`)."""
    values = start + step * np.arange(n, dtype=np.float64)
    if kind == LOGLINEAR:
        return 10.0**values
    if kind == LINEAR:
        return values
    raise ValueError(f"grid kind {kind} is not parametric")
