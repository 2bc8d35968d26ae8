"""The learner base: what every torch estimator of Spectromer shares.

:class:`SpectrumLearner` is a scikit-learn estimator that trains a torch module on
spectra with the engine of :mod:`spectromer.training`. It holds the one fit skeleton
(validate the parameters, :func:`~spectromer.training.as_source` once, targets, seed,
:func:`~spectromer.datasets.holdout_split`, :class:`~spectromer.training.TrainSettings`,
device, the module, :class:`~spectromer.training.Trainer`, fitted attributes), the
parameter constraints as data (checked before any data is read), the scikit-learn tags
of its task, the supervised targets of the task (reading, checking and encoding ``y``,
``classes_`` or the target standardisation, their saving, the decoding of the outputs
in ``predict``/``predict_proba``/``score``, the validation metrics) and save/load
(:mod:`spectromer.models.persistence`). A learner adds only
what is its own through a few hooks; nothing here knows about images, so a learner of
spectra on their native grids subclasses it directly, and the image learners share
:class:`~spectromer.models.image.ImageLearner`. ``docs/architecture.rst`` shows how to
add one.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from ..spectra import SpectrumSource, as_source
from ..training import Augmentation, as_augmentation
from .persistence import (
    ModelFileError,
    check_state_matches,
    jsonable,
    read_model_folder,
    write_model_folder,
)

__all__ = ["SpectrumLearner", "RUNTIME_PARAMS", "seed_from", "ratio_loss"]

#: Parameters that may differ between an interrupted run and the run resuming it, and
#: between a saved model and the one loading it (where the work runs, not what it learns).
RUNTIME_PARAMS = (
    "device",
    "num_workers",
    "progress",
    "checkpoint_dir",
    "test_time_augmentation",
)

_KINDS = {"classification": "classifier", "regression": "regressor"}


def _is_classifier(learner: SpectrumLearner) -> bool:
    return learner._learner_kind() == "classifier"


def _is_supervised(learner: SpectrumLearner) -> bool:
    return learner._learner_kind() != "transformer"


def seed_from(random_state: Any) -> int:
    """The integer seed of a ``random_state`` parameter (None: a fresh random one).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models.base import seed_from
    >>> seed_from(3), seed_from(np.random.RandomState(0))
    (3, 209652396)
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**31))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    raise TypeError(f"random_state must be None or an int, got {random_state!r}")


def ratio_loss(out: Any, _: Any = None) -> Any:
    """The pooled loss of per-spectrum ``[sum, count]`` outputs: ``sum(sums) / sum(counts)``.

    For self-supervised modules whose ``forward`` returns, per spectrum, a summed error
    and the number of elements it is summed over (AstroCLIP's masked-token MSE, the
    tokenizer's chi-square): the batch loss weights every element alike, whatever the
    spectrum's length.

    Examples
    --------
    >>> import torch
    >>> from spectromer.models.base import ratio_loss
    >>> float(ratio_loss(torch.tensor([[6.0, 2.0], [3.0, 1.0]])))
    3.0
    """
    return out[:, 0].sum() / out[:, 1].sum().clamp_min(1.0)


class SpectrumLearner(BaseEstimator):
    """Base of the torch estimators: one fit skeleton, parameter checks, tags, targets,
    predictions, save/load.

    A subclass declares its ``__init__`` parameters (scikit-learn style: stored as
    given), their ``_parameter_constraints`` (merged with these), a ``task`` parameter
    or attribute (``"classification"``, ``"regression"``, or none: a transformer) and
    the hooks below. The parameters it relies on: ``epochs``, ``batch_size``, ``lr``,
    ``weight_decay``, ``warmup``, ``augment``, ``validation_fraction``, ``device``,
    ``precision``, ``num_workers``, ``checkpoint_dir``, ``random_state``, ``progress``.

    The task decides the targets. ``"classification"``: ``y`` (an array, or a label
    column of a dataset) holds one label per spectrum; a column vector is flattened with
    a ``DataConversionWarning``, spectra without a label, continuous numbers ("Unknown
    label type") and fewer than 2 classes are refused; the module is trained on the
    codes ``0 .. len(classes_) - 1``. ``"regression"``: ``y`` holds finite numbers,
    ``(n,)`` or ``(n, k)``, standardised for training (``target_mean_``,
    ``target_scale_``). The fitted target state is saved and restored with the model,
    and ``predict`` (labels or values), ``predict_proba`` (classification only) and
    ``score`` (accuracy or R^2) decode the module's outputs: ``len(classes_)`` logits,
    or ``n_targets_`` standardised values first. No task: ``y`` is ignored and there is
    no ``predict``.

    Hooks
    -----
    ``_build_module(initial)`` (required)
        The torch module; ``initial`` is True in ``fit`` (load initial weights) and
        False in ``load`` (the saved weights follow). ``_n_outputs()`` is the width of
        a supervised module's output.
    ``_training_data(source, targets, seed, train)`` (required)
        What :class:`~spectromer.training.Trainer` and
        :func:`~spectromer.training.predict_outputs` iterate over the spectra of
        ``source``: any object with ``len`` (the number of spectra), ``set_epoch(epoch)``
        and a settable ``targets`` attribute (``targets``, or None at prediction) whose
        item for a list of rows is ``(inputs, targets[rows])``, both tensors, or
        ``(inputs, rows)`` while ``targets`` is None (so outputs go back in order);
        ``inputs`` is one tensor with one row per spectrum, the module's argument.
        Augmented (``as_augmentation(self.augment)``) only when ``train``.
        :class:`~spectromer.training.RenderedBatches` is one.
    ``_loss(targets)`` (required)
        ``loss(outputs, targets)`` for the Trainer (a self-supervised module may
        return one loss per spectrum as its outputs).
    ``_fit_targets(X, y, source, indices)``
        The encoded targets, one per spectrum; default: those of the task (see above;
        extend it with ``super()`` for checks of one's own).
    ``_outputs(X, wavelength, indices, forward)``
        The module's outputs on the spectra ``X`` (default: one pass of the module over
        ``_training_data(source, None, seed, False)``); ``predict`` and the others
        decode them.
    ``_check_param_combinations()``
        Checks across parameters, after the constraints.
    ``_prepare(source)``, ``_before_training(source, train_rows)``
        Fitted state needed by the module, and state fitted on the training part.
    ``_metrics(outputs, targets)``, ``_monitor()``
        Validation metrics and the one that picks the best epoch (default: accuracy
        and macro F1, picked by accuracy; R^2 and MAE, picked by R^2; none and the
        validation loss without a task).
    ``_fitted_config()``, ``_fitted_tensors()``, ``_restore_fitted(fitted, state, where)``
        The fitted attributes saved with the weights, and their restoring (call
        ``super()``: the base saves the history, the seed and the target state).

    Attributes
    ----------
    model_ : torch.nn.Module
        The fitted module.
    history_ : list of dict
        One record per epoch (see :class:`~spectromer.training.Trainer`).
    best_epoch_ : int
        The epoch whose weights were kept.
    stopped_early_ : bool
        Whether early stopping ended the training.
    n_train_, n_validation_ : int
        Spectra trained on, and validated on (held out, or given as ``validation``).
    domain_ : dict
        What the training spectra were: ``surveys`` (or None where the input does not
        say), ``wavelength`` (``[low, high]``, Angstrom: 5th percentile of the first and
        95th of the last good wavelength), ``n_spectra``, ``classes``; saved with the
        model. ``predict``, ``predict_proba``, ``score`` (and ``transform`` of a
        supervised learner) warn once per call, naming how many spectra and why, about
        spectra of another survey or reaching beyond that range by more than 5% of
        its width (:mod:`spectromer.models.domain`).
    seed_ : int
        The seed used.
    device_, precision_ : str
        Where and in which autocast precision the model was trained.
    fit_seconds_ : float
        Wall time of the training.
    classes_ : ndarray
        The class labels, sorted (classification).
    target_mean_, target_scale_ : ndarray
        The regression targets' standardisation, per target (regression).
    n_targets_ : int
        Targets per spectrum (regression).
    """

    #: Constraints of the shared parameters (scikit-learn's ``_parameter_constraints``).
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup": [Interval(Real, 0, None, closed="left")],
        "augment": ["boolean", dict, Augmentation, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "device": [str],
        "precision": [StrOptions({"auto", "fp32", "bf16", "fp16"})],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "checkpoint_dir": [str, os.PathLike, None],
        "random_state": ["random_state"],
        "progress": ["boolean"],
    }
    #: Format name of the saved folder (``config.json``) and its newest version.
    _file_format: ClassVar[str] = "spectromer-learner"
    _file_format_version: ClassVar[int] = 1

    # -- task and scikit-learn tags --------------------------------------------------
    def _learner_kind(self) -> str:
        """``"classifier"``, ``"regressor"`` or ``"transformer"``, from ``task``."""
        return _KINDS.get(getattr(self, "task", None), "transformer")

    @property
    def _estimator_type(self) -> str:  # scikit-learn < 1.6
        return self._learner_kind()

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        kind = self._learner_kind()
        return {
            "allow_nan": True,  # NaN flux pixels are masked, not refused
            "non_deterministic": getattr(self, "random_state", None) is None,
            "requires_y": kind != "transformer",
            "multioutput": kind == "regressor",
        }

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        from sklearn.utils import ClassifierTags, RegressorTags, TransformerTags

        tags = super().__sklearn_tags__()
        kind = self._learner_kind()
        tags.estimator_type = kind
        tags.input_tags.allow_nan = True  # NaN flux pixels are masked, not refused
        tags.non_deterministic = getattr(self, "random_state", None) is None
        tags.target_tags.required = kind != "transformer"
        tags.classifier_tags = ClassifierTags() if kind == "classifier" else None
        tags.regressor_tags = RegressorTags() if kind == "regressor" else None
        if kind == "transformer" or hasattr(self, "transform"):  # embeddings are float32
            tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        else:
            tags.transformer_tags = None
        if kind == "regressor":
            tags.target_tags.multi_output = True  # (n, k) targets
        return tags

    # -- parameters ---------------------------------------------------------------------
    def _check_params(self) -> None:
        """Refuse any bad parameter: the constraints, then the combinations."""
        self._validate_params()
        as_augmentation(self.augment)  # the fields of an augment dict
        self._check_param_combinations()

    def _check_param_combinations(self) -> None:
        """Checks across parameters (hook; the constraints are checked before)."""

    def _device(self) -> Any:
        """The torch device of ``device``, checked with ``precision`` (fails early)."""
        from ..training import autocast_dtype, select_device

        device = select_device(self.device)
        autocast_dtype(self.precision, device)
        return device

    def _runtime_free_params(self) -> dict[str, Any]:
        """``get_params()`` less :data:`RUNTIME_PARAMS`, JSON-ready (what defines a run)."""
        return {k: jsonable(v) for k, v in self.get_params().items() if k not in RUNTIME_PARAMS}

    # -- hooks with defaults ------------------------------------------------------------
    def _as_source(self, X: Any, wavelength: Any, indices: Any) -> SpectrumSource:
        return as_source(X, wavelength=wavelength, indices=indices)

    def _fit_targets(self, X: Any, y: Any, source: SpectrumSource, indices: Any) -> np.ndarray:
        """The encoded targets of the task, one per spectrum (no task: zeros, ``y`` ignored).

        Sets ``classes_`` (classification) or the target standardisation (regression).
        """
        kind = self._learner_kind()
        if kind == "transformer":
            return np.zeros(len(source), np.float32)
        values = self._read_targets(X, y, source, indices)
        if kind == "classifier":
            return self._encode_classes(values, "y")
        return self._scale_targets(values, "y")

    def _prepare(self, source: SpectrumSource) -> None:
        """Fitted state the module needs, set before the split (hook)."""

    def _before_training(self, source: SpectrumSource, train_rows: np.ndarray) -> None:
        """State fitted on the training part, before the module is built (hook)."""

    def _learning_rate(self) -> float:
        return float(self.lr)

    def _grad_clip(self) -> float | None:
        return 1.0

    def _patience(self) -> int | None:
        return None

    def _metrics(self, out: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """Validation metrics of the task on the outputs and the encoded targets."""
        kind = self._learner_kind()
        if kind == "classifier":
            from sklearn.metrics import accuracy_score, f1_score

            pred = out.argmax(axis=1)
            return {
                "val_accuracy": float(accuracy_score(targets, pred)),
                "val_f1_macro": float(f1_score(targets, pred, average="macro", zero_division=0)),
            }
        if kind == "regressor":
            from sklearn.metrics import mean_absolute_error, r2_score

            k = self.n_targets_
            mean = out[:, :k] * self.target_scale_ + self.target_mean_
            truth = targets.reshape(len(targets), -1) * self.target_scale_ + self.target_mean_
            return {
                "val_r2": float(r2_score(truth, mean)),
                "val_mae": float(mean_absolute_error(truth, mean)),
            }
        return {}

    def _monitor(self) -> str:
        return {"classifier": "val_accuracy", "regressor": "val_r2"}.get(
            self._learner_kind(), "val_loss"
        )

    def _fingerprint(self, targets: np.ndarray, source: SpectrumSource) -> dict[str, Any]:
        """What identifies a training run (checked when resuming from a checkpoint)."""
        run = {"params": self._runtime_free_params(), "n_spectra": len(source)}
        if self._learner_kind() != "transformer":
            digest = hashlib.sha256(np.ascontiguousarray(targets).tobytes()).hexdigest()[:16]
            run["targets_sha256"] = digest
        return run

    def _build_module(self, initial: bool) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define _build_module")

    def _n_outputs(self) -> int:
        """Outputs per spectrum of a supervised module: one per class, or per target."""
        kind = self._learner_kind()
        if kind == "classifier":
            return len(self.classes_)
        if kind == "regressor":
            return int(self.n_targets_)
        raise TypeError(f"{type(self).__name__} has no task, hence no output count")

    def _training_data(self, source: SpectrumSource, targets: np.ndarray | None, seed: int,
                       train: bool) -> Any:  # fmt: skip
        """The spectra of ``source`` as the Trainer iterates them (see the class docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must define _training_data")

    def _loss(self, targets: np.ndarray) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define _loss")

    # -- targets --------------------------------------------------------------------------
    def _read_targets(self, X: Any, y: Any, source: SpectrumSource, indices: Any) -> np.ndarray:
        """``y`` as an array, one target per spectrum of ``source`` (a column name: of ``X``)."""
        if isinstance(y, str):
            if not hasattr(X, "labels"):
                raise TypeError(
                    f"y={y!r} names a label column, which only a SpectraDataset has; pass an "
                    "array of targets for this input"
                )
            values = X.labels(y)
            rows = np.arange(len(X)) if indices is None else np.asarray(indices, np.int64)
            values = values[rows]
        elif y is None:
            raise ValueError(
                "y is required (this estimator requires y to be passed, but the target y is "
                "None): an array of targets, or a label column name for a dataset"
            )
        else:
            values = np.asarray(y)
        if values.shape[0] != len(source):
            raise ValueError(f"y has {values.shape[0]} targets but X has {len(source)} spectra")
        if np.iscomplexobj(values):
            raise ValueError("y: complex targets are not supported; pass real numbers or labels")
        return values

    def _encode_classes(self, values: np.ndarray, name: str) -> np.ndarray:
        """Set ``classes_`` from labels ``values``; return their codes (int64)."""
        from sklearn.utils.multiclass import type_of_target

        if values.ndim == 2 and values.shape[1] == 1:
            from sklearn.exceptions import DataConversionWarning

            warnings.warn(
                f"{name} is a column vector, shape {values.shape}; it is used as a 1-D array",
                DataConversionWarning,
                stacklevel=4,
            )
            values = values.ravel()
        if values.ndim != 1:
            raise ValueError(
                f"{name}: classification needs one label per spectrum, got shape {values.shape}"
            )
        missing = np.array(
            [
                v is None
                or (isinstance(v, str) and not v.strip())
                or (isinstance(v, float) and np.isnan(v))
                for v in values.tolist()
            ]
        )
        if missing.any():
            raise ValueError(
                f"{name}: {int(missing.sum())} of {values.size} spectra have no label (first "
                f"at position {int(np.flatnonzero(missing)[0])}); select labelled spectra with "
                "indices="
            )
        kind = type_of_target(values)
        if kind.startswith("continuous"):
            raise ValueError(
                f"Unknown label type: {kind!r}. {name} holds non-integer numbers; "
                "classification needs class labels (use task='regression' for numbers)"
            )
        self.classes_ = np.unique(values)
        if self.classes_.size < 2:
            raise ValueError(
                f"{name}: classification needs at least 2 classes, got {self.classes_.tolist()}"
            )
        return np.searchsorted(self.classes_, values).astype(np.int64)

    def _scale_targets(self, values: np.ndarray, name: str) -> np.ndarray:
        """Set the target standardisation from numbers ``values``; return them standardised."""
        try:
            y = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: regression targets must be numbers") from None
        if y.ndim not in (1, 2):
            raise ValueError(f"{name}: targets must be (n,) or (n, k), got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            bad = (
                int((~np.isfinite(y)).any(axis=-1).sum())
                if y.ndim == 2
                else int((~np.isfinite(y)).sum())
            )
            raise ValueError(f"{name}: {bad} spectra have a non-finite target; select the others")
        y2 = y.reshape(len(y), -1)
        self.target_mean_ = y2.mean(axis=0)
        scale = y2.std(axis=0)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        self.n_targets_ = y2.shape[1]
        self._target_ndim = y.ndim
        return ((y2 - self.target_mean_) / self.target_scale_).astype(np.float32)

    def _decode_outputs(self, out: np.ndarray) -> np.ndarray:
        """The module's outputs as predictions: labels, or values in the targets' units.

        Classification: the class of the largest of the first ``len(classes_)``
        outputs. Regression: the first ``n_targets_`` outputs, un-standardised, shaped
        ``(n,)`` or ``(n, k)`` like the training targets.
        """
        if self._learner_kind() == "classifier":
            return self.classes_[out[:, : len(self.classes_)].argmax(axis=1)]
        k = self.n_targets_
        mean = out[:, :k] * self.target_scale_ + self.target_mean_
        return mean.reshape((len(out),) if self._target_ndim == 1 else (len(out), k))

    @staticmethod
    def _probabilities(out: np.ndarray) -> np.ndarray:
        """Softmax of logits ``out`` over the classes, ``(n, n_classes)``."""
        out = out - out.max(axis=1, keepdims=True)
        p = np.exp(out)
        return p / p.sum(axis=1, keepdims=True)

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        wavelength: Any = None,
        indices: Any = None,
        validation: Any = None,
        resume: bool = False,
        overwrite: bool = False,
    ) -> SpectrumLearner:
        """Train on spectra ``X`` (with targets ``y`` for a supervised learner).

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, sequence of Spectrum, or ndarray
            The spectra (see :func:`spectromer.training.as_source`).
        y : str, array-like or None
            Targets, or a label column of the dataset (supervised learners).
        wavelength : array or Quantity, optional
            Wavelength grid when ``X`` is a flux array.
        indices : array of int, optional
            Rows of a dataset to train on.
        validation : (X_val, y_val), or X_val without a task, optional
            Spectra to validate on (and pick the best epoch by) instead of holding out
            ``validation_fraction`` of ``X``: ``X_val`` is anything ``X`` may be (for
            rows of a dataset, ``as_source(ds, indices=rows)``), ``y_val`` its targets
            (an array, or a label column when ``X_val`` is a dataset) among the classes
            of ``y`` for classification. ``n_validation_`` counts them.
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir`` if there is one.
        overwrite : bool
            Start over even though ``checkpoint_dir`` holds the checkpoint of an earlier
            run, replacing it. Without it (and without ``resume``) such a checkpoint is
            refused with :class:`~spectromer.training.CheckpointExists`, before any
            spectrum is read, so that an earlier run is never lost by accident.

        Returns
        -------
        SpectrumLearner
            ``self``, fitted.
        """
        import torch

        from ..datasets.splits import holdout_split
        from ..training import Trainer, TrainSettings, autocast_dtype

        self._check_params()
        if resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir= (where the checkpoints are)")
        if resume and overwrite:
            raise ValueError("resume=True continues a checkpoint, overwrite=True replaces it: "
                             "choose one")  # fmt: skip
        if self.checkpoint_dir is not None and not resume and not overwrite:
            from ..training.callbacks import CHECKPOINT_NAME, refuse_overwrite

            refuse_overwrite(Path(self.checkpoint_dir) / CHECKPOINT_NAME)
        device = self._device()
        source = self._as_source(X, wavelength, indices)
        if len(source) < 2:
            raise ValueError(
                f"X: at least 2 spectra are needed to train, got {len(source)} "
                f"(n_samples = {len(source)})"
            )
        targets = self._fit_targets(X, y, source, indices)
        given = None if validation is None else self._validation_part(validation, wavelength)
        self._prepare(source)
        self.domain_ = self._training_domain(X, source, indices)
        seed = self.seed_ = seed_from(self.random_state)
        train_rows, val_rows = np.arange(len(source)), None
        if given is not None:
            pass  # explicit validation spectra: all of X is trained on
        elif self.validation_fraction > 0:
            train_rows, val_rows = holdout_split(
                targets if self._learner_kind() == "classifier" else len(source),
                self.validation_fraction,
                seed,
                stratify=self._learner_kind() == "classifier",
                name="validation_fraction",
            )
        self._before_training(source, train_rows)
        settings = TrainSettings(
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            lr=self._learning_rate(),
            weight_decay=float(self.weight_decay),
            warmup=float(self.warmup),
            grad_clip=self._grad_clip(),
            patience=self._patience() if val_rows is not None or given else None,
            seed=seed,
            num_workers=int(self.num_workers),
        )
        torch.manual_seed(seed)
        module = self._build_module(True)
        train = self._training_data(source[train_rows], targets[train_rows], seed, True)
        val = None
        if given is not None:
            val = self._training_data(given[0], given[1], seed, False)
        elif val_rows is not None:
            val = self._training_data(source[val_rows], targets[val_rows], seed, False)
        fingerprint = self._fingerprint(targets, source)
        if given is not None:  # another validation set is another run
            val_print = SpectrumLearner._fingerprint(self, given[1], given[0])
            fingerprint["validation"] = {k: v for k, v in val_print.items() if k != "params"}
        trainer = Trainer(
            module,
            self._loss(targets),
            evaluate=self._metrics,
            monitor=self._monitor(),
            settings=settings,
            device=device,
            precision=self.precision,
            checkpoint_dir=self.checkpoint_dir,
            fingerprint=fingerprint,
            progress=bool(self.progress),
        )
        t0 = time.perf_counter()
        self.history_ = trainer.fit(train, val, resume=resume, overwrite=overwrite)
        self.fit_seconds_ = time.perf_counter() - t0
        self.model_ = trainer.model.eval()
        self.best_epoch_ = trainer.best_epoch if val is not None else len(self.history_)
        self.stopped_early_ = trainer.stopped_early
        self.n_train_ = int(train_rows.size)
        self.n_validation_ = (len(given[0]) if given is not None
                              else 0 if val_rows is None else int(val_rows.size))  # fmt: skip
        self.device_ = str(device)
        dtype = autocast_dtype(self.precision, device)
        self.precision_ = str(dtype or "fp32").replace("torch.", "")
        return self

    def _validation_part(self, validation: Any, wavelength: Any) -> tuple[SpectrumSource, Any]:
        """The ``validation=`` spectra as a source and their targets, encoded like ``y``'s."""
        kind = self._learner_kind()
        if isinstance(validation, tuple):
            if len(validation) != 2:
                raise ValueError(
                    f"validation must be (X_val, y_val), got a tuple of {len(validation)}"
                )
            X_val, y_val = validation
        else:
            X_val, y_val = validation, None
        source = self._as_source(X_val, wavelength, None)
        if len(source) == 0:
            raise ValueError("validation holds no spectra")
        if kind == "transformer":
            return source, np.zeros(len(source), np.float32)
        try:
            values = self._read_targets(X_val, y_val, source, None)
        except ValueError as err:
            raise ValueError(f"validation: {err} (pass validation=(X_val, y_val))") from None
        if kind == "classifier":
            values = np.asarray(values)
            values = values.ravel() if values.ndim == 2 and values.shape[1] == 1 else values
            if values.ndim != 1:
                raise ValueError(f"validation: one label per spectrum, got shape {values.shape}")
            known = np.isin(values, self.classes_)
            if not known.all():
                unknown = sorted({str(v) for v in values[~known]})
                raise ValueError(
                    f"validation: {int((~known).sum())} of {values.size} spectra have a label "
                    f"that y does not have ({', '.join(unknown[:5])}; trained classes: "
                    f"{', '.join(map(str, self.classes_.tolist()))})"
                )
            return source, np.searchsorted(self.classes_, values).astype(np.int64)
        try:
            y2 = np.asarray(values, dtype=np.float64).reshape(len(source), -1)
        except (TypeError, ValueError):
            raise ValueError("validation: regression targets must be numbers") from None
        if y2.shape[1] != self.n_targets_ or not np.isfinite(y2).all():
            raise ValueError(
                f"validation: {self.n_targets_} finite target(s) per spectrum needed, like y"
            )
        return source, ((y2 - self.target_mean_) / self.target_scale_).astype(np.float32)

    def _training_domain(self, X: Any, source: SpectrumSource, indices: Any) -> dict[str, Any]:
        """``domain_``: surveys, wavelength range and classes of the training spectra."""
        from .domain import training_domain

        classes = self.classes_ if self._learner_kind() == "classifier" else None
        return training_domain(X, source, indices, classes)

    def _check_domain(self, X: Any, source: SpectrumSource, indices: Any) -> None:
        """Warn about spectra unlike the training ones (another survey, other wavelengths)."""
        from .domain import domain_warning

        domain_warning(getattr(self, "domain_", None), X, source, indices,
                       f"this {type(self).__name__}")  # fmt: skip

    # -- inference ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            name = type(self).__name__
            raise NotFittedError(f"This {name} is not fitted yet: call fit() or {name}.load()")

    def _inference_source(self, X: Any, wavelength: Any, indices: Any) -> SpectrumSource:
        """Parameters checked, fitted checked, ``X`` as a non-empty source."""
        self._check_params()
        self._check_fitted()
        source = self._as_source(X, wavelength, indices)
        if len(source) == 0:
            raise ValueError("X holds no spectra")
        if _is_supervised(self):
            self._check_domain(X, source, indices)
        return source

    def _run(self, module: Any, data: Any, *, forward: Any = None,
             progress: bool = False) -> np.ndarray:  # fmt: skip
        """Outputs of ``module`` on every item of ``data``, in order."""
        from ..training import autocast_dtype, predict_outputs

        device = self._device()
        out, _ = predict_outputs(
            module,
            data,
            int(self.batch_size),
            device,
            autocast_dtype(self.precision, device),
            int(self.num_workers),
            bool(progress),
            forward=forward,
        )
        return out

    def _outputs(self, X: Any, wavelength: Any = None, indices: Any = None,
                 forward: Any = None) -> np.ndarray:  # fmt: skip
        """The fitted module's outputs on the spectra ``X``, one row per spectrum (hook).

        Checks the parameters and the fit first; ``forward(module, inputs)`` replaces
        ``module(inputs)`` (e.g. for embeddings).
        """
        source = self._inference_source(X, wavelength, indices)
        data = self._training_data(source, None, int(getattr(self, "seed_", 0)), False)
        return self._run(self.model_, data, forward=forward, progress=bool(self.progress))

    @available_if(_is_supervised)
    def predict(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Predict labels (classification) or values (regression) for spectra ``X``.

        Parameters
        ----------
        X, wavelength, indices
            As in :meth:`fit`.

        Returns
        -------
        ndarray
            ``(n,)`` labels of ``classes_``, or values ``(n,)``/``(n, k)`` shaped like
            the training targets.
        """
        return self._decode_outputs(self._outputs(X, wavelength, indices))

    @available_if(_is_classifier)
    def predict_proba(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Class probabilities, ``(n, len(classes_))`` (classification only).

        A regressor has no ``predict_proba`` attribute at all (``hasattr`` is False).
        """
        return self._probabilities(self._outputs(X, wavelength, indices))

    @available_if(_is_supervised)
    def targets(self, X: Any, y: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """The targets ``y`` gives for spectra ``X``, one per spectrum, as :meth:`fit` and
        :meth:`score` read them (not encoded: labels stay labels).

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, array, Spectrum or list
            The spectra, as :meth:`fit` takes them.
        y : array-like or str
            One target per spectrum, or the name of a label column of the dataset ``X``.
        wavelength : Quantity or array, optional
            The wavelength grid of array input.
        indices : array-like of int, optional
            Rows of a dataset ``X`` (the column is read at these rows).

        Returns
        -------
        ndarray
            One target per spectrum of ``X`` (at ``indices``).

        Raises
        ------
        ValueError
            If ``y`` is missing or has another length than ``X``.
        TypeError
            If ``y`` names a column but ``X`` is not a dataset.

        Examples
        --------
        >>> from spectromer import SpectromerModel
        >>> from spectromer.datasets import load_sample
        >>> SpectromerModel(task="classification").targets(load_sample(), "type",
        ...                                                indices=[0, 1]).shape
        (2,)
        """
        source = self._as_source(X, wavelength, indices)
        return self._read_targets(X, y, source, indices)

    def score(self, X: Any, y: Any = None, *, wavelength: Any = None, indices: Any = None) -> float:
        """Accuracy (classification) or R^2 (regression) on ``X``, ``y``.

        ``y`` is as in :meth:`fit`: an array, or a label column of the dataset ``X``.
        """
        truth = self.targets(X, y, wavelength=wavelength, indices=indices)
        pred = self.predict(X, wavelength=wavelength, indices=indices)
        if self._learner_kind() == "classifier":
            from sklearn.metrics import accuracy_score

            return float(accuracy_score(truth, pred))
        from sklearn.metrics import r2_score

        return float(r2_score(np.asarray(truth, dtype=float), pred))

    # -- persistence ----------------------------------------------------------------------
    def _fitted_config(self) -> dict[str, Any]:
        """Fitted attributes saved in ``config.json``, with the target state (extend it)."""
        fitted = {
            "history": jsonable(self.history_),
            "best_epoch": int(self.best_epoch_),
            "seed": int(self.seed_),
            "domain": jsonable(getattr(self, "domain_", None)),
        }
        kind = self._learner_kind()
        if kind == "classifier":
            fitted["classes"] = self.classes_.tolist()
        elif kind == "regressor":
            fitted["target_mean"] = self.target_mean_.tolist()
            fitted["target_scale"] = self.target_scale_.tolist()
            fitted["target_ndim"] = int(self._target_ndim)
        return fitted

    def _fitted_tensors(self) -> dict[str, Any]:
        """Tensors saved next to the module's state (hook; names must not clash)."""
        return {}

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any],
                        where: Path) -> None:  # fmt: skip
        """Set the fitted attributes of :meth:`_fitted_config` (before the module is built).

        Pops the tensors of :meth:`_fitted_tensors` from ``state``.
        """
        from .persistence import CONFIG_NAME

        self.history_ = fitted["history"]
        self.best_epoch_ = fitted["best_epoch"]
        self.seed_ = fitted["seed"]
        self.domain_ = fitted.get("domain")  # None in models saved before it was recorded
        kind = self._learner_kind()
        try:
            if kind == "classifier":
                self.classes_ = np.asarray(fitted["classes"])
            elif kind == "regressor":
                self.target_mean_ = np.asarray(fitted["target_mean"], dtype=np.float64)
                self.target_scale_ = np.asarray(fitted["target_scale"], dtype=np.float64)
                self.n_targets_ = len(self.target_mean_)
                self._target_ndim = int(fitted["target_ndim"])
        except KeyError as err:
            raise ModelFileError(
                f"{where / CONFIG_NAME}: the fitted state has no {err} (needed by a {kind})"
            ) from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted learner to folder ``path``: ``model.safetensors`` + ``config.json``.

        Both files are written atomically; the config records the weights' SHA-256, so
        a folder left half-written by an interrupted save is detected on load.

        Returns
        -------
        Path
            The folder.
        """
        self._check_fitted()
        tensors = dict(self.model_.state_dict())
        tensors.update(self._fitted_tensors())
        return write_model_folder(
            path,
            tensors,
            file_format=self._file_format,
            format_version=self._file_format_version,
            params=self.get_params(),
            fitted=self._fitted_config(),
        )

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> Any:
        """Load a learner written by :meth:`save`.

        Parameters
        ----------
        path : path
            The folder.
        device : str, optional
            Override the saved ``device`` parameter (e.g. ``"cpu"``).

        Raises
        ------
        ModelFileError
            When a file is missing, the format is unknown or newer, the weights do not
            match the config (checksum, or tensor names and shapes, which it lists).
        """
        from .persistence import CONFIG_NAME, WEIGHTS_NAME

        folder = Path(path)
        config, state = read_model_folder(
            folder,
            file_format=cls._file_format,
            format_version=cls._file_format_version,
            what=cls.__name__,
        )
        params = dict(config["params"])
        if device is not None:
            params["device"] = device
        try:
            learner = cls(**params)
        except TypeError as err:
            raise ModelFileError(
                f"{folder / CONFIG_NAME}: parameters do not fit {cls.__name__} ({err})"
            ) from None
        learner._restore_fitted(config["fitted"], state, folder)
        module = learner._build_module(False)
        check_state_matches(module, state, folder / WEIGHTS_NAME,
                            str(params.get("backbone", cls.__name__)))  # fmt: skip
        module.load_state_dict(state)
        learner.model_ = module.eval()
        return learner
