"""Temporary re-export while the learners move to :mod:`spectromer.spectra` (removed at
integration)."""

from ..spectra.source import (  # noqa: F401
    ConcatSource,
    SpectrumCollection,
    SpectrumSource,
    SubsetSource,
    as_source,
)
from ..spectra.batch import SpectrumBatch, pad_arrays  # noqa: F401


def _is_dataset(x):  # noqa: D103 - removed at integration
    return isinstance(x, SpectrumCollection) and not isinstance(x, SpectrumSource)
