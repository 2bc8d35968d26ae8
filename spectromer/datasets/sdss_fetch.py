"""Fetch SDSS spectra with :mod:`astroquery` and store them as a `SpectraDataset`.

The work is done in three steps, each usable on its own:

1. :func:`build_specobj_query` turns a few selection arguments into an SQL query
   against the SkyServer ``SpecObj`` view;
2. :func:`download_sdss_spectra` downloads the ``spec-PLATE-MJD-FIBER.fits``
   files of a query result into a local cache laid out like the SDSS Science
   Archive Server (``{cache}/dr{N}/{run2d}/spec-....fits``), in parallel, with
   retries and atomic writes;
3. :func:`fetch_sdss` runs the query (``astroquery.sdss.SDSS.query_sql``),
   downloads the spectra and ingests them into an HDF5 dataset with
   :func:`spectromer.datasets.ingest`.

All network traffic goes through astroquery's request layer
(:meth:`astroquery.sdss.SDSSClass._request` for the query and
:meth:`astroquery.sdss.SDSSClass._download_file` for the files), and the server
addresses come from astroquery's configuration
(``astroquery.sdss.conf.skyserver_baseurl`` and ``conf.sas_baseurl``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlparse

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

if TYPE_CHECKING:  # pragma: no cover
    from astroquery.sdss import SDSSClass

    from spectromer.datasets.dataset import SpectraDataset

__all__ = [
    "SPEC_CLASSES",
    "SPECOBJ_COLUMNS",
    "DownloadResult",
    "FetchFailure",
    "SDSSFetchError",
    "SDSSFetchWarning",
    "build_specobj_query",
    "download_sdss_spectra",
    "fetch_sdss",
    "sdss_spectrum_url",
]

log = logging.getLogger(__name__)

#: Values accepted for the SDSS ``class`` column.
SPEC_CLASSES = ("STAR", "GALAXY", "QSO")

#: Columns selected by :func:`build_specobj_query`, in order.
SPECOBJ_COLUMNS = (
    "specObjID",
    "plate",
    "mjd",
    "fiberID",
    "run2d",
    "class",
    "subClass",
    "z",
    "zErr",
    "zWarning",
    "snMedian",
    "ra",
    "dec",
)

#: Columns a query result must have for its spectra to be downloaded (lower case).
REQUIRED_COLUMNS = ("plate", "mjd", "fiberid", "run2d")

# SQL LIKE patterns for ``subClass``: SDSS subclasses look like "STARFORMING",
# "AGN BROADLINE", "K7 (0)", "O8/O9", "Carbon_lines", "L5.5". Quotes, semicolons
# and comment markers are refused, so a value can never leave its string literal.
_SUBCLASS_RE = re.compile(r"^[A-Za-z0-9 _%()+\-/.\[\]]+$")
_RUN2D_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_MIN_DATA_RELEASE = 8  # first release with the SpecObj view and SAS spec-*.fits files
_REACH_TIMEOUT = 5.0  # seconds allowed for the reachability check
_MAX_DELAY = 60.0  # cap of one back-off sleep, seconds
_INGEST_PARALLEL_MIN = 100  # fewer files are ingested in this process
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

# Indirection so tests can record the back-off delays without sleeping.
_sleep = time.sleep


class FetchFailure(NamedTuple):
    """One spectrum that could not be downloaded.

    Attributes
    ----------
    url : str
        The address the file was requested from (empty if none could be built).
    path : str
        Where the file would have been stored in the cache.
    reason : str
        What went wrong, from the last attempt.
    attempts : int
        How many download attempts were made (0 if the row was not usable).

    Examples
    --------
    >>> from spectromer.datasets import FetchFailure
    >>> FetchFailure("https://example.org/spec.fits", "cache/spec.fits", "HTTP 404", 3).reason
    'HTTP 404'
    """

    url: str
    path: str
    reason: str
    attempts: int


@dataclass
class DownloadResult:
    """What :func:`download_sdss_spectra` did.

    Attributes
    ----------
    paths : list of pathlib.Path
        Local files of every spectrum now available, in the order of the input
        rows (files downloaded now and files found in the cache).
    downloaded : list of pathlib.Path
        Files downloaded by this call.
    cached : list of pathlib.Path
        Files that were already in the cache and were not downloaded again.
    failed : list of FetchFailure
        Spectra that could not be downloaded, with the reason.

    Examples
    --------
    >>> from spectromer.datasets import DownloadResult
    >>> r = DownloadResult()
    >>> r.paths, r.failed
    ([], [])
    """

    paths: list[Path] = field(default_factory=list)
    downloaded: list[Path] = field(default_factory=list)
    cached: list[Path] = field(default_factory=list)
    failed: list[FetchFailure] = field(default_factory=list)


class SDSSFetchWarning(AstropyUserWarning):
    """Some spectra could not be downloaded; ``failures`` lists them."""

    def __init__(self, message: str, failures: Sequence[FetchFailure] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)


class SDSSFetchError(OSError):
    """No spectrum of a query could be downloaded; ``failures`` lists why."""

    def __init__(self, message: str, failures: Sequence[FetchFailure] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)


class _InvalidDownload(Exception):
    """A downloaded file is not a complete FITS file (worth retrying)."""


class _Target(NamedTuple):
    url: str
    path: Path


# --------------------------------------------------------------------------- query


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)):
        raise TypeError(f"limit must be a positive integer, got {limit!r}")
    if limit <= 0:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return int(limit)


def _check_class(spec_class: Any) -> str:
    if not isinstance(spec_class, str) or spec_class.strip().upper() not in SPEC_CLASSES:
        raise ValueError(
            f"spec_class must be one of {', '.join(SPEC_CLASSES)} (or None for all), "
            f"got {spec_class!r}"
        )
    return spec_class.strip().upper()


def _check_subclass(subclass: Any) -> str:
    if not isinstance(subclass, str) or not subclass.strip():
        raise ValueError(f"subclass must be a non-empty string, got {subclass!r}")
    subclass = subclass.strip()
    if not _SUBCLASS_RE.match(subclass) or "--" in subclass:
        raise ValueError(
            f"subclass {subclass!r} contains characters that are not allowed; use letters, "
            "digits, spaces and the SQL LIKE wildcards % and _ (also ( ) + - / . [ ]), "
            "without quotes, semicolons or '--'"
        )
    return subclass


def build_specobj_query(
    *,
    spec_class: str | None = None,
    subclass: str | None = None,
    z_min: float | None = None,
    z_max: float | None = None,
    snr_min: float | None = None,
    zwarning_zero: bool = True,
    limit: int = 100,
) -> str:
    """Build an SQL query selecting spectra from the SkyServer ``SpecObj`` view.

    The query selects :data:`SPECOBJ_COLUMNS` (``specObjID``, ``plate``,
    ``mjd``, ``fiberID``, ``run2d``, ``class``, ``subClass``, ``z``, ``zErr``,
    ``zWarning``, ``snMedian``, ``ra``, ``dec``) of at most ``limit`` spectra,
    ordered by ``specObjID`` so that running it again returns the same spectra.

    Parameters
    ----------
    spec_class : {'STAR', 'GALAXY', 'QSO'}, optional
        Keep only this pipeline class (case-insensitive). None keeps all.
    subclass : str, optional
        Keep only this ``subClass``; an SQL ``LIKE`` pattern if it contains
        ``%``, ``_`` or ``[`` (e.g. ``'STARFORMING%'``, ``'K%'``).
    z_min, z_max : float, optional
        Inclusive redshift bounds.
    snr_min : float, optional
        Minimum median signal-to-noise per pixel (``snMedian``).
    zwarning_zero : bool, optional
        Keep only spectra without redshift warnings (``zWarning = 0``).
    limit : int, optional
        Maximum number of spectra (``SELECT TOP limit``).

    Returns
    -------
    str
        The SQL query.

    Raises
    ------
    ValueError
        If ``z_min > z_max``, ``limit`` is not positive, ``spec_class`` is not
        one of :data:`SPEC_CLASSES`, ``subclass`` contains quotes, semicolons
        or other characters that are not allowed, or a bound is not finite.
    TypeError
        If a numeric argument is not a number.

    Examples
    --------
    >>> from spectromer.datasets.sdss_fetch import build_specobj_query
    >>> print(build_specobj_query(spec_class="galaxy", z_min=0.05, z_max=0.3, limit=10))
    SELECT TOP 10 specObjID, plate, mjd, fiberID, run2d, class, subClass, z, zErr, zWarning,
      snMedian, ra, dec
    FROM SpecObj
    WHERE class = 'GALAXY' AND z >= 0.05 AND z <= 0.3 AND zWarning = 0
    ORDER BY specObjID
    >>> build_specobj_query(spec_class="GALAXY'; DROP TABLE SpecObj")
    Traceback (most recent call last):
    ...
    ValueError: spec_class must be one of STAR, GALAXY, QSO (or None for all), got "GALAXY'; DROP TABLE SpecObj"
    """  # noqa: E501
    limit = _check_limit(limit)
    where = []
    if spec_class is not None:
        where.append(f"class = '{_check_class(spec_class)}'")
    if subclass is not None:
        subclass = _check_subclass(subclass)
        op = "LIKE" if any(c in subclass for c in "%_[") else "="
        where.append(f"subClass {op} '{subclass}'")
    if z_min is not None:
        z_min = _check_number("z_min", z_min)
    if z_max is not None:
        z_max = _check_number("z_max", z_max)
    if z_min is not None and z_max is not None and z_min > z_max:
        raise ValueError(f"z_min ({z_min!r}) must not be greater than z_max ({z_max!r})")
    if z_min is not None:
        where.append(f"z >= {z_min!r}")
    if z_max is not None:
        where.append(f"z <= {z_max!r}")
    if snr_min is not None:
        where.append(f"snMedian >= {_check_number('snr_min', snr_min)!r}")
    if zwarning_zero:
        where.append("zWarning = 0")
    columns = ", ".join(SPECOBJ_COLUMNS[:10]) + ",\n  " + ", ".join(SPECOBJ_COLUMNS[10:])
    lines = [f"SELECT TOP {limit} {columns}", "FROM SpecObj"]
    if where:
        lines.append("WHERE " + " AND ".join(where))
    lines.append("ORDER BY specObjID")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- URLs


def _as_str(value: Any) -> str:
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
    ``astroquery.sdss.conf.sas_baseurl``.

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
    >>> from spectromer.datasets.sdss_fetch import sdss_spectrum_url
    >>> sdss_spectrum_url(266, 51602, 1, "26", data_release=18)
    'https://data.sdss.org/sas/dr18/spectro/sdss/redux/26/spectra/0266/spec-0266-51602-0001.fits'
    >>> sdss_spectrum_url(3586, 55181, 1, "v5_13_2", data_release=17)
    'https://data.sdss.org/sas/dr17/sdss/spectro/redux/v5_13_2/spectra/full/3586/spec-3586-55181-0001.fits'
    """  # noqa: E501
    from astroquery.sdss import SDSSClass, conf

    data_release = int(data_release)
    if data_release < _MIN_DATA_RELEASE:
        raise ValueError(
            f"data_release must be {_MIN_DATA_RELEASE} or later (spec-*.fits files and the "
            f"SpecObj view start with DR8), got {data_release}"
        )
    run2d = _as_str(run2d)
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


# --------------------------------------------------------------------------- cache


def _default_cache_dir() -> Path:
    """``$SPECTROMER_CACHE/sdss``, else ``<astropy cache>/spectromer/sdss``."""
    env = os.environ.get("SPECTROMER_CACHE")
    if env:
        return Path(env).expanduser() / "sdss"
    from astropy.config.paths import get_cache_dir

    return Path(get_cache_dir()) / "spectromer" / "sdss"


def _resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()


# ----------------------------------------------------------------------- network


def _offline_message(url: str, reason: Any, cache_dir: Path | None) -> str:
    host = urlparse(url).hostname or url
    msg = (
        f"Cannot reach the SDSS server {host} ({reason}). Fetching SDSS spectra needs network "
        "access. To build a dataset from spectrum files you already have, use "
        "`spectromer ingest DIR --out DATASET.h5` (or spectromer.datasets.ingest) instead"
    )
    if cache_dir is not None:
        msg += f"; spectra downloaded by earlier fetches are kept under {cache_dir}"
    return msg + "."


def _check_reachable(url: str, timeout: float, cache_dir: Path | None = None) -> None:
    """Raise `ConnectionError` unless a TCP connection to ``url``'s host opens in ``timeout`` s.

    The connection (name lookup included) runs in a daemon thread, so a stuck
    DNS lookup cannot make this wait longer than ``timeout``.
    """
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        raise ValueError(f"cannot tell the host of the SDSS address {url!r}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: dict[str, Any] = {}

    def _connect() -> None:
        try:
            conn = socket.create_connection((host, port), timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            outcome["error"] = exc
        else:
            with contextlib.suppress(Exception):
                conn.close()
            outcome["ok"] = True

    thread = threading.Thread(target=_connect, name="spectromer-sdss-check", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if outcome.get("ok"):
        return
    reason = outcome.get("error") or f"no answer within {timeout:g} s"
    raise ConnectionError(_offline_message(url, reason, cache_dir))


def _is_retryable(exc: BaseException) -> bool:
    import requests
    from astroquery.exceptions import TimeoutError as AQTimeoutError

    if isinstance(exc, requests.exceptions.HTTPError):
        response = exc.response
        return response is not None and response.status_code in _RETRY_STATUS
    retryable = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        AQTimeoutError,
        ConnectionError,
        TimeoutError,
        _InvalidDownload,
    )
    return isinstance(exc, retryable)


def _describe(exc: BaseException) -> str:
    import requests

    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _delay(backoff: float, attempt: int) -> float:
    """Back-off before retry number ``attempt`` (1-based): backoff * 2**(attempt-1)."""
    return min(backoff * 2.0 ** (attempt - 1), _MAX_DELAY)


# ------------------------------------------------------------------------ download


_BLOCK = 2880


def _card_int(card: bytes) -> int | None:
    try:
        return int(card[10:80].split(b"/")[0].strip())
    except ValueError:
        return None


def _fits_layout_problem(path: Path) -> str | None:
    """Check that ``path`` is a sequence of complete FITS HDUs; describe the problem if not.

    Only the header keywords that fix the data size are read (BITPIX, NAXISn,
    PCOUNT, GCOUNT), so a truncated download is found without astropy's
    "file may have been truncated" warnings (which cannot be silenced per thread).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        n_hdu = 0
        while pos < size or n_hdu == 0:
            keys: dict[str, int | None] = {}
            first = True
            while True:
                block = f.read(_BLOCK)
                if n_hdu == 0 and first and not block.startswith(b"SIMPLE  ="):
                    return "it does not start with a SIMPLE card"
                if len(block) < _BLOCK:
                    return f"the header of HDU {n_hdu} is cut short at byte {size}"
                first = False
                pos += _BLOCK
                cards = [block[i : i + 80] for i in range(0, _BLOCK, 80)]
                names = [c[:8].decode("ascii", "replace").strip() for c in cards]
                for name, card in zip(names, cards):
                    if name == "END":
                        break
                    if card[8:10] == b"= " and (
                        name in ("BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "GROUPS")
                        or name.startswith("NAXIS")
                    ):
                        keys[name] = _card_int(card)
                if "END" in names:
                    break
            naxis = keys.get("NAXIS") or 0
            bitpix = keys.get("BITPIX")
            if bitpix is None:
                return f"HDU {n_hdu} has no valid BITPIX"
            dims = [keys.get(f"NAXIS{i}") for i in range(1, naxis + 1)]
            if any(d is None for d in dims):
                return f"HDU {n_hdu} has no valid NAXISn"
            if dims and dims[0] == 0 and naxis > 1:  # random groups
                dims = dims[1:]
            count = math.prod(dims) if dims else 0
            nbytes = (
                abs(bitpix) // 8 * (keys.get("GCOUNT") or 1) * ((keys.get("PCOUNT") or 0) + count)
            )
            padded = -(-nbytes // _BLOCK) * _BLOCK
            if pos + padded > size:
                return (
                    f"the data of HDU {n_hdu} is cut short: the file has {size} bytes, "
                    f"its headers need at least {pos + padded}"
                )
            pos += padded
            f.seek(pos)
            n_hdu += 1
    return None


def _verify_fits(path: Path) -> None:
    """Raise `_InvalidDownload` unless ``path`` is a complete FITS file that astropy opens."""
    try:
        problem = _fits_layout_problem(path)
        if problem is None:
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                if len(hdul) == 0:
                    problem = "it holds no HDU"
    except Exception as exc:  # noqa: BLE001 - any failure means a bad download
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        raise _InvalidDownload(f"the downloaded file is not a valid FITS file ({problem})")


def _download_one(
    client: SDSSClass,
    target: _Target,
    *,
    retries: int,
    backoff: float,
    timeout: float,
) -> tuple[_Target, FetchFailure | None]:
    """Download ``target`` atomically with retries; never raises for network errors."""
    part = target.path.with_name(target.path.name + ".part")
    attempt = 0
    while True:
        attempt += 1
        try:
            target.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                part.unlink()  # left over by an interrupted run
            client._download_file(
                target.url,
                str(part),
                timeout=timeout,
                continuation=False,
                cache=False,
                verbose=False,
            )
            if not part.is_file():
                raise _InvalidDownload("the download produced no file")
            _verify_fits(part)
            os.replace(part, target.path)
            return target, None
        except Exception as exc:  # noqa: BLE001 - recorded per file
            with contextlib.suppress(OSError):
                part.unlink()
            if attempt <= retries and _is_retryable(exc):
                delay = _delay(backoff, attempt)
                log.info(
                    "retrying %s in %.1f s after %s (attempt %d of %d)",
                    target.url,
                    delay,
                    _describe(exc),
                    attempt + 1,
                    retries + 1,
                )
                if delay > 0:
                    _sleep(delay)
                continue
            return target, FetchFailure(target.url, str(target.path), _describe(exc), attempt)
        except BaseException:
            with contextlib.suppress(OSError):
                part.unlink()
            raise


def _column_map(colnames: Iterable[str]) -> dict[str, str]:
    return {name.lower(): name for name in colnames}


def _missing_columns_message(colnames: Sequence[str]) -> str | None:
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


def _targets(
    rows: Table | Sequence[Mapping[str, Any]], data_release: int, cache_dir: Path
) -> tuple[list[_Target | None], list[FetchFailure]]:
    colnames, records = _iter_rows(rows)
    problem = _missing_columns_message(colnames)
    if problem:
        raise ValueError(problem)
    cols = _column_map(colnames)
    targets: list[_Target | None] = []
    failures: list[FetchFailure] = []
    root = cache_dir / f"dr{int(data_release)}"
    for record in records:
        values = {key: record[name] for key, name in cols.items()}
        label = "plate={plate} mjd={mjd} fiberID={fiberid} run2d={run2d}".format(
            **{k: _as_str(values[k]) for k in REQUIRED_COLUMNS}
        )
        try:
            if any(np.ma.is_masked(values[k]) for k in REQUIRED_COLUMNS):
                raise ValueError("a required value is missing")
            run2d = _as_str(values["run2d"])
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
            failures.append(FetchFailure("", "", f"{label}: {exc}", 0))
            targets.append(None)
            continue
        targets.append(_Target(url, root / run2d / url.rsplit("/", 1)[-1]))
    return targets, failures


def _optional_int(value: Any) -> int | None:
    return None if value is None or np.ma.is_masked(value) else int(value)


def _get_client(client: SDSSClass | None) -> SDSSClass:
    if client is not None:
        return client
    from astroquery.sdss import SDSS

    return SDSS


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_download_args(n_jobs: Any, retries: Any, backoff: Any, timeout: Any) -> None:
    _check_positive_int("n_jobs", n_jobs)
    _check_positive_int("retries", retries, minimum=0)
    if _check_number("backoff", backoff) < 0:
        raise ValueError(f"backoff must be >= 0 seconds, got {backoff!r}")
    if _check_number("timeout", timeout) <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")


def download_sdss_spectra(
    rows: Table | Sequence[Mapping[str, Any]],
    *,
    data_release: int = 18,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 4,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60,
    progress: bool = True,
    client: SDSSClass | None = None,
) -> DownloadResult:
    """Download the ``spec-*.fits`` files of SDSS query rows into a local cache.

    Files are stored as ``{cache_dir}/dr{data_release}/{run2d}/spec-PPPP-MMMMM-FFFF.fits``.
    A file already there is not downloaded again, so running the same call
    after an interruption only fetches what is missing. Each file is first
    written to ``<name>.part``, checked to open as a complete FITS file, and
    only then renamed onto its final name, so the cache never holds partial
    files under a final name.

    Downloads run in up to ``n_jobs`` threads through astroquery's
    :meth:`~astroquery.sdss.SDSSClass._download_file`. Timeouts, connection
    errors, HTTP 5xx/429 answers and truncated files are retried up to
    ``retries`` times, waiting ``backoff * 2**k`` seconds before retry ``k+1``.
    A file that still fails is recorded in `DownloadResult.failed` and does not
    stop the others.

    Parameters
    ----------
    rows : astropy.table.Table or sequence of mapping
        Query rows with (case-insensitively) ``plate``, ``mjd``, ``fiberID``
        and ``run2d`` columns, e.g. the result of ``SDSS.query_sql``.
    data_release : int, optional
        SDSS data release to download from (8 or later).
    cache_dir : path-like, optional
        Root of the cache. Defaults to ``$SPECTROMER_CACHE/sdss`` if that
        environment variable is set, else ``spectromer/sdss`` in astropy's
        cache directory.
    n_jobs : int, optional
        Maximum number of simultaneous downloads.
    retries : int, optional
        Retries per file after the first attempt.
    backoff : float, optional
        Base of the exponential back-off, in seconds (0 retries at once).
    timeout : float, optional
        Network timeout per request, in seconds.
    progress : bool, optional
        Show a progress bar (tqdm).
    client : astroquery.sdss.SDSSClass, optional
        The astroquery client to download with; defaults to ``astroquery.sdss.SDSS``.

    Returns
    -------
    DownloadResult
        Local paths (input order), which were downloaded or cached, and failures.

    Raises
    ------
    ValueError
        If ``rows`` lacks one of the required columns or an argument is invalid.
    ConnectionError
        If files must be downloaded and the SDSS archive server cannot be reached.

    Examples
    --------
    Spectra already in the cache are found without touching the network:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> from spectromer.datasets.sdss_fetch import download_sdss_spectra
    >>> cache = Path(tempfile.mkdtemp())
    >>> (cache / "dr18" / "26").mkdir(parents=True)
    >>> fits.PrimaryHDU().writeto(cache / "dr18" / "26" / "spec-0266-51602-0001.fits")
    >>> rows = [{"plate": 266, "mjd": 51602, "fiberID": 1, "run2d": "26"}]
    >>> result = download_sdss_spectra(rows, cache_dir=cache, progress=False)
    >>> [p.name for p in result.cached], result.downloaded, result.failed
    (['spec-0266-51602-0001.fits'], [], [])
    >>> import shutil; shutil.rmtree(cache)
    """
    data_release = _check_positive_int("data_release", data_release, minimum=_MIN_DATA_RELEASE)
    _check_download_args(n_jobs, retries, backoff, timeout)
    cache = _resolve_cache_dir(cache_dir)
    targets, failures = _targets(rows, data_release, cache)
    result = DownloadResult(failed=list(failures))

    seen: set[Path] = set()
    todo: list[_Target] = []
    for target in targets:
        if target is None or target.path in seen:
            continue
        seen.add(target.path)
        if target.path.is_file() and target.path.stat().st_size > 0:
            result.cached.append(target.path)
        else:
            todo.append(target)

    ok: set[Path] = set(result.cached)
    if todo:
        from astroquery.sdss import conf

        _check_reachable(todo[0].url or conf.sas_baseurl, min(_REACH_TIMEOUT, timeout), cache)
        sdss = _get_client(client)
        from tqdm.auto import tqdm

        done_failed: list[FetchFailure] = []
        with tqdm(
            total=len(seen),
            initial=len(result.cached),
            desc=f"SDSS DR{data_release} spectra",
            unit="file",
            disable=not progress,
        ) as bar:
            pool = ThreadPoolExecutor(
                max_workers=min(n_jobs, len(todo)), thread_name_prefix="spectromer-sdss"
            )
            try:
                futures = [
                    pool.submit(
                        _download_one,
                        sdss,
                        t,
                        retries=retries,
                        backoff=backoff,
                        timeout=timeout,
                    )
                    for t in todo
                ]
                for future in as_completed(futures):
                    target, failure = future.result()
                    if failure is None:
                        ok.add(target.path)
                        result.downloaded.append(target.path)
                    else:
                        done_failed.append(failure)
                        log.warning("could not download %s: %s", failure.url, failure.reason)
                    bar.update(1)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        # Report failures in input order.
        order = {t.url: i for i, t in enumerate(todo)}
        result.failed.extend(sorted(done_failed, key=lambda f: order.get(f.url, 0)))
        order_paths = {t.path: i for i, t in enumerate(todo)}
        result.downloaded.sort(key=lambda p: order_paths[p])

    emitted: set[Path] = set()
    for target in targets:
        if target is not None and target.path in ok and target.path not in emitted:
            emitted.add(target.path)
            result.paths.append(target.path)
    return result


# --------------------------------------------------------------------------- fetch


def _run_query(
    sdss: SDSSClass,
    sql: str,
    *,
    data_release: int,
    timeout: float,
    retries: int,
    backoff: float,
    cache_dir: Path,
) -> Table | None:
    import requests
    from astroquery.exceptions import RemoteServiceError

    attempt = 0
    while True:
        attempt += 1
        try:
            return sdss.query_sql(sql, data_release=data_release, timeout=timeout, cache=False)
        except RemoteServiceError as exc:
            raise ValueError(
                f"SDSS SkyServer (DR{data_release}) rejected the query: {str(exc)[:500]}\n"
                f"query:\n{sql}"
            ) from exc
        except Exception as exc:
            if attempt <= retries and _is_retryable(exc):
                delay = _delay(backoff, attempt)
                log.info("retrying the SDSS query in %.1f s after %s", delay, _describe(exc))
                if delay > 0:
                    _sleep(delay)
                continue
            if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
                raise ConnectionError(
                    _offline_message(sdss._get_query_url(data_release), _describe(exc), cache_dir)
                ) from exc
            if isinstance(exc, ValueError):  # e.g. an HTML error page that is not CSV
                raise ValueError(
                    f"could not read the answer of SDSS SkyServer (DR{data_release}) to the "
                    f"query: {exc}\nquery:\n{sql}"
                ) from exc
            raise


def _summarise(failures: Sequence[FetchFailure], total: int, show: int = 10) -> str:
    lines = [f"{len(failures)} of {total} SDSS spectra could not be downloaded:"]
    for f in failures[:show]:
        lines.append(f"  {f.url}: {f.reason}" if f.url else f"  {f.reason}")
    if len(failures) > show:
        lines.append(f"  ... and {len(failures) - show} more")
    lines.append("Run the same fetch again to retry them; downloaded files are reused.")
    return "\n".join(lines)


def fetch_sdss(
    out: str | os.PathLike,
    *,
    spec_class: str | None = None,
    subclass: str | None = None,
    z_min: float | None = None,
    z_max: float | None = None,
    snr_min: float | None = None,
    zwarning_zero: bool = True,
    limit: int = 100,
    data_release: int = 18,
    sql: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 4,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60,
    progress: bool = True,
    client: SDSSClass | None = None,
) -> SpectraDataset:
    """Query SDSS for spectra, download them and write a `SpectraDataset`.

    The spectra are selected with an SQL query on the SkyServer ``SpecObj``
    view, built from the selection arguments by :func:`build_specobj_query`
    (or given as ``sql``), run with ``astroquery.sdss.SDSS.query_sql``. Their
    ``spec-*.fits`` files are downloaded into a cache with
    :func:`download_sdss_spectra` and then ingested into the HDF5 dataset
    ``out`` with :func:`spectromer.datasets.ingest`, whose readers keep the
    SPECOBJ labels (class, subclass, redshift...) of each spectrum.

    Files already in the cache are not downloaded again, so re-running an
    interrupted fetch resumes it. Files that cannot be downloaded are listed
    in an `SDSSFetchWarning` and the others are still ingested.

    Parameters
    ----------
    out : path-like
        The ``.h5`` dataset to write.
    spec_class : {'STAR', 'GALAXY', 'QSO'}, optional
        Keep only this pipeline class. None keeps all.
    subclass : str, optional
        ``subClass`` value or SQL ``LIKE`` pattern (``'STARFORMING%'``).
    z_min, z_max : float, optional
        Inclusive redshift bounds.
    snr_min : float, optional
        Minimum median signal-to-noise (``snMedian``).
    zwarning_zero : bool, optional
        Keep only spectra with ``zWarning = 0``.
    limit : int, optional
        Maximum number of spectra.
    data_release : int, optional
        SDSS data release (8 or later; DR11 is not served by SkyServer).
    sql : str, optional
        Your own SkyServer SQL instead of the selection arguments (which must
        then be left unset; ``limit`` and ``zwarning_zero`` are ignored, use
        ``TOP`` and ``WHERE`` in the query). It must return the columns
        ``plate``, ``mjd``, ``fiberID`` and ``run2d``.
    cache_dir : path-like, optional
        Download cache; defaults to ``$SPECTROMER_CACHE/sdss`` or to
        ``spectromer/sdss`` in astropy's cache directory.
    n_jobs : int, optional
        Simultaneous downloads (threads). The ingest step uses as many worker
        processes (at most one per CPU core) when there are 100 files or more,
        and reads fewer files in this process.
    retries : int, optional
        Retries per request after timeouts, connection errors and HTTP 5xx.
    backoff : float, optional
        Base of the exponential back-off between retries, in seconds.
    timeout : float, optional
        Network timeout per request, in seconds.
    progress : bool, optional
        Show progress bars.
    client : astroquery.sdss.SDSSClass, optional
        The astroquery client; defaults to ``astroquery.sdss.SDSS``.

    Returns
    -------
    SpectraDataset
        The dataset written to ``out``.

    Raises
    ------
    ConnectionError
        If SDSS cannot be reached (checked within a few seconds, before the query).
    ValueError
        If an argument is invalid, the server rejects the query, the query
        returns no spectra, or a custom query lacks a required column.
    SDSSFetchError
        If none of the spectra could be downloaded.

    Warns
    -----
    SDSSFetchWarning
        If some spectra could not be downloaded (its ``failures`` lists them).

    Examples
    --------
    The query that would be run (no network needed):

    >>> from spectromer.datasets.sdss_fetch import build_specobj_query
    >>> print(build_specobj_query(spec_class="QSO", z_min=2, limit=5))  # doctest: +ELLIPSIS
    SELECT TOP 5 specObjID, plate, mjd, fiberID, run2d, ...
    FROM SpecObj
    WHERE class = 'QSO' AND z >= 2.0 AND zWarning = 0
    ORDER BY specObjID

    Fetching needs network access:

    >>> import tempfile, os
    >>> from spectromer.datasets.sdss_fetch import fetch_sdss
    >>> tmp = tempfile.mkdtemp()  # doctest: +REMOTE_DATA
    >>> ds = fetch_sdss(os.path.join(tmp, "galaxies.h5"), spec_class="GALAXY",
    ...                 z_min=0.05, z_max=0.3, snr_min=5, limit=2,
    ...                 cache_dir=tmp, progress=False)  # doctest: +REMOTE_DATA
    >>> len(ds)  # doctest: +REMOTE_DATA
    2
    """
    if out is None or Path(out).suffix not in (".h5", ".hdf5"):
        raise ValueError(f"out={str(out)!r}: the dataset to write must be a .h5 or .hdf5 file")
    data_release = _check_positive_int("data_release", data_release, minimum=_MIN_DATA_RELEASE)
    _check_download_args(n_jobs, retries, backoff, timeout)
    if sql is not None:
        given = [
            name
            for name, value in (
                ("spec_class", spec_class),
                ("subclass", subclass),
                ("z_min", z_min),
                ("z_max", z_max),
                ("snr_min", snr_min),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"give either sql or the selection arguments, not both (got sql and "
                f"{', '.join(given)}); put those conditions in the SQL's WHERE clause"
            )
        if not isinstance(sql, str) or not sql.strip():
            raise ValueError("sql must be a non-empty SQL query string")
        query = sql.strip()
    else:
        query = build_specobj_query(
            spec_class=spec_class,
            subclass=subclass,
            z_min=z_min,
            z_max=z_max,
            snr_min=snr_min,
            zwarning_zero=zwarning_zero,
            limit=limit,
        )
    cache = _resolve_cache_dir(cache_dir)
    sdss = _get_client(client)

    from astroquery.sdss import conf

    _check_reachable(conf.skyserver_baseurl, min(_REACH_TIMEOUT, float(timeout)), cache)
    log.info("querying SDSS DR%d:\n%s", data_release, query)
    table = _run_query(
        sdss,
        query,
        data_release=data_release,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        cache_dir=cache,
    )
    if table is None or len(table) == 0:
        raise ValueError(
            f"the SDSS DR{data_release} query returned no spectra; loosen the selection.\n"
            f"query:\n{query}"
        )
    problem = _missing_columns_message(table.colnames)
    if problem:
        raise ValueError(f"{problem}\nquery:\n{query}")

    result = download_sdss_spectra(
        table,
        data_release=data_release,
        cache_dir=cache,
        n_jobs=n_jobs,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
        progress=progress,
        client=sdss,
    )
    if not result.paths:
        raise SDSSFetchError(
            _summarise(result.failed, len(table)).replace(
                "Run the same fetch again", "Nothing was written. Run the same fetch again"
            ),
            result.failed,
        )
    if result.failed:
        warnings.warn(
            SDSSFetchWarning(_summarise(result.failed, len(table)), result.failed),
            stacklevel=2,
        )

    from spectromer.datasets.ingestion import ingest

    # Ingest reads in worker processes, whose start (a few seconds) only pays off for
    # many files (reading one SDSS file takes ~50 ms); never more than there are cores.
    n_paths = len(result.paths)
    ingest_jobs = 1 if n_paths < _INGEST_PARALLEL_MIN else min(n_jobs, os.cpu_count() or 1)
    return ingest([str(p) for p in result.paths], out, n_jobs=ingest_jobs, progress=progress)
