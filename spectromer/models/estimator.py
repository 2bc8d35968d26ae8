"""``SpectromerModel``: a scikit-learn estimator that fine-tunes timm vision transformers
on spectra rendered to images.

``fit`` renders spectra on the fly (no image files), trains with the engine of
:mod:`spectromer.training` (AdamW, warm-up + cosine, AMP, checkpoints, early stopping,
DDP under ``torchrun``) and keeps the fitted network in ``model_``. ``save``/``load``
write a folder with the weights (``model.safetensors``) and everything else needed to
rebuild the estimator (``config.json``). The fit skeleton, the parameter checks, the
tags, the targets (labels and classes, regression standardisation), predictions and
save/load are those of every learner (:mod:`spectromer.models.base`,
:mod:`spectromer.models.image`); this module holds what is the estimator's own: its
network, class weights, losses (with the Gaussian predictive uncertainty) and
test-time augmentation.
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..spectra import SpectrumSource
from ..training import Augmentation, PixelStandardizer, as_augmentation
from .image import ImageLearner
from .persistence import ModelFileError, jsonable
from .weights import write_backbone

__all__ = ["SpectromerModel", "ModelFileError", "TASKS", "LOSSES"]

TASKS = ("classification", "regression")
LOSSES = ("auto", "cross_entropy", "mse", "huber", "gaussian_nll")
#: What ``backbone="auto"`` and ``image_size=None`` resolve to on a CUDA GPU (the paper's).
_PAPER_BACKBONE, _PAPER_IMAGE_SIZE = "vit_base_patch16_224", 224
#: Tensor names of the fitted PixelStandardizer inside ``model.safetensors``.
_STD_PREFIX = "spectromer.standardizer."


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
        Any timm model name (see :func:`spectromer.models.list_backbones`), or
        ``"auto"`` (default), resolved at ``fit`` for where it runs: on a CUDA GPU the
        paper's ``vit_base_patch16_224``; elsewhere (CPU, MPS) the measured small
        preset of the benchmark (``VIT_PRESETS["default"]`` of
        :mod:`spectromer.models.presets`: ``vit_tiny_patch16_224`` with 6 blocks
        and 8-pixel patches, the boustrophedon fill order and, with
        ``standardize="auto"``, z-score channels; ``backbone_options`` and
        ``render_options`` given here are applied over the preset's).
    pretrained : bool, path or "auto"
        True: ImageNet weights through timm (needs network, or a hub cache). A path: a
        local ``.safetensors``/``.pth`` file of the backbone, loaded offline and adapted
        to ``image_size`` and the image's channels. False: train from scratch.
        ``"auto"`` (default): True on a CUDA GPU, False elsewhere (no network needed).
    representation : str
        Image kind (see :data:`spectromer.imaging.KINDS`).
    image_size : int or None
        Image side in pixels; None (default): 224 on a CUDA GPU, the preset's 64
        elsewhere.
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
        extra channels, ``replace`` uses them alone; None renders as is. ``"auto"``
        (default): the preset's ``"append"`` where ``backbone="auto"`` resolves to the
        CPU preset, None otherwise.
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
    backbone_, image_size_, pretrained_, standardize_ : str, int, bool or str, str or None
        The choices the ``"auto"``/None parameters resolved to at ``fit`` (the given
        values where they were set), saved with the model.
    backbone_options_, render_options_ : dict or None
        The backbone and render options used (the preset's, under the given ones).

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
        backbone: str = "auto",
        pretrained: bool | str | os.PathLike = "auto",
        representation: str = "map2dnormaldev",
        image_size: int | None = None,
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
        standardize: str | None = "auto",
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
        "standardize": [StrOptions({"append", "replace", "auto"}), None],
        "image_size": [Interval(Integral, 1, None, closed="left"), None],
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

    # -- "auto" choices -------------------------------------------------------------------
    def _resolved(self) -> dict[str, Any]:
        """The architecture as trained: fitted, or resolved now for ``device``."""
        fitted = getattr(self, "_resolution", None)
        return fitted if fitted is not None else self._resolve()

    def _resolve(self) -> dict[str, Any]:
        """``backbone``, ``image_size``, ``pretrained``, ``standardize`` and the options,
        with ``"auto"``/None resolved: the paper's on CUDA, the CPU preset elsewhere."""
        from ..training import select_device
        from .presets import VIT_PRESETS  # the one measured preset

        auto = ("auto" in (self.backbone, self.pretrained, self.standardize)
                or self.image_size is None)  # fmt: skip
        gpu = auto and select_device(self.device).type == "cuda"
        preset = VIT_PRESETS["default"]
        auto_backbone = self.backbone == "auto"
        from_preset = auto_backbone and not gpu
        backbone_options = dict(preset["backbone_options"]) if from_preset else {}
        backbone_options.update(self.backbone_options or {})
        render_options = dict(preset.get("render_options") or {}) if from_preset else {}
        render_options.update(self.render_options or {})
        return {
            "backbone": (self.backbone if not auto_backbone
                         else _PAPER_BACKBONE if gpu else preset["backbone"]),
            "image_size": (int(self.image_size) if self.image_size is not None
                           else _PAPER_IMAGE_SIZE if gpu else int(preset["image_size"])),
            "pretrained": (jsonable(self.pretrained) if self.pretrained != "auto" else gpu),
            "standardize": (self.standardize if self.standardize != "auto"
                            else preset["standardize"] if from_preset else None),
            "backbone_options": backbone_options or None,
            "render_options": render_options or None,
        }  # fmt: skip

    def _image_params(self) -> tuple[Any, Any]:
        r = self._resolved()
        return r["image_size"], r["render_options"]

    def _check_resolution(self, resolution: dict[str, Any], where: Path) -> None:
        """Refuse a saved resolution that the given (not "auto") parameters contradict."""
        given = {
            "backbone": None if self.backbone == "auto" else self.backbone,
            "image_size": self.image_size,
            "standardize": None if self.standardize == "auto" else self.standardize,
        }
        wrong = [f"{k}={v!r}" for k, v in given.items()
                 if v is not None and resolution.get(k) != v]  # fmt: skip
        for key in ("backbone_options", "render_options"):
            theirs = jsonable(resolution.get(key) or {})
            wrong += [f"{key}[{k!r}]={v!r}" for k, v in jsonable(getattr(self, key) or {}).items()
                      if theirs.get(k) != v]  # fmt: skip
        if wrong:
            raise ModelFileError(
                f"{where}: the parameters say {', '.join(wrong)}, which does not fit the "
                f"architecture the model was trained with ({resolution})"
            )

    def _set_resolution(self, resolution: dict[str, Any]) -> None:
        self._resolution = resolution
        for key, value in resolution.items():
            setattr(self, key + "_", value)

    def _fingerprint(self, targets: np.ndarray, source: SpectrumSource) -> dict[str, Any]:
        # what "auto" became is part of the run (a resume elsewhere must not change it)
        return {**super()._fingerprint(targets, source), "resolved": self._resolved()}

    def _learning_rate(self) -> float:
        if self.lr != "auto":
            return float(self.lr)
        return 1e-4 if self._resolved()["pretrained"] not in (False, None) else 1e-3

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
        self._set_resolution(self._resolve())  # what "auto" means here, kept from now on
        super()._prepare(source)
        self._check_pretrained_file()

    def _check_pretrained_file(self) -> None:
        """Warn when a pretrained backbone file was made for other images or options."""
        arch = self._resolved()
        if not isinstance(arch["pretrained"], (str, os.PathLike)):
            return
        from .weights import read_backbone_metadata

        meta = read_backbone_metadata(arch["pretrained"])
        if not meta:
            return
        differ = []
        theirs = meta.get("render_config", {})
        ours = self.render_config_.to_dict()
        differ += [f"{k}: {theirs[k]!r} there, {ours[k]!r} here" for k in ours
                   if k in theirs and theirs[k] != ours[k]]  # fmt: skip
        options = meta.get("backbone_options", {})
        mine = jsonable(arch["backbone_options"] or {})
        differ += [f"backbone option {k}: {options.get(k)!r} there, {mine.get(k)!r} here"
                   for k in sorted(set(options) | set(mine))
                   if options.get(k) != mine.get(k)]  # fmt: skip
        if meta.get("backbone") not in (None, arch["backbone"]):
            differ.append(f"backbone: {meta['backbone']!r} there, {arch['backbone']!r} here")
        if differ:
            warnings.warn(
                f"{arch['pretrained']} was pretrained on other images or another architecture "
                f"({'; '.join(differ[:4])}); the weights are adapted where they can be, but "
                "fine-tuning works best with the pretraining settings",
                UserWarning,
                stacklevel=4,
            )

    # -- targets -------------------------------------------------------------------------
    def _fit_targets(self, X: Any, y: Any, source: SpectrumSource, indices: Any) -> np.ndarray:
        targets = super()._fit_targets(X, y, source, indices)
        if self.task == "classification":
            self._class_weights(targets)  # refuse a bad class_weight before any rendering
        return targets

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
        gaussian = self.task == "regression" and self._loss_name() == "gaussian_nll"
        return super()._n_outputs() * (2 if gaussian else 1)  # a mean and a variance

    def _build_module(self, initial: bool) -> Any:
        return self._build(self._resolved()["pretrained"] if initial else False)

    def _build(self, pretrained: Any) -> Any:
        from .factory import create_model
        from .weights import PretrainedWeightsUnavailable

        arch = self._resolved()
        try:
            return create_model(
                arch["backbone"],
                num_outputs=self._n_outputs(),
                pretrained=pretrained,
                img_size=arch["image_size"],
                in_chans=self._in_chans(),
                **(arch["backbone_options"] or {}),
            )
        except PretrainedWeightsUnavailable as err:  # the hint names what the user called
            use = type(self).__name__ + "(backbone={backbone!r}, pretrained={file!r})"
            raise err.naming(use) from err.__cause__

    def _in_chans(self) -> int:
        std = getattr(self, "standardizer_", None)
        channels = self.render_config_.channels
        return channels if std is None else std.channels(channels)

    def _before_training(self, source: SpectrumSource, train_rows: np.ndarray) -> None:
        self.standardizer_ = None
        mode = self._resolved()["standardize"]
        if mode is not None:
            self.standardizer_ = PixelStandardizer.fit(self._images(source[train_rows]), mode=mode)

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

    # -- fit -------------------------------------------------------------------------------
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
        validation : (X_val, y_val), optional
            Spectra and targets to validate on (and pick the best epoch by) instead of
            holding out ``validation_fraction`` of ``X``, e.g. a saved split's
            ``validation`` rows: ``(as_source(ds, indices=split["validation"]),
            ds.labels("type")[split["validation"]])``.
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir`` if there is one.

        overwrite : bool
            Start over, replacing the checkpoint of an earlier run in ``checkpoint_dir``
            (without it, and without ``resume``, such a checkpoint is refused with
            :class:`~spectromer.training.CheckpointExists`).

        Returns
        -------
        SpectromerModel
            ``self``, fitted.
        """
        self.__dict__.pop("_resolution", None)  # "auto" is resolved afresh by every fit
        return super().fit(X, y, wavelength=wavelength, indices=indices, validation=validation,
                           resume=resume, overwrite=overwrite)

    # -- inference -------------------------------------------------------------------------
    def _outputs(self, X: Any, wavelength: Any = None, indices: Any = None,
                 forward: Any = None) -> np.ndarray:  # fmt: skip
        """The base's outputs, averaged over ``test_time_augmentation`` augmented copies."""
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
                out = self._probabilities(out)
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
        if not return_std:
            return super().predict(X, wavelength=wavelength, indices=indices)
        import torch

        out = self._outputs(X, wavelength, indices)
        mean = self._decode_outputs(out)
        k = self.n_targets_
        var = torch.nn.functional.softplus(torch.from_numpy(out[:, k:])).numpy()
        return mean, (np.sqrt(var + 1e-6) * self.target_scale_).reshape(mean.shape)

    def save_backbone(self, path: str | os.PathLike) -> Path:
        """Write the fitted network to a ``.safetensors`` backbone file, atomically.

        The start of another fine-tuning, ``SpectromerModel(pretrained=path)``: for
        example supervised pretraining on simulated spectra, then fine-tuning on real
        ones. The head comes along and is kept when the next model has as many outputs
        (otherwise it is fresh). The metadata (:func:`read_backbone_metadata`) records
        the architecture, the render configuration and how it was trained.

        Parameters
        ----------
        path : path
            Output file, ending in ``.safetensors``.

        Returns
        -------
        Path
            The file.

        Examples
        --------
        >>> import os, tempfile
        >>> from spectromer import SpectromerModel
        >>> from spectromer.datasets import load_sample
        >>> from spectromer.models import read_backbone_metadata
        >>> ds = load_sample()
        >>> kw = dict(backbone="vit_tiny_patch16_224", pretrained=False, image_size=32,
        ...           backbone_options={"patch_size": 8, "depth": 1}, epochs=1,
        ...           progress=False, random_state=0)
        >>> m = SpectromerModel(**kw).fit(ds[::15], ds.labels("type")[::15])
        >>> path = m.save_backbone(os.path.join(tempfile.mkdtemp(), "sup.safetensors"))
        >>> read_backbone_metadata(path)["pretraining"]["method"]
        'supervised (classification)'
        >>> fine = SpectromerModel(**{**kw, "pretrained": str(path)})
        >>> fine = fine.fit(ds[1::15], ds.labels("type")[1::15])
        """
        self._check_fitted()
        arch = self._resolved()
        pretraining = {
            "method": f"supervised ({self.task})",
            "params": {k: v for k, v in self.get_params().items() if k != "progress"},
            "classes": [str(c) for c in getattr(self, "classes_", [])],
            "best_epoch": int(self.best_epoch_),
        }
        return write_backbone(
            path,
            self.model_.state_dict(),
            backbone=arch["backbone"],
            backbone_options=arch["backbone_options"],
            render_config=self.render_config_.to_dict(),
            pretraining=pretraining,
        )

    def transform(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Backbone embeddings (the features before the head), ``(n, embed_dim)``.

        For kNN or linear probes, or plots of the learned representation.
        """

        def forward(model, x):
            return model.forward_head(model.forward_features(x), pre_logits=True)

        return self._outputs(X, wavelength, indices, forward=forward)

    # -- persistence -------------------------------------------------------------------------
    def _fitted_config(self) -> dict[str, Any]:
        fitted = {**super()._fitted_config(), "n_outputs": self._n_outputs(),
                  "resolved": jsonable(self._resolved())}  # fmt: skip
        std = getattr(self, "standardizer_", None)
        if std is not None:
            fitted["standardizer"] = {"mode": std.mode, "clip": float(std.clip)}
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

        # models saved before "auto" existed have explicit parameters: they resolve to them
        resolution = fitted.get("resolved") or self._resolve()
        self._check_resolution(resolution, where / CONFIG_NAME)
        self._set_resolution(resolution)
        super()._restore_fitted(fitted, state, where)
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
