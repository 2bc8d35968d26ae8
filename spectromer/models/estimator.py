"""``SpectromerModel``: a scikit-learn estimator that fine-tunes timm vision transformers
on spectra rendered to images.

``fit`` renders spectra on the fly (no image files), trains with the engine of
:mod:`spectromer.training` (AdamW, warm-up + cosine, AMP, checkpoints, early stopping,
DDP under ``torchrun``) and keeps the fitted network in ``model_``. ``save``/``load``
write a folder with the weights (``model.safetensors``) and everything else needed to
rebuild the estimator (``config.json``). The fit skeleton, the parameter checks, the
tags and save/load are those of every learner (:mod:`spectromer.models.base`,
:mod:`spectromer.models.image`); this module holds what is the estimator's own: its
targets, network, loss, metrics and predictions.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from ..spectra import SpectrumSource
from ..training import Augmentation, PixelStandardizer, as_augmentation
from .image import ImageLearner
from .persistence import ModelFileError, jsonable

__all__ = ["SpectromerModel", "ModelFileError", "TASKS", "LOSSES"]

TASKS = ("classification", "regression")
LOSSES = ("auto", "cross_entropy", "mse", "huber", "gaussian_nll")
#: Tensor names of the fitted PixelStandardizer inside ``model.safetensors``.
_STD_PREFIX = "spectromer.standardizer."


def _is_classifier(model: SpectromerModel) -> bool:
    return model.task == "classification"


class SpectromerModel(ImageLearner):
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

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **ImageLearner._parameter_constraints,
        "task": [StrOptions(set(TASKS))],
        "pretrained": ["boolean", str, os.PathLike, None],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "loss": [StrOptions(set(LOSSES))],
        "early_stopping": ["boolean", Interval(Integral, 0, None, closed="left"), None],
        "grad_clip": [Interval(Real, 0, None, closed="neither"), None],
        "standardize": [StrOptions({"append", "replace"}), None],
        "test_time_augmentation": [Interval(Integral, 0, None, closed="left")],
    }
    _file_format: ClassVar[str] = "spectromer-model"
    _file_format_version: ClassVar[int] = 1

    # -- parameters ------------------------------------------------------------------------
    def _check_param_combinations(self) -> None:
        if self.task == "classification" and self.loss not in ("auto", "cross_entropy"):
            raise ValueError(
                f"loss={self.loss!r} is for regression; classification uses cross_entropy"
            )
        if self.task == "regression" and self.loss == "cross_entropy":
            raise ValueError("loss='cross_entropy' is for classification")
        super()._check_param_combinations()

    def _learning_rate(self) -> float:
        if self.lr != "auto":
            return float(self.lr)
        return 1e-4 if self.pretrained not in (False, None) else 1e-3

    def _grad_clip(self) -> float | None:
        return self.grad_clip

    def _patience(self) -> int | None:
        if self.early_stopping is True:
            return 5
        if self.early_stopping in (False, None, 0):
            return None
        return int(self.early_stopping)

    def _loss_name(self) -> str:
        if self.loss != "auto":
            return self.loss
        return "cross_entropy" if self.task == "classification" else "mse"

    def _prepare(self, source: SpectrumSource) -> None:
        super()._prepare(source)
        self._check_pretrained_file()

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
        mine = jsonable(self.backbone_options or {})
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
                stacklevel=4,
            )

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

    def _fit_targets(self, X: Any, y: Any, source: SpectrumSource, indices: Any) -> np.ndarray:
        values = self._targets(X, y, source, indices)
        if self.task == "classification":
            codes = self._encode_classes(values, "y")
            self._class_weights(codes)  # refuse a bad class_weight before any rendering
            return codes
        return self._scale_targets(values, "y")

    def _encode_classes(self, values: np.ndarray, name: str) -> np.ndarray:
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

    def _class_weights(self, codes: np.ndarray) -> np.ndarray | None:
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, dict):
            unknown = set(cw) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names unknown classes: {sorted(map(str, unknown))}")
            try:
                return np.array([float(cw.get(c, 1.0)) for c in self.classes_.tolist()])
            except (TypeError, ValueError):
                raise ValueError(f"class_weight values must be numbers, got {cw!r}") from None
        from sklearn.utils.class_weight import compute_class_weight

        return compute_class_weight("balanced", classes=np.arange(len(self.classes_)), y=codes)

    # -- the network ---------------------------------------------------------------------
    def _n_outputs(self) -> int:
        if self.task == "classification":
            return len(self.classes_)
        return self.n_targets_ * (2 if self._loss_name() == "gaussian_nll" else 1)

    def _build_module(self, initial: bool) -> Any:
        return self._build(self.pretrained if initial else False)

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

    def _before_training(self, source: SpectrumSource, train_rows: np.ndarray) -> None:
        self.standardizer_ = None
        if self.standardize is not None:
            self.standardizer_ = PixelStandardizer.fit(
                self._images(source[train_rows]), mode=self.standardize
            )

    def _loss(self, targets: np.ndarray) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        name = self._loss_name()
        smoothing = float(self.label_smoothing)
        k = getattr(self, "n_targets_", 1)
        weights = self._class_weights(targets) if self.task == "classification" else None
        class_weights = None if weights is None else torch.tensor(weights, dtype=torch.float32)

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

        return loss_fn

    def _monitor(self) -> str:
        return "val_accuracy" if self.task == "classification" else "val_r2"

    def _metrics(self, out: np.ndarray, y: np.ndarray) -> dict[str, float]:
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
        digest = hashlib.sha256(np.ascontiguousarray(codes).tobytes()).hexdigest()[:16]
        return {**super()._fingerprint(codes, source), "targets_sha256": digest}

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

        Every parameter is checked first, before any spectrum is read or rendered.

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
        return super().fit(X, y, wavelength=wavelength, indices=indices, resume=resume)

    # -- inference -------------------------------------------------------------------------
    def _outputs(self, X: Any, wavelength: Any, indices: Any, forward: Any = None) -> np.ndarray:
        source = self._inference_source(X, wavelength, indices)
        n_tta = int(self.test_time_augmentation or 0) if forward is None else 0
        augment = (as_augmentation(self.augment) or Augmentation()) if n_tta else None
        total = None
        for copy in range(n_tta + 1):
            data = self._images(source, None, augment if copy else None,
                                seed=int(getattr(self, "seed_", 0)) + 7919)  # fmt: skip
            data.set_epoch(copy)
            out = self._run(self.model_, data, forward=forward,
                            progress=bool(self.progress) and copy == 0)  # fmt: skip
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
        if return_std and self.task == "classification":
            raise ValueError("return_std is for regression models")
        if return_std and self._loss_name() != "gaussian_nll":
            raise ValueError("return_std needs a model trained with loss='gaussian_nll'")
        out = self._outputs(X, wavelength, indices)
        if self.task == "classification":
            return self.classes_[out.argmax(axis=1)]
        k = self.n_targets_
        mean = out[:, :k] * self.target_scale_ + self.target_mean_
        shape = (len(out),) if self._target_ndim == 1 else (len(out), k)
        mean = mean.reshape(shape)
        if not return_std:
            return mean
        import torch

        var = torch.nn.functional.softplus(torch.from_numpy(out[:, k:])).numpy() + 1e-6
        return mean, (np.sqrt(var) * self.target_scale_).reshape(shape)

    @available_if(_is_classifier)
    def predict_proba(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Class probabilities, ``(n, len(classes_))`` (classification only).

        A regressor has no ``predict_proba`` attribute at all (``hasattr`` is False).
        """
        out = self._outputs(X, wavelength, indices)
        out = out - out.max(axis=1, keepdims=True)
        p = np.exp(out)
        return p / p.sum(axis=1, keepdims=True)

    def score(self, X: Any, y: Any = None, *, wavelength: Any = None, indices: Any = None) -> float:
        """Accuracy (classification) or R^2 (regression) on ``X``, ``y``."""
        source = self._as_source(X, wavelength, indices)
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
    def _fitted_config(self) -> dict[str, Any]:
        fitted = {**super()._fitted_config(), "n_outputs": self._n_outputs()}
        std = getattr(self, "standardizer_", None)
        if std is not None:
            fitted["standardizer"] = {"mode": std.mode, "clip": float(std.clip)}
        if self.task == "classification":
            fitted["classes"] = self.classes_.tolist()
        else:
            fitted["target_mean"] = self.target_mean_.tolist()
            fitted["target_scale"] = self.target_scale_.tolist()
            fitted["target_ndim"] = int(self._target_ndim)
        return fitted

    def _fitted_tensors(self) -> dict[str, Any]:
        std = getattr(self, "standardizer_", None)
        if std is None:
            return {}
        import torch

        return {_STD_PREFIX + "mean": torch.from_numpy(std.mean),
                _STD_PREFIX + "scale": torch.from_numpy(std.scale)}  # fmt: skip

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any], where: Path) -> None:
        from .persistence import CONFIG_NAME, WEIGHTS_NAME

        super()._restore_fitted(fitted, state, where)
        if self.task == "classification":
            self.classes_ = np.asarray(fitted["classes"])
        else:
            self.target_mean_ = np.asarray(fitted["target_mean"], dtype=np.float64)
            self.target_scale_ = np.asarray(fitted["target_scale"], dtype=np.float64)
            self.n_targets_ = len(self.target_mean_)
            self._target_ndim = int(fitted["target_ndim"])
        if self._n_outputs() != int(fitted["n_outputs"]):
            raise ModelFileError(f"{where / CONFIG_NAME}: inconsistent output count in the config")
        self.standardizer_ = None
        if "standardizer" in fitted:
            try:
                self.standardizer_ = PixelStandardizer(
                    state.pop(_STD_PREFIX + "mean").numpy(),
                    state.pop(_STD_PREFIX + "scale").numpy(),
                    **fitted["standardizer"],
                )
            except (KeyError, TypeError, ValueError) as err:
                raise ModelFileError(
                    f"{where / WEIGHTS_NAME}: the pixel standardisation the config names is "
                    f"missing or broken ({err})"
                ) from None
