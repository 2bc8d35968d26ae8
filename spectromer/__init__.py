"""Spectromer: vision transformers for astronomical spectra.

Importing :mod:`spectromer` registers the package's spectrum readers with
:mod:`specutils`' I/O registry, so ``Spectrum.read("spec-....fits.gz")`` reads
LAMOST, SDSS/BOSS and DESI files with their survey labels in ``meta``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spectromer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from . import io  # noqa: E402,F401  (registers the readers)
from .io import read_spectra  # noqa: E402

__all__ = ["__version__", "io", "read_spectra"]
