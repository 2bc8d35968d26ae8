"""Training: data sources, physical augmentations, on-the-fly rendering, the engine.

* :func:`as_source` / :class:`SpectrumSource` / :class:`ConcatSource` - re-exported from
  :mod:`spectromer.spectra`, where the one source protocol and batch type live.
* :class:`Augmentation` - noise from the inverse variance, flux scaling, radial-velocity
  shifts, masked pixel runs.
* :class:`RenderedBatches` / :func:`make_loader` - a ``torch`` dataset that renders whole
  batches to images in the data-loader workers (no image files), sharded for DDP;
  :class:`PixelStandardizer` adds per-pixel (per-wavelength) z-scores fitted on the
  training images.
* :class:`Trainer` - AdamW, warm-up + cosine schedule, AMP (bf16/fp16), gradient
  clipping, atomic per-epoch checkpoints, exact resume, early stopping, and
  ``DistributedDataParallel`` under ``torchrun``.
* :class:`Callback` - hooks into :meth:`Trainer.fit`; the built-in :class:`EarlyStopping`,
  :class:`ProgressBar`, :class:`Checkpoint` and :class:`CSVLogger`.
* :func:`select_device`, :func:`autocast_dtype`, :func:`distributed_context`.

Most users never touch this module: :class:`spectromer.SpectromerModel` drives it.
PyTorch is imported only when a function needs it.
"""

from ..spectra import (  # noqa: F401 - re-exported for earlier imports
    ConcatSource,
    SpectrumSource,
    SubsetSource,
    as_source,
    pad_arrays,
)
from .augment import SPEED_OF_LIGHT_KMS, Augmentation, as_augmentation
from .callbacks import (
    Callback,
    Checkpoint,
    CheckpointExists,
    CSVLogger,
    EarlyStopping,
    ProgressBar,
)
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

# SpectrumSource, SubsetSource, ConcatSource, as_source and pad_arrays are importable from
# here as before; they are documented where they live, in spectromer.spectra.
__all__ = [
    "Augmentation",
    "as_augmentation",
    "SPEED_OF_LIGHT_KMS",
    "RenderedBatches",
    "PixelStandardizer",
    "make_loader",
    "Trainer",
    "TrainSettings",
    "Callback",
    "EarlyStopping",
    "ProgressBar",
    "Checkpoint",
    "CSVLogger",
    "CheckpointMismatch",
    "CheckpointExists",
    "DistributedContext",
    "distributed_context",
    "select_device",
    "autocast_dtype",
    "predict_outputs",
]
