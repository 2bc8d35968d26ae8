"""Training: data sources, physical augmentations, on-the-fly rendering, the engine.

* :func:`as_source` / :class:`SpectrumSource` - any spectrum input (dataset, Spectrum
  objects, flux arrays) as padded array batches by index; :class:`ConcatSource` joins
  several.
* :class:`Augmentation` - noise from the inverse variance, flux scaling, radial-velocity
  shifts, masked pixel runs.
* :class:`RenderedBatches` / :func:`make_loader` - a ``torch`` dataset that renders whole
  batches to images in the data-loader workers (no image files), sharded for DDP;
  :class:`PixelStandardizer` adds per-pixel (per-wavelength) z-scores fitted on the
  training images.
* :class:`Trainer` - AdamW, warm-up + cosine schedule, AMP (bf16/fp16), gradient
  clipping, atomic per-epoch checkpoints, exact resume, early stopping, and
  ``DistributedDataParallel`` under ``torchrun``.
* :func:`select_device`, :func:`autocast_dtype`, :func:`distributed_context`.

Most users never touch this module: :class:`spectromer.SpectromerModel` drives it.
PyTorch is imported only when a function needs it.
"""

from .augment import SPEED_OF_LIGHT_KMS, Augmentation, as_augmentation
from .data import PixelStandardizer, RenderedBatches, make_loader
from .engine import (
    CheckpointMismatch,
    DistributedContext,
    Trainer,
    TrainSettings,
    autocast_dtype,
    distributed_context,
    predict_outputs,
    select_device,
)
from .source import ConcatSource, SpectrumSource, SubsetSource, as_source, pad_arrays

__all__ = [
    "SpectrumSource",
    "SubsetSource",
    "ConcatSource",
    "as_source",
    "pad_arrays",
    "Augmentation",
    "as_augmentation",
    "SPEED_OF_LIGHT_KMS",
    "RenderedBatches",
    "PixelStandardizer",
    "make_loader",
    "Trainer",
    "TrainSettings",
    "CheckpointMismatch",
    "DistributedContext",
    "distributed_context",
    "select_device",
    "autocast_dtype",
    "predict_outputs",
]
