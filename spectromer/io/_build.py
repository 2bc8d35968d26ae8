"""Building spectra: array checks, bad-pixel masks, `~specutils.Spectrum` construction.

Every reader validates its arrays with :func:`check_spectrum_arrays` and builds
its result with :func:`make_spectrum` (the only place Quantities are made);
:func:`split_spectrum` turns a multi-object spectrum into 1-D spectra and
:func:`spectrum_arrays` is the one conversion back to plain numpy arrays.
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
from astropy.nddata import InverseVariance
from specutils import Spectrum

from ._errors import SpectrumReadError

__all__ = [
    "WAVELENGTH_UNIT",
    "check_spectrum_arrays",
    "pixel_mask",
    "make_spectrum",
    "split_spectrum",
    "spectrum_arrays",
]

#: Angstrom, the unit of every spectral axis returned.
WAVELENGTH_UNIT = u.AA


def check_spectrum_arrays(
    source: str,
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray | None = None,
    *,
    require_data: bool = True,
    **others: np.ndarray | None,
) -> None:
    """Validate the arrays of a spectrum before building it; every reader uses this.

    Parameters
    ----------
    source : str
        File name for error messages.
    wavelength : ndarray
        1-D spectral axis.
    flux : ndarray
        1-D flux, or 2-D ``(n_object, n_pixel)``.
    ivar : ndarray, optional
        Inverse variance, same shape as ``flux``.
    require_data : bool, optional
        Also require some finite flux with positive ``ivar`` (default);
        `False` checks only shapes and the wavelength axis.
    **others : ndarray
        More per-pixel arrays (masks) that must have the shape of ``flux``;
        `None` values are skipped.

    Raises
    ------
    SpectrumReadError
        Shape/length mismatches, no pixels, non-finite or not strictly
        increasing wavelengths, flux that is NaN/inf everywhere, or inverse
        variance that is zero everywhere.  For 2-D input only the all-rows
        case is an error: a single unusable object among many is returned
        fully masked.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.io import SpectrumReadError
    >>> w = np.array([4000.0, 4001.0, 4002.0])
    >>> check_spectrum_arrays("a.fits", w, np.ones(3), np.ones(3))
    >>> try:
    ...     check_spectrum_arrays("a.fits", w[::-1], np.ones(3))
    ... except SpectrumReadError as err:
    ...     print(err)
    a.fits: wavelength is not strictly increasing (pixel 1: 4002 -> 4001)
    """
    if wavelength.ndim != 1:
        raise SpectrumReadError(source, f"wavelength has {wavelength.ndim} dimensions, expected 1")
    if flux.ndim not in (1, 2):
        raise SpectrumReadError(source, f"flux has {flux.ndim} dimensions, expected 1 or 2")
    npix = wavelength.shape[0]
    if npix == 0:
        raise SpectrumReadError(source, "spectrum has no pixels")
    if flux.shape[-1] != npix:
        raise SpectrumReadError(
            source,
            f"length mismatch: flux has {flux.shape[-1]} pixels, wavelength has {npix}",
        )
    arrays = {"ivar": ivar, **others}
    for name, array in arrays.items():
        if array is not None and array.shape != flux.shape:
            raise SpectrumReadError(
                source, f"length mismatch: {name} has shape {array.shape}, flux {flux.shape}"
            )
    finite_w = np.isfinite(wavelength)
    if not finite_w.all():
        bad = int(np.argmin(finite_w))
        raise SpectrumReadError(source, f"wavelength is not finite at pixel {bad}")
    steps = np.diff(wavelength)
    if npix > 1 and not (steps > 0).all():
        bad = int(np.argmin(steps > 0))
        raise SpectrumReadError(
            source,
            "wavelength is not strictly increasing "
            f"(pixel {bad + 1}: {wavelength[bad]:.6g} -> {wavelength[bad + 1]:.6g})",
        )
    if not require_data:
        return
    finite = np.isfinite(flux)
    if not finite.any():
        raise SpectrumReadError(
            source, "flux is all NaN" + (" for every object" if flux.ndim == 2 else "")
        )
    if ivar is not None:
        usable = finite & (ivar > 0)
        if not usable.any():
            raise SpectrumReadError(
                source,
                "inverse variance is zero (or flux NaN) at every pixel: no usable data",
            )


def pixel_mask(
    flux: np.ndarray, ivar: np.ndarray, and_mask: np.ndarray | None = None
) -> np.ndarray:
    """Bad-pixel mask: ``(and_mask != 0) | (ivar <= 0) | ~isfinite(flux)``.

    Non-finite ``ivar`` counts as bad too.  `True` marks a bad pixel
    (specutils convention).

    Examples
    --------
    >>> import numpy as np
    >>> pixel_mask(np.array([1.0, np.nan, 1.0, 1.0]), np.array([1.0, 1.0, 0.0, 1.0]),
    ...            np.array([0, 0, 0, 4]))
    array([False,  True,  True,  True])
    """
    mask = ~np.isfinite(flux) | ~(ivar > 0)
    if and_mask is not None:
        mask |= and_mask != 0
    return mask


def make_spectrum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray,
    flux_unit: u.UnitBase,
    meta: dict[str, Any],
) -> Spectrum:
    """Build the `~specutils.Spectrum` (the only place Quantities are made).

    ``ivar`` entries that are negative or not finite are set to 0 (no
    information); the mask already flags those pixels.

    Parameters
    ----------
    wavelength : ndarray
        Vacuum wavelength in Angstrom.
    flux, ivar : ndarray
        Flux and inverse variance (1-D, or 2-D with objects along axis 0).
    mask : ndarray of bool
        `True` for bad pixels.
    flux_unit : astropy.units.UnitBase
        Unit of ``flux``; ``ivar`` is in ``flux_unit**-2``.
    meta : dict
        Metadata.

    Returns
    -------
    specutils.Spectrum

    Examples
    --------
    >>> import numpy as np, astropy.units as u
    >>> spec = make_spectrum(np.array([4000.0, 4001.0]), np.array([1.0, 2.0]),
    ...                      np.array([4.0, -1.0]), np.array([False, True]),
    ...                      u.dimensionless_unscaled, {"survey": "LAMOST"})
    >>> spec.spectral_axis
    <SpectralAxis [4000., 4001.] Angstrom>
    >>> spec.uncertainty.array
    array([4., 0.])
    """
    ivar = np.where(np.isfinite(ivar) & (ivar > 0), ivar, 0.0)
    flux = np.asarray(flux, dtype=np.float64)
    return Spectrum(
        flux=flux << flux_unit,
        spectral_axis=np.asarray(wavelength, dtype=np.float64) << WAVELENGTH_UNIT,
        # explicit: specutils cannot tell the axes apart when n_object == n_pixel (+1)
        spectral_axis_index=flux.ndim - 1,
        uncertainty=InverseVariance(ivar, unit=flux_unit**-2),
        mask=np.asarray(mask, dtype=bool),
        meta=meta,
    )


def _row_meta(row: Any) -> dict[str, Any]:
    """Plain-scalar dict from an `astropy.table.Row`: masked cells dropped, text stripped."""
    out: dict[str, Any] = {}
    for name in row.colnames:
        value = row[name]
        if value is np.ma.masked or (np.ma.isMaskedArray(value) and value.mask.all()):
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        if isinstance(value, str):
            value = value.strip()
        out[name] = value
    return out


def split_spectrum(spectrum: Spectrum) -> list[Spectrum]:
    """Split a spectrum with 2-D flux into 1-D spectra, one per object.

    Each part gets the file-level ``meta`` (without ``"targets"``) updated with
    its row of ``meta["targets"]`` (masked cells left out, blank text kept as
    ``""``).  A 1-D spectrum is
    returned as a one-element list.

    Parameters
    ----------
    spectrum : specutils.Spectrum
        As returned by a spectromer loader.

    Returns
    -------
    list of specutils.Spectrum

    Examples
    --------
    >>> import numpy as np, astropy.units as u
    >>> from astropy.table import Table
    >>> from specutils import Spectrum
    >>> two = Spectrum(flux=np.ones((2, 3)) * u.Jy, spectral_axis=[1, 2, 3] * u.AA,
    ...                spectral_axis_index=1,
    ...                meta={"survey": "DESI", "targets": Table({"targetid": [7, 8]})})
    >>> [s.meta["targetid"] for s in split_spectrum(two)]
    [7, 8]
    """
    if spectrum.flux.ndim == 1:
        return [spectrum]
    meta = dict(spectrum.meta)
    targets = meta.pop("targets", None)
    flux = spectrum.flux
    unc = spectrum.uncertainty
    mask = spectrum.mask
    out = []
    for i in range(flux.shape[0]):
        part_meta = dict(meta)
        if targets is not None:
            part_meta.update(_row_meta(targets[i]))
        out.append(
            Spectrum(
                flux=flux[i],
                spectral_axis=spectrum.spectral_axis,
                uncertainty=None if unc is None else type(unc)(unc.array[i], unit=unc.unit),
                mask=None if mask is None else mask[i],
                meta=part_meta,
            )
        )
    return out


def spectrum_arrays(spec: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plain arrays of a 1-D Spectrum: wavelength (Angstrom), flux, ivar, bad-pixel mask.

    The one conversion from ``specutils.Spectrum`` to numpy used by ingest and
    by the renderers. Any uncertainty type becomes inverse variance (0 where
    unknown or invalid); the mask is True where the spectrum's mask is set,
    the flux is not finite or ``ivar <= 0``; non-finite flux becomes 0. A
    decreasing spectral axis (e.g. frequency) is reversed so wavelength
    increases.

    Returns
    -------
    wave : ndarray float64
    flux, ivar : ndarray float32
    mask : ndarray bool

    Examples
    --------
    >>> import numpy as np, astropy.units as u
    >>> from specutils import Spectrum
    >>> from spectromer.io import spectrum_arrays
    >>> s = Spectrum(flux=[1.0, np.nan, 3.0] * u.Jy, spectral_axis=[1.0, 2.0, 3.0] * u.um)
    >>> wave, flux, ivar, mask = spectrum_arrays(s)
    >>> np.round(wave).tolist(), mask.tolist()
    ([10000.0, 20000.0, 30000.0], [False, True, False])
    """
    import astropy.units as u
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

    flux = np.asarray(spec.flux.value, dtype=np.float32)
    if flux.ndim != 1:
        raise ValueError(
            f"expected a 1-D spectrum, got flux of shape {flux.shape}; split multi-object "
            "spectra first (spectromer.io.read_spectra does)"
        )
    axis = spec.spectral_axis
    wave = axis.value if axis.unit == u.AA else axis.to_value(u.AA, equivalencies=u.spectral())
    wave = np.asarray(wave, dtype=np.float64)
    unc = spec.uncertainty
    finite = np.isfinite(flux)
    if unc is None:
        ivar = finite.astype(np.float32)
    else:
        arr = np.asarray(unc.array, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if isinstance(unc, InverseVariance):
                ivar = arr
            elif isinstance(unc, VarianceUncertainty):
                ivar = 1.0 / arr
            elif isinstance(unc, StdDevUncertainty):
                ivar = 1.0 / arr**2
            else:
                ivar = 1.0 / np.asarray(unc.represent_as(StdDevUncertainty).array) ** 2
        ivar = np.where(np.isfinite(ivar) & (ivar > 0), ivar, 0.0).astype(np.float32)
    mask = np.zeros(flux.shape, bool) if spec.mask is None else np.asarray(spec.mask, bool).copy()
    mask |= ~finite | (ivar <= 0)
    flux = np.where(finite, flux, 0.0).astype(np.float32)
    if wave.size > 1 and wave[0] > wave[-1]:
        wave, flux, ivar, mask = wave[::-1], flux[::-1], ivar[::-1], mask[::-1]
    return wave, flux, ivar, mask
