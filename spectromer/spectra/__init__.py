"""The bottom of the stack: one batch type and one source protocol for every layer.

* :class:`SpectrumBatch`: padded spectra as plain arrays (the one batch type);
* :class:`SpectrumCollection`: the protocol (``len`` + ``batch(indices)``) that a
  :class:`~spectromer.datasets.SpectraDataset` and every source implement;
* :func:`as_source`: the one conversion of user input (datasets, ``specutils.Spectrum``
  objects, flux arrays, lists of collections) into a :class:`SpectrumSource`, called
  once at the edge of the public API.
"""

from .batch import SpectrumBatch, pad_arrays
from .source import ConcatSource, SpectrumCollection, SpectrumSource, SubsetSource, as_source

__all__ = [
    "SpectrumBatch",
    "SpectrumCollection",
    "SpectrumSource",
    "SubsetSource",
    "ConcatSource",
    "as_source",
    "pad_arrays",
]
