"""PyTorch data loading: spectra rendered to images on the fly, a whole batch at a time.

:class:`RenderedBatches` is a map-style ``torch.utils.data.Dataset`` whose items are
*batches*: given a list of indices it reads the spectra (from any
:class:`~spectromer.training.SpectrumSource`), applies the augmentations and renders
them with the vectorised renderer, returning ``(images, targets)`` tensors. Used with
``DataLoader(..., sampler=BatchSampler(...), batch_size=None)`` the rendering happens
in the loader's worker processes and never touches the disk, and one vectorised render
per batch is much faster than one per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..imaging import RenderConfig, render
from ..spectra import SpectrumSource
from .augment import Augmentation

__all__ = ["RenderedBatches", "PixelStandardizer", "make_loader"]


#: How :class:`PixelStandardizer` uses the standardised images.
STANDARDIZE_MODES = ("append", "replace")


@dataclass
class PixelStandardizer:
    """Standardise every pixel of every channel by its mean and scale over a training set.

    On the wavelength-true grids (``grid="log"``/``"linear"``) a pixel of a block image
    is one wavelength for every spectrum, so this is the per-wavelength z-score that a
    classical pipeline's ``StandardScaler`` applies to resampled fluxes: it shows how a
    spectrum differs from the typical one at each wavelength. Fitted on the training
    images (:meth:`fit`) and applied to every rendered batch (``RenderedBatches(...,
    transform=)``), in the loader's workers.

    Parameters
    ----------
    mean, scale : ndarray
        ``(C, H, W)`` per-pixel mean and standard deviation (pixels that never vary get
        scale 1, so they standardise to 0).
    mode : {"append", "replace"}
        ``append``: the standardised channels follow the plain ones (2C channels);
        ``replace``: only the standardised channels.
    clip : float
        Standardised values are clipped to [-clip, clip] (outliers such as cosmic rays
        stay bounded).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.spectra import as_source
    >>> from spectromer.training import PixelStandardizer, RenderedBatches
    >>> data = RenderedBatches(as_source(load_sample(), indices=range(64)), RenderConfig(size=16))
    >>> std = PixelStandardizer.fit(data)
    >>> std.channels(3)
    6
    >>> images = std(data[list(range(64))][0].numpy())
    >>> images.shape, bool(abs(images[:, 3:].mean()) < 0.05)  # z-scores: mean ~0
    ((64, 6, 16, 16), True)
    """

    mean: np.ndarray
    scale: np.ndarray
    mode: str = "append"
    clip: float = 5.0

    def __post_init__(self) -> None:
        if self.mode not in STANDARDIZE_MODES:
            raise ValueError(f"mode must be one of {STANDARDIZE_MODES}, got {self.mode!r}")
        self.mean = np.asarray(self.mean, np.float32)
        self.scale = np.asarray(self.scale, np.float32)
        if self.mean.ndim != 3 or self.mean.shape != self.scale.shape:
            raise ValueError(
                f"mean and scale must be (C, H, W) arrays of one shape, got "
                f"{self.mean.shape} and {self.scale.shape}"
            )
        if not (self.clip > 0):
            raise ValueError(f"clip must be > 0, got {self.clip}")

    @classmethod
    def fit(
        cls, data: RenderedBatches, mode: str = "append", batch_size: int = 256, clip: float = 5.0
    ) -> PixelStandardizer:
        """Per-pixel mean and standard deviation of every image of ``data``."""
        total = total2 = None
        n = len(data)
        if n < 2:
            raise ValueError(f"at least 2 images are needed to standardise, got {n}")
        plain = RenderedBatches(data.source, data.config)  # no augmentation, no transform
        for start in range(0, n, batch_size):
            images = plain[list(range(start, min(n, start + batch_size)))][0].numpy()
            images = images.astype(np.float64)
            s, s2 = images.sum(axis=0), (images**2).sum(axis=0)
            total = s if total is None else total + s
            total2 = s2 if total2 is None else total2 + s2
        mean = total / n
        var = np.maximum(total2 / n - mean**2, 0.0)
        scale = np.sqrt(var)
        scale = np.where(scale > 1e-3, scale, 1.0)
        return cls(mean.astype(np.float32), scale.astype(np.float32), mode, clip)

    def channels(self, in_channels: int) -> int:
        """Channels of the transformed images, for images of ``in_channels``."""
        return 2 * in_channels if self.mode == "append" else in_channels

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Transform ``(N, C, H, W)`` float images."""
        if images.shape[1:] != self.mean.shape:
            raise ValueError(
                f"images of shape {images.shape[1:]} do not match the standardiser's "
                f"{self.mean.shape}"
            )
        z = np.clip((images - self.mean) / self.scale, -self.clip, self.clip).astype(np.float32)
        return np.concatenate([images, z], axis=1) if self.mode == "append" else z


class RenderedBatches:
    """Batches of rendered spectrum images (and targets) by lists of indices.

    Parameters
    ----------
    source : SpectrumSource
        The spectra.
    config : RenderConfig
        How to render them.
    targets : ndarray, optional
        One target per spectrum (class codes, int64; or regression values, float32).
    augment : Augmentation, optional
        Applied to every batch; its random numbers come from ``(seed, epoch, indices)``,
        so a batch is augmented identically in any worker and after a resume.
    seed : int
        Seed of the augmentations.
    transform : callable, optional
        Applied to every rendered ``(N, C, H, W)`` float32 image batch (for example a
        :class:`PixelStandardizer`); must be picklable for loader workers.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.spectra import as_source
    >>> from spectromer.training import RenderedBatches
    >>> data = RenderedBatches(as_source(load_sample()), RenderConfig(size=32),
    ...                        targets=np.zeros(600, np.int64))
    >>> images, y = data[[0, 1, 2]]
    >>> tuple(images.shape), y.dtype
    ((3, 3, 32, 32), torch.int64)
    """

    def __init__(
        self,
        source: SpectrumSource,
        config: RenderConfig,
        targets: np.ndarray | None = None,
        augment: Augmentation | None = None,
        seed: int = 0,
        transform: Any = None,
    ) -> None:
        if targets is not None and len(targets) != len(source):
            raise ValueError(f"{len(targets)} targets for {len(source)} spectra")
        self.source = source
        self.config = config
        self.targets = targets
        self.augment = augment
        self.seed = int(seed)
        self.transform = transform
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the augmentations (call before each epoch)."""
        self.epoch = int(epoch)

    def __getitem__(self, indices: Sequence[int] | np.ndarray) -> tuple[Any, Any]:
        import torch

        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        batch = self.source.batch(idx)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, *idx.tolist()])
            batch = self.augment(batch, rng)
        images = render(batch, config=self.config, output="float32", errors="ignore")
        if self.transform is not None:
            images = self.transform(images)
        x = torch.from_numpy(np.ascontiguousarray(images))
        if self.targets is None:
            return x, torch.from_numpy(idx)
        return x, torch.from_numpy(np.asarray(self.targets[idx]))


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)  # rendering is numpy; leave the cores to the model


def make_loader(
    data: RenderedBatches,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> Any:
    """A ``DataLoader`` over :class:`RenderedBatches`, sharded across processes.

    Sampling uses ``torch.utils.data.DistributedSampler`` (also for one process: it
    gives a reproducible per-epoch shuffle from ``seed`` and the epoch set with
    ``loader.sampler.sampler.set_epoch``), wrapped in a ``BatchSampler``.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.spectra import as_source
    >>> from spectromer.training import RenderedBatches, make_loader
    >>> data = RenderedBatches(as_source(load_sample(), indices=range(10)), RenderConfig(size=32))
    >>> [tuple(x.shape) for x, _ in make_loader(data, 4, shuffle=False)]
    [(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
    """
    from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

    sampler = DistributedSampler(
        range(len(data)), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed
    )
    return DataLoader(
        data,
        sampler=BatchSampler(sampler, batch_size, drop_last=False),
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers else None,
    )
