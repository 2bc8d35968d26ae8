"""Stable ``meta`` keys of the spectra returned by the spectromer readers.

Every reader in :mod:`spectromer.io` fills ``spectrum.meta`` with the keys
below, all lower case and at the top level.  A value the file does not carry
is an **absent key**, never a made-up placeholder: survey sentinels such as
LAMOST's ``-9999`` and empty strings are dropped.  All values are plain
Python scalars (`str`, `int`, `float`), so a list of ``meta`` dictionaries can
be turned into an `astropy.table.Table` directly.

=================  ======  =====================================================
key                type    meaning (source per survey)
=================  ======  =====================================================
``survey``         str     ``'SDSS'``, ``'LAMOST'`` or ``'DESI'``
``source``         str     file name the spectrum was read from
``object_id``      str     SDSS SPECOBJID, LAMOST OBSID, DESI TARGETID
``class``          str     upper case, stripped: ``'STAR'``, ``'GALAXY'``,
                           ``'QSO'`` (SDSS/LAMOST CLASS, DESI SPECTYPE)
``subclass``       str     stripped, as the survey wrote it, e.g. ``'G3'``,
                           ``'A0'``, ``'F5 (81937)'`` (SUBCLASS; DESI SUBTYPE)
``z``              float   redshift (Z)
``z_err``          float   redshift error (SDSS/LAMOST Z_ERR, DESI ZERR)
``z_warning``      int     SDSS ZWARNING, DESI ZWARN
``snr``            float   SDSS SN_MEDIAN_ALL; LAMOST r-band SNRR (DR8+) or
                           SN_R (DR1-7)
``ra``, ``dec``    float   object position in degrees (SDSS PLUG_RA/PLUG_DEC,
                           LAMOST RA/DEC, DESI TARGET_RA/TARGET_DEC)
``plate``          int     SDSS plate (PLATE, else PLATEID)
``mjd``            int     SDSS and LAMOST MJD
``fiberid``        int     SDSS and LAMOST FIBERID
``obsid``          int     LAMOST OBSID
``planid``         str     LAMOST PLANID
``spid``           int     LAMOST spectrograph SPID
``snr_u`` ..       float   LAMOST per-band S/N: ``snr_u``, ``snr_g``,
``snr_z``                  ``snr_r``, ``snr_i``, ``snr_z`` (SNRU.. or SN_U..)
``targetid``       int     DESI TARGETID
``spectype``       str     DESI SPECTYPE as written (stripped)
``data_release``   str     LAMOST DATA_V (e.g. ``'LAMOST DR10'``), SDSS RUN2D
                           (idlspec2d reduction tag), DESI SPECPROD if present
``header``         Header  the primary FITS header (specutils convention)
=================  ======  =====================================================

Besides these, SDSS spectra carry ``meta["specobj"]`` (a `dict` of every
SPECOBJ column, strings stripped) and DESI spectra read with labels carry
``meta["redrock_file"]``.  A DESI coadd with several targets read through
``Spectrum.read`` gives one 2-D spectrum whose per-target labels (the keys
above) are the rows of the `~astropy.table.Table` ``meta["targets"]``;
:func:`spectromer.io.read_spectra` splits it into 1-D spectra with the labels
at the top level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableMapping
from typing import Any

import numpy as np

__all__ = ["META_KEYS", "clean_str", "clean_float", "clean_int", "put"]

#: The stable meta keys and a one-line description of each.
META_KEYS: dict[str, str] = {
    "survey": "survey name: 'SDSS', 'LAMOST' or 'DESI'",
    "source": "file name the spectrum was read from",
    "object_id": "survey object id as str (SDSS SPECOBJID, LAMOST OBSID, DESI TARGETID)",
    "class": "spectral class, upper case ('STAR', 'GALAXY', 'QSO')",
    "subclass": "spectral subclass as written by the survey ('G3', 'A0', 'BROADLINE')",
    "z": "redshift",
    "z_err": "redshift uncertainty",
    "z_warning": "redshift warning bits (SDSS ZWARNING, DESI ZWARN)",
    "snr": "signal-to-noise (SDSS SN_MEDIAN_ALL, LAMOST r band)",
    "ra": "right ascension of the object [deg]",
    "dec": "declination of the object [deg]",
    "plate": "SDSS plate number",
    "mjd": "MJD of the observation (SDSS, LAMOST)",
    "fiberid": "fiber number (SDSS, LAMOST)",
    "obsid": "LAMOST OBSID",
    "planid": "LAMOST plan id",
    "spid": "LAMOST spectrograph id",
    "snr_u": "LAMOST u-band S/N",
    "snr_g": "LAMOST g-band S/N",
    "snr_r": "LAMOST r-band S/N",
    "snr_i": "LAMOST i-band S/N",
    "snr_z": "LAMOST z-band S/N",
    "targetid": "DESI TARGETID",
    "spectype": "DESI redrock SPECTYPE",
    "data_release": "data release / reduction tag (LAMOST DATA_V, SDSS RUN2D, DESI SPECPROD)",
    "header": "primary FITS header (astropy.io.fits.Header)",
}


def clean_str(value: Any) -> str | None:
    """Return ``value`` as a stripped `str`, or `None` if it is missing or empty.

    Parameters
    ----------
    value : object
        A header value or table cell (`str`, `bytes`, numpy scalar or `None`).

    Returns
    -------
    str or None

    Examples
    --------
    >>> clean_str("G3      ")
    'G3'
    >>> clean_str(b" QSO ")
    'QSO'
    >>> clean_str("   ") is None
    True
    """
    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, bytes | np.bytes_):
        value = value.decode("ascii", errors="replace")
    text = str(value).strip()
    return text or None


def clean_float(value: Any, sentinels: Iterable[float] = ()) -> float | None:
    """Return ``value`` as a finite `float`, or `None` if missing.

    Parameters
    ----------
    value : object
        A number, numeric string or `None`.
    sentinels : iterable of float, optional
        Values the survey uses to mean "unknown" (e.g. LAMOST's ``-9999``).

    Returns
    -------
    float or None
        `None` for `None`, empty strings, non-numbers, non-finite values and
        sentinels.

    Examples
    --------
    >>> clean_float("29.38")
    29.38
    >>> clean_float(-9999.0, sentinels=(-9999,)) is None
    True
    >>> clean_float(float("nan")) is None
    True
    """
    if value is None or value is np.ma.masked or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or any(number == s for s in sentinels):
        return None
    return number


def clean_int(value: Any, sentinels: Iterable[int] = ()) -> int | None:
    """Return ``value`` as an `int`, or `None` if missing or not integral.

    Parameters
    ----------
    value : object
        An integer, integral float, digit string (SDSS writes SPECOBJID as
        a padded string) or `None`.
    sentinels : iterable of int, optional
        Values that mean "unknown".

    Returns
    -------
    int or None

    Examples
    --------
    >>> clean_int("  299489676975171584")
    299489676975171584
    >>> clean_int(3.0)
    3
    >>> clean_int("x") is None
    True
    """
    if value is None or value is np.ma.masked or isinstance(value, bool):
        return None
    if isinstance(value, bytes | np.bytes_ | str):
        text = clean_str(value)
        if text is None:
            return None
        try:
            number = int(text)
        except ValueError:
            return None
    else:
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(as_float):
            return None
        number = int(value)
        if number != as_float and not isinstance(value, int | np.integer):
            return None
    if number in set(sentinels):
        return None
    return number


def put(meta: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Set ``meta[key] = value`` unless ``value`` is `None` (a missing value).

    Parameters
    ----------
    meta : dict
        The metadata dictionary to update.
    key : str
        The key to set.
    value : object
        The value; `None` leaves ``meta`` unchanged.

    Examples
    --------
    >>> meta = {}
    >>> put(meta, "z", 0.1)
    >>> put(meta, "z_err", None)
    >>> meta
    {'z': 0.1}
    """
    if value is not None:
        meta[key] = value
