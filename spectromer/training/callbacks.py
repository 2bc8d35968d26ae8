"""Trainer callbacks: progress bars, the history table, checkpoints, early stopping.

A callback is a :class:`Callback` whose hooks the :class:`~spectromer.training.Trainer`
calls during :meth:`~spectromer.training.Trainer.fit`, in the order the callbacks are
listed. Every run has the built-in ones it needs, first and in this order:

* :class:`EarlyStopping` - keeps the best weights by the trainer's ``monitor``, stops
  after ``settings.patience`` epochs without improvement, restores the best weights
  at the end (one is always there; an :class:`EarlyStopping` of your own replaces it);
* :class:`ProgressBar` - with ``progress=True``;
* :class:`Checkpoint` and :class:`CSVLogger` - with a ``checkpoint_dir``.

Then come the callbacks given to the trainer, then those given to ``fit``.
Callbacks write files on the main process only, so they work unchanged under
``torchrun``.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..utils.atomic import atomic_path

if TYPE_CHECKING:
    from .engine import Trainer

__all__ = [
    "Callback",
    "EarlyStopping",
    "ProgressBar",
    "Checkpoint",
    "CSVLogger",
    "CheckpointMismatch",
    "CheckpointExists",
    "CHECKPOINT_NAME",
    "HISTORY_NAME",
]

#: File name of the training state in a checkpoint folder.
CHECKPOINT_NAME = "checkpoint.pt"
#: File name of the history table in a checkpoint folder.
HISTORY_NAME = "history.csv"
_FORMAT = "spectromer-checkpoint"
#: 2: callback states under "callbacks"; 1 kept the early-stopping state at the top level.
_FORMAT_VERSION = 2
_EARLY_STOPPING_KEYS = ("best_metric", "best_epoch", "best_state", "bad_epochs")


class CheckpointMismatch(ValueError):
    """A checkpoint was written by a different training run than the one resuming it."""


class CheckpointExists(FileExistsError):
    """A fresh training run would overwrite the checkpoint of an earlier one.

    Raised before the first epoch, so the earlier run's checkpoint is untouched.
    ``path`` is the checkpoint file, ``epoch`` its last finished epoch (None if it could
    not be read), ``epochs`` the epochs that run was set to (None if unknown). The
    message names how to continue or replace it: ``resume`` and ``overwrite`` are the
    words of the caller (``"resume=True"``/``"overwrite=True"`` for the library,
    ``"--resume"``/``"--overwrite"`` on the command line).

    Examples
    --------
    >>> from spectromer.training import CheckpointExists
    >>> err = CheckpointExists("runs/a/checkpoint.pt", 4, 10)
    >>> print(err)  # doctest: +NORMALIZE_WHITESPACE
    runs/a holds the checkpoint of an earlier training run (epoch 4 of 10 done); pass
    resume=True to continue it, or overwrite=True to start over and replace it
    """

    def __init__(
        self,
        path: str | os.PathLike,
        epoch: int | None,
        epochs: int | None = None,
        *,
        resume: str = "resume=True",
        overwrite: str = "overwrite=True",
    ) -> None:
        self.path, self.epoch, self.epochs = Path(path), epoch, epochs
        done = "unreadable" if epoch is None else f"epoch {epoch}"
        if epoch is not None and epochs is not None:
            done += f" of {epochs}"
        super().__init__(
            f"{self.path.parent} holds the checkpoint of an earlier training run "
            f"({done}{'' if epoch is None else ' done'}); pass {resume} to continue it, or "
            f"{overwrite} to start over and replace it"
        )

    def reworded(self, *, resume: str, overwrite: str) -> CheckpointExists:
        """The same error, naming the options of another caller (e.g. the command line)."""
        return CheckpointExists(self.path, self.epoch, self.epochs,
                                resume=resume, overwrite=overwrite)  # fmt: skip


def checkpoint_progress(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """The last finished epoch of a checkpoint file and the run's epochs (None: unknown).

    Reads the file memory-mapped, so the weights are not loaded.

    Examples
    --------
    >>> from spectromer.training.callbacks import checkpoint_progress
    >>> checkpoint_progress("no/such/checkpoint.pt")
    (None, None)
    """
    import torch

    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # noqa: BLE001 - a missing, foreign or broken file: unknown
        return None, None
    if not isinstance(state, dict):
        return None, None
    epoch = state.get("epoch")
    epochs = state.get("fingerprint", {}).get("settings", {}).get("epochs")
    return (None if epoch is None else int(epoch)), (None if epochs is None else int(epochs))


def refuse_overwrite(path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointExists` if the checkpoint file ``path`` exists.

    What a fresh run (not resuming, not told to overwrite) checks before its first epoch.

    Examples
    --------
    >>> from spectromer.training.callbacks import refuse_overwrite
    >>> refuse_overwrite("no/such/checkpoint.pt")  # nothing there: nothing to refuse
    """
    if Path(path).exists():
        raise CheckpointExists(path, *checkpoint_progress(path))


class Callback:
    """Base class of trainer callbacks; every hook does nothing.

    Subclass it and override the hooks you need. :meth:`Trainer.fit
    <spectromer.training.Trainer.fit>` calls them in this order:

    * ``on_fit_start(trainer)`` once, after a resumed run's state is restored
      (``trainer.epoch`` epochs are then already done);
    * for each epoch: ``on_epoch_start(trainer, epoch)``, then
      ``on_batch_end(trainer, batch, logs)`` after every optimiser step (``batch`` counts
      from 0 within the epoch, ``logs`` is ``{"loss": <the batch's training loss>}``),
      then ``on_epoch_end(trainer, epoch, logs)`` after validation, where ``logs`` is the
      epoch's row of ``trainer.history`` (``epoch``, ``train_loss``, ``lr``, the speed,
      and the validation loss and metrics if there is validation data);
    * ``on_fit_end(trainer)`` once, when training ends without an exception.

    ``epoch`` counts from 0 (``logs["epoch"]`` from 1). Setting
    ``trainer.stop_training = True`` ends the run after the current epoch's hooks. During
    ``fit`` the trainer exposes ``model`` (the unwrapped network), ``optimizer``,
    ``scheduler``, ``loader``, ``settings``, ``history``, ``epoch`` (epochs done) and
    ``is_main`` (whether this process writes files).

    A callback whose state a resumed run needs returns it from :meth:`state_dict` (plain
    Python objects and tensors) and takes it back in :meth:`load_state_dict`;
    :class:`Checkpoint` stores it with the rest of the training state.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.training import (Callback, RenderedBatches, Trainer, TrainSettings,
    ...                                  as_source)
    >>> class Losses(Callback):
    ...     def __init__(self):
    ...         self.seen = []
    ...     def on_epoch_end(self, trainer, epoch, logs):
    ...         self.seen.append((epoch, logs["epoch"], round(logs["train_loss"], 1) >= 0))
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    >>> data = RenderedBatches(as_source(load_sample(), indices=range(32)), RenderConfig(size=16),
    ...                        targets=np.arange(32) % 2)
    >>> losses = Losses()
    >>> trainer = Trainer(model, torch.nn.functional.cross_entropy, callbacks=[losses],
    ...                   settings=TrainSettings(epochs=2, batch_size=16))
    >>> _ = trainer.fit(data)
    >>> losses.seen
    [(0, 1, True), (1, 2, True)]
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch (after a resumed run's state is restored)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Called before epoch ``epoch`` (from 0) is trained."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, float]) -> None:
        """Called after each optimiser step; ``logs["loss"]`` is the batch's training loss."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        """Called after epoch ``epoch`` (from 0) and its validation; ``logs`` is its history row."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch when training ends without an exception."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to restore this callback (nothing by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (nothing to do by default)."""


class EarlyStopping(Callback):
    """Keep the best weights by a validation metric; stop when it no longer improves.

    After every epoch with a value of ``monitor`` the weights are copied if they are the
    best so far; after ``patience`` epochs in a row without improvement training stops;
    when training ends the best weights are put back into the model. Epochs without
    validation (no ``val_loss`` in the epoch's logs) are skipped.

    Parameters
    ----------
    monitor : str
        The metric to follow, a key of the epoch's logs (``"val_loss"``,
        ``"val_accuracy"``, ...).
    patience : int, optional
        Stop after this many epochs without a better value (None: never stop early).
    mode : {"auto", "min", "max"}
        Whether lower or higher is better; ``"auto"`` minimises metrics whose name ends
        in ``loss`` and maximises the others.
    restore_best : bool
        Put the best weights back into the model at the end of training.

    Attributes
    ----------
    best_epoch : int
        Epoch (from 1) of the best value; 0 before any validation.
    best_metric : float
        The best value as a score, higher is better (the value itself, negated when
        minimised); see :attr:`best_value` for the value.
    best_state : dict or None
        A CPU copy of the best weights.
    bad_epochs : int
        Epochs since the best one.
    stopped_early : bool
        Whether the last run stopped before its last epoch.

    Examples
    --------
    >>> from spectromer.training import EarlyStopping
    >>> stopper = EarlyStopping("val_loss", patience=3)
    >>> stopper.minimize, stopper.best_value
    (True, inf)
    >>> EarlyStopping("val_accuracy").minimize
    False
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int | None = None,
        mode: str = "auto",
        restore_best: bool = True,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if patience is not None and (
            isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0
        ):
            raise ValueError(f"patience must be None or an int >= 0, got {patience!r}")
        self.monitor = str(monitor)
        self.patience = None if patience is None else int(patience)
        self.mode = mode
        self.restore_best = bool(restore_best)
        self._reset()

    def _reset(self) -> None:
        self.best_metric = -math.inf
        self.best_epoch = 0
        self.best_state: dict[str, Any] | None = None
        self.bad_epochs = 0
        self.stopped_early = False

    @property
    def minimize(self) -> bool:
        """Whether a lower value of ``monitor`` is better."""
        return self.mode == "min" or (self.mode == "auto" and self.monitor.endswith("loss"))

    @property
    def best_value(self) -> float:
        """The best value of ``monitor`` so far (+-inf before any)."""
        return -self.best_metric if self.minimize else self.best_metric

    def _exhausted(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.epoch == 0:  # a fresh run (a resumed one has its state loaded already)
            self._reset()
        elif self._exhausted():  # the interrupted run had already stopped early
            trainer.stop_training = True
            self.stopped_early = trainer.epoch < trainer.settings.epochs

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.monitor not in logs:
            if "val_loss" not in logs:
                return  # no validation in this run
            raise ValueError(
                f"monitor={self.monitor!r} is not among the epoch's metrics "
                f"({', '.join(logs)}); the evaluate function must return it"
            )
        value = float(logs[self.monitor])
        score = -value if self.minimize else value
        if score > self.best_metric:
            self.best_metric, self.best_epoch, self.bad_epochs = score, epoch + 1, 0
            self.best_state = {
                k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()
            }
        else:
            self.bad_epochs += 1
        if self._exhausted():
            trainer.stop_training = True
            self.stopped_early = epoch + 1 < trainer.settings.epochs

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _EARLY_STOPPING_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in _EARLY_STOPPING_KEYS:
            setattr(self, k, state[k])


class ProgressBar(Callback):
    """A tqdm bar over each epoch's batches and one line per epoch with its losses and metrics.

    Shown on the main process only. ``Trainer(progress=True)`` adds one.

    Examples
    --------
    >>> from spectromer.training import ProgressBar, Trainer
    >>> import torch
    >>> trainer = Trainer(torch.nn.Linear(2, 2), torch.nn.functional.mse_loss,
    ...                   callbacks=[ProgressBar()])
    >>> type(trainer.callbacks[0]).__name__
    'ProgressBar'
    """

    def __init__(self) -> None:
        self._bar: Any = None

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if not trainer.is_main:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=len(trainer.loader),
            desc=f"epoch {epoch + 1}/{trainer.settings.epochs}",
            unit="batch",
            leave=False,
        )

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, float]) -> None:
        if self._bar is None:
            return
        self._bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
        self._bar.update(1)
        if self._bar.n >= self._bar.total:  # the epoch's training is done; validation follows
            self._close()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        self._close()
        if not trainer.is_main:
            return
        from tqdm.auto import tqdm

        tqdm.write(
            f"epoch {logs['epoch']}: "
            + ", ".join(
                f"{k} {v:.4g}"
                for k, v in logs.items()
                if k.startswith(("train_", "val_")) and isinstance(v, float)
            )
        )

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CSVLogger(Callback):
    """Write the history so far as a CSV table after every epoch (atomically).

    ``Trainer(checkpoint_dir=...)`` adds one writing ``history.csv`` there, to follow a
    long run from another terminal. Main process only.

    Parameters
    ----------
    path : path
        The CSV file (its folder is created).

    Examples
    --------
    >>> from spectromer.training import CSVLogger
    >>> CSVLogger("runs/a/history.csv").path.name
    'history.csv'
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if not trainer.is_main or not trainer.history:
            return
        from astropy.table import Table

        history = trainer.history
        with atomic_path(self.path) as tmp:
            Table(rows=history, names=list(history[0])).write(
                tmp, format="ascii.csv", overwrite=True
            )


class Checkpoint(Callback):
    """Write the whole training state after every epoch, atomically, for an exact resume.

    The file holds the weights, the optimiser, schedule and gradient-scaler states, the
    random state, the history, the fingerprint of the run and every callback's
    :meth:`~Callback.state_dict` (the best weights so far among them). ``Trainer.fit(...,
    resume=True)`` reads it back (see :meth:`read`) and continues exactly where the run
    stopped. ``Trainer(checkpoint_dir=...)`` adds one. Files are written on the main
    process only.

    A run that starts afresh (nothing resumed) refuses, before its first epoch, to
    replace the checkpoint of an earlier run with :class:`CheckpointExists` (naming the
    folder and the epoch it holds) unless ``overwrite`` is True
    (``Trainer.fit(..., overwrite=True)``); a resumed run says "resuming from epoch N"
    when the trainer shows progress.

    Parameters
    ----------
    directory : path
        Folder of the checkpoint (created).
    filename : str
        File name in it.
    overwrite : bool
        Let a fresh run replace an existing checkpoint.

    Examples
    --------
    >>> from spectromer.training import Checkpoint
    >>> Checkpoint("runs/a").path.as_posix()
    'runs/a/checkpoint.pt'
    """

    def __init__(self, directory: str | os.PathLike, filename: str = CHECKPOINT_NAME, *,
                 overwrite: bool = False) -> None:  # fmt: skip
        self.path = Path(directory) / filename
        self.overwrite = bool(overwrite)

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.epoch == 0:  # a fresh run (a resumed one has restored epochs)
            if not self.overwrite:
                refuse_overwrite(self.path)  # on every process, so all of them stop
        elif trainer.is_main and getattr(trainer, "progress", False):
            from tqdm.auto import tqdm

            total = trainer.settings.epochs
            tqdm.write(
                f"resuming from epoch {trainer.epoch + 1} of {total} ({self.path})"
                if trainer.epoch < total
                else f"resuming: all {total} epochs are done already ({self.path})"
            )

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if not trainer.is_main:
            return
        import torch

        with atomic_path(self.path) as tmp:
            torch.save(trainer.state_dict(), tmp)

    def read(self, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        """The stored state if the file exists (None otherwise), checked against ``fingerprint``.

        Raises
        ------
        CheckpointMismatch
            The file is not a readable Spectromer checkpoint, or another run (another
            fingerprint) wrote it.
        """
        return read_checkpoint(self.path, fingerprint) if self.path.exists() else None


def read_checkpoint(path: str | os.PathLike, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Read a training checkpoint and check that the run described by ``fingerprint`` wrote it.

    Checkpoints of format 1 (the early-stopping state at the top level) are read into
    today's layout.

    Raises
    ------
    CheckpointMismatch
        Not a readable Spectromer checkpoint, a newer format, or another fingerprint.

    Examples
    --------
    >>> from spectromer.training.callbacks import CheckpointMismatch, read_checkpoint
    >>> try:
    ...     read_checkpoint("no/such/checkpoint.pt", {})
    ... except CheckpointMismatch as err:
    ...     print(str(err).split(":")[0])
    no/such/checkpoint.pt
    """
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds
        raise CheckpointMismatch(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise CheckpointMismatch(f"{path}: not a Spectromer training checkpoint")
    version = state.get("format_version", 1)
    if version > _FORMAT_VERSION:
        raise CheckpointMismatch(
            f"{path}: checkpoint format {version} is newer than this Spectromer reads "
            f"({_FORMAT_VERSION}); upgrade Spectromer or start afresh with resume=False"
        )
    theirs = state.get("fingerprint", {})
    diff = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
    if diff:
        details = "; ".join(
            f"{k}: checkpoint {theirs.get(k)!r}, now {fingerprint.get(k)!r}" for k in diff[:4]
        )
        raise CheckpointMismatch(
            f"{path} was written by a different training run ({details}); resume with the "
            "same settings and data, or start afresh with resume=False"
        )
    if version == 1:
        state["callbacks"] = {"EarlyStopping": {k: state.pop(k) for k in _EARLY_STOPPING_KEYS}}
        state["format_version"] = _FORMAT_VERSION
    return state


def callback_states(callbacks: list[Callback]) -> dict[str, dict[str, Any]]:
    """Every callback's non-empty :meth:`~Callback.state_dict`, keyed by :func:`callback_keys`."""
    out = {}
    for key, cb in zip(callback_keys(callbacks), callbacks):
        state = cb.state_dict()
        if state:
            out[key] = state
    return out


def callback_keys(callbacks: list[Callback]) -> list[str]:
    """A stable key per callback: its class name, ``#2``, ``#3``... for repeats.

    Examples
    --------
    >>> from spectromer.training.callbacks import CSVLogger, EarlyStopping, callback_keys
    >>> callback_keys([EarlyStopping(), CSVLogger("a.csv"), CSVLogger("b.csv")])
    ['EarlyStopping', 'CSVLogger', 'CSVLogger#2']
    """
    seen: dict[str, int] = {}
    keys = []
    for cb in callbacks:
        name = type(cb).__qualname__
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys
