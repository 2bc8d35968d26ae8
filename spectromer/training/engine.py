"""The training engine: device and precision selection, the optimisation loop,
checkpoints, early stopping and distributed data parallel.

One :class:`Trainer` runs on one CPU, one GPU, or many GPUs/processes under
``torchrun`` (PyTorch's ``DistributedDataParallel``; NCCL on CUDA, gloo on CPU). It
knows nothing about spectra: it trains a ``torch.nn.Module`` on a
:class:`~spectromer.training.RenderedBatches` with a loss and a validation metric
given by the caller (:class:`~spectromer.SpectromerModel`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.atomic import atomic_path
from .data import RenderedBatches, make_loader

__all__ = [
    "select_device",
    "autocast_dtype",
    "DistributedContext",
    "distributed_context",
    "TrainSettings",
    "Trainer",
    "predict_outputs",
    "CheckpointMismatch",
]

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.csv"
_FORMAT = "spectromer-checkpoint"
_FORMAT_VERSION = 1


class CheckpointMismatch(ValueError):
    """A checkpoint was written by a different training run than the one resuming it."""


def select_device(device: str = "auto") -> Any:
    """The ``torch.device`` to train on.

    Parameters
    ----------
    device : str
        ``"auto"`` picks CUDA if available (the GPU of this process's ``LOCAL_RANK``
        under ``torchrun``), then Apple's MPS, then the CPU. Anything else is passed to
        ``torch.device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) and checked;
        ``"cuda"`` without a number means the GPU of ``LOCAL_RANK`` too, so that
        ``torchrun`` processes never share GPU 0.

    Examples
    --------
    >>> from spectromer.training import select_device
    >>> select_device("cpu")
    device(type='cpu')
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device: {device!r} is not a torch device ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device={device!r} but MPS is not available here; use 'auto' or 'cpu'")
    return dev


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_dtype(precision: str, device: Any) -> Any:
    """The autocast dtype for a precision on a device (None: full fp32).

    ``"auto"`` means bf16 on CUDA GPUs that support it, fp16 on older ones, and fp32 on
    CPU and MPS (bf16 autocast on a CPU is supported, ``"bf16"``, but only faster on
    CPUs with bf16 instructions). ``"fp16"`` is for CUDA only.

    Examples
    --------
    >>> import torch
    >>> from spectromer.training import autocast_dtype
    >>> autocast_dtype("auto", torch.device("cpu")) is None
    True
    >>> autocast_dtype("bf16", torch.device("cpu"))
    torch.bfloat16
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    kind = device.type
    if precision == "auto":
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None
    if precision == "fp32":
        return None
    if precision == "fp16" and kind != "cuda":
        raise ValueError(f"precision='fp16' needs a CUDA device (device is {kind}); use 'bf16'")
    return torch.bfloat16 if precision == "bf16" else torch.float16


@dataclass
class DistributedContext:
    """Rank, world size and whether this process is one of several (torchrun).

    Examples
    --------
    >>> from spectromer.training import DistributedContext
    >>> ctx = DistributedContext()          # one process
    >>> ctx.distributed, ctx.main, ctx.gather("x")
    (False, True, ['x'])
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started_here: bool = False

    @property
    def distributed(self) -> bool:
        """Whether there are several processes."""
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Whether this is rank 0 (the process that writes files and prints)."""
        return self.rank == 0

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (a list, in rank order); just ``[obj]`` in one process."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        """Tear down the process group if this context started it."""
        if self.started_here:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.started_here = False


def distributed_context(device: Any) -> DistributedContext:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    With ``WORLD_SIZE`` > 1 in the environment (set by ``torchrun``), initialises
    ``torch.distributed`` (NCCL for CUDA devices, gloo otherwise) unless already done;
    otherwise returns a single-process context.

    Examples
    --------
    >>> import torch
    >>> from spectromer.training import distributed_context
    >>> distributed_context(torch.device("cpu")).world_size  # not under torchrun
    1
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistributedContext()
    started = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        started = True
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        started_here=started,
    )


@dataclass
class TrainSettings:
    """The optimisation recipe, as data (stored in checkpoints and checked on resume).

    Parameters
    ----------
    epochs : int
        Passes over the training data.
    batch_size : int
        Spectra per step and process.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW weight decay.
    warmup : float
        Epochs of linear warm-up before the cosine decay (fractions allowed).
    grad_clip : float or None
        Clip the gradient norm to this (None: no clipping).
    patience : int or None
        Stop after this many epochs without a better validation metric (None: never).
    seed : int
        Seed of the initialisation, the shuffling and the augmentations.
    num_workers : int
        Data-loader worker processes rendering the images.

    Examples
    --------
    >>> from spectromer.training import TrainSettings
    >>> TrainSettings(epochs=30, lr=3e-4).batch_size
    64
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 1.0
    grad_clip: float | None = 1.0
    patience: int | None = None
    seed: int = 0
    num_workers: int = 0


def _autocast(device: Any, dtype: Any):
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _unwrap(model: Any) -> Any:
    return getattr(model, "module", model)


def _save_atomic(obj: Any, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _write_history(history: list[dict[str, Any]], path: Path) -> None:
    from astropy.table import Table

    with atomic_path(path) as tmp:
        Table(rows=history, names=list(history[0])).write(tmp, format="ascii.csv", overwrite=True)


class Trainer:
    """Train a model with AdamW, warm-up + cosine schedule, AMP, checkpoints and DDP.

    Parameters
    ----------
    model : torch.nn.Module
        The network (moved to ``device``; wrapped in ``DistributedDataParallel`` when
        running under ``torchrun``).
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar tensor``.
    evaluate : callable, optional
        ``evaluate(outputs, targets) -> dict`` of validation metrics (numpy arrays in,
        floats out); must contain ``monitor``.
    monitor : str
        The validation metric that early stopping and the best checkpoint follow
        (higher is better), or ``"val_loss"``, the validation loss (lower is better).
    settings : TrainSettings
        The recipe.
    device : torch.device
        Where to train (see :func:`select_device`).
    precision : str
        ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (see :func:`autocast_dtype`).
    checkpoint_dir : path, optional
        Write ``checkpoint.pt`` (atomically) and ``history.csv`` there after every epoch.
    fingerprint : dict, optional
        Describes the run; a checkpoint is only resumed by a run with the same one.
    progress : bool
        Show tqdm progress bars (on the main process only).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.training import RenderedBatches, Trainer, TrainSettings, as_source
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    >>> data = RenderedBatches(as_source(load_sample(), indices=range(32)), RenderConfig(size=16),
    ...                        targets=np.arange(32) % 2)
    >>> trainer = Trainer(model, torch.nn.functional.cross_entropy,
    ...                   settings=TrainSettings(epochs=2, batch_size=16))
    >>> history = trainer.fit(data)
    >>> len(history), history[0]["epoch"], "train_loss" in history[0]
    (2, 1, True)
    """

    def __init__(
        self,
        model: Any,
        loss_fn: Callable[[Any, Any], Any],
        *,
        evaluate: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
        monitor: str = "val_loss",
        settings: TrainSettings | None = None,
        device: Any = None,
        precision: str = "auto",
        checkpoint_dir: str | os.PathLike | None = None,
        fingerprint: dict[str, Any] | None = None,
        progress: bool = False,
    ) -> None:
        import torch

        self.settings = settings or TrainSettings()
        self.device = device if device is not None else select_device("auto")
        self.dtype = autocast_dtype(precision, self.device)
        self.model = model
        self.loss_fn = loss_fn
        self.evaluate = evaluate
        self.monitor = monitor
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.fingerprint = dict(fingerprint or {}, settings=asdict(self.settings))
        self.progress = progress
        self.history: list[dict[str, Any]] = []
        self.best_metric = -math.inf
        self.best_epoch = 0
        self.best_state: dict[str, Any] | None = None
        self.stopped_early = False
        self._torch = torch

    # -- pieces ------------------------------------------------------------------
    def _optimizer(self, model: Any) -> Any:
        torch = self._torch
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            # no weight decay on biases, norms, tokens and position embeddings (as timm)
            (
                no_decay if p.ndim <= 1 or name.endswith(("pos_embed", "cls_token")) else decay
            ).append(p)
        groups = [
            {"params": decay, "weight_decay": self.settings.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=self.settings.lr)

    def _scheduler(self, optimizer: Any, steps_per_epoch: int) -> Any:
        from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

        total = max(1, self.settings.epochs * steps_per_epoch)
        warm = min(total - 1, int(round(self.settings.warmup * steps_per_epoch)))
        cosine = CosineAnnealingLR(optimizer, T_max=max(1, total - warm))
        if warm <= 0:
            return cosine
        ramp = LinearLR(optimizer, start_factor=1.0 / (warm + 1), end_factor=1.0, total_iters=warm)
        return SequentialLR(optimizer, [ramp, cosine], milestones=[warm])

    def _checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    def _state(self, model, optimizer, scheduler, scaler, epoch: int, bad: int) -> dict[str, Any]:
        torch = self._torch
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "model": {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "history": self.history,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": bad,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def load_checkpoint(self, path: str | os.PathLike) -> dict[str, Any]:
        """Read a checkpoint and check it belongs to this run (same fingerprint)."""
        torch = self._torch
        path = Path(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - torch raises many kinds
            raise CheckpointMismatch(f"{path}: not a readable checkpoint ({err})") from err
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise CheckpointMismatch(f"{path}: not a Spectromer training checkpoint")
        theirs = state.get("fingerprint", {})
        diff = sorted(
            k
            for k in set(theirs) | set(self.fingerprint)
            if theirs.get(k) != self.fingerprint.get(k)
        )
        if diff:
            details = "; ".join(
                f"{k}: checkpoint {theirs.get(k)!r}, now {self.fingerprint.get(k)!r}"
                for k in diff[:4]
            )
            raise CheckpointMismatch(
                f"{path} was written by a different training run ({details}); resume with the "
                "same settings and data, or start afresh with resume=False"
            )
        return state

    # -- the loop ----------------------------------------------------------------
    def fit(
        self,
        train: RenderedBatches,
        val: RenderedBatches | None = None,
        *,
        resume: bool = False,
    ) -> list[dict[str, Any]]:
        """Train; return the per-epoch history (also kept in ``self.history``).

        With ``resume=True`` and a checkpoint in ``checkpoint_dir`` training continues
        where it stopped, exactly (weights, optimiser, schedule, random state, data
        order and augmentations); without a checkpoint it starts afresh.
        """
        torch = self._torch
        s = self.settings
        dev = self.device
        ctx = distributed_context(dev)
        try:
            model = self.model.to(dev)
            if ctx.distributed:
                from torch.nn.parallel import DistributedDataParallel

                model = DistributedDataParallel(
                    model, device_ids=[dev.index] if dev.type == "cuda" else None
                )
            loader = make_loader(
                train,
                s.batch_size,
                shuffle=True,
                seed=s.seed,
                num_workers=s.num_workers,
                pin_memory=dev.type == "cuda",
                rank=ctx.rank,
                world_size=ctx.world_size,
            )
            optimizer = self._optimizer(_unwrap(model))
            scheduler = self._scheduler(optimizer, len(loader))
            scaler = torch.amp.GradScaler(
                "cuda", enabled=dev.type == "cuda" and self.dtype == torch.float16
            )
            start, bad = 0, 0
            path = self._checkpoint_path()
            if resume and path is not None and path.exists():
                state = self.load_checkpoint(path)
                _unwrap(model).load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                scaler.load_state_dict(state["scaler"])
                self.history = list(state["history"])
                self.best_metric = state["best_metric"]
                self.best_epoch = state["best_epoch"]
                self.best_state = state["best_state"]
                bad = state["bad_epochs"]
                start = state["epoch"]
                torch.set_rng_state(state["torch_rng"])
                if state["cuda_rng"] is not None and torch.cuda.is_available():
                    torch.cuda.set_rng_state_all(state["cuda_rng"])
                if s.patience is not None and bad >= s.patience:
                    start = s.epochs  # the interrupted run had already stopped early
            for epoch in range(start, s.epochs):
                record = self._epoch(model, loader, train, optimizer, scheduler, scaler, epoch, ctx)
                if val is not None and self.evaluate is not None:
                    out, _ = predict_outputs(
                        _unwrap(model),
                        val,
                        s.batch_size,
                        dev,
                        self.dtype,
                        s.num_workers,
                        False,
                        ctx,
                    )
                    targets = val.targets
                    with torch.no_grad():
                        loss = float(
                            self.loss_fn(
                                torch.from_numpy(out).to(dev),
                                torch.from_numpy(np.asarray(targets)).to(dev),
                            )
                        )
                    record["val_loss"] = loss
                    record.update(self.evaluate(out, np.asarray(targets)))
                    # a loss is minimised, every other metric maximised
                    metric = (
                        -loss if self.monitor == "val_loss" else record.get(self.monitor, -loss)
                    )
                    if metric > self.best_metric:
                        self.best_metric, self.best_epoch, bad = metric, epoch + 1, 0
                        self.best_state = {
                            k: v.detach().cpu().clone()
                            for k, v in _unwrap(model).state_dict().items()
                        }
                    else:
                        bad += 1
                self.history.append(record)
                if self.progress and ctx.main:
                    from tqdm.auto import tqdm

                    tqdm.write(
                        "epoch {epoch}: ".format(**record)
                        + ", ".join(
                            f"{k} {v:.4g}"
                            for k, v in record.items()
                            if k.startswith(("train_", "val_")) and isinstance(v, float)
                        )
                    )
                if ctx.main and path is not None:
                    _save_atomic(
                        self._state(model, optimizer, scheduler, scaler, epoch + 1, bad), path
                    )
                    _write_history(self.history, path.with_name(HISTORY_NAME))
                self._end_epoch(epoch)
                if s.patience is not None and bad >= s.patience:
                    self.stopped_early = epoch + 1 < s.epochs
                    break
            if self.best_state is not None:
                _unwrap(model).load_state_dict(self.best_state)
            self.model = _unwrap(model)
            return self.history
        finally:
            ctx.close()

    def _end_epoch(self, epoch: int) -> None:
        """Hook run after each epoch's checkpoint is written (tests interrupt here)."""

    def _epoch(self, model, loader, train, optimizer, scheduler, scaler, epoch, ctx) -> dict:
        torch = self._torch
        s, dev = self.settings, self.device
        model.train()
        train.set_epoch(epoch)
        loader.sampler.sampler.set_epoch(epoch)
        batches = loader
        bar = None
        if self.progress and ctx.main:
            from tqdm.auto import tqdm

            batches = bar = tqdm(
                loader, desc=f"epoch {epoch + 1}/{s.epochs}", unit="batch", leave=False
            )
        total_loss, seen, data_time = 0.0, 0, 0.0
        t0 = tick = time.perf_counter()
        for x, y in batches:
            data_time += time.perf_counter() - tick
            x = x.to(dev, non_blocking=True)
            y = y.to(dev, non_blocking=True)
            with _autocast(dev, self.dtype):
                out = model(x)
            loss = self.loss_fn(out.float(), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"epoch {epoch + 1}: the training loss is {float(loss.detach())}; lower lr "
                    f"(now {s.lr}) or use precision='fp32'"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if s.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total_loss += float(loss.detach()) * len(x)
            seen += len(x)
            if bar is not None:
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
            tick = time.perf_counter()
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        sums = ctx.gather((total_loss, seen, seconds, data_time))
        total = sum(p[1] for p in sums)
        return {
            "epoch": epoch + 1,
            "train_loss": sum(p[0] for p in sums) / max(total, 1),
            "lr": float(optimizer.param_groups[0]["lr"]),
            "seconds": max(p[2] for p in sums),
            "data_fraction": sum(p[3] for p in sums) / max(sum(p[2] for p in sums), 1e-12),
            "images_per_s": total / max(max(p[2] for p in sums), 1e-12),
        }


def predict_outputs(
    model: Any,
    data: RenderedBatches,
    batch_size: int,
    device: Any,
    dtype: Any = None,
    num_workers: int = 0,
    progress: bool = False,
    ctx: DistributedContext | None = None,
    forward: Callable[[Any, Any], Any] | None = None,
) -> tuple[np.ndarray, float]:
    """Run a model over every spectrum of ``data`` in order; return outputs and images/s.

    In a distributed run each process handles its share and the outputs are gathered,
    so every process returns all of them.

    Examples
    --------
    >>> import torch
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.training import RenderedBatches, as_source, predict_outputs
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    >>> data = RenderedBatches(as_source(load_sample(), indices=range(10)), RenderConfig(size=16))
    >>> out, rate = predict_outputs(model, data, 4, torch.device("cpu"))
    >>> out.shape
    (10, 2)
    """
    import torch

    ctx = ctx or DistributedContext()
    targets, data.targets = data.targets, None  # the loader then yields the indices
    try:
        loader = make_loader(
            data,
            batch_size,
            shuffle=False,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
            rank=ctx.rank,
            world_size=ctx.world_size,
        )
        was_training = model.training
        model.eval()
        model.to(device)
        outs, idxs = [], []
        batches = loader
        if progress and ctx.main:
            from tqdm.auto import tqdm

            batches = tqdm(loader, desc="predict", unit="batch")
        t0 = time.perf_counter()
        with torch.inference_mode():
            for x, idx in batches:
                x = x.to(device, non_blocking=True)
                with _autocast(device, dtype):
                    out = model(x) if forward is None else forward(model, x)
                outs.append(out.float().cpu().numpy())
                idxs.append(idx.numpy())
        seconds = time.perf_counter() - t0
        model.train(was_training)
    finally:
        data.targets = targets
    n = len(data)
    local = (np.concatenate(idxs), np.concatenate(outs)) if outs else None
    result = None
    for part in ctx.gather(local):
        if part is None:
            continue
        if result is None:
            result = np.zeros((n, *part[1].shape[1:]), np.float32)
        result[part[0]] = part[1]  # DistributedSampler pads with repeats: same values
    if result is None:
        raise ValueError("no spectra to predict")
    return result, n / max(seconds, 1e-12)
