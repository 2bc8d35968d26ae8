"""Attach :func:`~spectromer.imaging.to_image` to ``specutils.Spectrum`` as a method."""

from __future__ import annotations

import warnings
from typing import Any

from .render import to_image

__all__ = ["install_spectrum_method"]


def _method(self: Any, kind: str | None = None, size: Any = None, **options: Any):
    return to_image(self, kind, size, **options)


_method.__doc__ = to_image.__doc__
_method.__name__ = "to_image"
_method.__qualname__ = "Spectrum.to_image"
_method._spectromer = True


def install_spectrum_method(cls: type | None = None, name: str = "to_image") -> bool:
    """Give ``cls`` (default ``specutils.Spectrum``) a ``to_image`` method.

    The deprecated ``Spectrum1D`` inherits it. An existing attribute of that
    name that is not Spectromer's own is never overwritten: a warning is
    issued and ``False`` returned (use :func:`spectromer.imaging.to_image`).

    Returns
    -------
    bool
        Whether the method is (now) Spectromer's.

    Examples
    --------
    >>> from specutils import Spectrum
    >>> from spectromer.imaging.accessor import install_spectrum_method
    >>> install_spectrum_method(Spectrum)
    True
    """
    if cls is None:
        from specutils import Spectrum as cls
    existing = getattr(cls, name, None)
    if existing is not None:
        if getattr(existing, "_spectromer", False):
            return True
        warnings.warn(
            f"{cls.__name__}.{name} already exists ({existing!r}); Spectromer did not replace it. "
            "Use spectromer.imaging.to_image(spectrum, ...) instead.",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    setattr(cls, name, _method)
    return True
