"""Where SDSS spectra live: their Science Archive Server URLs and their paths in the cache.

The cache mirrors the archive, one folder per data release and reduction version
(``{cache}/dr{N}/{run2d}/spec-....fits``), so a file's URL and its cache path are
built together, from one query row, by :func:`targets`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from astropy.table import Table

__all__ = ["sdss_spectrum_url"]

#: Columns a query result must have for its spectra to be downloaded (lower case).
REQUIRED_COLUMNS = ("plate", "mjd", "fiberid", "run2d")

#: First release with the SpecObj view and SAS spec-*.fits files.
MIN_DATA_RELEASE = 8

_RUN2D_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class Target(NamedTuple):
    """One spectrum to download: its URL and its path in the cache."""

    url: str
    path: Path


def as_str(value: Any) -> str:
    """A table value (``bytes`` included) as stripped text."""
    if isinstance(value, bytes):
        value = value.decode()
    return str(value).strip()


def sdss_spectrum_url(
    plate: int,
    mjd: int,
    fiberid: int,
    run2d: str,
    *,
    data_release: int = 18,
    fieldid: int | None = None,
    catalogid: int | None = None,
) -> str:
    """Address of one ``spec-*.fits`` file on the SDSS Science Archive Server.

    The address is built exactly as :meth:`astroquery.sdss.SDSSClass.get_spectra`
    builds it, from ``SDSSClass.SPECTRA_URL_SUFFIX`` and the server in
    ``astroquery.sdss.conf.sas_baseurl``. (astroquery builds the address inside
    ``get_spectra_async`` and offers no public way to read it back, so the same rules
    are applied here.)

    Parameters
    ----------
    plate, mjd, fiberid : int
        Plate, MJD and fiber of the spectrum.
    run2d : str
        Spectroscopic reduction version (``'26'``, ``'104'``, ``'v5_13_2'``...).
    data_release : int, optional
        SDSS data release (8 or later).
    fieldid, catalogid : int, optional
        Needed for SDSS-V spectra (``run2d`` v6 and later, DR18), which are
        named by field and catalog id instead of plate and fiber.

    Returns
    -------
    str
        The URL.

    Raises
    ------
    ValueError
        If ``data_release`` is before DR8, ``run2d`` is not a plain version
        string, or an SDSS-V spectrum is requested without ``fieldid`` and
        ``catalogid``.

    Examples
    --------
    >>> from spectromer.datasets import sdss_spectrum_url
    >>> sdss_spectrum_url(266, 51602, 1, "26", data_release=18)
    'https://data.sdss.org/sas/dr18/spectro/sdss/redux/26/spectra/0266/spec-0266-51602-0001.fits'
    >>> sdss_spectrum_url(3586, 55181, 1, "v5_13_2", data_release=17)
    'https://data.sdss.org/sas/dr17/sdss/spectro/redux/v5_13_2/spectra/full/3586/spec-3586-55181-0001.fits'
    """  # noqa: E501
    from astroquery.sdss import SDSSClass, conf

    data_release = int(data_release)
    if data_release < MIN_DATA_RELEASE:
        raise ValueError(
            f"data_release must be {MIN_DATA_RELEASE} or later (spec-*.fits files and the "
            f"SpecObj view start with DR8), got {data_release}"
        )
    run2d = as_str(run2d)
    if not _RUN2D_RE.match(run2d):
        raise ValueError(f"run2d {run2d!r} is not a valid SDSS reduction version")
    linkstr = SDSSClass.SPECTRA_URL_SUFFIX
    args: dict[str, Any] = {
        "base": conf.sas_baseurl,
        "dr": data_release,
        "redux_path": "sdss/spectro/redux",
        "run2d": run2d,
        "spectra_path": "spectra",
        "mjd": int(mjd),
        "plate": int(plate),
        "fiber": int(fiberid),
    }
    # Same rules as SDSSClass.get_spectra_async.
    if data_release > 15 and run2d not in ("26", "103", "104"):
        args["spectra_path"] = "spectra/full"
    if data_release > 17:
        args["redux_path"] = "spectro/sdss/redux"
        match = SDSSClass.PARSE_BOSS_RUN2D.match(run2d)
        if match is not None and int(match.group("major")) > 5:
            if fieldid is None or catalogid is None:
                raise ValueError(
                    f"run2d {run2d} (SDSS-V) spectra are named by fieldID and catalogID; "
                    "select those columns too"
                )
            linkstr = linkstr.replace("/{plate:0>4d}/", "/{fieldid:0>4d}p/{mjd:5d}/")
            linkstr = linkstr.replace(
                "spec-{plate:0>4d}-{mjd}-{fiber:04d}.fits",
                "spec-{fieldid:0>4d}-{mjd:5d}-{catalogid:0>11d}.fits",
            )
            args.update(fieldid=int(fieldid), catalogid=int(catalogid))
    return linkstr.format(**args)


def default_cache_dir() -> Path:
    """``$SPECTROMER_CACHE/sdss``, else ``<astropy cache>/spectromer/sdss``."""
    env = os.environ.get("SPECTROMER_CACHE")
    if env:
        return Path(env).expanduser() / "sdss"
    from astropy.config.paths import get_cache_dir

    return Path(get_cache_dir()) / "spectromer" / "sdss"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir`` as a path, or :func:`default_cache_dir` when None."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _column_map(colnames: Iterable[str]) -> dict[str, str]:
    return {name.lower(): name for name in colnames}


def missing_columns_message(colnames: Sequence[str]) -> str | None:
    """Why rows with these columns cannot be downloaded; None when they can."""
    lower = _column_map(colnames)
    missing = [c for c in REQUIRED_COLUMNS if c not in lower]
    if not missing:
        return None
    return (
        f"the query result lacks the column(s) {', '.join(missing)}: a query must return plate, "
        f"mjd, fiberID and run2d for its spectra to be downloaded "
        f"(columns returned: {', '.join(colnames) or 'none'})"
    )


def _iter_rows(rows: Table | Sequence[Mapping[str, Any]]) -> tuple[list[str], list[dict]]:
    """Column names (those every row has) and the rows as dicts."""
    if isinstance(rows, Table):
        colnames = list(rows.colnames)
        return colnames, [{name: row[name] for name in colnames} for row in rows]
    records = [dict(r) for r in rows]
    colnames = list(records[0]) if records else []
    for r in records[1:]:
        colnames = [name for name in colnames if name in r]
    return colnames, records


def _optional_int(value: Any) -> int | None:
    return None if value is None or np.ma.is_masked(value) else int(value)


def targets(
    rows: Table | Sequence[Mapping[str, Any]], data_release: int, cache_dir: Path
) -> tuple[list[Target | None], list[tuple[str, str]]]:
    """URL and cache path of each row (None for an unusable row), and why rows are unusable.

    Raises `ValueError` when the rows lack a required column; a row with a bad value
    gives None and a ``(label, reason)`` pair instead.
    """
    colnames, records = _iter_rows(rows)
    problem = missing_columns_message(colnames)
    if problem:
        raise ValueError(problem)
    cols = _column_map(colnames)
    found: list[Target | None] = []
    unusable: list[tuple[str, str]] = []
    root = cache_dir / f"dr{int(data_release)}"
    for record in records:
        values = {key: record[name] for key, name in cols.items()}
        label = "plate={plate} mjd={mjd} fiberID={fiberid} run2d={run2d}".format(
            **{k: as_str(values[k]) for k in REQUIRED_COLUMNS}
        )
        try:
            if any(np.ma.is_masked(values[k]) for k in REQUIRED_COLUMNS):
                raise ValueError("a required value is missing")
            run2d = as_str(values["run2d"])
            url = sdss_spectrum_url(
                int(values["plate"]),
                int(values["mjd"]),
                int(values["fiberid"]),
                run2d,
                data_release=data_release,
                fieldid=_optional_int(values.get("fieldid")),
                catalogid=_optional_int(values.get("catalogid")),
            )
        except (TypeError, ValueError) as exc:
            unusable.append((label, str(exc)))
            found.append(None)
            continue
        found.append(Target(url, root / run2d / url.rsplit("/", 1)[-1]))
    return found, unusable
