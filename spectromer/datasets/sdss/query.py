"""The SkyServer query: build the SQL of a ``SpecObj`` selection and run it with astroquery."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table

from spectromer.utils import network

if TYPE_CHECKING:  # pragma: no cover
    from astroquery.sdss import SDSSClass

__all__ = ["SPEC_CLASSES", "SPECOBJ_COLUMNS", "build_specobj_query"]

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

# SQL LIKE patterns for ``subClass``: SDSS subclasses look like "STARFORMING",
# "AGN BROADLINE", "K7 (0)", "O8/O9", "Carbon_lines", "L5.5". Quotes, semicolons
# and comment markers are refused, so a value can never leave its string literal.
_SUBCLASS_RE = re.compile(r"^[A-Za-z0-9 _%()+\-/.\[\]]+$")


def check_number(name: str, value: Any) -> float:
    """``value`` as a finite float; `TypeError`/`ValueError` naming ``name`` otherwise."""
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
    >>> from spectromer.datasets import build_specobj_query
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
        z_min = check_number("z_min", z_min)
    if z_max is not None:
        z_max = check_number("z_max", z_max)
    if z_min is not None and z_max is not None and z_min > z_max:
        raise ValueError(f"z_min ({z_min!r}) must not be greater than z_max ({z_max!r})")
    if z_min is not None:
        where.append(f"z >= {z_min!r}")
    if z_max is not None:
        where.append(f"z <= {z_max!r}")
    if snr_min is not None:
        where.append(f"snMedian >= {check_number('snr_min', snr_min)!r}")
    if zwarning_zero:
        where.append("zWarning = 0")
    columns = ", ".join(SPECOBJ_COLUMNS[:10]) + ",\n  " + ", ".join(SPECOBJ_COLUMNS[10:])
    lines = [f"SELECT TOP {limit} {columns}", "FROM SpecObj"]
    if where:
        lines.append("WHERE " + " AND ".join(where))
    lines.append("ORDER BY specObjID")
    return "\n".join(lines)


def offline_message(url: str, reason: Any, cache_dir: Path | None) -> str:
    """The `ConnectionError` text when an SDSS server at ``url`` cannot be reached."""
    from urllib.parse import urlparse

    host = urlparse(url).hostname or url
    msg = (
        f"Cannot reach the SDSS server {host} ({reason}). Fetching SDSS spectra needs network "
        "access. To build a dataset from spectrum files you already have, use "
        "`spectromer ingest DIR --out DATASET.h5` (or spectromer.datasets.ingest) instead"
    )
    if cache_dir is not None:
        msg += f"; spectra downloaded by earlier fetches are kept under {cache_dir}"
    return msg + "."


def check_reachable(url: str, timeout: float, cache_dir: Path | None = None) -> None:
    """Raise `ConnectionError` (with instructions) unless the server of ``url`` answers."""
    reason = network.probe(url, timeout)
    if reason is not None:
        raise ConnectionError(offline_message(url, reason, cache_dir))


def _query_retryable(exc: BaseException) -> bool:
    from astroquery.exceptions import TimeoutError as AQTimeoutError

    return network.is_retryable(exc) or isinstance(exc, AQTimeoutError)


def run_query(
    sdss: SDSSClass,
    sql: str,
    *,
    data_release: int,
    timeout: float,
    retries: int,
    backoff: float,
    cache_dir: Path,
) -> Table | None:
    """Run ``sql`` with ``SDSS.query_sql``, retrying network errors; None if it selects nothing.

    Raises `ValueError` when the server rejects the query or its answer cannot be read,
    and `ConnectionError` (with instructions) when the server cannot be reached.
    """
    import requests
    from astroquery.exceptions import RemoteServiceError
    from astroquery.sdss import conf

    try:
        return network.retry_call(
            lambda: sdss.query_sql(sql, data_release=data_release, timeout=timeout, cache=False),
            retries=retries,
            backoff=backoff,
            retryable=_query_retryable,
            what=f"the SDSS DR{data_release} query",
        )
    except RemoteServiceError as exc:
        raise ValueError(
            f"SDSS SkyServer (DR{data_release}) rejected the query: {str(exc)[:500]}\nquery:\n{sql}"
        ) from exc
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise ConnectionError(
            offline_message(conf.skyserver_baseurl, network.describe_error(exc), cache_dir)
        ) from exc
    except ValueError as exc:  # e.g. an HTML error page that is not CSV
        raise ValueError(
            f"could not read the answer of SDSS SkyServer (DR{data_release}) to the "
            f"query: {exc}\nquery:\n{sql}"
        ) from exc
