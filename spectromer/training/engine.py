"""The training engine: device and precision selection, the optimisation loop,
checkpoints, early stopping and distributed data parallel.

One :class:`Trainer` runs on one CPU, one GPU, or many GPUs/processes under
``torchrun`` (PyTorch's ``DistributedDataParallel``; NCCL on CUDA, gloo on CPU). It
knows nothing about spectra: it trains a ``torch.nn.Module`` with a loss and
validation metrics given by the caller (a :class:`~spectromer.models.base.SpectrumLearner`)
on *training data*, any object of this form (what the learner's ``_training_data``
returns; :class:`~spectromer.training.RenderedBatches` is one, for images):

``len(data)``
    The number of spectra.
``data.set_epoch(epoch)``
    Called before each training epoch, so that augmentations depend on the epoch (and
    are the same after a resume and in every loader worker).
``data.targets``
    A settable attribute: one target per spectrum (what ``loss_fn`` and ``evaluate``
    get at validation), or None. :func:`predict_outputs` sets it to None while it runs.
``data[rows]``
    For a list of row numbers (one batch): ``(inputs, targets)``, where ``inputs`` is
    *one* tensor with one row per spectrum (the model is called as ``model(inputs)``;
    pack a padding mask into it as a channel) and ``targets`` is the tensor of
    ``data.targets[rows]``; while ``data.targets`` is None, ``(inputs, rows)`` instead,
    ``rows`` as an int64 tensor, so that outputs go back in order (also across
    processes).

The model returns one row of outputs per spectrum; ``loss_fn(outputs, targets)`` is a
scalar tensor, called on every training batch and once on the gathered outputs of the
whole validation set (so a self-supervised model returns its loss per spectrum as its
outputs, with ``loss_fn = lambda out, _: out.mean()``). With ``num_workers > 0`` the
data are pickled into the loader's worker processes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .callbacks import (
    _FORMAT,
    _FORMAT_VERSION,
    CHECKPOINT_NAME,
    HISTORY_NAME,
    Callback,
    Checkpoint,
    CheckpointMismatch,
    CSVLogger,
    EarlyStopping,
    ProgressBar,
    callback_keys,
    callback_states,
    read_checkpoint,
)
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
    "CHECKPOINT_NAME",
    "HISTORY_NAME",
]


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


class Trainer:
    """Train a model with AdamW, warm-up + cosine schedule, AMP, checkpoints and DDP.

    :meth:`fit` restores an interrupted run if asked, then trains epoch after epoch
    (train, validate, callbacks) and finishes; progress bars, the history table,
    checkpoints and early stopping are :mod:`callbacks <spectromer.training.callbacks>`,
    and callbacks of your own see every epoch too.

    Parameters
    ----------
    model : torch.nn.Module
        The network (moved to ``device``; wrapped in ``DistributedDataParallel`` when
        running under ``torchrun``).
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar tensor``.
    evaluate : callable, optional
        ``evaluate(outputs, targets) -> dict`` of validation metrics (numpy arrays in,
        floats out); must contain ``monitor`` unless that is ``"val_loss"``.
    monitor : str
        The metric that early stopping and the best weights follow (the built-in
        :class:`~spectromer.training.EarlyStopping`): ``"val_loss"``, the validation
        loss, or another metric name; metrics whose name ends in ``loss`` are minimised,
        the others maximised.
    settings : TrainSettings
        The recipe (``settings.patience`` is the early-stopping patience).
    device : torch.device
        Where to train (see :func:`select_device`).
    precision : str
        ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (see :func:`autocast_dtype`).
    checkpoint_dir : path, optional
        Write ``checkpoint.pt`` (atomically, :class:`~spectromer.training.Checkpoint`)
        and ``history.csv`` (:class:`~spectromer.training.CSVLogger`) there after every
        epoch.
    fingerprint : dict, optional
        Describes the run; a checkpoint is only resumed by a run with the same one.
    progress : bool
        Show tqdm progress bars (:class:`~spectromer.training.ProgressBar`; on the main
        process only).
    callbacks : sequence of Callback, optional
        More :class:`~spectromer.training.Callback` objects, called after the built-in
        ones in this order. An :class:`~spectromer.training.EarlyStopping` among them
        replaces the built-in one (and runs first, where the built-in one would).

    Attributes
    ----------
    history : list of dict
        One row per epoch (also returned by :meth:`fit`).
    epoch : int
        Epochs done.
    stop_training : bool
        Set it (in a callback) to end the run after the current epoch.
    active_callbacks : list of Callback
        The callbacks of the current or last :meth:`fit`, built-in ones first.
    best_epoch, best_metric, best_state, stopped_early
        Those of the run's :class:`~spectromer.training.EarlyStopping`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.spectra import as_source
    >>> from spectromer.training import RenderedBatches, Trainer, TrainSettings
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    >>> data = RenderedBatches(as_source(load_sample(), indices=range(32)), RenderConfig(size=16),
    ...                        targets=np.arange(32) % 2)
    >>> trainer = Trainer(model, torch.nn.functional.cross_entropy,
    ...                   settings=TrainSettings(epochs=2, batch_size=16))
    >>> history = trainer.fit(data)
    >>> len(history), history[0]["epoch"], "train_loss" in history[0]
    (2, 1, True)
    >>> [type(cb).__name__ for cb in trainer.active_callbacks]
    ['EarlyStopping']
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
        callbacks: Sequence[Callback] | None = None,
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
        self.callbacks = _check_callbacks(callbacks, "callbacks")
        self.active_callbacks: list[Callback] = []
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.stop_training = False
        self.ctx = DistributedContext()
        self._stopper: EarlyStopping | None = None
        self._torch = torch

    # -- what the early stopping found ------------------------------------------------
    @property
    def best_epoch(self) -> int:
        """Epoch (from 1) with the best monitored value; 0 without validation."""
        return 0 if self._stopper is None else self._stopper.best_epoch

    @property
    def best_metric(self) -> float:
        """The best monitored value as a score, higher is better (see EarlyStopping)."""
        return -float("inf") if self._stopper is None else self._stopper.best_metric

    @property
    def best_state(self) -> dict[str, Any] | None:
        """A CPU copy of the best weights (None without validation)."""
        return None if self._stopper is None else self._stopper.best_state

    @property
    def stopped_early(self) -> bool:
        """Whether the last :meth:`fit` stopped before its last epoch."""
        return False if self._stopper is None else self._stopper.stopped_early

    @property
    def is_main(self) -> bool:
        """Whether this process is the one that writes files and prints (rank 0)."""
        return self.ctx.main

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

    def _build_callbacks(self, extra: list[Callback], overwrite: bool = False) -> list[Callback]:
        """Built-in callbacks (early stopping, progress, checkpoint, history), then ``extra``."""
        extra = [*self.callbacks, *extra]
        stopper = next((cb for cb in extra if isinstance(cb, EarlyStopping)), None)
        if stopper is None:
            stopper = EarlyStopping(self.monitor, self.settings.patience)
        self._stopper = stopper
        built: list[Callback] = [stopper]
        if self.progress:
            built.append(ProgressBar())
        if self.checkpoint_dir is not None:
            built += [
                Checkpoint(self.checkpoint_dir, overwrite=overwrite),
                CSVLogger(self.checkpoint_dir / HISTORY_NAME),
            ]
        return built + [cb for cb in extra if cb is not stopper]

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.active_callbacks:
            getattr(cb, hook)(self, *args)

    # -- the state a checkpoint holds ----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs (during or after :meth:`fit`).

        The weights, the optimiser, schedule and gradient-scaler states, the history,
        the epochs done, the random state, the fingerprint and the callbacks' states:
        what :class:`~spectromer.training.Checkpoint` writes and :meth:`load_state_dict`
        takes back.
        """
        torch = self._torch
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "epoch": self.epoch,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": self.history,
            "callbacks": callback_states(self.active_callbacks),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (during :meth:`fit`, before the epochs).

        Callback states go to the callbacks of this run with the same key (class name);
        a callback without a stored state keeps its own.
        """
        torch = self._torch
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])
        stored = state.get("callbacks", {})
        for key, cb in zip(callback_keys(self.active_callbacks), self.active_callbacks):
            if key in stored:
                cb.load_state_dict(stored[key])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def load_checkpoint(self, path: str | os.PathLike) -> dict[str, Any]:
        """Read a checkpoint and check it belongs to this run (same fingerprint)."""
        return read_checkpoint(path, self.fingerprint)

    # -- the loop ----------------------------------------------------------------
    def fit(
        self,
        train: RenderedBatches,
        val: RenderedBatches | None = None,
        *,
        resume: bool = False,
        overwrite: bool = False,
        callbacks: Sequence[Callback] | None = None,
    ) -> list[dict[str, Any]]:
        """Train; return the per-epoch history (also kept in ``self.history``).

        ``train`` and ``val`` are training data as the module docstring describes
        (``len``, ``set_epoch``, a ``targets`` attribute, items ``(inputs, targets)``
        by lists of rows; :class:`~spectromer.training.RenderedBatches` is one); without
        ``val`` (or ``evaluate``) there is no validation.

        With ``resume=True`` and a checkpoint in ``checkpoint_dir`` (or of a
        :class:`~spectromer.training.Checkpoint` callback) training continues where it
        stopped, exactly (weights, optimiser, schedule, random state, data order and
        augmentations); without a checkpoint it starts afresh. A run that starts
        afresh next to the checkpoint of an earlier run raises
        :class:`~spectromer.training.CheckpointExists` before its first epoch (the
        earlier checkpoint is kept) unless ``overwrite=True``, which starts over and
        replaces it. ``callbacks`` are added, for this call only, after the trainer's own.
        """
        self.ctx = distributed_context(self.device)
        try:
            self._setup(train, _check_callbacks(callbacks, "fit(callbacks=...)"), overwrite)
            if resume:
                self._restore()
            self._call("on_fit_start")
            for epoch in range(self.epoch, self.settings.epochs):
                if self.stop_training:
                    break
                self._call("on_epoch_start", epoch)
                logs = self._train_epoch(train, epoch)
                logs.update(self._validate(val))
                self.history.append(logs)
                self.epoch = epoch + 1
                self._call("on_epoch_end", epoch, logs)
            self._call("on_fit_end")
            return self.history
        finally:
            self.ctx.close()

    def _setup(
        self, train: RenderedBatches, extra: list[Callback], overwrite: bool = False
    ) -> None:
        """A fresh run: network on the device (DDP-wrapped), loader, optimiser, callbacks."""
        torch, s, dev = self._torch, self.settings, self.device
        self.model = self.model.to(dev)
        self.network = self.model
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.network = DistributedDataParallel(
                self.model, device_ids=[dev.index] if dev.type == "cuda" else None
            )
        self.loader = make_loader(
            train,
            s.batch_size,
            shuffle=True,
            seed=s.seed,
            num_workers=s.num_workers,
            pin_memory=dev.type == "cuda",
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )
        self.optimizer = self._optimizer(self.model)
        self.scheduler = self._scheduler(self.optimizer, len(self.loader))
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=dev.type == "cuda" and self.dtype == torch.float16
        )
        self.history, self.epoch, self.stop_training = [], 0, False
        self.active_callbacks = self._build_callbacks(extra, overwrite)

    def _restore(self) -> None:
        """Load the first checkpoint callback's file, if there is one."""
        checkpoint = next((cb for cb in self.active_callbacks if isinstance(cb, Checkpoint)), None)
        state = None if checkpoint is None else checkpoint.read(self.fingerprint)
        if state is not None:
            self.load_state_dict(state)

    def _validate(self, val: RenderedBatches | None) -> dict[str, float]:
        """``val_loss`` and the ``evaluate`` metrics on ``val`` (nothing without either)."""
        if val is None or self.evaluate is None:
            return {}
        torch, s = self._torch, self.settings
        out, _ = predict_outputs(
            self.model, val, s.batch_size, self.device, self.dtype, s.num_workers, False, self.ctx
        )
        targets = np.asarray(val.targets)
        with torch.no_grad():
            loss = float(
                self.loss_fn(
                    torch.from_numpy(out).to(self.device), torch.from_numpy(targets).to(self.device)
                )
            )
        return {"val_loss": loss, **self.evaluate(out, targets)}

    def _train_epoch(self, train: RenderedBatches, epoch: int) -> dict[str, Any]:
        torch = self._torch
        s, dev = self.settings, self.device
        model, optimizer, scaler = self.network, self.optimizer, self.scaler
        model.train()
        train.set_epoch(epoch)
        self.loader.sampler.sampler.set_epoch(epoch)
        total_loss, seen, data_time = 0.0, 0, 0.0
        t0 = tick = time.perf_counter()
        for step, (x, y) in enumerate(self.loader):
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
            self.scheduler.step()
            value = float(loss.detach())
            total_loss += value * len(x)
            seen += len(x)
            self._call("on_batch_end", step, {"loss": value})
            tick = time.perf_counter()
        seconds = time.perf_counter() - t0
        sums = self.ctx.gather((total_loss, seen, seconds, data_time))
        total = sum(p[1] for p in sums)
        return {
            "epoch": epoch + 1,
            "train_loss": sum(p[0] for p in sums) / max(total, 1),
            "lr": float(optimizer.param_groups[0]["lr"]),
            "seconds": max(p[2] for p in sums),
            "data_fraction": sum(p[3] for p in sums) / max(sum(p[2] for p in sums), 1e-12),
            "images_per_s": total / max(max(p[2] for p in sums), 1e-12),
        }


def _check_callbacks(callbacks: Sequence[Callback] | None, name: str) -> list[Callback]:
    out = list(callbacks or ())
    for i, cb in enumerate(out):
        if not isinstance(cb, Callback):
            raise TypeError(
                f"{name}[{i}] is a {type(cb).__name__}, not a spectromer.training.Callback"
            )
    return out


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
    """Run a model over every spectrum of ``data`` in order; return outputs and spectra/s.

    ``data`` is training data as the module docstring describes
    (:class:`~spectromer.training.RenderedBatches` is one): while this runs its
    ``targets`` attribute is None, so its items are ``(inputs, rows)`` and the outputs,
    one row per spectrum (``model(inputs)``, or ``forward(model, inputs)``), are put
    back in the order of ``data``. In a distributed run each process handles its share
    and the outputs are gathered, so every process returns all of them.

    Examples
    --------
    >>> import torch
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.spectra import as_source
    >>> from spectromer.training import RenderedBatches, predict_outputs
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
