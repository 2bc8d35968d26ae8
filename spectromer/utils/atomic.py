"""Atomic file replacement helpers shared by the dataset writers."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    The temporary file lives in the same directory, so the final
    :func:`os.replace` is atomic on POSIX and Windows. If the block raises, the
    temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates files readable by the owner only; give the result the
        # permissions an ordinary new file would have
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def stale_temporaries(target: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Temporary files that :func:`atomic_path` for ``target`` left behind (e.g. after kill -9).

    Only names that ``atomic_path(target, suffix)`` creates are listed
    (``.NAME.<random>.tmp`` in the folder of ``target``); delete them only while no
    other process can be writing ``target``.

    Examples
    --------
    >>> import tempfile, os
    >>> from pathlib import Path
    >>> from spectromer.utils.atomic import stale_temporaries
    >>> folder = Path(tempfile.mkdtemp())
    >>> fd, tmp = tempfile.mkstemp(prefix=".d.h5.", suffix=".tmp", dir=folder); os.close(fd)
    >>> (folder / ".d.h5.notes").touch()
    >>> [p.name for p in stale_temporaries(folder / "d.h5")] == [Path(tmp).name]
    True
    """
    target = Path(target)
    # mkstemp's random part: letters, digits and "_" (never a dot)
    name = re.compile(re.escape(f".{target.name}.") + r"[A-Za-z0-9_]+" + re.escape(suffix))
    if not target.parent.is_dir():
        return []
    return sorted(
        p for p in target.parent.iterdir() if name.fullmatch(p.name) and p.is_file()
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
