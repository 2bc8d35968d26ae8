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
* labels from the ``SPECOBJ`` row (the HDU named ``SPECOBJ``, else HDU 2),
  which is read once: ``object_id`` (SPECOBJID), ``class``, ``subclass``,
  ``z``, ``z_err``, ``z_warning`` (ZWARNING), ``snr`` (SN_MEDIAN_ALL), ``ra``
  and ``dec`` (PLUG_RA/PLUG_DEC, the fibre position; the header's RA/DEC are
  the telescope pointing), ``plate``, ``mjd``, ``fiberid``, ``data_release``
  (RUN2D); the whole row is kept as ``meta["specobj"]``.  Without a SPECOBJ
  HDU the plate, MJD, fibre and position come from the primary header.
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from specutils import Spectrum

from ._common import (
    as_native,
    check_spectrum_arrays,
    column_names,
    file_label,
    hdu_or_none,
    make_spectrum,
    pixel_mask,
    register_format,
    table_columns,
)
from ._errors import SpectrumReadError
from ._meta import clean_float, clean_int, clean_str, put

__all__ = ["SDSS_SPEC", "SDSS_FLUX_UNIT", "identify_sdss_spec", "read_sdss_spec"]

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


def _labels(header: fits.Header, specobj: dict[str, Any], source: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"survey": "SDSS", "source": file_label(source)}

    def pick(column: str, header_key: str | None = None) -> Any:
        if column in specobj:
            return specobj[column]
        return header.get(header_key) if header_key else None

    specobjid = clean_int(pick("SPECOBJID"))
    put(meta, "object_id", None if specobjid is None else str(specobjid))
    cls = clean_str(pick("CLASS"))
    put(meta, "class", None if cls is None else cls.upper())
    put(meta, "subclass", clean_str(pick("SUBCLASS")))
    put(meta, "z", clean_float(pick("Z")))
    put(meta, "z_err", clean_float(pick("Z_ERR")))
    put(meta, "z_warning", clean_int(pick("ZWARNING")))
    put(meta, "snr", clean_float(pick("SN_MEDIAN_ALL")))
    put(meta, "ra", clean_float(pick("PLUG_RA", "PLUG_RA")))
    put(meta, "dec", clean_float(pick("PLUG_DEC", "PLUG_DEC")))
    put(meta, "plate", clean_int(pick("PLATE", "PLATEID")))
    put(meta, "mjd", clean_int(pick("MJD", "MJD")))
    put(meta, "fiberid", clean_int(pick("FIBERID", "FIBERID")))
    put(meta, "data_release", clean_str(pick("RUN2D", "RUN2D")))
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

    specobj_hdu = _specobj_hdu(hdulist)
    specobj = _specobj_row(specobj_hdu) if specobj_hdu is not None else {}
    meta = _labels(hdulist[0].header, specobj, source)
    return make_spectrum(wavelength, flux, ivar, mask, SDSS_FLUX_UNIT, meta)


register_format(
    SDSS_SPEC,
    identify_sdss_spec,
    read_sdss_spec,
    description="SDSS/BOSS spec-PLATE-MJD-FIBER file (coadd table + SPECOBJ)",
)
