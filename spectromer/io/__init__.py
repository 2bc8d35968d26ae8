"""Readers for survey spectra, registered with specutils' I/O registry.

Importing this package (or ``spectromer``) registers loaders so that
``specutils.Spectrum.read(path)`` identifies and reads, by content and
gzip-compressed or not:

=============================  ===================================================
format label                   files
=============================  ===================================================
``LAMOST-LRS``                 LAMOST DR8+ low-resolution ``spec-*.fits[.gz]``
``LAMOST-LRS-DR1-7``           LAMOST DR1-DR7 low-resolution (5-row image)
``SDSS-spec (spectromer)``     SDSS/BOSS ``spec-PLATE-MJD-FIBER.fits``
``DESI merged``                DESI ``coadd-*.fits`` (arms merged, redrock labels)
=============================  ===================================================

One format is identified per file, and spectromer never changes what specutils
returns for a file specutils reads: SDSS-III/IV spec files are read by
specutils' own loader with spectromer's labels added to ``meta``, SDSS-V files
and ``SpectrumList.read`` of DESI files stay with specutils (see
``spectromer.io._registry``).

:func:`read_spectra` is the entry point for pipelines: it always returns a
list of 1-D spectra, one per object, read by spectromer's own readers, and
raises `SpectrumReadError` naming the file for anything it cannot read.  The
labels in ``spectrum.meta`` use the stable keys listed in `META_KEYS`, from one
label table per survey (see ``spectromer.io._labels``).
"""

from __future__ import annotations

import os

from astropy.io import registry as io_registry
from specutils import Spectrum, SpectrumList

# Importing registers the formats; _unreadable explains broken files to Spectrum.read.
from . import _unreadable, desi, lamost, sdss  # noqa: F401
from ._build import spectrum_arrays, split_spectrum
from ._errors import SpectrumReadError, reading
from ._labels import META_KEYS
from ._opening import open_hdulist
from ._registry import FORMATS
from .desi import DESI_COADD, DESI_FLUX_UNIT, DESI_MERGED
from .lamost import LAMOST_FLUX_UNIT, LAMOST_LRS, LAMOST_LRS_DR1_7
from .sdss import SDSS_FLUX_UNIT, SDSS_SPEC

__all__ = [
    "read_spectra",
    "spectrum_arrays",
    "identify_format",
    "formats",
    "SpectrumReadError",
    "META_KEYS",
    "LAMOST_LRS",
    "LAMOST_LRS_DR1_7",
    "SDSS_SPEC",
    "DESI_MERGED",
    "DESI_COADD",
    "LAMOST_FLUX_UNIT",
    "SDSS_FLUX_UNIT",
    "DESI_FLUX_UNIT",
]

_SUPPORTED = "LAMOST, SDSS/BOSS, DESI coadd supported"

# Identification order: cheapest and most common checks first (the DESI check
# reads every HDU header, so it comes last).
_ORDER = (LAMOST_LRS, LAMOST_LRS_DR1_7, SDSS_SPEC, DESI_MERGED)


def formats() -> list[str]:
    """The format labels registered by spectromer, in identification order.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from spectromer.io import formats
    >>> formats()
    ['LAMOST-LRS', 'LAMOST-LRS-DR1-7', 'SDSS-spec (spectromer)', 'DESI merged']
    """
    return [label for label in _ORDER if label in FORMATS] + [
        label for label in FORMATS if label not in _ORDER
    ]


def _identify_open(hdulist, source: str) -> str:
    for label in formats():
        if FORMATS[label].identify(hdulist):
            return label
    telescope = str(hdulist[0].header.get("TELESCOP", "")).strip()
    hint = f"TELESCOP={telescope!r}; " if telescope else ""
    raise SpectrumReadError(source, f"format not recognised ({hint}{_SUPPORTED})")


def identify_format(path: str | os.PathLike) -> str:
    """The spectromer format label of a file, identified from its content.

    Parameters
    ----------
    path : str or os.PathLike
        The file (gzip-compressed or not).

    Returns
    -------
    str
        One of `formats`.

    Raises
    ------
    SpectrumReadError
        If the file cannot be read or is in none of spectromer's formats.

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> from spectromer.io import identify_format
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> identify_format(data / "spec-55862-B6212_sp06-003.fits")
    'LAMOST-LRS-DR1-7'
    """
    source = os.fspath(path)
    with open_hdulist(source) as (hdulist, name):
        return _identify_open(hdulist, name)


def read_spectra(path: str | os.PathLike, format: str | None = None) -> list[Spectrum]:
    """Read a spectrum file into a list of 1-D spectra, one per object.

    The file is opened once (gzip/bz2 recognised from its content, read into
    memory, ``memmap=False``), identified among spectromer's formats from its
    headers, and read by the registered loader.  Multi-object files (DESI
    coadds) are split, each spectrum getting the file-level ``meta`` plus its
    own labels.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    format : str, optional
        A format label.  One of `formats` skips identification; any other
        format registered with specutils for `~specutils.SpectrumList` or
        `~specutils.Spectrum` (e.g. ``"tabular-fits"``) is read with specutils
        and split the same way.  Default: identify among `formats`.

    Returns
    -------
    list of specutils.Spectrum
        1-D spectra with wavelength (Angstrom) spectral axes, inverse-variance
        uncertainties, boolean masks (True = bad) and the stable meta keys.

    Raises
    ------
    SpectrumReadError
        Naming the file: missing or empty file, not FITS, truncated gzip
        stream, unrecognised format, missing HDUs/columns, flux all NaN,
        wavelength not strictly increasing, length mismatches...
    TypeError
        If ``path`` is not a path.

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> from spectromer.io import read_spectra
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> [spec] = read_spectra(data / "spec-59517-EG025613N082253M02_sp08-200.fits.gz")
    >>> spec.meta["survey"], spec.meta["class"], spec.meta["subclass"], spec.meta["obsid"]
    ('LAMOST', 'STAR', 'G3', 937808200)
    >>> spec.mask.dtype, type(spec.uncertainty).__name__
    (dtype('bool'), 'InverseVariance')
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"read_spectra() expects a path, not {type(path).__name__}")
    source = os.fspath(path)
    if format is None or format in FORMATS:
        with open_hdulist(source) as (hdulist, name):
            label = format if format is not None else _identify_open(hdulist, name)
            return split_spectrum(FORMATS[label].read(hdulist, name))
    return _read_other(source, format)


def _read_other(source: str, format: str) -> list[Spectrum]:
    """Read with a non-spectromer specutils format and split to 1-D spectra."""
    known = io_registry.get_formats(SpectrumList, "Read")["Format"]
    if format not in known:
        raise SpectrumReadError(
            source, f"unknown format {format!r} (spectromer formats: {', '.join(formats())})"
        )
    if not os.path.isfile(source):
        raise SpectrumReadError(source, "no such file")
    with reading(source):
        spectra = SpectrumList.read(source, format=format)
    out: list[Spectrum] = []
    for spectrum in spectra:
        out.extend(split_spectrum(spectrum))
    return out
