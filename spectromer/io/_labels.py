"""Survey labels as data: the stable ``meta`` keys and one label table per survey.

Every reader in ``spectromer.io`` fills ``spectrum.meta`` from its survey's
label table below, so the keys are **stable**: every key of a survey's table is
present for every spectrum of that survey, whatever the file carries.  A value
the file does not have is ``""`` for text and ``nan`` for numbers (survey
sentinels such as LAMOST's ``-9999`` and blank strings count as missing), and
all values are plain Python scalars (`str`, `int`, `float`), so the ``meta``
of many spectra turns into an `astropy.table.Table` directly.  Besides the
table's keys, every spectrum has ``survey``, ``source`` (the file name) and
``header`` (the primary FITS header, specutils' convention).

A source such as ``SPECOBJ.PLATE`` is the ``PLATE`` column of the ``SPECOBJ``
table (``PRIMARY.X`` is card ``X`` of the primary header); when a key lists
several sources, the first one with a value wins.

{tables}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "META_KEYS",
    "MetaKey",
    "Label",
    "LabelTable",
    "LAMOST_LABELS",
    "SDSS_LABELS",
    "DESI_LABELS",
    "LABEL_TABLES",
    "clean_str",
    "clean_float",
    "clean_int",
]


# ---------------------------------------------------------------------------
# Cleaning raw header values and table cells


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


def clean_int(value: Any, sentinels: Iterable[float] = ()) -> int | None:
    """Return ``value`` as an `int`, or `None` if missing or not integral.

    Parameters
    ----------
    value : object
        An integer, integral float, digit string (SDSS writes SPECOBJID as
        a padded string) or `None`.
    sentinels : iterable of float, optional
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
    if any(number == s for s in sentinels):
        return None
    return number


# ---------------------------------------------------------------------------
# The key vocabulary


@dataclass(frozen=True)
class MetaKey:
    """One stable ``meta`` key: its type, how a raw value is cleaned, its meaning.

    Attributes
    ----------
    name : str
        The key.
    type : type
        `str`, `int` or `float`: the type of a present value.
    description : str
        One line for the documentation and `META_KEYS`.
    upper : bool
        Text is upper-cased (``class``).
    integer_text : bool
        An integer identifier kept as text (``object_id``: SPECOBJID is a
        padded string in SDSS files, TARGETID an int64 in DESI's).

    Examples
    --------
    >>> from spectromer.io._labels import MetaKey
    >>> key = MetaKey("class", str, "spectral class", upper=True)
    >>> key.clean(" qso "), key.clean("  "), key.default
    ('QSO', '', '')
    >>> MetaKey("z", float, "redshift").clean(-9999.0, sentinels=(-9999.0,))
    nan
    """

    name: str
    type: type
    description: str
    upper: bool = False
    integer_text: bool = False

    @property
    def default(self) -> str | float:
        """The value of a missing label: ``""`` for text, ``nan`` for numbers."""
        return "" if self.type is str else math.nan

    def clean(self, value: Any, sentinels: Iterable[float] = ()) -> Any:
        """``value`` as this key's type, or :attr:`default` if it is missing."""
        if self.integer_text:
            number = clean_int(value, sentinels)
            return self.default if number is None else str(number)
        if self.type is str:
            text = clean_str(value)
            if text is None:
                return self.default
            return text.upper() if self.upper else text
        if self.type is int:
            number = clean_int(value, sentinels)
        else:
            number = clean_float(value, sentinels)
        return self.default if number is None else number


#: Keys every reader sets itself (not read from a label table).
_READER_KEYS = (
    MetaKey("survey", str, "survey name: 'SDSS', 'LAMOST' or 'DESI'"),
    MetaKey("source", str, "file name the spectrum was read from"),
)
_HEADER_DESCRIPTION = "primary FITS header (astropy.io.fits.Header)"

_KEYS = (
    *_READER_KEYS,
    MetaKey(
        "object_id",
        str,
        "survey object id as text (SDSS SPECOBJID, LAMOST OBSID, DESI TARGETID)",
        integer_text=True,
    ),
    MetaKey("class", str, "spectral class, upper case ('STAR', 'GALAXY', 'QSO')", upper=True),
    MetaKey("subclass", str, "spectral subclass as the survey wrote it ('G3', 'A0', 'BROADLINE')"),
    MetaKey("z", float, "redshift"),
    MetaKey("z_err", float, "redshift uncertainty"),
    MetaKey("z_warning", int, "redshift warning bits (SDSS ZWARNING, DESI ZWARN)"),
    MetaKey("snr", float, "signal-to-noise (SDSS SN_MEDIAN_ALL, LAMOST r band)"),
    MetaKey("ra", float, "right ascension of the object [deg]"),
    MetaKey("dec", float, "declination of the object [deg]"),
    MetaKey("plate", int, "SDSS plate number"),
    MetaKey("mjd", int, "MJD of the observation (SDSS, LAMOST)"),
    MetaKey("fiberid", int, "fiber number (SDSS, LAMOST)"),
    MetaKey("obsid", int, "LAMOST OBSID"),
    MetaKey("planid", str, "LAMOST plan id"),
    MetaKey("spid", int, "LAMOST spectrograph id"),
    *(MetaKey(f"snr_{band}", float, f"LAMOST {band}-band S/N") for band in "ugriz"),
    MetaKey("targetid", int, "DESI TARGETID"),
    MetaKey("spectype", str, "DESI redrock SPECTYPE as written"),
    MetaKey(
        "data_release",
        str,
        "data release / reduction tag (LAMOST DATA_V, SDSS RUN2D, DESI SPECPROD)",
    ),
)

#: The key vocabulary, in documentation order.
KEYS: dict[str, MetaKey] = {key.name: key for key in _KEYS}

#: The stable meta keys and a one-line description of each.
META_KEYS: dict[str, str] = {
    **{key.name: key.description for key in _KEYS},
    "header": _HEADER_DESCRIPTION,
}


# ---------------------------------------------------------------------------
# Label tables


@dataclass(frozen=True)
class Label:
    """One row of a label table: a meta key and where the survey writes it.

    Attributes
    ----------
    key : str
        A key of the vocabulary (`META_KEYS`).
    sources : tuple of str
        ``"HDU.NAME"`` places tried in order: a table column (``SPECOBJ.Z``)
        or a primary-header card (``PRIMARY.OBSID``).

    Examples
    --------
    >>> from spectromer.io._labels import Label
    >>> Label("plate", ("SPECOBJ.PLATE", "PRIMARY.PLATEID")).meta_key.type
    <class 'int'>
    """

    key: str
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.key not in KEYS:
            raise ValueError(f"label {self.key!r} is not a stable meta key ({', '.join(KEYS)})")
        for place in self.sources:
            if place.count(".") != 1:
                raise ValueError(f"label source {place!r} is not of the form 'HDU.NAME'")

    @property
    def meta_key(self) -> MetaKey:
        """The `MetaKey` this label fills."""
        return KEYS[self.key]


@dataclass(frozen=True)
class LabelTable:
    """The label table of one survey: which meta keys it has and where they come from.

    Attributes
    ----------
    survey : str
        ``meta["survey"]``.
    labels : tuple of Label
        One per meta key, in vocabulary order.
    sentinels : tuple of float
        Numbers the survey writes for "unknown" (read as missing).

    Examples
    --------
    >>> from astropy.io import fits
    >>> from spectromer.io._labels import LAMOST_LABELS
    >>> header = fits.Header({"CLASS": "STAR", "SUBCLASS": "  ", "Z": -9999.0, "OBSID": 7})
    >>> meta = LAMOST_LABELS.extract({"PRIMARY": header}, "spec-1.fits")
    >>> meta["survey"], meta["class"], meta["subclass"], meta["z"], meta["object_id"]
    ('LAMOST', 'STAR', '', nan, '7')
    >>> set(meta) == set(LAMOST_LABELS.keys())
    True
    """

    survey: str
    labels: tuple[Label, ...]
    sentinels: tuple[float, ...] = ()

    def keys(self) -> list[str]:
        """Every meta key a spectrum of this survey has (``header`` aside)."""
        return [key.name for key in _READER_KEYS] + [label.key for label in self.labels]

    def columns(self, hdu: str) -> list[str]:
        """The columns (or header cards) of ``hdu`` the table reads, in order."""
        out: list[str] = []
        for label in self.labels:
            for place in label.sources:
                where, name = place.split(".")
                if where == hdu and name not in out:
                    out.append(name)
        return out

    def extract(self, records: Mapping[str, Mapping[str, Any]], source: str) -> dict[str, Any]:
        """The meta dict of one spectrum: every key of the table, in order.

        Parameters
        ----------
        records : mapping
            ``{"PRIMARY": header, "SPECOBJ": row, ...}``: each source HDU as a
            mapping from (upper-case) column or card name to raw value.
        source : str
            The file name (``meta["source"]``).

        Returns
        -------
        dict
            ``survey``, ``source`` and every label, missing values as
            ``""``/``nan``.
        """
        meta: dict[str, Any] = {"survey": self.survey, "source": source}
        for label in self.labels:
            key = label.meta_key
            value = key.default
            for place in label.sources:
                where, name = place.split(".")
                record = records.get(where)
                if record is None:
                    continue
                cleaned = key.clean(record.get(name), self.sentinels)
                if not _is_missing(cleaned):
                    value = cleaned
                    break
            meta[label.key] = value
        return meta

    def missing(self) -> dict[str, Any]:
        """The value of every label when the file has none (``""``/``nan``)."""
        return {label.key: label.meta_key.default for label in self.labels}

    def rst(self) -> str:
        """The table as reStructuredText (what the documentation shows)."""
        rows = [("key", "type", "source", "when missing")]
        for label in self.labels:
            key = label.meta_key
            kind = "str" if key.type is str else key.type.__name__
            if key.integer_text:
                kind = "str (integer id)"
            default = '``""``' if key.type is str else "``nan``"
            where = ", ".join(f"``{place}``" for place in label.sources)
            if key.upper:
                where += " (upper case)"
            rows.append((f"``{label.key}``", kind, where, default))
        return _rst_table(rows)


def _is_missing(value: Any) -> bool:
    return value == "" or (isinstance(value, float) and math.isnan(value))


def _rst_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "  ".join("=" * w for w in widths)

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([rule, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule])


def _table(survey: str, rows: Sequence[tuple[str, ...]], sentinels=()) -> LabelTable:
    labels = tuple(Label(key, tuple(sources)) for key, *sources in rows)
    order = list(KEYS)
    labels = tuple(sorted(labels, key=lambda label: order.index(label.key)))
    return LabelTable(survey, labels, tuple(sentinels))


#: LAMOST DR1-7 and DR8+ spectra: the primary header (DR8+ writes ``SNRR``, DR1-7 ``SN_R``).
LAMOST_LABELS = _table(
    "LAMOST",
    [
        ("object_id", "PRIMARY.OBSID"),
        ("class", "PRIMARY.CLASS"),
        ("subclass", "PRIMARY.SUBCLASS"),
        ("z", "PRIMARY.Z"),
        ("z_err", "PRIMARY.Z_ERR"),
        ("snr", "PRIMARY.SNRR", "PRIMARY.SN_R"),
        ("ra", "PRIMARY.RA"),
        ("dec", "PRIMARY.DEC"),
        ("mjd", "PRIMARY.MJD"),
        ("fiberid", "PRIMARY.FIBERID"),
        ("obsid", "PRIMARY.OBSID"),
        ("planid", "PRIMARY.PLANID"),
        ("spid", "PRIMARY.SPID"),
        *((f"snr_{b}", f"PRIMARY.SNR{b.upper()}", f"PRIMARY.SN_{b.upper()}") for b in "ugriz"),
        ("data_release", "PRIMARY.DATA_V"),
    ],
    sentinels=(-9999.0, -999.0),
)

#: SDSS/BOSS spec files: the SPECOBJ row (HDU 2), else the primary header.
#: The header's RA/DEC are the telescope pointing, so positions are the fibre's.
SDSS_LABELS = _table(
    "SDSS",
    [
        ("object_id", "SPECOBJ.SPECOBJID"),
        ("class", "SPECOBJ.CLASS"),
        ("subclass", "SPECOBJ.SUBCLASS"),
        ("z", "SPECOBJ.Z"),
        ("z_err", "SPECOBJ.Z_ERR"),
        ("z_warning", "SPECOBJ.ZWARNING"),
        ("snr", "SPECOBJ.SN_MEDIAN_ALL"),
        ("ra", "SPECOBJ.PLUG_RA", "PRIMARY.PLUG_RA"),
        ("dec", "SPECOBJ.PLUG_DEC", "PRIMARY.PLUG_DEC"),
        ("plate", "SPECOBJ.PLATE", "PRIMARY.PLATEID"),
        ("mjd", "SPECOBJ.MJD", "PRIMARY.MJD"),
        ("fiberid", "SPECOBJ.FIBERID", "PRIMARY.FIBERID"),
        ("data_release", "SPECOBJ.RUN2D", "PRIMARY.RUN2D"),
    ],
)

#: DESI coadds: one row of FIBERMAP per target, redrock's REDSHIFTS matched by TARGETID.
DESI_LABELS = _table(
    "DESI",
    [
        ("object_id", "FIBERMAP.TARGETID"),
        ("targetid", "FIBERMAP.TARGETID"),
        ("ra", "FIBERMAP.TARGET_RA"),
        ("dec", "FIBERMAP.TARGET_DEC"),
        ("z", "REDSHIFTS.Z"),
        ("z_err", "REDSHIFTS.ZERR"),
        ("z_warning", "REDSHIFTS.ZWARN"),
        ("class", "REDSHIFTS.SPECTYPE"),
        ("subclass", "REDSHIFTS.SUBTYPE"),
        ("spectype", "REDSHIFTS.SPECTYPE"),
        ("data_release", "PRIMARY.SPECPROD"),
    ],
)

#: The label table of each survey, by ``meta["survey"]``.
LABEL_TABLES: dict[str, LabelTable] = {
    table.survey: table for table in (LAMOST_LABELS, SDSS_LABELS, DESI_LABELS)
}


def _vocabulary_rst() -> str:
    rows = [("key", "type", "meaning")]
    for key in _KEYS:
        rows.append((f"``{key.name}``", key.type.__name__, key.description))
    rows.append(("``header``", "Header", _HEADER_DESCRIPTION))
    return _rst_table(rows)


def _docs() -> str:
    parts = ["The keys:", "", _vocabulary_rst(), ""]
    for table in LABEL_TABLES.values():
        parts += [f"{table.survey} (``LABEL_TABLES[{table.survey!r}]``):", "", table.rst(), ""]
        if table.sentinels:
            values = ", ".join(f"``{s:g}``" for s in table.sentinels)
            parts += [f"Numbers equal to {values} are missing values.", ""]
    return "\n".join(parts)


__doc__ = (__doc__ or "").replace("{tables}", _docs())
