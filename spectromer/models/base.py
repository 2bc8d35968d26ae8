"""The learner base: what every torch estimator of Spectromer shares.

:class:`SpectrumLearner` is a scikit-learn estimator that trains a torch module on
spectra with the engine of :mod:`spectromer.training`. It holds the one fit skeleton
(validate the parameters, :func:`~spectromer.training.as_source` once, targets, seed,
:func:`~spectromer.datasets.holdout_split`, :class:`~spectromer.training.TrainSettings`,
device, the module, :class:`~spectromer.training.Trainer`, fitted attributes), the
parameter constraints as data (checked before any data is read), the scikit-learn tags
of its task, and save/load (:mod:`spectromer.models.persistence`). A learner adds only
what is its own through a few hooks; nothing here knows about images, so a learner of
spectra on their native grids subclasses it directly, and the image learners share
:class:`~spectromer.models.image.ImageLearner`. ``docs/architecture.rst`` shows how to
add one.
"""

from __future__ import annotations

import os
import time
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ..spectra import SpectrumSource, as_source
from ..training import Augmentation, as_augmentation
from .persistence import (
    ModelFileError,
    check_state_matches,
    jsonable,
    read_model_folder,
    write_model_folder,
)

__all__ = ["SpectrumLearner", "RUNTIME_PARAMS", "seed_from"]

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


class SpectrumLearner(BaseEstimator):
    """Base of the torch estimators: one fit skeleton, parameter checks, tags, save/load.

    A subclass declares its ``__init__`` parameters (scikit-learn style: stored as
    given), their ``_parameter_constraints`` (merged with these), a ``task`` parameter
    or attribute (``"classification"``, ``"regression"``, or none: a transformer) and
    the hooks below. The parameters it relies on: ``epochs``, ``batch_size``, ``lr``,
    ``weight_decay``, ``warmup``, ``augment``, ``validation_fraction``, ``device``,
    ``precision``, ``num_workers``, ``checkpoint_dir``, ``random_state``, ``progress``.

    Hooks
    -----
    ``_build_module(initial)`` (required)
        The torch module; ``initial`` is True in ``fit`` (load initial weights) and
        False in ``load`` (the saved weights follow).
    ``_training_data(source, targets, seed, train)`` (required)
        What :class:`~spectromer.training.Trainer` iterates: batches of ``source`` with
        ``targets``, augmented when ``train``.
    ``_loss(targets)`` (required)
        ``loss(outputs, targets)`` for the Trainer.
    ``_fit_targets(X, y, source, indices)``
        Check and encode the targets (one per spectrum); default: none (unsupervised).
    ``_check_param_combinations()``
        Checks across parameters, after the constraints.
    ``_prepare(source)``, ``_before_training(source, train_rows)``
        Fitted state needed by the module, and state fitted on the training part.
    ``_metrics(outputs, targets)``, ``_monitor()``
        Validation metrics and the one that picks the best epoch.
    ``_fitted_config()``, ``_fitted_tensors()``, ``_restore_fitted(fitted, state, where)``
        The fitted attributes saved with the weights, and their restoring.

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
        Spectra trained on, and held out for validation.
    seed_ : int
        The seed used.
    device_, precision_ : str
        Where and in which autocast precision the model was trained.
    fit_seconds_ : float
        Wall time of the training.
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
        """The encoded targets, one per spectrum (default: none, zeros)."""
        return np.zeros(len(source), np.float32)

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
        return {}

    def _monitor(self) -> str:
        return "val_loss"

    def _fingerprint(self, targets: np.ndarray, source: SpectrumSource) -> dict[str, Any]:
        """What identifies a training run (checked when resuming from a checkpoint)."""
        return {"params": self._runtime_free_params(), "n_spectra": len(source)}

    def _build_module(self, initial: bool) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define _build_module")

    def _training_data(self, source: SpectrumSource, targets: np.ndarray, seed: int,
                       train: bool) -> Any:  # fmt: skip
        raise NotImplementedError(f"{type(self).__name__} must define _training_data")

    def _loss(self, targets: np.ndarray) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define _loss")

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        wavelength: Any = None,
        indices: Any = None,
        resume: bool = False,
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
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir`` if there is one.

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
        device = self._device()
        source = self._as_source(X, wavelength, indices)
        if len(source) < 2:
            raise ValueError(
                f"X: at least 2 spectra are needed to train, got {len(source)} "
                f"(n_samples = {len(source)})"
            )
        targets = self._fit_targets(X, y, source, indices)
        self._prepare(source)
        seed = self.seed_ = seed_from(self.random_state)
        train_rows, val_rows = np.arange(len(source)), None
        if self.validation_fraction > 0:
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
            patience=self._patience() if val_rows is not None else None,
            seed=seed,
            num_workers=int(self.num_workers),
        )
        torch.manual_seed(seed)
        module = self._build_module(True)
        train = self._training_data(source[train_rows], targets[train_rows], seed, True)
        val = None
        if val_rows is not None:
            val = self._training_data(source[val_rows], targets[val_rows], seed, False)
        trainer = Trainer(
            module,
            self._loss(targets),
            evaluate=self._metrics,
            monitor=self._monitor(),
            settings=settings,
            device=device,
            precision=self.precision,
            checkpoint_dir=self.checkpoint_dir,
            fingerprint=self._fingerprint(targets, source),
            progress=bool(self.progress),
        )
        t0 = time.perf_counter()
        self.history_ = trainer.fit(train, val, resume=resume)
        self.fit_seconds_ = time.perf_counter() - t0
        self.model_ = trainer.model.eval()
        self.best_epoch_ = trainer.best_epoch if val is not None else len(self.history_)
        self.stopped_early_ = trainer.stopped_early
        self.n_train_ = int(train_rows.size)
        self.n_validation_ = 0 if val_rows is None else int(val_rows.size)
        self.device_ = str(device)
        dtype = autocast_dtype(self.precision, device)
        self.precision_ = str(dtype or "fp32").replace("torch.", "")
        return self

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

    # -- persistence ----------------------------------------------------------------------
    def _fitted_config(self) -> dict[str, Any]:
        """Fitted attributes saved in ``config.json`` (extend in a subclass)."""
        return {
            "history": jsonable(self.history_),
            "best_epoch": int(self.best_epoch_),
            "seed": int(self.seed_),
        }

    def _fitted_tensors(self) -> dict[str, Any]:
        """Tensors saved next to the module's state (hook; names must not clash)."""
        return {}

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any],
                        where: Path) -> None:  # fmt: skip
        """Set the fitted attributes of :meth:`_fitted_config` (before the module is built).

        Pops the tensors of :meth:`_fitted_tensors` from ``state``.
        """
        self.history_ = fitted["history"]
        self.best_epoch_ = fitted["best_epoch"]
        self.seed_ = fitted["seed"]

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
