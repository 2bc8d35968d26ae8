"""Spectra to images: fast, vectorised, wavelength-true renderers.

* :func:`to_image` - one spectrum to an image (also ``Spectrum.to_image``).
* :func:`render` / :func:`render_batches` - many spectra at once, from a list,
  a :class:`~spectromer.datasets.SpectraDataset` or a flux array.
* :class:`SpectrumToImage` - a data-loader transform (no image files needed).
* :func:`save_images` - PNG files, for those who want them.
* :class:`RenderConfig` - every option as one frozen, serialisable object.
* :mod:`~spectromer.imaging.registry` - the image kinds as data, one entry per kind
  (:data:`KINDS` and the kind-dependent options are derived from it).
* :mod:`~spectromer.imaging.layout` - fill orders (standard, boustrophedon,
  Hilbert) and pixel-to-value index maps.
"""

import sys as _sys

from . import reference as _reference  # noqa: F401 - attaches the published renderers
from .accessor import install_spectrum_method
from .config import DEFAULT_WAVE_RANGE, GRIDS, KINDS, NORMALIZATIONS, RenderConfig
from .layout import FILL_ORDERS, fill_order, pixel_index_map, values_from_image
from .render import OUTPUTS, SpectrumToImage, render, render_batches, save_images, to_image
from .wavelengths import pixel_wavelengths

__all__ = [
    "to_image",
    "render",
    "render_batches",
    "save_images",
    "SpectrumToImage",
    "RenderConfig",
    "KINDS",
    "GRIDS",
    "NORMALIZATIONS",
    "FILL_ORDERS",
    "OUTPUTS",
    "DEFAULT_WAVE_RANGE",
    "fill_order",
    "pixel_index_map",
    "values_from_image",
    "pixel_wavelengths",
    "install_spectrum_method",
]

# ``Spectrum.to_image`` now if specutils is imported; otherwise
# :mod:`spectromer._registration` installs it right after specutils is imported,
# so that importing this package (``spectromer render --help``) stays light.
if "specutils" in _sys.modules:
    install_spectrum_method()
