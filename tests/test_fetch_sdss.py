"""Tests of SDSS fetching (``spectromer.datasets.sdss`` and ``spectromer fetch sdss``).

The network is never used (except by the ``remote_data`` test). The SQL query is
answered the way astroquery's own SDSS tests do it, by monkeypatching ``_request`` on
the ``astroquery.sdss.SDSS`` instance with a CSV built from the real SDSS fixture files
in ``tests/data``. The spectrum files are served by a small HTTP server on 127.0.0.1
(:class:`FakeSAS`), which ``astroquery.sdss.conf`` points at, so the downloads go
through the real requests/urllib3 stack: retries, back-off, streaming and the atomic
write. Offline machines are simulated by making the name lookup fail.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from astropy.io import fits
from astropy.table import Table
from astroquery import sdss as aq_sdss
from astroquery.utils.mocks import MockResponse

from spectromer.cli import fetch as fetch_cli
from spectromer.datasets import (
    SDSSFetchError,
    SDSSFetchWarning,
    build_specobj_query,
    download_sdss_spectra,
    fetch_sdss,
    sdss_spectrum_url,
)
from spectromer.datasets.sdss import urls as sdss_urls
from spectromer.utils import network

DATA_DIR = Path(__file__).resolve().parent / "data"

COLUMNS = ("specObjID", "plate", "mjd", "fiberID", "run2d", "class", "subClass", "z", "zErr",
           "zWarning", "snMedian", "ra", "dec")  # fmt: skip


# ----------------------------------------------------------------------- helpers


def _fixture_rows() -> list[dict]:
    """SpecObj rows (as SkyServer would return them) of the SDSS files in tests/data."""
    rows = []
    for path in sorted(DATA_DIR.glob("spec-*.fits")):
        with fits.open(path) as hdul:
            # SDSS files name the table SPECOBJ; BOSS files leave HDU 2 unnamed
            hdu = hdul["SPECOBJ"] if "SPECOBJ" in hdul else hdul[2] if len(hdul) > 2 else None
            if not isinstance(hdu, fits.BinTableHDU) or "PLATE" not in hdu.columns.names:
                continue
            r = hdu.data[0]
            rows.append(
                {
                    "specObjID": int(r["SPECOBJID"]),
                    "plate": int(r["PLATE"]),
                    "mjd": int(r["MJD"]),
                    "fiberID": int(r["FIBERID"]),
                    "run2d": str(r["RUN2D"]).strip(),
                    "class": str(r["CLASS"]).strip(),
                    "subClass": str(r["SUBCLASS"]).strip(),
                    "z": float(r["Z"]),
                    "zErr": float(r["Z_ERR"]),
                    "zWarning": int(r["ZWARNING"]),
                    "snMedian": float(r["SN_MEDIAN_ALL"]),
                    "ra": float(r["PLUG_RA"]),
                    "dec": float(r["PLUG_DEC"]),
                    "_file": path,
                }
            )
    return rows


FIXTURE_ROWS = _fixture_rows()
needs_fixtures = pytest.mark.skipif(
    len(FIXTURE_ROWS) < 2, reason="needs two SDSS spec-*.fits fixtures in tests/data"
)


def _name(row: dict) -> str:
    return f"spec-{row['plate']:04d}-{row['mjd']}-{row['fiberID']:04d}.fits"


def _missing_row() -> dict:
    """A row whose file the fake archive does not have (answers HTTP 404)."""
    row = dict(FIXTURE_ROWS[0])
    row.update(specObjID=1, fiberID=999, _file=None)
    return row


def _csv(rows: list[dict], columns=COLUMNS) -> bytes:
    """A SkyServer CSV answer (first line ``#Table1``, like the real service)."""
    lines = ["#Table1", ",".join(columns)]
    for row in rows:
        lines.append(",".join(str(row[c]) for c in columns))
    return ("\n".join(lines) + "\n").encode()


def _http_error(status: int) -> requests.exceptions.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.reason = {404: "Not Found", 503: "Service Unavailable"}.get(status, "")
    return requests.exceptions.HTTPError(f"{status} error", response=response)


class FakeSkyServer:
    """Stands in for ``SDSS._request``: answers SQL queries with a CSV."""

    def __init__(self, content: bytes, errors: list[BaseException] | None = None):
        self.content = content
        self.errors = list(errors or [])
        self.queries: list[str] = []

    def __call__(self, method, url, **kwargs):
        self.queries.append(kwargs["params"]["cmd"])
        if self.errors:
            raise self.errors.pop(0)
        return MockResponse(content=self.content, url=url)


class FakeSAS:
    """An HTTP server on 127.0.0.1 serving the fixture files by name (the archive).

    ``plan`` maps a file name to a list of what successive ``GET`` requests get:

    * an ``int``: that HTTP status (with an empty body);
    * ``bytes``: ``200 OK`` with this body instead of the file;
    * ``"reset"``: the connection is closed without an answer;
    * ``"cut"``: the file's length is announced but only half of it is sent;
    * ``("slow", seconds)``: the file, after a pause.

    Requests beyond the plan get the real file (or HTTP 404 for an unknown name). The
    first ``barrier`` requests wait for each other, which proves they run at once.
    ``HEAD`` requests (reachability checks) are answered ``200`` and recorded in
    ``probes`` by the first part of their path (``skyserver`` or ``sas``).
    """

    def __init__(self, rows: list[dict], plan=None, barrier: int = 0):
        self.files = {_name(r): r["_file"] for r in rows if r.get("_file") is not None}
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.calls: list[str] = []
        self.probes: list[str] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.barrier = threading.Barrier(barrier, timeout=10) if barrier else None
        self.n_barrier = barrier
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, name: str) -> int:
        return sum(url.endswith("/" + name) for url in self.calls)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_HEAD(self):
                with fake.lock:
                    fake.probes.append(self.path.strip("/").split("/")[0])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                fake.serve(self)

        return Handler

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        name = handler.path.rsplit("/", 1)[-1]
        with self.lock:
            self.calls.append(handler.path)
            index = len(self.calls)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            plan = self.plan.get(name)
            step = plan.pop(0) if plan else None
        try:
            if self.barrier is not None and index <= self.n_barrier:
                self.barrier.wait()
            else:
                time.sleep(0.01)
            if step == "reset":
                handler.close_connection = True
                return
            if isinstance(step, tuple) and step[0] == "slow":
                time.sleep(step[1])
            if isinstance(step, int):
                handler.send_response(step)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            if isinstance(step, bytes):
                body = step
            elif name in self.files:
                body = self.files[name].read_bytes()
            else:
                handler.send_response(404)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(200)
            handler.send_header("Content-Type", "application/fits")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if step == "cut":
                handler.wfile.write(body[: len(body) // 2])
                handler.close_connection = True
                return
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            pass
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def patch_sdss(monkeypatch):
    """Install a fake SkyServer on ``SDSS._request`` and a fake archive; returns a setter.

    Both ``astroquery.sdss.conf`` servers point at the fake archive, so the
    reachability checks and the downloads stay on 127.0.0.1.
    """
    servers: list[FakeSAS] = []
    with contextlib.ExitStack() as stack:

        def install(rows, *, plan=None, barrier=0, content=None, errors=None):
            server = FakeSkyServer(content if content is not None else _csv(rows), errors)
            sas = FakeSAS(rows, plan=plan, barrier=barrier)
            servers.append(sas)
            stack.enter_context(aq_sdss.conf.set_temp("sas_baseurl", sas.url + "/sas"))
            stack.enter_context(aq_sdss.conf.set_temp("skyserver_baseurl", sas.url + "/skyserver"))
            monkeypatch.setattr(aq_sdss.SDSS, "_request", server)
            return server, sas

        try:
            yield install
        finally:
            for sas in servers:
                sas.close()


@pytest.fixture
def no_sleep(monkeypatch):
    """Record the back-off delays instead of sleeping."""
    delays = []
    monkeypatch.setattr(network, "_sleep", delays.append)
    return delays


@pytest.fixture
def name_lookup(monkeypatch):
    """Replace the name lookup: ``name_lookup(fail)`` calls ``fail(host)`` for other hosts."""
    real = socket.getaddrinfo

    def install(fail):
        def getaddrinfo(host, *args, **kwargs):
            if host in ("127.0.0.1", "localhost"):
                return real(host, *args, **kwargs)
            return fail(host)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return install


def _parts(root: Path) -> list[Path]:
    return sorted(root.rglob("*.part"))


def _cached(cache: Path, row: dict, dr: int = 18) -> Path:
    return cache / f"dr{dr}" / row["run2d"] / _name(row)


# ------------------------------------------------------------------ SQL building


def test_query_defaults():
    sql = build_specobj_query()
    assert sql.startswith("SELECT TOP 100 specObjID, plate, mjd, fiberID, run2d,")
    for col in COLUMNS:
        assert col in sql
    assert "FROM SpecObj\n" in sql
    assert "WHERE zWarning = 0" in sql
    assert sql.endswith("ORDER BY specObjID")


def test_query_all_filters():
    sql = build_specobj_query(
        spec_class="galaxy",
        subclass="STARFORMING%",
        z_min=0.05,
        z_max=0.3,
        snr_min=5,
        limit=200,
    )
    assert "TOP 200 " in sql
    where = sql.split("WHERE ", 1)[1].split("\n")[0]
    assert where == (
        "class = 'GALAXY' AND subClass LIKE 'STARFORMING%' AND z >= 0.05 AND z <= 0.3 "
        "AND snMedian >= 5.0 AND zWarning = 0"
    )


def test_query_exact_subclass_and_no_where():
    sql = build_specobj_query(subclass="AGN BROADLINE", zwarning_zero=False)
    assert "subClass = 'AGN BROADLINE'" in sql
    assert "zWarning" not in sql.split("FROM", 1)[1]
    assert "WHERE" in sql
    assert "WHERE" not in build_specobj_query(zwarning_zero=False)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"z_min": 0.5, "z_max": 0.1}, ValueError, "z_min .* greater than z_max"),
        ({"limit": 0}, ValueError, "limit must be a positive integer"),
        ({"limit": -5}, ValueError, "limit"),
        ({"limit": 2.5}, TypeError, "limit"),
        ({"limit": True}, TypeError, "limit"),
        ({"spec_class": "NEBULA"}, ValueError, "spec_class must be one of STAR, GALAXY, QSO"),
        ({"spec_class": "GALAXY'; DROP TABLE SpecObj --"}, ValueError, "spec_class"),
        ({"subclass": "A0' OR 1=1 --"}, ValueError, "subclass"),
        ({"subclass": "A0; DELETE"}, ValueError, "not allowed"),
        ({"subclass": 'K5"'}, ValueError, "not allowed"),
        ({"subclass": "K5--x"}, ValueError, "not allowed"),
        ({"subclass": "  "}, ValueError, "non-empty"),
        ({"z_min": float("nan")}, ValueError, "z_min must be a finite"),
        ({"snr_min": "5"}, TypeError, "snr_min must be a number"),
    ],
)
def test_query_rejects(kwargs, error, match):
    with pytest.raises(error, match=match):
        build_specobj_query(**kwargs)


# ------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("data_release", "run2d", "plate"),
    [
        (12, "26", 266),
        (16, "26", 266),
        (16, "v5_10_0", 3586),
        (17, "104", 1600),
        (17, "v5_13_2", 10000),
        (18, "26", 266),
        (18, "v5_13_2", 3586),
    ],
)
def test_urls_match_astroquery(data_release, run2d, plate):
    """Our URLs are the ones astroquery's own get_spectra builds (no download happens)."""
    matches = Table(
        {"plate": [plate], "mjd": [55181], "fiberID": [7], "run2d": [run2d]},
    )
    containers = aq_sdss.SDSS.get_spectra_async(matches=matches, data_release=data_release)
    expected = containers[0]._target
    assert sdss_spectrum_url(plate, 55181, 7, run2d, data_release=data_release) == expected
    assert expected.startswith(aq_sdss.conf.sas_baseurl)


def test_url_sdss5_and_bad_values():
    url = sdss_spectrum_url(
        15000, 59146, 1, "v6_0_4", data_release=18, fieldid=15000, catalogid=27021597
    )
    assert url == (
        f"{aq_sdss.conf.sas_baseurl}/dr18/spectro/sdss/redux/v6_0_4/spectra/full/"
        "15000p/59146/spec-15000-59146-00027021597.fits"
    )
    with pytest.raises(ValueError, match="fieldID and catalogID"):
        sdss_spectrum_url(15000, 59146, 1, "v6_0_4", data_release=18)
    with pytest.raises(ValueError, match="DR8"):
        sdss_spectrum_url(266, 51602, 1, "26", data_release=7)
    with pytest.raises(ValueError, match="run2d"):
        sdss_spectrum_url(266, 51602, 1, "../../etc", data_release=18)


# --------------------------------------------------------------------- downloads


@needs_fixtures
def test_fetch_parallel_retry_and_permanent_failure(tmp_path, patch_sdss, no_sleep):
    good = FIXTURE_ROWS[:2]
    missing = _missing_row()
    rows = [*good, missing]
    first = _name(good[0])
    server, sas = patch_sdss(rows, plan={first: ["reset"]}, barrier=2)
    cache = tmp_path / "cache"
    out = tmp_path / "galaxies.h5"

    with pytest.warns(SDSSFetchWarning, match="1 of 3 SDSS spectra") as record:
        ds = fetch_sdss(
            out,
            spec_class="GALAXY",
            z_max=0.5,
            limit=3,
            cache_dir=cache,
            n_jobs=2,
            backoff=0.25,
            progress=False,
        )
    try:
        # one query, built from the arguments, against the requested release
        assert len(server.queries) == 1
        assert "TOP 3" in server.queries[0] and "class = 'GALAXY'" in server.queries[0]
        assert aq_sdss.SDSS._last_url.endswith("/dr18/en/tools/search/x_results.aspx")
        # the first two downloads ran at the same time (the barrier), never more than n_jobs
        assert sas.max_active == 2
        # the transient failure was retried once after the back-off, the 404 was not retried
        assert sas.count(first) == 2
        assert sas.count(_name(good[1])) == 1
        assert sas.count(_name(missing)) == 1
        assert no_sleep == [0.25]
        # the files came from the server in astroquery's configuration
        assert all(path.startswith("/sas/dr18/") for path in sas.calls)
        # the reachability check looked at both servers, once each
        assert sorted(sas.probes) == ["sas", "skyserver"]
        # the permanent failure is reported, with its URL and reason
        failures = record[0].message.failures
        assert len(failures) == 1
        assert failures[0].url.endswith(_name(missing))
        assert "404" in failures[0].reason and failures[0].attempts == 1
        # the good files are in the SAS-like cache layout, no .part left anywhere
        for row in good:
            path = _cached(cache, row)
            assert path.is_file()
            assert path.read_bytes() == row["_file"].read_bytes()
        assert not _cached(cache, missing).exists()
        assert _parts(tmp_path) == []
        # the dataset holds the two spectra
        assert out.is_file()
        assert len(ds) == 2
        assert sorted(ds.labels("source").astype(str)) == sorted(_name(r) for r in good)
        assert sorted(ds.labels("class").astype(str)) == sorted(r["class"] for r in good)
    finally:
        ds.close()


@needs_fixtures
def test_fetch_reuses_cache(tmp_path, patch_sdss, monkeypatch):
    rows = FIXTURE_ROWS[:2]
    server, sas = patch_sdss(rows)
    cache = tmp_path / "cache"
    ds = fetch_sdss(tmp_path / "a.h5", cache_dir=cache, n_jobs=2, progress=False)
    ds.close()
    assert len(sas.calls) == 2
    mtimes = [_cached(cache, r).stat().st_mtime_ns for r in rows]

    # A second fetch runs the query but neither downloads nor checks the archive.
    ds = fetch_sdss(tmp_path / "b.h5", cache_dir=cache, n_jobs=2, progress=False)
    try:
        assert len(ds) == 2
    finally:
        ds.close()
    assert len(server.queries) == 2
    assert len(sas.calls) == 2, "a cached spectrum was downloaded again"
    assert sas.probes.count("sas") == 1
    assert [_cached(cache, r).stat().st_mtime_ns for r in rows] == mtimes


@needs_fixtures
def test_resume_after_interruption(tmp_path, patch_sdss):
    """A file in the cache is kept; a stale .part from a killed run is replaced."""
    rows = FIXTURE_ROWS[:2]
    _, sas = patch_sdss(rows)
    cache = tmp_path / "cache"
    done, todo = _cached(cache, rows[0]), _cached(cache, rows[1])
    done.parent.mkdir(parents=True)
    shutil.copyfile(rows[0]["_file"], done)
    todo.parent.mkdir(parents=True, exist_ok=True)
    stale = todo.with_name(todo.name + ".part")
    stale.write_bytes(b"half a file")

    result = download_sdss_spectra(Table(rows=[{k: r[k] for k in COLUMNS} for r in rows]),
                                   cache_dir=cache, progress=False)  # fmt: skip
    assert result.cached == [done]
    assert result.downloaded == [todo]
    assert result.paths == [done, todo]
    assert result.failed == []
    assert sas.calls and all(url.endswith(todo.name) for url in sas.calls)
    assert [p.name for p in sorted(todo.parent.iterdir())] == [todo.name]
    assert todo.read_bytes() == rows[1]["_file"].read_bytes()
    assert _parts(cache) == []


@needs_fixtures
def test_invalid_and_truncated_downloads(tmp_path, patch_sdss, no_sleep):
    """Bad content is never renamed to a final name; a truncated file is retried."""
    rows = FIXTURE_ROWS[:2]
    a, b = (_name(r) for r in rows)
    truncated = rows[0]["_file"].read_bytes()[:-2880]
    html = b"<html><body>502 Bad Gateway</body></html>"
    _, sas = patch_sdss(rows, plan={a: [truncated], b: [html] * 10})
    cache = tmp_path / "cache"
    result = download_sdss_spectra(
        [{k: r[k] for k in COLUMNS} for r in rows],
        cache_dir=cache,
        retries=2,
        backoff=0.1,
        progress=False,
    )
    assert result.paths == [_cached(cache, rows[0])]
    assert sas.count(a) == 2
    assert sas.count(b) == 3  # first attempt + 2 retries
    (failure,) = result.failed
    assert failure.url.endswith(b) and failure.attempts == 3
    assert "not a valid FITS file" in failure.reason
    assert sorted(no_sleep) == [0.1, 0.1, 0.2]  # a: one retry; b: two, doubling
    assert not _cached(cache, rows[1]).exists()
    assert _parts(cache) == []


@needs_fixtures
@pytest.mark.parametrize(
    ("step", "retried", "reason"),
    [
        (503, True, "HTTP 503"),
        (429, True, "HTTP 429"),
        (("slow", 1.0), True, "timed out"),
        ("reset", True, "RemoteDisconnected"),
        # urllib3 2 reports the short body itself; 1.26 leaves it to the FITS check
        ("cut", True, ("IncompleteRead", "not a valid FITS file")),
        (404, False, "HTTP 404"),
        (403, False, "HTTP 403"),
    ],
)
def test_which_errors_are_retried(tmp_path, patch_sdss, no_sleep, step, retried, reason):
    row = FIXTURE_ROWS[0]
    _, sas = patch_sdss([row], plan={_name(row): [step] * 3})
    timeout = 0.3 if isinstance(step, tuple) else 10
    result = download_sdss_spectra(
        [row], cache_dir=tmp_path, retries=3, timeout=timeout, progress=False
    )
    if retried:
        assert sas.count(_name(row)) == 4
        assert result.paths == [_cached(tmp_path, row)]
        assert no_sleep == [1.0, 2.0, 4.0]
        # with one retry less, the same error is reported after 3 attempts
        _, sas = patch_sdss([row], plan={_name(row): [step] * 3})
        result = download_sdss_spectra(
            [row], cache_dir=tmp_path / "b", retries=2, timeout=timeout, progress=False
        )
        assert sas.count(_name(row)) == 3
        assert result.paths == []
        (failure,) = result.failed
        reasons = reason if isinstance(reason, tuple) else (reason,)
        assert failure.attempts == 3 and any(r in failure.reason for r in reasons)
    else:
        assert sas.count(_name(row)) == 1
        assert result.paths == [] and len(result.failed) == 1
        assert result.failed[0].attempts == 1 and reason in result.failed[0].reason
        assert no_sleep == []
    assert _parts(tmp_path) == []


@needs_fixtures
def test_local_write_errors_are_not_retried(tmp_path, patch_sdss, no_sleep, monkeypatch):
    row = FIXTURE_ROWS[0]
    _, sas = patch_sdss([row])

    @contextlib.contextmanager
    def read_only(target, suffix=".tmp"):
        raise PermissionError(13, "Permission denied", str(target))
        yield  # pragma: no cover

    monkeypatch.setattr(network, "atomic_path", read_only)
    result = download_sdss_spectra([row], cache_dir=tmp_path, retries=3, progress=False)
    assert sas.count(_name(row)) == 1 and no_sleep == []
    (failure,) = result.failed
    assert failure.attempts == 1 and "PermissionError" in failure.reason


def test_unusable_rows_are_reported(tmp_path, patch_sdss):
    rows = [
        {"plate": 15000, "mjd": 59146, "fiberid": 1, "run2d": "v6_0_4"},  # SDSS-V: needs ids
        {"plate": 266, "mjd": 51602, "fiberid": 1, "run2d": "../x"},
    ]
    _, sas = patch_sdss([])
    result = download_sdss_spectra(rows, cache_dir=tmp_path, progress=False)
    assert result.paths == [] and sas.calls == []
    assert [f.attempts for f in result.failed] == [0, 0]
    assert "fieldID and catalogID" in result.failed[0].reason
    assert "run2d" in result.failed[1].reason
    with pytest.raises(ValueError, match="lacks the column.*run2d"):
        download_sdss_spectra([{"plate": 1, "mjd": 2, "fiberID": 3}], cache_dir=tmp_path)


@needs_fixtures
def test_all_downloads_failing_raises(tmp_path, patch_sdss):
    missing = _missing_row()
    patch_sdss([missing])
    with pytest.raises(SDSSFetchError, match="1 of 1 SDSS spectra") as info:
        fetch_sdss(tmp_path / "x.h5", cache_dir=tmp_path, progress=False)
    assert len(info.value.failures) == 1
    assert not (tmp_path / "x.h5").exists()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SPECTROMER_CACHE", str(tmp_path))
    assert sdss_urls.default_cache_dir() == tmp_path / "sdss"
    monkeypatch.delenv("SPECTROMER_CACHE")
    assert sdss_urls.default_cache_dir().parts[-2:] == ("spectromer", "sdss")


@needs_fixtures
def test_spectromer_cache_env(monkeypatch, tmp_path, patch_sdss):
    row = FIXTURE_ROWS[0]
    patch_sdss([row])
    monkeypatch.setenv("SPECTROMER_CACHE", str(tmp_path / "env"))
    result = download_sdss_spectra([row], data_release=17, progress=False)
    assert result.paths == [tmp_path / "env" / "sdss" / "dr17" / row["run2d"] / _name(row)]


# ------------------------------------------------------------------------ query


@needs_fixtures
def test_custom_sql(tmp_path, patch_sdss):
    rows = FIXTURE_ROWS[:1]
    server, sas = patch_sdss(rows, content=_csv(rows, ("plate", "mjd", "fiberID", "run2d")))
    sql = "SELECT TOP 1 plate, mjd, fiberID, run2d -- my query\nFROM SpecObj WHERE plate = 266"
    ds = fetch_sdss(tmp_path / "mine.h5", sql=sql, cache_dir=tmp_path, progress=False)
    try:
        assert len(ds) == 1
    finally:
        ds.close()
    assert "my query" not in server.queries[0]  # astroquery strips SQL comments
    assert "plate = 266" in server.queries[0]


@needs_fixtures
def test_custom_sql_missing_columns(tmp_path, patch_sdss):
    rows = FIXTURE_ROWS[:1]
    _, sas = patch_sdss(rows, content=_csv(rows, ("plate", "mjd", "z")))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) fiberid, run2d.*columns returned"):
        fetch_sdss(tmp_path / "x.h5", sql="SELECT plate, mjd, z FROM SpecObj", cache_dir=tmp_path)
    assert sas.calls == []


def test_bad_arguments_fail_before_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(network, "probe", no_network)
    monkeypatch.setattr(aq_sdss.SDSS, "_request", no_network)
    out = tmp_path / "x.h5"
    with pytest.raises(ValueError, match="either sql or the selection arguments.*z_min"):
        fetch_sdss(out, sql="SELECT plate FROM SpecObj", z_min=0.1)
    with pytest.raises(ValueError, match="non-empty"):
        fetch_sdss(out, sql="  ")
    with pytest.raises(ValueError, match=r"\.h5 or \.hdf5"):
        fetch_sdss(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="data_release must be an integer >= 8"):
        fetch_sdss(out, data_release=7)
    with pytest.raises(ValueError, match="n_jobs"):
        fetch_sdss(out, n_jobs=0)
    with pytest.raises(ValueError, match="z_min"):
        fetch_sdss(out, z_min=1, z_max=0)


def test_query_errors(tmp_path, patch_sdss, no_sleep):
    patch_sdss([], content=b"#Table1\nplate,mjd,fiberID,run2d\n")
    with pytest.raises(ValueError, match="returned no spectra"):
        fetch_sdss(tmp_path / "x.h5", cache_dir=tmp_path)
    patch_sdss([], content=b"error_message: Incorrect syntax near 'FORM'")
    with pytest.raises(ValueError, match="rejected the query.*Incorrect syntax"):
        fetch_sdss(tmp_path / "x.h5", cache_dir=tmp_path)


@needs_fixtures
def test_query_retried_then_offline(tmp_path, patch_sdss, no_sleep):
    rows = FIXTURE_ROWS[:1]
    server, _ = patch_sdss(rows, errors=[_http_error(503), requests.exceptions.ConnectTimeout()])
    ds = fetch_sdss(tmp_path / "x.h5", cache_dir=tmp_path, progress=False)
    ds.close()
    assert len(server.queries) == 3
    assert no_sleep == [1.0, 2.0]

    errors = [requests.exceptions.ConnectionError("refused")] * 3
    server, _ = patch_sdss(rows, errors=errors)
    with pytest.raises(ConnectionError, match="Cannot reach the SDSS server 127.0.0.1.*refused"):
        fetch_sdss(tmp_path / "y.h5", cache_dir=tmp_path, retries=2, progress=False)
    assert len(server.queries) == 3


# ---------------------------------------------------------------------- offline


def test_offline_fails_fast(tmp_path, monkeypatch, name_lookup):
    def unreachable(host):
        raise OSError(101, "Network is unreachable")

    def no_request(*args, **kwargs):
        raise AssertionError("the query ran although SDSS is unreachable")

    name_lookup(unreachable)
    monkeypatch.setattr(aq_sdss.SDSS, "_request", no_request)
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError) as info:
        fetch_sdss(tmp_path / "x.h5", spec_class="STAR", cache_dir=tmp_path / "cache")
    assert time.perf_counter() - t0 < 2
    msg = str(info.value)
    assert "Cannot reach the SDSS server skyserver.sdss.org" in msg
    assert "Network is unreachable" in msg
    assert "needs network access" in msg
    assert "spectromer ingest DIR" in msg
    assert str(tmp_path / "cache") in msg


def test_offline_hanging_lookup_times_out(tmp_path, monkeypatch, name_lookup):
    release = threading.Event()

    def hang(host):
        release.wait(30)  # a DNS lookup that never answers
        raise socket.gaierror("too late")

    name_lookup(hang)
    try:
        t0 = time.perf_counter()
        with pytest.raises(ConnectionError, match="no answer within 0.3 s"):
            fetch_sdss(tmp_path / "x.h5", timeout=0.3, cache_dir=tmp_path)
        assert time.perf_counter() - t0 < 3
    finally:
        release.set()


@needs_fixtures
def test_archive_unreachable_before_downloads(tmp_path, patch_sdss, name_lookup):
    """The query server answers but the file server does not: fail fast, download nothing."""
    row = FIXTURE_ROWS[0]
    server, sas = patch_sdss([row])

    def refused(host):
        raise ConnectionRefusedError(111, "Connection refused")

    name_lookup(refused)
    with aq_sdss.conf.set_temp("sas_baseurl", "https://data.sdss.org/sas"):
        with pytest.raises(ConnectionError, match="data.sdss.org.*Connection refused"):
            fetch_sdss(tmp_path / "x.h5", cache_dir=tmp_path)
    assert len(server.queries) == 1 and sas.probes == ["skyserver"]
    assert sas.calls == []


# -------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spectromer")
    fetch_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_parser():
    args = _parser().parse_args(
        "fetch sdss --class GALAXY --z-min 0.05 --z-max 0.3 --snr-min 5 --limit 200 "
        "--dr 17 --out galaxies.h5 -j 8 --cache-dir /tmp/c --no-progress".split()
    )
    assert (args.command, args.survey, args.func) == ("fetch", "sdss", fetch_cli.run)
    assert args.spec_class == "GALAXY"
    assert (args.z_min, args.z_max, args.snr_min) == (0.05, 0.3, 5.0)
    assert (args.limit, args.data_release, args.n_jobs) == (200, 17, 8)
    assert args.out == "galaxies.h5" and args.cache_dir == Path("/tmp/c")
    assert args.progress is False and args.sql is None and args.allow_zwarning is False
    args = _parser().parse_args(["fetch", "sdss", "-o", "x.h5", "--sql-file", "q.sql"])
    assert args.sql_file == Path("q.sql") and args.limit is None and args.progress is True


@pytest.mark.parametrize(
    "argv",
    [
        ["fetch"],
        ["fetch", "sdss"],  # --out is required
        ["fetch", "sdss", "-o", "x.h5", "--class", "NEBULA"],
        ["fetch", "sdss", "-o", "x.h5", "--limit", "0"],
        ["fetch", "sdss", "-o", "x.h5", "-j", "zero"],
        ["fetch", "sdss", "-o", "x.h5", "--sql", "SELECT 1", "--sql-file", "q.sql"],
    ],
)
def test_cli_parser_rejects(argv, capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(argv)
    assert info.value.code == 2


@pytest.mark.parametrize("argv", [["fetch", "--help"], ["fetch", "sdss", "--help"]])
def test_cli_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(argv)
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert ("sdss" in text) if argv[-2] == "fetch" else ("--sql-file" in text and "--z-min" in text)


def test_cli_registered_in_main():
    from spectromer.cli import build_parser

    args = build_parser().parse_args(["fetch", "sdss", "--out", "x.h5"])
    assert args.func is fetch_cli.run


@needs_fixtures
def test_cli_run(tmp_path, patch_sdss, no_sleep, capsys):
    rows = [*FIXTURE_ROWS[:2], _missing_row()]
    patch_sdss(rows)
    out = tmp_path / "g.h5"
    argv = ["fetch", "sdss", "--class", "GALAXY", "-o", str(out), "--cache-dir",
            str(tmp_path), "-j", "2", "--no-progress"]  # fmt: skip
    assert fetch_cli.run(_parser().parse_args(argv)) == fetch_cli.EXIT_PARTIAL
    captured = capsys.readouterr()
    assert f"wrote 2 spectra to {out}" in captured.out
    assert "1 of 3 SDSS spectra could not be downloaded" in captured.err
    assert _name(rows[2]) in captured.err

    patch_sdss(rows[:2])
    assert fetch_cli.run(_parser().parse_args(argv)) == 0


def test_cli_offline(tmp_path, capsys, name_lookup):
    def unreachable(host):
        raise socket.gaierror(-2, "Name or service not known")

    name_lookup(unreachable)
    args = _parser().parse_args(["fetch", "sdss", "-o", str(tmp_path / "x.h5")])
    assert fetch_cli.run(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("spectromer fetch sdss: error: Cannot reach the SDSS server")
    assert "spectromer ingest" in err


def test_cli_sql_file_and_limit(tmp_path, capsys):
    missing = tmp_path / "nope.sql"
    args = _parser().parse_args(["fetch", "sdss", "-o", "x.h5", "--sql-file", str(missing)])
    assert fetch_cli.run(args) == 1
    assert f"cannot read --sql-file {missing}" in capsys.readouterr().err
    args = _parser().parse_args(
        ["fetch", "sdss", "-o", "x.h5", "--sql", "SELECT 1", "--limit", "5"]
    )
    assert fetch_cli.run(args) == 1
    assert "--limit cannot be combined with --sql" in capsys.readouterr().err


# ----------------------------------------------------------------------- remote


@pytest.mark.remote_data
def test_fetch_two_real_spectra(tmp_path):
    ds = fetch_sdss(
        tmp_path / "real.h5",
        spec_class="GALAXY",
        z_min=0.05,
        z_max=0.1,
        snr_min=10,
        limit=2,
        data_release=18,
        cache_dir=tmp_path / "cache",
        n_jobs=2,
        progress=False,
    )
    try:
        assert len(ds) == 2
        files = sorted((tmp_path / "cache" / "dr18").rglob("spec-*.fits"))
        assert len(files) == 2
        assert set(ds.labels("class").astype(str)) == {"GALAXY"}
        z = np.asarray(ds.labels("z"), dtype=float)
        assert np.all((z >= 0.05) & (z <= 0.1))
    finally:
        ds.close()


def test_download_client_argument_is_deprecated(tmp_path):
    """``client=`` does nothing in download_sdss_spectra: say so instead of ignoring it."""
    from astropy.io import fits

    from spectromer.datasets import download_sdss_spectra

    (tmp_path / "dr18" / "26").mkdir(parents=True)
    fits.PrimaryHDU().writeto(tmp_path / "dr18" / "26" / "spec-0266-51602-0001.fits")
    rows = [{"plate": 266, "mjd": 51602, "fiberid": 1, "run2d": "26"}]
    with pytest.warns(FutureWarning, match="client"):
        result = download_sdss_spectra(rows, cache_dir=tmp_path, progress=False, client=object())
    assert [p.name for p in result.cached] == ["spec-0266-51602-0001.fits"]
