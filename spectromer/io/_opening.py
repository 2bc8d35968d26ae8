"""Opening spectrum files: paths, file objects and HDULists, compressed or not.

:func:`open_hdulist` is the one way the readers open a file: it checks the
first bytes are FITS (undoing gzip/bz2 compression recognised from magic
bytes, whatever the file name) and turns low-level failures into
`~spectromer.io.SpectrumReadError` naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from astropy.io import fits

from ._errors import SpectrumReadError, reading

__all__ = ["open_hdulist", "sniff_problem", "source_name", "file_label"]

_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"
_FITS_MAGIC = b"SIMPLE  ="
_SNIFF_BYTES = 2880  # one FITS block


def source_name(file_obj: Any) -> str:
    """Best name for ``file_obj`` in error messages and ``meta["source"]``.

    Parameters
    ----------
    file_obj : str, os.PathLike, file-like or HDUList
        What a loader was given.

    Returns
    -------
    str
        The path for paths, the ``name`` attribute for file objects, the file
        name for an `~astropy.io.fits.HDUList` opened from a file, else a
        placeholder such as ``'<HDUList>'``.

    Examples
    --------
    >>> source_name("data/spec-1.fits")
    'data/spec-1.fits'
    >>> import io
    >>> source_name(io.BytesIO(b""))
    '<BytesIO>'
    """
    if isinstance(file_obj, str | os.PathLike):
        return os.fspath(file_obj)
    if isinstance(file_obj, fits.HDUList):
        name = file_obj.filename()
        return str(name) if name else "<HDUList>"
    name = getattr(file_obj, "name", None)
    if isinstance(name, str | os.PathLike) and os.fspath(name):
        return os.fspath(name)
    return f"<{type(file_obj).__name__}>"


def file_label(source: str) -> str:
    """The file name part of ``source`` (the value of ``meta["source"]``).

    Examples
    --------
    >>> file_label("/data/lamost/spec-1.fits.gz")
    'spec-1.fits.gz'
    >>> file_label("<BytesIO>")
    '<BytesIO>'
    """
    return os.path.basename(source) or source


def _preview(raw: bytes) -> str:
    """The first characters of a non-FITS file, for the error message."""
    text = raw[:40].decode("latin-1")
    text = text.splitlines()[0] if text.strip() else text
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text[:15]


def _decompress(raw: bytes, source: str) -> bytes:
    """Undo gzip/bz2 compression (detected from magic bytes) of a whole file."""
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except EOFError as exc:
            raise SpectrumReadError(source, "truncated gzip stream") from exc
        except (gzip.BadGzipFile, OSError, ValueError) as exc:
            raise SpectrumReadError(source, f"corrupt gzip stream ({exc})") from exc
    if raw[:3] == _BZ2_MAGIC:
        try:
            return bz2.decompress(raw)
        except EOFError as exc:
            raise SpectrumReadError(source, "truncated bz2 stream") from exc
        except (OSError, ValueError) as exc:
            raise SpectrumReadError(source, f"corrupt bz2 stream ({exc})") from exc
    return raw


def _fits_bytes(raw: bytes, source: str) -> bytes:
    """Check that ``raw`` (possibly compressed) is a FITS file; return it unpacked."""
    if not raw:
        raise SpectrumReadError(source, "empty file (0 bytes)")
    raw = _decompress(raw, source)
    if not raw:
        raise SpectrumReadError(source, "empty file (0 bytes after decompression)")
    if not raw.startswith(_FITS_MAGIC):
        raise _not_fits(raw, source)
    return raw


def _not_fits(raw: bytes, source: str) -> SpectrumReadError:
    """The error for a file whose (decompressed) bytes ``raw`` are not FITS."""
    reason = f"not a FITS file (starts with {_preview(raw)!r})"
    if raw.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        reason += "; an HTML page (a saved web page or a failed download?)"
    return SpectrumReadError(source, reason)


def _head_problem(head: bytes, whole: bool, source: str) -> SpectrumReadError | None:
    """What the first bytes of a file show to be wrong with it (None: it may be FITS).

    ``whole`` says whether ``head`` is the whole file.  A compressed head is
    decompressed only as far as needed to see the FITS signature.
    """
    if not head:
        return SpectrumReadError(source, "empty file (0 bytes)")
    if head[:2] == _GZIP_MAGIC or head[:3] == _BZ2_MAGIC:
        kind = "gzip" if head[:2] == _GZIP_MAGIC else "bz2"
        decompressor = (
            zlib.decompressobj(16 + zlib.MAX_WBITS) if kind == "gzip" else bz2.BZ2Decompressor()
        )
        try:
            # A whole (small) file is decompressed to its end, to see truncation;
            # otherwise just enough for the signature and the preview.
            head = decompressor.decompress(head) if whole else decompressor.decompress(head, 64)
        except (OSError, ValueError, zlib.error) as exc:
            return SpectrumReadError(source, f"corrupt {kind} stream ({exc})")
        if not head and decompressor.eof:
            return SpectrumReadError(source, "empty file (0 bytes after decompression)")
        if whole and not decompressor.eof:
            return SpectrumReadError(source, f"truncated {kind} stream")
        if not head:
            return None
    if not head.startswith(_FITS_MAGIC[: len(head)]) or (whole and len(head) < len(_FITS_MAGIC)):
        return _not_fits(head, source)
    return None


def sniff_problem(file_obj: Any, source: str | None = None) -> SpectrumReadError | None:
    """What is clearly wrong with a file, from its first bytes only.

    Cheap enough for an identifier: reads at most one FITS block (a file
    object is returned to its position).  Reports a directory, a missing or
    empty file, bytes that are not FITS (gzip and bz2 compression undone as far
    as the FITS signature) and a corrupt compressed stream.  A file that starts
    like FITS may still be truncated or unreadable further on; `open_hdulist`
    finds those.

    Parameters
    ----------
    file_obj : str, os.PathLike, binary file object or HDUList
        The file.
    source : str, optional
        Name for the message; default from `source_name`.

    Returns
    -------
    SpectrumReadError or None
        The error to raise, or None when the file may be FITS (always None for
        an `~astropy.io.fits.HDUList` or a file object that cannot seek).

    Examples
    --------
    >>> import io
    >>> print(sniff_problem(io.BytesIO(b""), "spec-1.fits"))
    spec-1.fits: empty file (0 bytes)
    >>> print(sniff_problem(io.BytesIO(b"<!DOCTYPE html><html>"), "spec-1.fits").reason)
    not a FITS file (starts with '<!DOCTYPE html>'); an HTML page (a saved web page or ...)
    >>> sniff_problem(io.BytesIO(b"SIMPLE  =                    T"), "spec-1.fits") is None
    True
    """
    name = source if source is not None else source_name(file_obj)
    if isinstance(file_obj, fits.HDUList):
        return None
    if isinstance(file_obj, str | os.PathLike):
        if os.path.isdir(file_obj):
            return SpectrumReadError(name, "is a directory, not a file")
        try:
            with open(file_obj, "rb") as fh:
                head = fh.read(_SNIFF_BYTES + 1)
        except FileNotFoundError:
            return SpectrumReadError(name, "no such file")
        except OSError:
            return None  # not clearly broken: let the reader report it
    elif hasattr(file_obj, "read") and hasattr(file_obj, "seek") and hasattr(file_obj, "tell"):
        try:
            position = file_obj.tell()
            try:
                head = file_obj.read(_SNIFF_BYTES + 1)
            finally:
                file_obj.seek(position)
        except EOFError:
            return SpectrumReadError(name, "truncated gzip stream")
        except (OSError, ValueError, zlib.error) as exc:
            return SpectrumReadError(name, f"cannot read the file ({type(exc).__name__}: {exc})")
        if not isinstance(head, bytes):
            return None
    else:
        return None
    return _head_problem(head[:_SNIFF_BYTES], len(head) <= _SNIFF_BYTES, name)


@contextmanager
def open_hdulist(
    file_obj: Any, source: str | None = None, **fits_kwargs: Any
) -> Iterator[tuple[fits.HDUList, str]]:
    """Open ``file_obj`` as an `~astropy.io.fits.HDUList`, converting failures.

    The first bytes are checked to be FITS (gzip and bz2 compression are
    recognised from their magic bytes, whatever the file name, and undone in
    memory, which also catches truncated streams).  The file is opened with
    ``memmap=False`` and lazily loaded HDUs, so a reader touches only the
    HDUs it needs; file objects are read into memory first.  An `~astropy.io.fits.HDUList` is
    used as is and left open.  Inside the block, low-level exceptions become
    `SpectrumReadError` naming the file (see `spectromer.io._errors.reading`).

    Parameters
    ----------
    file_obj : str, os.PathLike, file-like or HDUList
        The file to open.
    source : str, optional
        Name for messages; default from `source_name`.
    **fits_kwargs
        Passed to `astropy.io.fits.open`.

    Yields
    ------
    (HDUList, str)
        The open file and its name.

    Raises
    ------
    SpectrumReadError
        Missing or empty file, not FITS (e.g. an HTML error page), truncated
        or corrupt compressed stream, or any read error in the block.

    Examples
    --------
    >>> import io
    >>> from spectromer.io import SpectrumReadError
    >>> try:
    ...     with open_hdulist(io.BytesIO(b"<!DOCTYPE html><html>"), source="x.fits"):
    ...         pass
    ... except SpectrumReadError as err:
    ...     print(err)
    x.fits: not a FITS file (starts with '<!DOCTYPE html>'); an HTML page (...)
    """
    name = source if source is not None else source_name(file_obj)
    if isinstance(file_obj, fits.HDUList):
        with reading(name):
            yield file_obj, name
        return
    fits_kwargs.setdefault("memmap", False)
    fits_kwargs.setdefault("lazy_load_hdus", True)
    with reading(name):
        if isinstance(file_obj, str | os.PathLike):
            if os.path.isdir(file_obj):
                raise SpectrumReadError(name, "is a directory, not a file")
            with open(file_obj, "rb") as fh:
                head = fh.read(_SNIFF_BYTES)
                compressed = head[:2] == _GZIP_MAGIC or head[:3] == _BZ2_MAGIC
                raw = head + fh.read() if compressed else head
        elif hasattr(file_obj, "read"):
            raw = file_obj.read()
            if isinstance(raw, str):
                raise SpectrumReadError(name, "file object is open in text mode, not binary")
            compressed = True  # whatever it holds, it is in memory now
        else:
            raise SpectrumReadError(
                name, f"expected a path, binary file object or HDUList, not {type(file_obj)}"
            )
        raw = _fits_bytes(raw, name)
        if compressed:
            hdulist = fits.open(io.BytesIO(raw), **fits_kwargs)
        else:
            # A plain file on disk: let astropy read just the HDUs a reader touches.
            hdulist = fits.open(file_obj, **fits_kwargs)
        try:
            yield hdulist, name
        finally:
            hdulist.close()
