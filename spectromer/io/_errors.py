"""The exception raised when a spectrum file cannot be read."""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from astropy.io.fits.verify import VerifyError

__all__ = ["SpectrumReadError"]


class SpectrumReadError(ValueError):
    """A spectrum file could not be read or does not hold a usable spectrum.

    The message always starts with the file name, followed by what is wrong,
    for example ``"spec-x.fits: flux is all NaN"``.  The lower-level exception
    (from :mod:`astropy.io.fits`, :mod:`gzip` or the operating system), if any,
    is chained as ``__cause__``.

    Parameters
    ----------
    source : str
        The file (path or name) that could not be read.
    reason : str
        What is wrong with it.

    Examples
    --------
    >>> from spectromer.io import SpectrumReadError
    >>> err = SpectrumReadError("spec-x.fits", "flux is all NaN")
    >>> str(err)
    'spec-x.fits: flux is all NaN'
    >>> err.source, err.reason
    ('spec-x.fits', 'flux is all NaN')
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, source: str | os.PathLike, reason: str) -> None:
        self.source = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")

    def __reduce__(self):
        # Keep the two-argument constructor picklable (worker processes send
        # exceptions back to the parent through pickle).
        return (type(self), (self.source, self.reason))


_TRUNCATION_WARNING = "File may have been truncated"


@contextmanager
def reading(source: str) -> Iterator[None]:
    """Convert low-level read failures inside the block to `SpectrumReadError`.

    Errors already of type `SpectrumReadError` pass through unchanged; gzip,
    bz2 and zlib failures become "truncated/corrupt compressed stream",
    astropy's "file may have been truncated" warning becomes an error, and
    other `OSError`, `ValueError`, `KeyError`, `IndexError` and astropy
    `~astropy.io.fits.verify.VerifyError` exceptions are reported as an
    unreadable FITS file.  The original exception is chained.

    Parameters
    ----------
    source : str
        File name used in the error message.

    Examples
    --------
    >>> from spectromer.io._errors import reading
    >>> try:
    ...     with reading("spec-x.fits"):
    ...         raise OSError("boom")
    ... except SpectrumReadError as err:
    ...     print(err)
    spec-x.fits: cannot read FITS file (OSError: boom)
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=_TRUNCATION_WARNING)
            yield
    except SpectrumReadError:
        raise
    except EOFError as exc:
        raise SpectrumReadError(source, "truncated gzip stream") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SpectrumReadError(source, f"corrupt gzip stream ({exc})") from exc
    except FileNotFoundError as exc:
        raise SpectrumReadError(source, "no such file") from exc
    except IsADirectoryError as exc:
        raise SpectrumReadError(source, "is a directory, not a file") from exc
    except Warning as exc:  # the truncation warning promoted to an error above
        raise SpectrumReadError(source, f"truncated FITS file ({exc})") from exc
    except (OSError, ValueError, KeyError, IndexError, VerifyError) as exc:
        raise SpectrumReadError(
            source, f"cannot read FITS file ({type(exc).__name__}: {exc})"
        ) from exc
