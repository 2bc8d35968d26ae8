"""One writer at a time: an exclusive lock file that says who holds it.

:func:`exclusive_lock` keeps ``.NAME.lock`` next to the file ``NAME`` being
written. The lock is an operating-system lock on that file (``fcntl.flock`` on
POSIX, ``msvcrt.locking`` on Windows), so it is released by the system when its
holder dies, even by ``kill -9``; the file's text (pid, host, start time,
command) lets a second writer say who holds it, and lets the next writer notice
that an earlier run was killed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["exclusive_lock", "lock_path", "FileLockedError"]

#: Byte at which Windows locks the lock file (past the holder's text, which stays readable).
_WINDOWS_LOCK_OFFSET = 1 << 20


class FileLockedError(OSError):
    """Another live process holds the lock of the file to be written."""


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of ``target``: ``.NAME.lock`` in the same folder.

    Examples
    --------
    >>> from spectromer.utils.locking import lock_path
    >>> lock_path("data/train.h5").as_posix()
    'data/.train.h5.lock'
    """
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def _try_lock(fd: int) -> bool:
    """Take the OS lock on ``fd`` without waiting; False if another process holds it."""
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


def _holder(path: Path) -> dict[str, str]:
    """The ``key value`` lines of a lock file (empty if it is gone or blank)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    pairs = (line.split(" ", 1) for line in text.splitlines() if " " in line)
    return {k: v.strip() for k, v in pairs}


def _describe(holder: dict[str, str]) -> str:
    if not holder:
        return "a process that has not yet written its name"
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"since {holder.get('since', '?')}"
    )


@contextlib.contextmanager
def exclusive_lock(target: str | os.PathLike, *, purpose: str = "writer") -> Iterator[Path]:
    """Hold the exclusive lock of ``target`` for the block; fail at once if it is taken.

    Parameters
    ----------
    target : path
        The file to be written (it need not exist yet).
    purpose : str
        What holds the lock (``"ingest"``), used in the messages.

    Yields
    ------
    Path
        The lock file, ``.NAME.lock`` next to ``target``; it is removed on exit.

    Raises
    ------
    FileLockedError
        A live process holds the lock; the message names ``target`` and the holder
        (pid, host and start time).

    Notes
    -----
    A lock file left by a process that died (``kill -9``, a crash) is not locked
    by anyone: it is taken over, with a notice on stderr naming the old holder.

    Examples
    --------
    >>> import tempfile, os
    >>> from spectromer.utils.locking import exclusive_lock
    >>> target = os.path.join(tempfile.mkdtemp(), "d.h5")
    >>> with exclusive_lock(target) as lock:
    ...     lock.name, "pid" in lock.read_text()
    ('.d.h5.lock', True)
    >>> lock.exists()
    False
    """
    target = Path(target)
    lock = lock_path(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            raise FileLockedError(
                f"{target}: is being written by another {purpose} ({_describe(_holder(lock))}); "
                f"wait for it to finish, or stop it (its lock file is {lock})"
            )
        try:  # the holder we waited on may have removed the file before we locked it
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        previous = _holder(lock)
        if previous:
            print(
                f"{target}: taking over the lock left by a {purpose} that did not finish "
                f"({_describe(previous)}; no longer running)",
                file=sys.stderr,
            )
        since = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        text = (
            f"pid {os.getpid()}\nhost {socket.gethostname()}\nsince {since}\n"
            f"command {' '.join(sys.argv)}\n"
        )
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, text.encode())
        os.fsync(fd)
        yield lock
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # while still locked, so no one takes over a file about to vanish
        os.close(fd)
