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
from typing import Any

import numpy as np

from ..imaging import RenderConfig, render
from .augment import Augmentation
from .source import SpectrumSource

__all__ = ["RenderedBatches", "make_loader"]


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

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.training import RenderedBatches, as_source
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
    ) -> None:
        if targets is not None and len(targets) != len(source):
            raise ValueError(f"{len(targets)} targets for {len(source)} spectra")
        self.source = source
        self.config = config
        self.targets = targets
        self.augment = augment
        self.seed = int(seed)
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
        x = torch.from_numpy(images)
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
    >>> from spectromer.training import RenderedBatches, as_source, make_loader
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
