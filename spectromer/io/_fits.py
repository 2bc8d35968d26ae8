"""FITS helpers shared by the readers: HDU look-up, table columns, header cards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = [
    "column_names",
    "table_columns",
    "hdu_or_none",
    "first_hdu_named",
    "as_native",
    "header_mapping",
]


def column_names(hdu: Any) -> dict[str, str]:
    """Map upper-cased column names of a binary-table HDU to their spelling.

    Reads only the header (``TTYPEn`` cards), which is cheaper than building
    the column definitions.

    Parameters
    ----------
    hdu : astropy.io.fits HDU
        Any HDU; non-table HDUs give an empty mapping.

    Returns
    -------
    dict
        ``{"FLUX": "flux", ...}``.

    Examples
    --------
    >>> from astropy.io import fits
    >>> import numpy as np
    >>> hdu = fits.BinTableHDU.from_columns([fits.Column("loglam", "E", array=np.ones(2))])
    >>> column_names(hdu)
    {'LOGLAM': 'loglam'}
    """
    if not isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
        return {}
    header = hdu.header
    names = {}
    for i in range(1, int(header.get("TFIELDS", 0)) + 1):
        name = str(header.get(f"TTYPE{i}", "")).strip()
        if name:
            names[name.upper()] = name
    return names


def table_columns(hdu: Any, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Columns of a binary-table HDU as arrays keyed by upper-case name.

    Decoded by astropy (``hdu.data``): logical columns are `bool` arrays,
    string columns `str` arrays without trailing blanks, scaled and unsigned
    (TZERO) columns are converted; numeric arrays may be big-endian (convert
    with `numpy.asarray` and a dtype before use).

    Parameters
    ----------
    hdu : astropy.io.fits.BinTableHDU
        The table.
    names : sequence of str, optional
        Columns wanted (any case); default all.  Missing names are skipped.

    Returns
    -------
    dict
        ``{"FLUX": array of shape (n_rows, repeat), ...}``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> hdu = fits.BinTableHDU.from_columns([fits.Column("flux", "3E", array=np.ones((1, 3)))])
    >>> table_columns(hdu)["FLUX"].shape
    (1, 3)
    """
    available = column_names(hdu)
    wanted = list(available) if names is None else [n.upper() for n in names]
    wanted = [n for n in wanted if n in available]
    out: dict[str, np.ndarray] = {}
    data = hdu.data
    for key in wanted:
        out[key] = np.asarray(data[available[key]])
    return out


def hdu_or_none(hdulist: fits.HDUList, index: int) -> Any:
    """``hdulist[index]``, or `None` if the file has fewer HDUs (lazy-load safe)."""
    try:
        return hdulist[index]
    except IndexError:
        return None


def first_hdu_named(hdulist: fits.HDUList, name: str, preferred: int | None = None) -> Any:
    """The HDU called ``name`` (checking index ``preferred`` first), or `None`.

    Checking the usual position first avoids reading every header of a
    lazily loaded file.

    Examples
    --------
    >>> from astropy.io import fits
    >>> hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(name="COADD")])
    >>> first_hdu_named(hdul, "COADD", preferred=1).name
    'COADD'
    >>> first_hdu_named(hdul, "SPECOBJ") is None
    True
    """
    if preferred is not None:
        hdu = hdu_or_none(hdulist, preferred)
        if hdu is not None and hdu.name == name:
            return hdu
    try:
        return hdulist[name]
    except KeyError:
        return None


def as_native(array: Any, dtype: Any = np.float64) -> np.ndarray:
    """``array`` as a native-endian numpy array of ``dtype`` (a copy if needed)."""
    return np.asarray(array, dtype=dtype)


def header_mapping(header: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """First value among ``keys`` present in ``header`` (or `None`).

    Examples
    --------
    >>> header_mapping({"SN_R": 12.0}, ["SNRR", "SN_R"])
    12.0
    """
    for key in keys:
        if key in header:
            return header[key]
    return None
