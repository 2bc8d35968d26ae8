"""HTTP with retries and a quick reachability check, shared by every download.

* :func:`probe` tells within a few seconds whether a server answers at all (one
  ``HEAD`` request, no retries, bounded even when a name lookup hangs), so that
  offline work fails fast with instructions instead of after minutes of retries.
* :func:`retry_policy` is the one retry policy: a :class:`urllib3.util.Retry` that
  retries connection errors, timeouts and the answers in :data:`RETRY_STATUS`, waiting
  ``backoff * 2**k`` seconds (at most :data:`MAX_DELAY`, or what a ``Retry-After``
  header asks) before retry ``k + 1``.
* :class:`Downloader` streams files to disk through :mod:`requests` with that policy,
  atomically (:func:`spectromer.utils.atomic.atomic_path`), with an optional content
  check; a truncated or rejected body is retried from the same budget of retries.
* :func:`retry_call` applies the same policy to a call made through another library's
  request layer (an :mod:`astroquery` query).

The users are the SDSS download (:mod:`spectromer.datasets.sdss`) and the check for the
Hugging Face hub (:func:`spectromer.models.weights.hub_reachable`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from spectromer.utils.atomic import atomic_path

__all__ = [
    "MAX_DELAY",
    "RETRY_STATUS",
    "DownloadError",
    "Downloader",
    "InvalidContent",
    "describe_error",
    "is_retryable",
    "probe",
    "retry_call",
    "retry_policy",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP answers worth retrying: timeouts, "too early", "too many requests" and 5xx
#: gateway/availability errors.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Longest wait between two attempts, in seconds (also caps ``Retry-After``).
MAX_DELAY = 60.0

_CHUNK = 1 << 16

# Indirection so tests can record the back-off delays without sleeping.
_sleep = time.sleep


class InvalidContent(OSError):
    """A downloaded body was rejected by the caller's check (worth retrying).

    Examples
    --------
    >>> from spectromer.utils.network import InvalidContent
    >>> isinstance(InvalidContent("not a FITS file"), OSError)
    True
    """


class DownloadError(OSError):
    """A file could not be downloaded, after ``attempts`` attempts.

    Parameters
    ----------
    url : str
        The address requested.
    reason : str
        What went wrong in the last attempt (see :func:`describe_error`).
    attempts : int
        How many requests were made.

    Examples
    --------
    >>> from spectromer.utils.network import DownloadError
    >>> err = DownloadError("https://example.org/a.fits", "HTTP 404 Not Found", 1)
    >>> err.reason, err.attempts
    ('HTTP 404 Not Found', 1)
    >>> str(err)
    'cannot download https://example.org/a.fits: HTTP 404 Not Found'
    """

    def __init__(self, url: str, reason: str, attempts: int) -> None:
        super().__init__(f"cannot download {url}: {reason}")
        self.url = url
        self.reason = reason
        self.attempts = attempts


class _Backoff(Retry):
    """:class:`~urllib3.util.Retry` waiting ``backoff * 2**k`` before retry ``k + 1``.

    urllib3 retries the first time without waiting; a busy archive is better served by
    waiting from the first retry on. Waits are capped at :data:`MAX_DELAY` (also those a
    ``Retry-After`` header asks for) and go through the module's ``_sleep``.
    """

    def get_backoff_time(self) -> float:
        n = len(self.history)
        if n == 0:
            return 0.0
        return float(min(self.backoff_factor * 2.0 ** (n - 1), MAX_DELAY))

    def sleep(self, response: Any = None) -> None:
        delay = None
        if response is not None and self.respect_retry_after_header:
            delay = self.get_retry_after(response)
        if not delay:
            delay = self.get_backoff_time()
        delay = min(delay, MAX_DELAY)
        if delay > 0:
            _sleep(delay)


def retry_policy(retries: int = 4, backoff: float = 1.0) -> Retry:
    """The retry policy of every download: ``retries`` retries with exponential back-off.

    Connection errors, timeouts and the HTTP answers in :data:`RETRY_STATUS` are
    retried (``GET``/``HEAD`` only); other answers are returned as they are, so the
    caller sees the final status (``raise_on_status=False``). Retry ``k + 1`` waits
    ``backoff * 2**k`` seconds, at most :data:`MAX_DELAY`, or what the server's
    ``Retry-After`` header asks for.

    Parameters
    ----------
    retries : int
        Retries after the first attempt (0: a single attempt).
    backoff : float
        Base of the back-off, in seconds (0 retries at once).

    Returns
    -------
    urllib3.util.Retry
        For :class:`requests.adapters.HTTPAdapter` (``max_retries=``) or
        :func:`retry_call`.

    Examples
    --------
    >>> from spectromer.utils.network import retry_policy
    >>> policy = retry_policy(retries=3, backoff=0.5)
    >>> policy.total, sorted(policy.status_forcelist)[:3]
    (3, [408, 425, 429])
    >>> after_two = policy.increment("GET", "/x", error=OSError()).increment(
    ...     "GET", "/x", error=OSError())
    >>> after_two.get_backoff_time()  # before the third attempt: 0.5 * 2
    1.0
    """
    return _Backoff(
        total=int(retries),
        connect=None,
        read=None,
        redirect=None,
        status=None,
        backoff_factor=float(backoff),
        status_forcelist=RETRY_STATUS,
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def describe_error(exc: BaseException) -> str:
    """A short text for a failed request: ``HTTP 503 Service Unavailable``, the cause...

    The "max retries exceeded" wrapper of urllib3 is replaced by the error of the
    last attempt.

    Parameters
    ----------
    exc : BaseException
        The error.

    Returns
    -------
    str

    Examples
    --------
    >>> import requests
    >>> from spectromer.utils.network import describe_error
    >>> response = requests.Response()
    >>> response.status_code, response.reason = 404, "Not Found"
    >>> describe_error(requests.HTTPError("404", response=response))
    'HTTP 404 Not Found'
    >>> describe_error(TimeoutError("slow"))
    'TimeoutError: slow'
    """
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        exc = cause.reason
    elif isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed request is worth retrying.

    Connection errors, timeouts, a body cut short, :class:`InvalidContent`, and HTTP
    errors whose status is in :data:`RETRY_STATUS` are; anything else (HTTP 404, a
    local ``PermissionError``...) is not.

    Parameters
    ----------
    exc : BaseException
        The error.

    Returns
    -------
    bool

    Examples
    --------
    >>> import requests
    >>> from spectromer.utils.network import is_retryable
    >>> is_retryable(requests.exceptions.ReadTimeout("slow")), is_retryable(KeyError("x"))
    (True, False)
    """
    if isinstance(exc, requests.exceptions.HTTPError):
        return exc.response is not None and exc.response.status_code in RETRY_STATUS
    return isinstance(
        exc,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            ConnectionError,
            TimeoutError,
            InvalidContent,
        ),
    )


def _next_attempt(retry: Retry, exc: BaseException, url: str | None) -> Retry | None:
    """The policy after the failure ``exc``; None when no retry is left."""
    try:
        return retry.increment("GET", url, error=exc)
    except MaxRetryError:
        return None


def retry_call(
    fn: Callable[[], T],
    *,
    retries: int = 4,
    backoff: float = 1.0,
    retryable: Callable[[BaseException], bool] = is_retryable,
    what: str = "the request",
) -> T:
    """Call ``fn()`` until it succeeds, retrying its retryable errors by :func:`retry_policy`.

    For requests made through another library's request layer (an astroquery query),
    where no :class:`~requests.adapters.HTTPAdapter` can be given the policy.

    Parameters
    ----------
    fn : callable
        Called without arguments.
    retries, backoff
        As for :func:`retry_policy`.
    retryable : callable, optional
        Which errors to retry; :func:`is_retryable` by default.
    what : str, optional
        Named in the log message of each retry.

    Returns
    -------
    object
        What ``fn`` returned.

    Raises
    ------
    Exception
        The error of the last attempt, when it is not retryable or no retry is left.

    Examples
    --------
    >>> from spectromer.utils import network
    >>> answers = iter([ConnectionError("reset"), "ok"])
    >>> def flaky():
    ...     answer = next(answers)
    ...     if isinstance(answer, Exception):
    ...         raise answer
    ...     return answer
    >>> network.retry_call(flaky, retries=2, backoff=0)
    'ok'
    """
    retry: Retry | None = retry_policy(retries, backoff)
    while True:
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc) or (retry := _next_attempt(retry, exc, None)) is None:
                raise
            log.info(
                "retrying %s in %.1f s after %s",
                what,
                retry.get_backoff_time(),
                describe_error(exc),
            )
            retry.sleep()


def probe(url: str, timeout: float = 5.0) -> str | None:
    """Whether the server of ``url`` answers within ``timeout`` seconds; why not if not.

    One ``HEAD`` request through the proxies of the environment, without retries. Any
    HTTP answer, even an error status, means the server is reachable; a failed name
    lookup, a refused or timed out connection does not. The request runs in a daemon
    thread, so a name lookup that hangs cannot make this wait longer than ``timeout``.

    Parameters
    ----------
    url : str
        Address to ask (``http`` or ``https``).
    timeout : float, optional
        Seconds to wait.

    Returns
    -------
    str or None
        None when the server answered, else what went wrong.

    Raises
    ------
    ValueError
        If ``url`` names no host.

    Examples
    --------
    >>> from spectromer.utils.network import probe
    >>> probe("not a url")
    Traceback (most recent call last):
    ...
    ValueError: cannot tell the host of the address 'not a url'
    >>> probe("https://data.sdss.org", timeout=2.0)  # doctest: +REMOTE_DATA
    """
    from urllib.parse import urlparse

    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).hostname:
        raise ValueError(f"cannot tell the host of the address {url!r}")
    outcome: dict[str, Any] = {}

    def _head() -> None:
        try:
            with requests.Session() as session:  # the default adapter does not retry
                session.head(url, timeout=timeout, allow_redirects=False).close()
        except Exception as exc:  # noqa: BLE001 - reported to the caller below
            outcome["error"] = exc
        else:
            outcome["ok"] = True

    thread = threading.Thread(target=_head, name="spectromer-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if outcome.get("ok"):
        return None
    error = outcome.get("error")
    return describe_error(error) if error is not None else f"no answer within {timeout:g} s"


class Downloader:
    """Download files over HTTP(S) with :func:`retry_policy`, atomically and thread-safely.

    Each thread gets its own :class:`requests.Session` (connections are reused from
    one file to the next). One budget of ``retries`` per file covers connection
    errors, timeouts, the answers in :data:`RETRY_STATUS` (retried inside urllib3,
    honouring ``Retry-After``), a body cut short and a body the ``check`` rejects.

    Parameters
    ----------
    retries, backoff
        As for :func:`retry_policy`.
    timeout : float, optional
        Seconds allowed to connect and between two received bytes.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from spectromer.utils.network import Downloader, DownloadError
    >>> with Downloader(retries=0, timeout=5) as downloader:  # doctest: +REMOTE_DATA
    ...     downloader.download("https://data.sdss.org/sas/dr18/", Path(tempfile.mkdtemp()) / "x")
    1
    """

    def __init__(self, retries: int = 4, backoff: float = 1.0, timeout: float = 60.0) -> None:
        self.policy = retry_policy(retries, backoff)
        self.timeout = float(timeout)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the sessions of every thread."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def _adapter(self) -> tuple[requests.Session, HTTPAdapter]:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=self.policy)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session, self._local.adapter = session, adapter
            with self._lock:
                self._sessions.append(session)
        return session, self._local.adapter

    def download(
        self,
        url: str,
        path: str | os.PathLike,
        *,
        check: Callable[[Path], None] | None = None,
    ) -> int:
        """Download ``url`` to ``path``; return how many requests it took.

        The body is written to ``<path>.part``-like temporary file beside ``path``,
        passed to ``check`` (which raises :class:`InvalidContent` to reject it) and
        only then renamed onto ``path``; on failure ``path`` is left as it was.

        Parameters
        ----------
        url : str
            The file's address.
        path : path-like
            Where to store it.
        check : callable, optional
            Called with the temporary file before it is renamed.

        Returns
        -------
        int
            Requests made (1 without retries).

        Raises
        ------
        DownloadError
            When the file could not be downloaded (its ``reason`` and ``attempts``).
        """
        path = Path(path)
        retry: Retry | None = self.policy
        while True:
            session, adapter = self._adapter()
            adapter.max_retries = retry  # this thread's adapter: one budget per file
            start = retry
            try:
                response = session.get(url, stream=True, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a DownloadError
                exhausted = isinstance(exc.args[0] if exc.args else None, MaxRetryError)
                attempts = len(start.history) + 1 + (max(start.total, 0) if exhausted else 0)
                raise DownloadError(url, describe_error(exc), attempts) from exc
            with response:
                retry = response.raw.retries or start
                attempts = len(retry.history) + 1
                try:
                    response.raise_for_status()  # the status is final: urllib3 retried it
                    with atomic_path(path, suffix=".part") as tmp:
                        with open(tmp, "wb") as f:
                            for chunk in response.iter_content(_CHUNK):
                                f.write(chunk)
                        if check is not None:
                            check(tmp)
                    return attempts
                except Exception as exc:  # noqa: BLE001 - every failure becomes a DownloadError
                    reason = describe_error(exc)
                    # an error status is final here (urllib3 already retried it); a body
                    # cut short or rejected is retried from the same budget
                    body_error = not isinstance(exc, requests.exceptions.HTTPError)
                    if body_error and is_retryable(exc):
                        retry = _next_attempt(retry, exc, url)
                    else:
                        retry = None
                    if retry is None:
                        raise DownloadError(url, reason, attempts) from exc
            log.info(
                "retrying %s in %.1f s after %s (attempt %d)",
                url,
                retry.get_backoff_time(),
                reason,
                attempts + 1,
            )
            retry.sleep()
