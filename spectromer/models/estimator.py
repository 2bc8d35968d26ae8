"""``SpectromerModel``: a scikit-learn estimator that fine-tunes timm vision transformers
on spectra rendered to images.

``fit`` renders spectra on the fly (no image files), trains with the engine of
:mod:`spectromer.training` (AdamW, warm-up + cosine, AMP, checkpoints, early stopping,
DDP under ``torchrun``) and keeps the fitted network in ``model_``. ``save``/``load``
write a folder with the weights (``model.safetensors``) and everything else needed to
rebuild the estimator (``config.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..utils.atomic import atomic_path
from ..imaging import RenderConfig
from ..training import (
    Augmentation,
    PixelStandardizer,
    RenderedBatches,
    Trainer,
    TrainSettings,
    as_augmentation,
    as_source,
    autocast_dtype,
    predict_outputs,
    select_device,
)
from ..training.source import SpectrumSource

__all__ = ["SpectromerModel", "ModelFileError", "TASKS", "LOSSES"]

TASKS = ("classification", "regression")
LOSSES = ("auto", "cross_entropy", "mse", "huber", "gaussian_nll")
WEIGHTS_NAME = "model.safetensors"
#: Tensor names of the fitted PixelStandardizer inside ``model.safetensors``.
_STD_PREFIX = "spectromer.standardizer."
CONFIG_NAME = "config.json"
_FORMAT = "spectromer-model"
_FORMAT_VERSION = 1
#: Params that may differ between an interrupted run and the run resuming it.
_RUNTIME_PARAMS = (
    "device",
    "num_workers",
    "progress",
    "checkpoint_dir",
    "test_time_augmentation",
)


class ModelFileError(ValueError):
    """A saved model folder is missing, damaged, or does not match its configuration."""


def _seed(random_state: Any) -> int:
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**31))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    raise TypeError(f"random_state must be None or an int, got {random_state!r}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def _check_shared_params(est: Any) -> None:
    """Checks of the parameters SpectromerModel and MaskedImagePretrainer share."""
    for name in ("epochs", "batch_size"):
        value = getattr(est, name)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(est.num_workers, (int, np.integer)) and est.num_workers >= 0):
        raise ValueError(f"num_workers must be an integer >= 0, got {est.num_workers!r}")
    if not 0 <= est.validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {est.validation_fraction}")
    for name in ("render_options", "backbone_options"):
        value = getattr(est, name)
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"{name} must be a dict or None, got {type(value).__name__}")
    clash = {"kind", "size"} & set(est.render_options or {})
    if clash:
        raise ValueError(
            f"render_options may not set {sorted(clash)}: use representation= and image_size="
        )


def _render_config(est: Any) -> RenderConfig:
    """The RenderConfig of an estimator's ``representation``, ``image_size``, ``render_options``."""
    try:
        return RenderConfig(
            kind=est.representation, size=est.image_size, **(est.render_options or {})
        )
    except TypeError as err:
        raise ValueError(f"render_options: {err}") from None


class SpectromerModel(BaseEstimator):
    """Fine-tune a timm vision transformer on spectra rendered to images.

    A scikit-learn estimator: parameters are stored as given, fitted state ends in an
    underscore, ``fit`` returns ``self``, and ``get_params``, ``set_params`` and
    ``sklearn.base.clone`` work.

    Parameters
    ----------
    task : {"classification", "regression"}
        Predict labels (e.g. stellar subclass) or numbers (e.g. redshift).
    backbone : str
        Any timm model name (see :func:`spectromer.models.list_backbones`).
    pretrained : bool or path
        True: ImageNet weights through timm (needs network, or a hub cache). A path: a
        local ``.safetensors``/``.pth`` file of the backbone, loaded offline and adapted
        to ``image_size`` and the image's channels. False: train from scratch.
    representation : str
        Image kind (see :data:`spectromer.imaging.KINDS`).
    image_size : int
        Image side in pixels.
    render_options : dict, optional
        Other :class:`~spectromer.imaging.RenderConfig` fields (``fill_order``, ``grid``,
        ``block_size``, ``normalization``, ``mask_channel``, ...).
    backbone_options : dict, optional
        Passed to the timm constructor, e.g. ``{"patch_size": 8, "depth": 2}``.
    epochs, batch_size : int
        Passes over the data; spectra per step (and per process under ``torchrun``).
    lr : float or "auto"
        Peak AdamW learning rate; ``"auto"``: 1e-4 when fine-tuning pretrained weights,
        1e-3 from scratch.
    weight_decay : float
        AdamW weight decay (not applied to biases, norms and embeddings).
    warmup : float
        Epochs of linear warm-up before the cosine decay.
    label_smoothing : float
        Cross-entropy label smoothing (classification).
    class_weight : None, "balanced" or dict
        Weights of the classes in the loss, for imbalanced labels.
    loss : {"auto", "cross_entropy", "mse", "huber", "gaussian_nll"}
        ``"auto"``: cross-entropy for classification, MSE for regression.
        ``"gaussian_nll"`` trains a mean and a variance per target, so
        ``predict(..., return_std=True)`` gives a predictive uncertainty.
    augment : bool, dict or Augmentation
        Physical augmentations of the training spectra (see
        :class:`~spectromer.training.Augmentation`); True uses its defaults.
    validation_fraction : float
        Fraction of the training spectra held out (stratified for classification) to
        pick the best epoch; 0 trains on all and keeps the last epoch.
    early_stopping : bool or int
        Stop after this many epochs without improvement of the validation metric
        (True: 5). The best epoch's weights are kept whenever there is a validation set.
    grad_clip : float or None
        Gradient-norm clipping.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), or a torch device string.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Mixed precision (see :func:`spectromer.training.autocast_dtype`).
    num_workers : int
        Data-loader processes rendering images.
    checkpoint_dir : path, optional
        Checkpoint every epoch there (atomically); ``fit(..., resume=True)`` continues.
    random_state : int, optional
        Seed of initialisation, split, shuffling and augmentation; a CPU run with a
        seed is reproducible.
    progress : bool
        Progress bars and a line per epoch.
    standardize : {None, "append", "replace"}
        Per-pixel standardisation fitted on the training images
        (:class:`~spectromer.training.PixelStandardizer`): every pixel of every channel
        minus its mean over the training spectra, over their standard deviation. On the
        wavelength-true grids a pixel is one wavelength, so this is the per-wavelength
        z-score that an SVM pipeline's scaler computes. ``append`` adds the z-scores as
        extra channels, ``replace`` uses them alone; None (default) renders as is.
    test_time_augmentation : int
        At prediction, also predict this many augmented copies of every spectrum (the
        training augmentations, or the defaults when ``augment`` is off) and average:
        class probabilities for classification, values for regression. 0 (default):
        the plain prediction only. Each copy costs one more pass over the data.

    Attributes
    ----------
    model_ : torch.nn.Module
        The fitted network.
    classes_ : ndarray
        Class labels (classification).
    history_ : list of dict
        Per epoch: ``train_loss``, ``val_loss``, the validation metrics, ``lr``,
        ``seconds``, ``images_per_s``, ``data_fraction``.
    render_config_ : RenderConfig
        How spectra are turned into images.
    target_mean_, target_scale_ : ndarray
        Regression target standardisation (stored with the model).
    best_epoch_ : int
        The epoch whose weights were kept.
    device_ : str
        The device the model was trained on (``cpu``, ``cuda:0``...).
    precision_ : str
        The autocast precision of training (``fp32``, ``bfloat16``, ``float16``).
    standardizer_ : PixelStandardizer or None
        The fitted per-pixel standardisation (``standardize``), saved with the model.

    Examples
    --------
    A tiny ViT on the bundled LAMOST sample (A/F/G stars):

    >>> from spectromer import SpectromerModel
    >>> from spectromer.datasets import load_sample
    >>> ds = load_sample()
    >>> split = ds.load_split("default")
    >>> model = SpectromerModel(backbone="vit_tiny_patch16_224", pretrained=False,
    ...                         image_size=32, backbone_options=dict(patch_size=8, depth=2),
    ...                         epochs=1, batch_size=32, random_state=0, progress=False)
    >>> model.fit(ds, "type", indices=split["train"][::8]) is model
    True
    >>> model.classes_.tolist()
    ['A', 'F', 'G']
    >>> model.predict(ds, indices=[0, 1]).shape
    (2,)
    """

    def __init__(
        self,
        task: str = "classification",
        backbone: str = "vit_base_patch16_224",
        pretrained: bool | str | os.PathLike = True,
        representation: str = "map2dnormaldev",
        image_size: int = 224,
        render_options: dict[str, Any] | None = None,
        backbone_options: dict[str, Any] | None = None,
        epochs: int = 10,
        batch_size: int = 64,
        lr: float | str = "auto",
        weight_decay: float = 0.05,
        warmup: float = 1.0,
        label_smoothing: float = 0.0,
        class_weight: str | dict | None = None,
        loss: str = "auto",
        augment: Any = True,
        validation_fraction: float = 0.1,
        early_stopping: bool | int = False,
        grad_clip: float | None = 1.0,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | None = None,
        progress: bool = True,
        test_time_augmentation: int = 0,
        standardize: str | None = None,
    ) -> None:
        self.task = task
        self.backbone = backbone
        self.pretrained = pretrained
        self.representation = representation
        self.image_size = image_size
        self.render_options = render_options
        self.backbone_options = backbone_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight
        self.loss = loss
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.grad_clip = grad_clip
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress
        self.test_time_augmentation = test_time_augmentation
        self.standardize = standardize

    # -- scikit-learn plumbing ---------------------------------------------------------
    @property
    def _estimator_type(self) -> str:  # scikit-learn < 1.6
        return "classifier" if self.task == "classification" else "regressor"

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.estimator_type = self._estimator_type
        tags.non_deterministic = self.random_state is None
        return tags

    # -- validation of the parameters ----------------------------------------------------
    def _check_params(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.task == "classification" and self.loss not in ("auto", "cross_entropy"):
            raise ValueError(
                f"loss={self.loss!r} is for regression; classification uses cross_entropy"
            )
        if self.task == "regression" and self.loss == "cross_entropy":
            raise ValueError("loss='cross_entropy' is for classification")
        _check_shared_params(self)
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.lr != "auto" and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be 'auto' or a positive number, got {self.lr!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 epochs, got {self.warmup}")
        if self.standardize not in (None, "append", "replace"):
            raise ValueError(
                f"standardize must be None, 'append' or 'replace', got {self.standardize!r}"
            )

    def _render_config(self) -> RenderConfig:
        return _render_config(self)

    def _check_pretrained_file(self) -> None:
        """Warn when a pretrained backbone file was made for other images or options."""
        if not isinstance(self.pretrained, (str, os.PathLike)):
            return
        from .weights import read_backbone_metadata

        meta = read_backbone_metadata(self.pretrained)
        if not meta:
            return
        differ = []
        theirs = meta.get("render_config", {})
        ours = self.render_config_.to_dict()
        differ += [f"{k}: {theirs[k]!r} there, {ours[k]!r} here" for k in ours
                   if k in theirs and theirs[k] != ours[k]]  # fmt: skip
        options = meta.get("backbone_options", {})
        mine = _jsonable(self.backbone_options or {})
        differ += [f"backbone option {k}: {options.get(k)!r} there, {mine.get(k)!r} here"
                   for k in sorted(set(options) | set(mine))
                   if options.get(k) != mine.get(k)]  # fmt: skip
        if meta.get("backbone") not in (None, self.backbone):
            differ.append(f"backbone: {meta['backbone']!r} there, {self.backbone!r} here")
        if differ:
            warnings.warn(
                f"{self.pretrained} was pretrained on other images or another architecture "
                f"({'; '.join(differ[:4])}); the weights are adapted where they can be, but "
                "fine-tuning works best with the pretraining settings",
                UserWarning,
                stacklevel=3,
            )

    def _patience(self) -> int | None:
        if self.early_stopping is True:
            return 5
        if self.early_stopping in (False, None, 0):
            return None
        if isinstance(self.early_stopping, (int, np.integer)) and self.early_stopping > 0:
            return int(self.early_stopping)
        raise ValueError(
            f"early_stopping must be a bool or a positive int, got {self.early_stopping!r}"
        )

    def _loss_name(self) -> str:
        if self.loss != "auto":
            return self.loss
        return "cross_entropy" if self.task == "classification" else "mse"

    # -- targets -------------------------------------------------------------------------
    def _targets(self, X: Any, y: Any, source: SpectrumSource, indices: Any) -> np.ndarray:
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
                "y is required: an array of targets, or a label column name for a dataset"
            )
        else:
            values = np.asarray(y)
        if values.shape[0] != len(source):
            raise ValueError(f"y has {values.shape[0]} targets but X has {len(source)} spectra")
        return values

    def _encode_classes(self, values: np.ndarray, name: str) -> np.ndarray:
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
        self.classes_ = np.unique(values)
        if self.classes_.size < 2:
            raise ValueError(
                f"{name}: classification needs at least 2 classes, got {self.classes_.tolist()}"
            )
        return np.searchsorted(self.classes_, values).astype(np.int64)

    def _scale_targets(self, values: np.ndarray, name: str) -> np.ndarray:
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

    # -- the network ---------------------------------------------------------------------
    def _n_outputs(self) -> int:
        if self.task == "classification":
            return len(self.classes_)
        return self.n_targets_ * (2 if self._loss_name() == "gaussian_nll" else 1)

    def _build(self, pretrained: Any) -> Any:
        from .factory import create_model

        return create_model(
            self.backbone,
            num_outputs=self._n_outputs(),
            pretrained=pretrained,
            img_size=self.image_size,
            in_chans=self._in_chans(),
            **(self.backbone_options or {}),
        )

    def _in_chans(self) -> int:
        std = getattr(self, "standardizer_", None)
        channels = self.render_config_.channels
        return channels if std is None else std.channels(channels)

    def _loss_fn(self, class_weights: Any = None):
        import torch
        import torch.nn.functional as F  # noqa: N812

        name = self._loss_name()
        smoothing = float(self.label_smoothing)
        k = getattr(self, "n_targets_", 1)

        def loss_fn(out, y):
            if name == "cross_entropy":
                w = None if class_weights is None else class_weights.to(out.device)
                return F.cross_entropy(out, y, weight=w, label_smoothing=smoothing)
            y = y.reshape(len(y), -1).to(out.dtype)
            if name == "mse":
                return F.mse_loss(out, y)
            if name == "huber":
                return F.huber_loss(out, y, delta=1.0)
            mean, var = out[:, :k], F.softplus(out[:, k:]) + 1e-6
            return F.gaussian_nll_loss(mean, y, var)

        del torch
        return loss_fn

    def _class_weights(self, codes: np.ndarray) -> Any:
        import torch

        cw = self.class_weight
        if cw is None:
            return None
        if cw == "balanced":
            from sklearn.utils.class_weight import compute_class_weight

            w = compute_class_weight("balanced", classes=np.arange(len(self.classes_)), y=codes)
        elif isinstance(cw, dict):
            unknown = set(cw) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names unknown classes: {sorted(map(str, unknown))}")
            w = np.array([float(cw.get(c, 1.0)) for c in self.classes_.tolist()])
        else:
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {cw!r}")
        return torch.tensor(w, dtype=torch.float32)

    def _evaluate(self, out: np.ndarray, y: np.ndarray) -> dict[str, float]:
        if self.task == "classification":
            from sklearn.metrics import accuracy_score, f1_score

            pred = out.argmax(axis=1)
            return {
                "val_accuracy": float(accuracy_score(y, pred)),
                "val_f1_macro": float(f1_score(y, pred, average="macro", zero_division=0)),
            }
        from sklearn.metrics import mean_absolute_error, r2_score

        k = self.n_targets_
        mean = out[:, :k] * self.target_scale_ + self.target_mean_
        truth = y.reshape(len(y), -1) * self.target_scale_ + self.target_mean_
        return {
            "val_r2": float(r2_score(truth, mean)),
            "val_mae": float(mean_absolute_error(truth, mean)),
        }

    def _fingerprint(self, codes: np.ndarray, source: SpectrumSource) -> dict[str, Any]:
        params = {k: _jsonable(v) for k, v in self.get_params().items() if k not in _RUNTIME_PARAMS}
        digest = hashlib.sha256(np.ascontiguousarray(codes).tobytes()).hexdigest()[:16]
        return {"params": params, "n_spectra": len(source), "targets_sha256": digest}

    # -- fit -------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        wavelength: Any = None,
        indices: Any = None,
        resume: bool = False,
    ) -> SpectromerModel:
        """Train on spectra ``X`` with targets ``y``.

        Parameters
        ----------
        X : SpectraDataset, sequence of Spectrum, or ndarray
            The spectra (see :func:`spectromer.training.as_source`).
        y : str or array-like
            A label column of the dataset (e.g. ``"subclass"``), or one target per
            spectrum (labels for classification, numbers or (n, k) arrays for regression).
        wavelength : array or Quantity, optional
            Wavelength grid when ``X`` is a flux array.
        indices : array of int, optional
            Rows of a dataset to train on (e.g. a saved split's ``train``).
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir`` if there is one.

        Returns
        -------
        SpectromerModel
            ``self``, fitted.
        """
        import torch

        self._check_params()
        if resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir= (where the checkpoints are)")
        source = as_source(X, wavelength=wavelength, indices=indices)
        if len(source) < 2:
            raise ValueError(f"X: at least 2 spectra are needed to train, got {len(source)}")
        values = self._targets(X, y, source, indices)
        if self.task == "classification":
            targets = self._encode_classes(values, "y")
        else:
            targets = self._scale_targets(values, "y")
        self.render_config_ = self._render_config()
        self._check_pretrained_file()
        augment = as_augmentation(self.augment)
        seed = _seed(self.random_state)
        self.seed_ = seed
        train_rows, val_rows = self._split(targets, seed)
        self.standardizer_ = None
        if self.standardize is not None:
            self.standardizer_ = PixelStandardizer.fit(
                RenderedBatches(source[train_rows], self.render_config_), mode=self.standardize
            )
        lr = (
            self.lr
            if self.lr != "auto"
            else (1e-4 if self.pretrained not in (False, None) else 1e-3)
        )
        settings = TrainSettings(
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            lr=float(lr),
            weight_decay=float(self.weight_decay),
            warmup=float(self.warmup),
            grad_clip=self.grad_clip,
            patience=self._patience() if val_rows is not None else None,
            seed=seed,
            num_workers=int(self.num_workers),
        )
        device = select_device(self.device)
        autocast_dtype(self.precision, device)  # fail before building the model
        torch.manual_seed(seed)
        model = self._build(self.pretrained)
        std = self.standardizer_
        train = RenderedBatches(
            source[train_rows], self.render_config_, targets[train_rows], augment, seed, std
        )
        val = None
        if val_rows is not None:
            val = RenderedBatches(source[val_rows], self.render_config_, targets[val_rows],
                                  transform=std)  # fmt: skip
        trainer = Trainer(
            model,
            self._loss_fn(self._class_weights(targets) if self.task == "classification" else None),
            evaluate=self._evaluate,
            monitor="val_accuracy" if self.task == "classification" else "val_r2",
            settings=settings,
            device=device,
            precision=self.precision,
            checkpoint_dir=self.checkpoint_dir,
            fingerprint=self._fingerprint(targets, source),
            progress=bool(self.progress),
        )
        self.history_ = trainer.fit(train, val, resume=resume)
        self.model_ = trainer.model.eval()
        self.best_epoch_ = trainer.best_epoch if val is not None else len(self.history_)
        self.stopped_early_ = trainer.stopped_early
        self.n_train_ = int(train_rows.size)
        self.n_validation_ = 0 if val_rows is None else int(val_rows.size)
        self.device_ = str(device)
        self.precision_ = str(autocast_dtype(self.precision, device) or "fp32").replace(
            "torch.", ""
        )
        return self

    def _split(self, targets: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        n = len(targets)
        rows = np.arange(n)
        if self.validation_fraction <= 0:
            return rows, None
        n_val = int(round(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no validation or no "
                f"training spectra out of {n}; use 0 or more spectra"
            )
        from sklearn.model_selection import train_test_split

        stratify = None
        if self.task == "classification":
            counts = np.bincount(targets)
            if counts.min() >= 2 and n_val >= len(counts):
                stratify = targets
        tr, va = train_test_split(rows, test_size=n_val, random_state=seed, stratify=stratify)
        return np.sort(tr), np.sort(va)

    # -- inference -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "This SpectromerModel is not fitted yet: call fit() or SpectromerModel.load()"
            )

    def _outputs(self, X: Any, wavelength: Any, indices: Any, forward: Any = None) -> np.ndarray:
        self._check_fitted()
        source = as_source(X, wavelength=wavelength, indices=indices)
        if len(source) == 0:
            raise ValueError("X holds no spectra")
        device = select_device(self.device)
        n_tta = int(self.test_time_augmentation or 0) if forward is None else 0
        if n_tta < 0:
            raise ValueError(f"test_time_augmentation must be >= 0, got {n_tta}")
        augment = (as_augmentation(self.augment) or Augmentation()) if n_tta else None
        total = None
        for copy in range(n_tta + 1):
            data = RenderedBatches(source, self.render_config_, None, augment if copy else None,
                                   seed=int(getattr(self, "seed_", 0)) + 7919,
                                   transform=getattr(self, "standardizer_", None))  # fmt: skip
            data.set_epoch(copy)
            out, _ = predict_outputs(
                self.model_,
                data,
                int(self.batch_size),
                device,
                autocast_dtype(self.precision, device),
                int(self.num_workers),
                bool(self.progress) and copy == 0,
                forward=forward,
            )
            if n_tta and self.task == "classification":  # average probabilities
                out = out - out.max(axis=1, keepdims=True)
                out = np.exp(out)
                out /= out.sum(axis=1, keepdims=True)
            total = out if total is None else total + out
        out = total / (n_tta + 1)
        if n_tta and self.task == "classification":
            out = np.log(np.maximum(out, 1e-12))  # log-probabilities, as logits
        return out

    def predict(
        self, X: Any, *, wavelength: Any = None, indices: Any = None, return_std: bool = False
    ) -> Any:
        """Predict labels (classification) or values (regression) for spectra ``X``.

        Parameters
        ----------
        X, wavelength, indices
            As in :meth:`fit`.
        return_std : bool
            Regression with ``loss="gaussian_nll"`` only: also return the predictive
            standard deviation, in the units of the targets.

        Returns
        -------
        ndarray, or (ndarray, ndarray) with ``return_std``
        """
        out = self._outputs(X, wavelength, indices)
        if self.task == "classification":
            if return_std:
                raise ValueError("return_std is for regression models")
            return self.classes_[out.argmax(axis=1)]
        k = self.n_targets_
        mean = out[:, :k] * self.target_scale_ + self.target_mean_
        shape = (len(out),) if self._target_ndim == 1 else (len(out), k)
        mean = mean.reshape(shape)
        if not return_std:
            return mean
        if self._loss_name() != "gaussian_nll":
            raise ValueError("return_std needs a model trained with loss='gaussian_nll'")
        import torch

        var = torch.nn.functional.softplus(torch.from_numpy(out[:, k:])).numpy() + 1e-6
        return mean, (np.sqrt(var) * self.target_scale_).reshape(shape)

    def predict_proba(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Class probabilities, ``(n, len(classes_))`` (classification)."""
        if self.task != "classification":
            raise AttributeError("predict_proba is only available for task='classification'")
        out = self._outputs(X, wavelength, indices)
        out = out - out.max(axis=1, keepdims=True)
        p = np.exp(out)
        return p / p.sum(axis=1, keepdims=True)

    def score(self, X: Any, y: Any = None, *, wavelength: Any = None, indices: Any = None) -> float:
        """Accuracy (classification) or R^2 (regression) on ``X``, ``y``."""
        source = as_source(X, wavelength=wavelength, indices=indices)
        truth = self._targets(X, y, source, indices)
        pred = self.predict(X, wavelength=wavelength, indices=indices)
        if self.task == "classification":
            from sklearn.metrics import accuracy_score

            return float(accuracy_score(truth, pred))
        from sklearn.metrics import r2_score

        return float(r2_score(np.asarray(truth, dtype=float), pred))

    def transform(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Backbone embeddings (the features before the head), ``(n, embed_dim)``.

        For kNN or linear probes, or plots of the learned representation.
        """

        def forward(model, x):
            return model.forward_head(model.forward_features(x), pre_logits=True)

        return self._outputs(X, wavelength, indices, forward=forward)

    # -- persistence -------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        import timm
        import torch

        from .. import __version__

        fitted: dict[str, Any] = {
            "render_config": self.render_config_.to_dict(),
            "n_outputs": self._n_outputs(),
            "history": _jsonable(self.history_),
            "best_epoch": int(self.best_epoch_),
            "seed": int(self.seed_),
        }
        std = getattr(self, "standardizer_", None)
        if std is not None:
            fitted["standardizer"] = {"mode": std.mode, "clip": float(std.clip)}
        if self.task == "classification":
            fitted["classes"] = self.classes_.tolist()
        else:
            fitted["target_mean"] = self.target_mean_.tolist()
            fitted["target_scale"] = self.target_scale_.tolist()
            fitted["target_ndim"] = int(self._target_ndim)
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "spectromer_version": __version__,
            "torch_version": torch.__version__,
            "timm_version": timm.__version__,
            "params": _jsonable(self.get_params()),
            "fitted": fitted,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to folder ``path``: ``model.safetensors`` + ``config.json``.

        Both files are written atomically; the config records the weights' SHA-256, so
        a folder left half-written by an interrupted save is detected on load.

        Returns
        -------
        Path
            The folder.
        """
        from safetensors.torch import save_file

        self._check_fitted()
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(f"{folder} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}
        std = getattr(self, "standardizer_", None)
        if std is not None:
            import torch

            state[_STD_PREFIX + "mean"] = torch.from_numpy(std.mean)
            state[_STD_PREFIX + "scale"] = torch.from_numpy(std.scale)
        weights = folder / WEIGHTS_NAME
        with atomic_path(weights) as tmp:
            save_file(state, str(tmp), metadata={"format": _FORMAT})
        config = self._config()
        config["weights_sha256"] = _sha256(weights)
        with atomic_path(folder / CONFIG_NAME) as tmp:
            tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> SpectromerModel:
        """Load a model written by :meth:`save`.

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
        from safetensors.torch import load_file

        folder = Path(path)
        cfg_path, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        for p in (cfg_path, weights):
            if not p.is_file():
                raise ModelFileError(f"{folder}: no {p.name}; not a saved SpectromerModel folder")
        try:
            config = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ModelFileError(f"{cfg_path}: not valid JSON ({err})") from None
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise ModelFileError(
                f"{cfg_path}: not a SpectromerModel config (format is not {_FORMAT!r})"
            )
        if int(config.get("format_version", -1)) > _FORMAT_VERSION:
            raise ModelFileError(
                f"{cfg_path}: format version {config['format_version']} is newer than this "
                f"Spectromer understands ({_FORMAT_VERSION}); upgrade spectromer"
            )
        for key in ("params", "fitted", "weights_sha256"):
            if key not in config:
                raise ModelFileError(f"{cfg_path}: the config lacks {key!r}")
        if _sha256(weights) != config["weights_sha256"]:
            raise ModelFileError(
                f"{weights}: its checksum differs from the one in {CONFIG_NAME}; the files do not "
                "belong together (an interrupted save, or a file replaced by hand)"
            )
        from .. import __version__

        saved = str(config.get("spectromer_version", "?"))
        if saved.split(".")[0] != __version__.split(".")[0]:
            warnings.warn(
                f"{folder} was saved by spectromer {saved}; this is {__version__}",
                UserWarning,
                stacklevel=2,
            )
        params = dict(config["params"])
        if device is not None:
            params["device"] = device
        try:
            model = cls(**params)
        except TypeError as err:
            raise ModelFileError(
                f"{cfg_path}: parameters do not fit SpectromerModel ({err})"
            ) from None
        fitted = config["fitted"]
        model.render_config_ = RenderConfig.from_dict(fitted["render_config"])
        if model.task == "classification":
            model.classes_ = np.asarray(fitted["classes"])
        else:
            model.target_mean_ = np.asarray(fitted["target_mean"], dtype=np.float64)
            model.target_scale_ = np.asarray(fitted["target_scale"], dtype=np.float64)
            model.n_targets_ = len(model.target_mean_)
            model._target_ndim = int(fitted["target_ndim"])
        if model._n_outputs() != int(fitted["n_outputs"]):
            raise ModelFileError(f"{cfg_path}: inconsistent output count in the config")
        model.history_ = fitted["history"]
        model.best_epoch_ = fitted["best_epoch"]
        model.seed_ = fitted["seed"]
        state = load_file(str(weights))
        model.standardizer_ = None
        if "standardizer" in fitted:
            try:
                model.standardizer_ = PixelStandardizer(
                    state.pop(_STD_PREFIX + "mean").numpy(),
                    state.pop(_STD_PREFIX + "scale").numpy(),
                    **fitted["standardizer"],
                )
            except (KeyError, TypeError, ValueError) as err:
                raise ModelFileError(
                    f"{weights}: the pixel standardisation the config names is missing or "
                    f"broken ({err})"
                ) from None
        net = model._build(False)
        expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in state.items()}
        if expected != got:
            missing = sorted(set(expected) - set(got))
            extra = sorted(set(got) - set(expected))
            shape = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
            raise ModelFileError(
                f"{weights} does not fit the architecture in {CONFIG_NAME} "
                f"({params.get('backbone')}): missing {missing[:5]}, unexpected {extra[:5]}, "
                f"shape differs for {[(k, got[k], expected[k]) for k in shape[:5]]}"
            )
        net.load_state_dict(state)
        model.model_ = net.eval()
        return model
