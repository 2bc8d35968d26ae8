"""Reader for SDSS/BOSS ``spec-PLATE-MJD-FIBER.fits`` spectra.

Format ``SDSS-spec (spectromer)``, identified by content, not file name (files
such as ``NGC3073_SDSS_DR18.fits`` are spec files too): primary header
``TELESCOP = 'SDSS 2.5-M'`` and HDU 1 a binary table with ``flux``, ``loglam``
and ``ivar`` columns (any case; BOSS files may leave their HDUs unnamed and
write upper-case columns).

* wavelength: ``10**loglam`` Angstrom, vacuum;
* flux: ``1e-17 erg / (s cm2 Angstrom)`` (:data:`SDSS_FLUX_UNIT`);
* uncertainty: `~astropy.nddata.InverseVariance` from ``ivar``;
* mask: ``(and_mask != 0) | (ivar <= 0) | ~isfinite(flux)``;
* labels: every key of :data:`~spectromer.io._labels.SDSS_LABELS` (the
  ``SPECOBJ`` row, the HDU named ``SPECOBJ`` or else HDU 2, read once; the
  primary header for plate, MJD, fibre and position without one), and the
  whole row as ``meta["specobj"]``.

In specutils' registry the format claims the files specutils' own
``SDSS-III/IV spec`` loader identifies and reads them *with that loader*
(same spectra, arguments and shapes: its mask is ``and_mask != 0``), adding
the labels above to ``meta``; SDSS-V (``VERS2D = v6..``) files stay with
specutils' ``SDSS-V spec`` loader.  :func:`spectromer.io.read_spectra` reads
every SDSS/BOSS spec file with :func:`read_sdss_spec`.
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from specutils import Spectrum

from ._build import check_spectrum_arrays, make_spectrum, pixel_mask
from ._errors import SpectrumReadError
from ._fits import as_native, column_names, hdu_or_none, table_columns
from ._labels import SDSS_LABELS
from ._opening import file_label
from ._registry import register_format

__all__ = [
    "SDSS_SPEC",
    "SDSS_FLUX_UNIT",
    "identify_sdss_spec",
    "read_sdss_spec",
    "sdss_labels",
]

#: Format label of SDSS/BOSS spec files.
SDSS_SPEC = "SDSS-spec (spectromer)"
#: Flux unit of SDSS/BOSS (and DESI) spectra.
SDSS_FLUX_UNIT = u.Unit("1e-17 erg / (s cm2 Angstrom)")

_REQUIRED = ("FLUX", "LOGLAM", "IVAR")


def identify_sdss_spec(hdulist: fits.HDUList) -> bool:
    """Whether ``hdulist`` is an SDSS/BOSS spec file.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.

    Returns
    -------
    bool
        True for ``TELESCOP = 'SDSS 2.5-M'`` and an HDU 1 binary table with
        flux, loglam and ivar columns (case-insensitive).

    Examples
    --------
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> import spectromer
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> with fits.open(data / "spec-3655-55240-0002.fits") as hdul:
    ...     identify_sdss_spec(hdul)
    True
    """
    if str(hdulist[0].header.get("TELESCOP", "")).strip().upper() != "SDSS 2.5-M":
        return False
    coadd = hdu_or_none(hdulist, 1)
    return coadd is not None and all(c in column_names(coadd) for c in _REQUIRED)


def _specobj_hdu(hdulist: fits.HDUList) -> Any:
    """The SPECOBJ HDU: HDU 2 if unnamed or so named, else by name, else None."""
    hdu = hdu_or_none(hdulist, 2)
    if hdu is not None and hdu.name in ("SPECOBJ", "") and column_names(hdu):
        return hdu
    try:
        return hdulist["SPECOBJ"]
    except KeyError:
        return None


def _plain(value: Any) -> Any:
    """Table cell as a plain Python value (stripped str, scalar or ndarray)."""
    if isinstance(value, bytes | np.bytes_):
        value = value.decode("ascii", errors="replace")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, np.ndarray):
        return np.array(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _specobj_row(hdu: Any) -> dict[str, Any]:
    """Every SPECOBJ column of the first row, keyed by upper-case name."""
    columns = table_columns(hdu)
    return {name: _plain(values[0]) for name, values in columns.items() if len(values)}


def sdss_labels(hdulist: fits.HDUList, source: str) -> dict[str, Any]:
    """The meta labels of an SDSS/BOSS spec file, from `SDSS_LABELS`.

    Every key of the label table (missing values ``""``/``nan``), the primary
    ``header`` and, when the file has a SPECOBJ row, ``specobj`` (a `dict` of
    every column, strings stripped).

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.
    source : str
        File name, for ``meta["source"]``.

    Returns
    -------
    dict

    Examples
    --------
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> import spectromer
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> with fits.open(data / "spec-0385-51783-0396.fits") as hdul:
    ...     meta = sdss_labels(hdul, "spec-0385-51783-0396.fits")
    >>> meta["class"], meta["subclass"], meta["plate"]  # SUBCLASS is blank in this file
    ('GALAXY', '', 385)
    """
    header = hdulist[0].header
    specobj_hdu = _specobj_hdu(hdulist)
    specobj = _specobj_row(specobj_hdu) if specobj_hdu is not None else {}
    meta = SDSS_LABELS.extract({"SPECOBJ": specobj, "PRIMARY": header}, file_label(source))
    meta["header"] = header
    if specobj:
        meta["specobj"] = specobj
    return meta


def read_sdss_spec(hdulist: fits.HDUList, source: str) -> Spectrum:
    """Read an SDSS/BOSS spec file from an open file.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.
    source : str
        File name, for ``meta["source"]`` and error messages.

    Returns
    -------
    specutils.Spectrum
        1-D spectrum in ``1e-17 erg / (s cm2 Angstrom)`` on a vacuum
        wavelength axis in Angstrom.

    Raises
    ------
    SpectrumReadError
        Missing columns or invalid arrays.

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> from specutils import Spectrum
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> spec = Spectrum.read(data / "spec-3655-55240-0002.fits")
    >>> spec.meta["class"], round(spec.meta["z"], 3), spec.flux.unit
    ('QSO', 2.355, Unit("1e-17 erg / (Angstrom s cm2)"))
    """
    coadd = hdu_or_none(hdulist, 1)
    columns = table_columns(coadd, ("FLUX", "LOGLAM", "IVAR", "AND_MASK")) if coadd else {}
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise SpectrumReadError(source, f"HDU 1 lacks column(s) {', '.join(missing)}")
    if len(columns["FLUX"]) == 0:
        raise SpectrumReadError(source, "HDU 1 (coadd) table has no rows")
    wavelength = 10.0 ** as_native(columns["LOGLAM"])
    flux = as_native(columns["FLUX"])
    ivar = as_native(columns["IVAR"])
    and_mask = as_native(columns["AND_MASK"], np.int64) if "AND_MASK" in columns else None
    check_spectrum_arrays(source, wavelength, flux, ivar, and_mask=and_mask)
    mask = pixel_mask(flux, ivar, and_mask)

    meta = sdss_labels(hdulist, source)
    return make_spectrum(wavelength, flux, ivar, mask, SDSS_FLUX_UNIT, meta)


register_format(
    SDSS_SPEC,
    identify_sdss_spec,
    read_sdss_spec,
    description="SDSS/BOSS spec-PLATE-MJD-FIBER file (coadd table + SPECOBJ)",
    labels=sdss_labels,
    extends=("SDSS-III/IV spec",),
    defers_to=("SDSS-V spec",),
)
