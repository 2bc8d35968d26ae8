"""Spectromer: vision transformers for astronomical spectra.

Importing :mod:`spectromer` registers the package's spectrum readers with
:mod:`specutils`' I/O registry, so ``Spectrum.read("spec-....fits.gz")`` reads
LAMOST, SDSS/BOSS and DESI files with their survey labels in ``meta``, and
gives every ``Spectrum`` a ``to_image()`` method (see :mod:`spectromer.imaging`).

``import spectromer`` itself stays light: the registration happens as soon as
specutils is imported (at once if it already is), and the sub-packages and
names below (``SpectromerModel``, ``render``, ...) are imported on first use,
so the command line starts without importing specutils, PyTorch or
scikit-learn.

Examples
--------
>>> import spectromer
>>> from specutils import Spectrum
>>> hasattr(Spectrum, "to_image")
True
>>> spectromer.SpectromerModel.__name__
'SpectromerModel'
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("spectromer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from ._registration import register_with_specutils  # noqa: E402

register_with_specutils()

#: Names of this package imported on first use: name -> (module, attribute or None).
_LAZY = {
    "io": ("spectromer.io", None),
    "imaging": ("spectromer.imaging", None),
    "read_spectra": ("spectromer.io", "read_spectra"),
    "to_image": ("spectromer.imaging", "to_image"),
    "render": ("spectromer.imaging", "render"),
    "SpectromerModel": ("spectromer.models", "SpectromerModel"),
}

__all__ = ["__version__", "io", "imaging", "read_spectra", "to_image", "render", "SpectromerModel"]


def __getattr__(name: str) -> Any:
    """Import the lazily exported names on first use (PEP 562)."""
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'spectromer' has no attribute {name!r}") from None
    value = import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
