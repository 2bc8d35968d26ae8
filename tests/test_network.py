"""Tests of ``spectromer.utils.network``: the retry policy, downloads and reachability.

Nothing leaves the machine: the servers are small HTTP servers on 127.0.0.1, and an
offline machine is simulated by replacing the name lookup.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from spectromer.models import weights
from spectromer.utils import network


class Server:
    """An HTTP server on 127.0.0.1; ``answers`` lists the (status, headers, body) of GETs.

    Requests beyond the list get ``200`` with ``b"payload"``; ``HEAD`` gets ``head_status``.
    """

    def __init__(self, answers=(), head_status=200):
        self.answers = list(answers)
        self.head_status = head_status
        self.gets = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.send_response(server.head_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                server.gets += 1
                status, headers, body = (
                    server.answers.pop(0) if server.answers else (200, {}, b"payload")
                )
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def start(*args, **kwargs):
        servers.append(Server(*args, **kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def no_sleep(monkeypatch):
    delays = []
    monkeypatch.setattr(network, "_sleep", delays.append)
    return delays


@pytest.fixture
def offline(monkeypatch):
    """Every name lookup fails at once (except for 127.0.0.1); the lookups are recorded."""
    real = socket.getaddrinfo
    lookups = []

    def getaddrinfo(host, *args, **kwargs):
        if host == "127.0.0.1":
            return real(host, *args, **kwargs)
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/file"


# ------------------------------------------------------------------- the policy


def test_backoff_doubles_from_the_first_retry():
    retry = network.retry_policy(retries=5, backoff=0.5)
    delays = []
    for _ in range(5):
        retry = retry.increment("GET", "/x", error=ConnectionError())
        delays.append(retry.get_backoff_time())
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/x", error=ConnectionError())
    big = network.retry_policy(retries=20, backoff=10)
    for _ in range(10):
        big = big.increment("GET", "/x", error=ConnectionError())
    assert big.get_backoff_time() == network.MAX_DELAY


def test_retry_call(no_sleep):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise requests.exceptions.ConnectTimeout("slow")
        return "done"

    assert network.retry_call(flaky, retries=3, backoff=1.0) == "done"
    assert len(calls) == 3 and no_sleep == [1.0, 2.0]

    calls.clear()
    no_sleep.clear()
    with pytest.raises(requests.exceptions.ConnectTimeout):
        network.retry_call(flaky, retries=1, backoff=1.0)
    assert len(calls) == 2 and no_sleep == [1.0]

    def broken():
        calls.append(1)
        raise KeyError("not a network error")

    calls.clear()
    with pytest.raises(KeyError):
        network.retry_call(broken, retries=3)
    assert len(calls) == 1


def test_describe_error_unwraps_max_retries():
    cause = NewConnectionError(None, "Failed to establish a new connection: refused")
    wrapped = requests.exceptions.ConnectionError(MaxRetryError(None, "/x", reason=cause))
    assert network.describe_error(wrapped).startswith("NewConnectionError: ")
    assert "refused" in network.describe_error(wrapped)
    assert network.is_retryable(wrapped)
    response = requests.Response()
    response.status_code = 503
    assert network.is_retryable(requests.exceptions.HTTPError(response=response))
    response.status_code = 404
    assert not network.is_retryable(requests.exceptions.HTTPError(response=response))


# --------------------------------------------------------------------- downloads


def test_download_retries_status_then_writes_atomically(server, no_sleep, tmp_path):
    srv = server([(503, {}, b""), (502, {}, b"")])
    target = tmp_path / "sub" / "file.bin"
    with network.Downloader(retries=3, backoff=0.5, timeout=10) as downloader:
        assert downloader.download(srv.url, target) == 3
    assert target.read_bytes() == b"payload"
    assert srv.gets == 3 and no_sleep == [0.5, 1.0]
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_download_honours_retry_after_capped(server, no_sleep, tmp_path):
    srv = server([(429, {"Retry-After": "7"}, b""), (503, {"Retry-After": "9999"}, b"")])
    with network.Downloader(retries=2, backoff=0.1, timeout=10) as downloader:
        assert downloader.download(srv.url, tmp_path / "f") == 3
    assert no_sleep == [7.0, network.MAX_DELAY]


def test_download_final_status_is_not_retried(server, no_sleep, tmp_path):
    srv = server([(404, {}, b"")])
    with network.Downloader(retries=3, timeout=10) as downloader:
        with pytest.raises(network.DownloadError) as info:
            downloader.download(srv.url, tmp_path / "f")
    assert (info.value.reason, info.value.attempts) == ("HTTP 404 Not Found", 1)
    assert srv.gets == 1 and no_sleep == [] and not (tmp_path / "f").exists()


def test_download_exhausted_status_reports_attempts(server, no_sleep, tmp_path):
    srv = server([(503, {}, b"")] * 5)
    with network.Downloader(retries=2, backoff=1.0, timeout=10) as downloader:
        with pytest.raises(network.DownloadError) as info:
            downloader.download(srv.url, tmp_path / "f")
    assert info.value.attempts == 3 and "HTTP 503" in info.value.reason
    assert srv.gets == 3 and no_sleep == [1.0, 2.0]


def test_rejected_content_shares_the_budget(server, no_sleep, tmp_path):
    """A 503 (retried by urllib3) and a rejected body (retried here) use one budget."""
    srv = server([(503, {}, b""), (200, {}, b"<html>busy</html>"), (200, {}, b"<html>")])
    checked = []

    def check(path):
        checked.append(path.read_bytes())
        if path.read_bytes().startswith(b"<html>"):
            raise network.InvalidContent("an HTML page, not the file")

    with network.Downloader(retries=2, backoff=1.0, timeout=10) as downloader:
        with pytest.raises(network.DownloadError) as info:
            downloader.download(srv.url, tmp_path / "f", check=check)
    assert srv.gets == 3 and info.value.attempts == 3
    assert "an HTML page" in info.value.reason
    assert no_sleep == [1.0, 2.0]
    assert not (tmp_path / "f").exists() and list(tmp_path.iterdir()) == []

    srv = server([(200, {}, b"<html>busy</html>")])
    with network.Downloader(retries=2, backoff=1.0, timeout=10) as downloader:
        assert downloader.download(srv.url, tmp_path / "f", check=check) == 2
    assert (tmp_path / "f").read_bytes() == b"payload"


def test_download_connection_refused(no_sleep, tmp_path):
    url = _closed_port_url()
    with network.Downloader(retries=2, backoff=0.25, timeout=5) as downloader:
        with pytest.raises(network.DownloadError) as info:
            downloader.download(url, tmp_path / "f")
    assert info.value.attempts == 3 and "refused" in info.value.reason.lower()
    assert no_sleep == [0.25, 0.5]


def test_downloader_threads_have_their_own_sessions(server, tmp_path):
    srv = server()
    with network.Downloader(retries=0, timeout=10) as downloader:
        threads = [
            threading.Thread(target=downloader.download, args=(srv.url, tmp_path / f"f{i}"))
            for i in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(downloader._sessions) == 3
    assert downloader._sessions == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f1", "f2"]


# ------------------------------------------------------------------ reachability


def test_probe_any_answer_is_reachable(server):
    assert network.probe(server().url, timeout=5) is None
    assert network.probe(server(head_status=405).url, timeout=5) is None


def test_probe_refused_and_offline(offline):
    reason = network.probe(_closed_port_url(), timeout=5)
    assert reason is not None and "refused" in reason.lower()
    t0 = time.perf_counter()
    reason = network.probe("https://data.sdss.org/sas", timeout=5)
    assert time.perf_counter() - t0 < 2
    assert "Name or service not known" in reason
    assert offline == ["data.sdss.org"]  # one lookup: no retries


def test_probe_does_not_wait_for_a_hanging_lookup(monkeypatch):
    release = threading.Event()

    def hang(host, *args, **kwargs):
        release.wait(30)
        raise socket.gaierror("too late")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    try:
        t0 = time.perf_counter()
        assert network.probe("https://huggingface.co", timeout=0.3) == "no answer within 0.3 s"
        assert time.perf_counter() - t0 < 2
    finally:
        release.set()


def test_probe_rejects_addresses_without_host():
    with pytest.raises(ValueError, match="cannot tell the host"):
        network.probe("ftp://example.org/x")


def test_hub_reachable_uses_the_probe(server, offline, monkeypatch):
    assert weights.hub_reachable(timeout=5, url=server().url)
    assert not weights.hub_reachable(timeout=5, url=_closed_port_url())
    assert not weights.hub_reachable(timeout=5, url="not an address")
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org/")
    t0 = time.perf_counter()
    assert not weights.hub_reachable(timeout=3)
    assert time.perf_counter() - t0 < 2
    assert offline == ["hub.example.org"]
