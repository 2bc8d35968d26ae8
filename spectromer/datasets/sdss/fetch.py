"""Fetching SDSS spectra: the thread pool, progress, the report, and the whole fetch.

:func:`download_sdss_spectra` downloads the files of query rows into the cache (in
parallel, each with :func:`.download.download_spectrum`) and reports what it did in a
:class:`DownloadResult`; :func:`fetch_sdss` runs the query (:mod:`.query`), the
downloads and the ingest into a dataset.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from spectromer.utils.network import Downloader, DownloadError

from .download import download_spectrum
from .query import build_specobj_query, check_number, check_reachable, run_query
from .urls import MIN_DATA_RELEASE, Target, missing_columns_message, resolve_cache_dir, targets

if TYPE_CHECKING:  # pragma: no cover
    from astroquery.sdss import SDSSClass

    from spectromer.datasets.dataset import SpectraDataset

__all__ = [
    "DownloadResult",
    "FetchFailure",
    "SDSSFetchError",
    "SDSSFetchWarning",
    "download_sdss_spectra",
    "fetch_sdss",
]

log = logging.getLogger(__name__)

_REACH_TIMEOUT = 5.0  # seconds allowed for the reachability check
_INGEST_PARALLEL_MIN = 100  # fewer files are ingested in this process


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


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_download_args(n_jobs: Any, retries: Any, backoff: Any, timeout: Any) -> None:
    _check_positive_int("n_jobs", n_jobs)
    _check_positive_int("retries", retries, minimum=0)
    if check_number("backoff", backoff) < 0:
        raise ValueError(f"backoff must be >= 0 seconds, got {backoff!r}")
    if check_number("timeout", timeout) <= 0:
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

    Downloads run in up to ``n_jobs`` threads, over HTTPS from the server in
    ``astroquery.sdss.conf.sas_baseurl``, with
    :class:`spectromer.utils.network.Downloader`. Timeouts, connection errors,
    HTTP 5xx/429 answers and truncated files are retried up to ``retries``
    times, waiting ``backoff * 2**k`` seconds before retry ``k+1`` (or what the
    server's ``Retry-After`` header asks for).
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
        Deprecated and not used (a ``FutureWarning`` says so): astroquery has no public
        API that downloads to a chosen path, so the files are fetched directly (see
        above). It will be removed.

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
    >>> from spectromer.datasets import download_sdss_spectra
    >>> cache = Path(tempfile.mkdtemp())
    >>> (cache / "dr18" / "26").mkdir(parents=True)
    >>> fits.PrimaryHDU().writeto(cache / "dr18" / "26" / "spec-0266-51602-0001.fits")
    >>> rows = [{"plate": 266, "mjd": 51602, "fiberID": 1, "run2d": "26"}]
    >>> result = download_sdss_spectra(rows, cache_dir=cache, progress=False)
    >>> [p.name for p in result.cached], result.downloaded, result.failed
    (['spec-0266-51602-0001.fits'], [], [])
    >>> import shutil; shutil.rmtree(cache)
    """
    data_release = _check_positive_int("data_release", data_release, minimum=MIN_DATA_RELEASE)
    _check_download_args(n_jobs, retries, backoff, timeout)
    if client is not None:
        warnings.warn(
            "download_sdss_spectra(client=...) is not used (files are fetched directly from "
            "the SDSS archive server) and will be removed; drop the argument",
            FutureWarning,
            stacklevel=2,
        )
    cache = resolve_cache_dir(cache_dir)
    found, unusable = targets(rows, data_release, cache)
    result = DownloadResult(
        failed=[FetchFailure("", "", f"{label}: {why}", 0) for label, why in unusable]
    )

    seen: set[Path] = set()
    todo: list[Target] = []
    for target in found:
        if target is None or target.path in seen:
            continue
        seen.add(target.path)
        if target.path.is_file() and target.path.stat().st_size > 0:
            result.cached.append(target.path)
        else:
            todo.append(target)

    ok: set[Path] = set(result.cached)
    if todo:
        check_reachable(todo[0].url, min(_REACH_TIMEOUT, timeout), cache)
        failed = _download_all(
            todo,
            Downloader(retries=retries, backoff=backoff, timeout=timeout),
            n_jobs=n_jobs,
            total=len(seen),
            initial=len(result.cached),
            desc=f"SDSS DR{data_release} spectra",
            progress=progress,
        )
        # Report downloads and failures in input order.
        failed_urls = {f.url for f in failed}
        result.downloaded = [t.path for t in todo if t.url not in failed_urls]
        ok.update(result.downloaded)
        order = {t.url: i for i, t in enumerate(todo)}
        result.failed.extend(sorted(failed, key=lambda f: order.get(f.url, 0)))

    emitted: set[Path] = set()
    for target in found:
        if target is not None and target.path in ok and target.path not in emitted:
            emitted.add(target.path)
            result.paths.append(target.path)
    return result


def _download_all(
    todo: Sequence[Target],
    downloader: Downloader,
    *,
    n_jobs: int,
    total: int,
    initial: int,
    desc: str,
    progress: bool,
) -> list[FetchFailure]:
    """Download ``todo`` in up to ``n_jobs`` threads with a progress bar; the failures."""
    from tqdm.auto import tqdm

    def one(target: Target) -> FetchFailure | None:
        try:
            download_spectrum(downloader, target)
        except DownloadError as exc:
            return FetchFailure(target.url, str(target.path), exc.reason, exc.attempts)
        return None

    failed: list[FetchFailure] = []
    with (
        downloader,
        tqdm(total=total, initial=initial, desc=desc, unit="file", disable=not progress) as bar,
    ):
        pool = ThreadPoolExecutor(
            max_workers=min(n_jobs, len(todo)), thread_name_prefix="spectromer-sdss"
        )
        try:
            for future in as_completed([pool.submit(one, t) for t in todo]):
                failure = future.result()
                if failure is not None:
                    failed.append(failure)
                    log.warning("could not download %s: %s", failure.url, failure.reason)
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return failed


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
        The astroquery client that runs the query; defaults to ``astroquery.sdss.SDSS``.

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

    >>> from spectromer.datasets import build_specobj_query
    >>> print(build_specobj_query(spec_class="QSO", z_min=2, limit=5))  # doctest: +ELLIPSIS
    SELECT TOP 5 specObjID, plate, mjd, fiberID, run2d, ...
    FROM SpecObj
    WHERE class = 'QSO' AND z >= 2.0 AND zWarning = 0
    ORDER BY specObjID

    Fetching needs network access:

    >>> import tempfile, os
    >>> from spectromer.datasets import fetch_sdss
    >>> tmp = tempfile.mkdtemp()  # doctest: +REMOTE_DATA
    >>> ds = fetch_sdss(os.path.join(tmp, "galaxies.h5"), spec_class="GALAXY",
    ...                 z_min=0.05, z_max=0.3, snr_min=5, limit=2,
    ...                 cache_dir=tmp, progress=False)  # doctest: +REMOTE_DATA
    >>> len(ds)  # doctest: +REMOTE_DATA
    2
    """
    if out is None or Path(out).suffix not in (".h5", ".hdf5"):
        raise ValueError(f"out={str(out)!r}: the dataset to write must be a .h5 or .hdf5 file")
    data_release = _check_positive_int("data_release", data_release, minimum=MIN_DATA_RELEASE)
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
    cache = resolve_cache_dir(cache_dir)
    if client is None:
        from astroquery.sdss import SDSS as client
    from astroquery.sdss import conf

    check_reachable(conf.skyserver_baseurl, min(_REACH_TIMEOUT, float(timeout)), cache)
    log.info("querying SDSS DR%d:\n%s", data_release, query)
    table = run_query(
        client,
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
    problem = missing_columns_message(table.colnames)
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
