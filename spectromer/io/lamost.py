"""Readers for LAMOST low-resolution (LRS, R~1800) spectra.

Two layouts are supported, both identified by content (``TELESCOP`` =
``'LAMOST'``), never by file name, gzip-compressed or not:

``LAMOST-LRS`` (DR8 and later)
    An empty primary HDU (the labels live in its header) and a one-row binary
    table ``COADD`` with vector columns ``FLUX``, ``IVAR``, ``WAVELENGTH``,
    ``ANDMASK``, ``ORMASK`` and, in later releases, ``NORMALIZATION``.

``LAMOST-LRS-DR1-7`` (DR1 to DR7)
    A primary image of 5 rows: flux, inverse variance, continuum-normalised
    flux, and-mask, or-mask.  The wavelength is ``10**(COEFF0 + COEFF1 *
    arange(n))`` (``CRVAL1``/``CD1_1`` if the COEFF cards are missing).

Wavelengths are vacuum, in Angstrom (LAMOST sets ``VACUUM = T``).  LAMOST
fluxes are only *relatively* flux-calibrated (the absolute scale is
arbitrary), so the flux unit is `astropy.units.dimensionless_unscaled`
(:data:`LAMOST_FLUX_UNIT`) rather than a physical flux density.  The mask is
``(andmask != 0) | (ivar <= 0) | ~isfinite(flux)``, plus leading and trailing
runs of exactly zero flux, which the pipeline uses as padding (with positive
ivar and a clear and-mask).

The header labels are the keys of :data:`~spectromer.io._labels.LAMOST_LABELS`
(the same table for both layouts; LAMOST's ``-9999`` "unknown" values and
blank cards are missing values, ``nan``/``""``).  specutils has no LAMOST
reader (its generic ``tabular-fits`` loader steps aside for these files).
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from specutils import Spectrum

from ._build import check_spectrum_arrays, make_spectrum, pixel_mask
from ._errors import SpectrumReadError
from ._fits import as_native, first_hdu_named, header_mapping, table_columns
from ._labels import LAMOST_LABELS
from ._opening import file_label
from ._registry import register_format

__all__ = [
    "LAMOST_LRS",
    "LAMOST_LRS_DR1_7",
    "LAMOST_FLUX_UNIT",
    "identify_lamost_lrs",
    "identify_lamost_lrs_dr1_7",
    "read_lamost_lrs",
    "read_lamost_lrs_dr1_7",
]

#: Format label of LAMOST DR8+ low-resolution spectra (``COADD`` table).
LAMOST_LRS = "LAMOST-LRS"
#: Format label of LAMOST DR1-DR7 low-resolution spectra (5-row image).
LAMOST_LRS_DR1_7 = "LAMOST-LRS-DR1-7"
#: Flux unit of LAMOST spectra: relative flux, arbitrary scale.
LAMOST_FLUX_UNIT = u.dimensionless_unscaled


def _is_lamost(header: fits.Header) -> bool:
    return str(header.get("TELESCOP", "")).replace(" ", "").upper() == "LAMOST"


def identify_lamost_lrs(hdulist: fits.HDUList) -> bool:
    """Whether ``hdulist`` is a LAMOST DR8+ low-resolution spectrum.

    True for ``TELESCOP = 'LAMOST'`` with an empty primary HDU (``NAXIS =
    0``); the loader then requires the ``COADD`` table.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.

    Returns
    -------
    bool

    Examples
    --------
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> import spectromer
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> with fits.open(data / "spec-59517-EG025613N082253M02_sp08-200.fits.gz") as hdul:
    ...     identify_lamost_lrs(hdul)
    True
    """
    header = hdulist[0].header
    return _is_lamost(header) and int(header.get("NAXIS", 0)) == 0


def identify_lamost_lrs_dr1_7(hdulist: fits.HDUList) -> bool:
    """Whether ``hdulist`` is a LAMOST DR1-DR7 low-resolution spectrum.

    True for ``TELESCOP = 'LAMOST'`` with a 2-D primary image.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.

    Returns
    -------
    bool

    Examples
    --------
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> import spectromer
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> with fits.open(data / "spec-55862-B6212_sp06-003.fits") as hdul:
    ...     identify_lamost_lrs_dr1_7(hdul)
    True
    """
    header = hdulist[0].header
    return _is_lamost(header) and int(header.get("NAXIS", 0)) == 2


def _header_meta(header: fits.Header, source: str) -> dict[str, Any]:
    """The labels of a LAMOST primary header (`LAMOST_LABELS`) and the header."""
    meta = LAMOST_LABELS.extract({"PRIMARY": header}, file_label(source))
    meta["header"] = header
    return meta


def _zero_padding(flux: np.ndarray) -> np.ndarray:
    """Leading and trailing runs of exactly zero flux: the pipeline's padding.

    LAMOST pads the ends of some spectra with ``flux = 0`` while leaving the
    inverse variance positive and the and-mask clear; such pixels carry no
    measurement and are masked.
    """
    nonzero = np.flatnonzero(flux != 0)
    pad = np.ones(flux.shape, bool)
    if nonzero.size:
        pad[nonzero[0] : nonzero[-1] + 1] = False
    return pad


def _build(
    source: str,
    header: fits.Header,
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    andmask: np.ndarray | None,
) -> Spectrum:
    check_spectrum_arrays(source, wavelength, flux, ivar, andmask=andmask)
    mask = pixel_mask(flux, ivar, andmask) | _zero_padding(flux)
    return make_spectrum(
        wavelength, flux, ivar, mask, LAMOST_FLUX_UNIT, _header_meta(header, source)
    )


def read_lamost_lrs(hdulist: fits.HDUList, source: str) -> Spectrum:
    """Read a LAMOST DR8+ low-resolution spectrum from an open file.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.
    source : str
        File name, for ``meta["source"]`` and error messages.

    Returns
    -------
    specutils.Spectrum
        1-D spectrum, wavelength in Angstrom (vacuum), relative flux
        (dimensionless), `~astropy.nddata.InverseVariance` uncertainty.

    Raises
    ------
    SpectrumReadError
        No ``COADD`` table, missing columns or invalid arrays.

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> from specutils import Spectrum
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> spec = Spectrum.read(data / "spec-59517-EG025613N082253M02_sp08-200.fits.gz")
    >>> spec.meta["subclass"], spec.meta["data_release"], spec.flux.shape
    ('G3', 'LAMOST DR10', (3909,))
    """
    coadd = first_hdu_named(hdulist, "COADD", preferred=1)
    if coadd is None:
        raise SpectrumReadError(source, "no COADD HDU (expected in a LAMOST DR8+ spectrum)")
    columns = table_columns(coadd, ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK"))
    missing = [c for c in ("FLUX", "IVAR", "WAVELENGTH") if c not in columns]
    if missing:
        raise SpectrumReadError(source, f"COADD HDU lacks column(s) {', '.join(missing)}")
    if len(columns["FLUX"]) == 0:
        raise SpectrumReadError(source, "COADD table has no rows")

    def column(name: str) -> np.ndarray:
        return as_native(columns[name][0]).reshape(-1)

    andmask = column("ANDMASK") if "ANDMASK" in columns else None
    return _build(
        source,
        hdulist[0].header,
        column("WAVELENGTH"),
        column("FLUX"),
        column("IVAR"),
        andmask,
    )


def read_lamost_lrs_dr1_7(hdulist: fits.HDUList, source: str) -> Spectrum:
    """Read a LAMOST DR1-DR7 low-resolution spectrum from an open file.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.
    source : str
        File name, for ``meta["source"]`` and error messages.

    Returns
    -------
    specutils.Spectrum
        1-D spectrum, wavelength in Angstrom (vacuum), relative flux
        (dimensionless), `~astropy.nddata.InverseVariance` uncertainty.

    Raises
    ------
    SpectrumReadError
        Fewer than 2 image rows, no wavelength solution or invalid arrays.

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> from specutils import Spectrum
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> spec = Spectrum.read(data / "spec-55862-B6212_sp06-003.fits")
    >>> spec.meta["subclass"], round(float(spec.spectral_axis[0].to_value("Angstrom")), 1)
    ('F9', 3700.0)
    """
    primary = hdulist[0]
    header = primary.header
    image = primary.data
    if image is None or image.ndim != 2 or image.shape[0] < 2:
        shape = None if image is None else image.shape
        raise SpectrumReadError(
            source, f"primary image has shape {shape}, expected (5, npix) flux/ivar/.. rows"
        )
    coeff0 = header_mapping(header, ("COEFF0", "CRVAL1"))
    coeff1 = header_mapping(header, ("COEFF1", "CD1_1"))
    if coeff0 is None or coeff1 is None:
        raise SpectrumReadError(source, "no COEFF0/COEFF1 wavelength solution in the header")
    npix = image.shape[1]
    wavelength = 10.0 ** (float(coeff0) + float(coeff1) * np.arange(npix))
    andmask = as_native(image[3]) if image.shape[0] > 3 else None
    return _build(
        source,
        header,
        wavelength,
        as_native(image[0]),
        as_native(image[1]),
        andmask,
    )


register_format(
    LAMOST_LRS,
    identify_lamost_lrs,
    read_lamost_lrs,
    description="LAMOST DR8+ low-resolution spectrum (COADD table)",
)
register_format(
    LAMOST_LRS_DR1_7,
    identify_lamost_lrs_dr1_7,
    read_lamost_lrs_dr1_7,
    description="LAMOST DR1-DR7 low-resolution spectrum (5-row primary image)",
)
