"""Spectromer: vision transformers for astronomical spectra.

Importing :mod:`spectromer` registers the package's spectrum readers with
:mod:`specutils`' I/O registry, so ``Spectrum.read("spec-....fits.gz")`` reads
LAMOST, SDSS/BOSS and DESI files with their survey labels in ``meta``, and
gives every ``Spectrum`` a ``to_image()`` method (see :mod:`spectromer.imaging`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spectromer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from . import (
    imaging,  # noqa: E402,F401  (adds Spectrum.to_image)
    io,  # noqa: E402,F401  (registers the readers)
)
from .imaging import render, to_image  # noqa: E402
from .io import read_spectra  # noqa: E402
from .models import SpectromerModel  # noqa: E402

__all__ = ["__version__", "io", "imaging", "read_spectra", "to_image", "render", "SpectromerModel"]
