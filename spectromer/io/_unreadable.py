"""Explaining unreadable spectrum files to ``Spectrum.read``, as read_spectra does.

Without this, `~specutils.Spectrum.read` of an HTML page saved as
``spec-....fits``, an empty file or a directory fails with astropy's generic
"Format could not be identified" and a table of every format, not naming the
file.  The format registered here, :data:`UNREADABLE`, identifies only files

* whose name says FITS or survey spectrum (``*.fits``, ``*.fit``, ``*.fts``,
  compressed or not; ``spec-*``, ``coadd-*``...), and
* whose first bytes show them to be clearly broken (a directory, an empty
  file, bytes that are not FITS, a corrupt compressed stream; see
  `spectromer.io._opening.sniff_problem`), and
* that no other registered format identifies (so specutils' own formats keep
  every file they claim, e.g. ``SpectrumList.read`` of a directory stays with
  specutils' JWST MIRI MRS loader, and astropy never sees two formats);

and its loader raises `UnreadableFileError` naming the file: a
`~spectromer.io.SpectrumReadError` that is also astropy's
`~astropy.io.registry.IORegistryError`, so code catching the error astropy
raised for these files before keeps working.  It is not one of
`spectromer.io.formats` (it reads nothing).
"""

from __future__ import annotations

import contextvars
import os
import re
from typing import Any, NoReturn

from astropy.io import registry as io_registry
from astropy.io.registry import IORegistryError
from specutils import Spectrum, SpectrumList
from specutils.io.registers import data_loader

from ._errors import SpectrumReadError
from ._opening import sniff_problem, source_name

__all__ = ["UNREADABLE", "UnreadableFileError", "fits_like_name", "unreadable_problem"]

#: Registry label of the format that explains unreadable FITS/survey files.
UNREADABLE = "unreadable (spectromer)"



class UnreadableFileError(SpectrumReadError, IORegistryError):
    """``Spectrum.read`` of a clearly broken FITS/survey file: what is wrong, naming it.

    Both a `~spectromer.io.SpectrumReadError` (a `ValueError`) and astropy's
    `~astropy.io.registry.IORegistryError`, which ``Spectrum.read`` raised for
    such files before ("Format could not be identified").

    Examples
    --------
    >>> from astropy.io.registry import IORegistryError
    >>> err = UnreadableFileError("spec-1.fits", "empty file (0 bytes)")
    >>> print(err)
    spec-1.fits: empty file (0 bytes)
    >>> isinstance(err, IORegistryError), isinstance(err, ValueError)
    (True, True)
    """


# Lowest priority: should another format ever identify the same file, it wins.
_PRIORITY = -100

_FITS_NAME = re.compile(r"\.(fits?|fts|fz)(\.(gz|bz2|fz))?$", re.IGNORECASE)
_SURVEY_PREFIXES = ("spec-", "coadd-", "spectra-", "spplate-", "spzbest-", "spzall-", "med_")

# Set while this module asks the other identifiers, so that it does not ask itself.
_asking_others: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "spectromer_unreadable_asking", default=False
)


def fits_like_name(name: str | os.PathLike) -> bool:
    """Whether a file name says FITS or a survey spectrum file.

    Parameters
    ----------
    name : str or os.PathLike
        A path or file name.

    Returns
    -------
    bool

    Examples
    --------
    >>> fits_like_name("downloads/spec-0266-51602-0001.fits")
    True
    >>> fits_like_name("coadd-4-80613-thru20210324")
    True
    >>> fits_like_name("notes.txt")
    False
    """
    base = os.path.basename(os.path.normpath(os.fspath(name)))
    return bool(_FITS_NAME.search(base)) or base.lower().startswith(_SURVEY_PREFIXES)


def _name_of(path: Any, fileobj: Any, args: tuple) -> str | None:
    for candidate in (path, args[0] if args else None, fileobj):
        if isinstance(candidate, str | os.PathLike):
            return os.fspath(candidate)
        name = getattr(candidate, "name", None)
        if isinstance(name, str | os.PathLike):
            return os.fspath(name)
    return None


def unreadable_problem(
    dtype: type, origin: str, path: Any, fileobj: Any, *args: Any, **kwargs: Any
) -> SpectrumReadError | None:
    """The error :data:`UNREADABLE` reports for a file, or None if it does not claim it.

    Takes the arguments astropy gives an identifier (see the module docstring
    for the rules).

    Examples
    --------
    >>> import io
    >>> from specutils import Spectrum
    >>> page = io.BytesIO(b"<!DOCTYPE html><html>")
    >>> print(unreadable_problem(Spectrum, "read", "spec-0266-51602-0001.fits", page, page))
    spec-0266-51602-0001.fits: not a FITS file (starts with '<!DOCTYPE html>'); an HTML page ...
    >>> unreadable_problem(Spectrum, "read", "page.html", page, page) is None
    True
    """
    if origin != "read" or _asking_others.get():
        return None
    name = _name_of(path, fileobj, args)
    if name is None or not fits_like_name(name):
        return None
    target = args[0] if args else (fileobj if fileobj is not None else path)
    problem = sniff_problem(_rewind(target), name)
    if problem is None:
        return None
    position = fileobj.tell() if hasattr(fileobj, "tell") else None
    token = _asking_others.set(True)
    try:
        others = io_registry.identify_format(origin, dtype, path, fileobj, args, kwargs)
    finally:
        _asking_others.reset(token)
        if position is not None:
            fileobj.seek(position)
    return None if any(fmt != UNREADABLE for fmt in others) else problem


def _rewind(file_obj: Any) -> Any:
    """Rewind a file object to its start, as specutils' FITS identifiers do.

    Identifiers that failed before this one may have left it anywhere.
    """
    if hasattr(file_obj, "read") and hasattr(file_obj, "seek"):
        try:
            file_obj.seek(0)
        except (OSError, ValueError):
            pass
    return file_obj


def _identifier(dtype: type):
    def identify(origin: str, path: Any, fileobj: Any, *args: Any, **kwargs: Any) -> bool:
        return unreadable_problem(dtype, origin, path, fileobj, *args, **kwargs) is not None

    return identify


def _load(file_obj: Any, *, source: str | None = None, **kwargs: Any) -> NoReturn:
    """Raise `SpectrumReadError` saying what is wrong with an unreadable file (spectromer)."""
    name = source if source is not None else source_name(file_obj)
    problem = sniff_problem(_rewind(file_obj), name)
    if problem is not None:
        raise UnreadableFileError(problem.source, problem.reason) from problem.__cause__
    raise UnreadableFileError(
        name,
        f"format {UNREADABLE!r} only reports unreadable files; this one starts like FITS, "
        "so pass the format that reads it",
    )


for _dtype, _auto in ((Spectrum, {"autogenerate_spectrumlist": False}), (SpectrumList, {})):
    data_loader(
        UNREADABLE,
        identifier=_identifier(_dtype),
        dtype=_dtype,
        extensions=["fits", "fits.gz", "fit"],
        priority=_PRIORITY,
        force=True,
        **_auto,
    )(_load)
