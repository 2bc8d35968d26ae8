"""``MaskedImagePretrainer``: self-supervised masked-image pretraining on unlabelled spectra.

A vision transformer trained from scratch on a few thousand labelled spectra has to learn
what a spectrum looks like and what separates the classes at once. Masked-image
pretraining teaches it the first part from spectra without labels: every spectrum is
rendered exactly as for fine-tuning, most of its patches are hidden, and the ViT learns
to let a small decoder rebuild them (:class:`~spectromer.models.mae.MaskedAutoencoder`).
The pretrained ViT is saved with :meth:`MaskedImagePretrainer.save_backbone` and
fine-tuned by :class:`~spectromer.SpectromerModel` with ``pretrained=`` that file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..utils.atomic import atomic_path
from ..training import (
    ConcatSource,
    RenderedBatches,
    SpectrumSource,
    Trainer,
    TrainSettings,
    as_augmentation,
    as_source,
    predict_outputs,
    select_device,
)
from ..training.source import _is_dataset
from .estimator import _check_shared_params, _jsonable, _render_config, _seed
from .weights import BACKBONE_FORMAT

__all__ = ["MaskedImagePretrainer"]


def _mean_loss(out: Any, _: Any) -> Any:
    return out.mean()


def _no_metrics(out: np.ndarray, _: np.ndarray) -> dict[str, float]:
    return {}


class MaskedImagePretrainer(BaseEstimator):
    """Pretrain a timm vision transformer on unlabelled spectra by masked-image modelling.

    The spectra are rendered on the fly exactly as :class:`~spectromer.SpectromerModel`
    renders them (same ``representation``, ``image_size`` and ``render_options``); a
    masked autoencoder hides ``mask_ratio`` of the patches of each image and learns to
    rebuild them. Afterwards :meth:`save_backbone` writes the ViT for fine-tuning and
    :meth:`transform` gives its features.

    Parameters
    ----------
    backbone : str
        timm vision-transformer name (``vit_*``, ``deit_*``).
    representation : str
        Image kind (see :data:`spectromer.imaging.KINDS`).
    image_size : int
        Image side in pixels.
    render_options : dict, optional
        Other :class:`~spectromer.imaging.RenderConfig` fields.
    backbone_options : dict, optional
        Passed to the timm constructor, e.g. ``{"patch_size": 8, "depth": 6}``.
    mask_ratio : float
        Fraction of patches hidden per image.
    decoder_dim, decoder_depth, decoder_heads : int
        Size of the (discarded) decoder.
    norm_pix_loss : bool
        Rebuild each patch standardised by its own mean and scale.
    epochs, batch_size : int
        Passes over the spectra; spectra per step.
    lr, weight_decay, warmup : float
        AdamW peak learning rate, weight decay, and warm-up epochs before cosine decay.
    augment : bool, dict or Augmentation
        Physical augmentations (see :class:`~spectromer.training.Augmentation`).
    validation_fraction : float
        Spectra held out to follow the reconstruction loss (with a fixed mask) and keep
        the best epoch; 0 keeps the last.
    device, precision, num_workers, checkpoint_dir, random_state, progress
        As for :class:`~spectromer.SpectromerModel`.

    Attributes
    ----------
    model_ : torch.nn.Module
        The masked autoencoder; ``model_.encoder`` is the pretrained ViT.
    render_config_ : RenderConfig
        How spectra were rendered.
    history_ : list of dict
        Per epoch: ``train_loss``, ``val_loss``, ``lr``, ``seconds``, ...
    best_epoch_ : int
        Epoch whose weights were kept.
    n_spectra_ : int
        Spectra pretrained on (training part).
    fit_seconds_ : float
        Wall time of ``fit``.

    Examples
    --------
    >>> import tempfile, os
    >>> from spectromer import SpectromerModel
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.models import MaskedImagePretrainer
    >>> ds = load_sample()
    >>> small = dict(backbone="vit_tiny_patch16_224", image_size=32,
    ...              backbone_options=dict(patch_size=8, depth=2))
    >>> mae = MaskedImagePretrainer(**small, epochs=1, random_state=0, progress=False)
    >>> mae.fit(ds, indices=range(64)) is mae
    True
    >>> path = mae.save_backbone(os.path.join(tempfile.mkdtemp(), "mae.safetensors"))
    >>> mae.transform(ds, indices=[0, 1]).shape  # ViT features of two spectra
    (2, 192)
    >>> model = SpectromerModel(**small, pretrained=path, epochs=1, progress=False,
    ...                         random_state=0).fit(ds, "type", indices=range(0, 600, 8))
    >>> model.predict(ds, indices=[0]).shape
    (1,)
    """

    def __init__(
        self,
        backbone: str = "vit_tiny_patch16_224",
        representation: str = "map2dnormaldev",
        image_size: int = 64,
        render_options: dict[str, Any] | None = None,
        backbone_options: dict[str, Any] | None = None,
        mask_ratio: float = 0.75,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        norm_pix_loss: bool = True,
        epochs: int = 50,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        warmup: float = 5.0,
        augment: Any = True,
        validation_fraction: float = 0.05,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | None = None,
        progress: bool = True,
    ) -> None:
        self.backbone = backbone
        self.representation = representation
        self.image_size = image_size
        self.render_options = render_options
        self.backbone_options = backbone_options
        self.mask_ratio = mask_ratio
        self.decoder_dim = decoder_dim
        self.decoder_depth = decoder_depth
        self.decoder_heads = decoder_heads
        self.norm_pix_loss = norm_pix_loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    # -- pieces ------------------------------------------------------------------------
    def _check_params(self) -> None:
        _check_shared_params(self)
        if not 0 < float(self.mask_ratio) < 1:
            raise ValueError(f"mask_ratio must be between 0 and 1, got {self.mask_ratio}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")

    def _source(self, X: Any, wavelength: Any, indices: Any) -> SpectrumSource:
        if (
            isinstance(X, (list, tuple))
            and X
            and all(isinstance(x, SpectrumSource) or _is_dataset(x) for x in X)
        ):
            if indices is not None:
                raise ValueError(
                    "indices= selects rows of one input; for several inputs pass "
                    "as_source(data, indices=...) for each"
                )
            parts = [x if isinstance(x, SpectrumSource) else as_source(x) for x in X]
            return parts[0] if len(parts) == 1 else ConcatSource(parts)
        return as_source(X, wavelength=wavelength, indices=indices)

    def _encoder(self) -> Any:
        from .factory import create_model

        return create_model(
            self.backbone,
            num_outputs=0,
            img_size=self.image_size,
            in_chans=self.render_config_.channels,
            **(self.backbone_options or {}),
        )

    # -- fit ---------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        wavelength: Any = None,
        indices: Any = None,
        resume: bool = False,
    ) -> MaskedImagePretrainer:
        """Pretrain on spectra ``X`` (no labels: ``y`` is ignored).

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, sequence of Spectrum, ndarray, or a list of
            datasets/sources
            The spectra; a list of datasets or sources is used as one collection (for
            example a survey's training split and simulated spectra).
        y : ignored
            Present for scikit-learn compatibility.
        wavelength : array or Quantity, optional
            Wavelength grid when ``X`` is a flux array.
        indices : array of int, optional
            Rows of a single dataset to use.
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir``.

        Returns
        -------
        MaskedImagePretrainer
            ``self``, fitted.
        """
        import torch

        from .mae import MaskedAutoencoder

        self._check_params()
        if resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir= (where the checkpoints are)")
        source = self._source(X, wavelength, indices)
        if len(source) < 2:
            raise ValueError(f"X: at least 2 spectra are needed, got {len(source)}")
        self.render_config_ = _render_config(self)
        seed = _seed(self.random_state)
        self.seed_ = seed
        rows = np.random.default_rng(seed).permutation(len(source))
        n_val = int(round(self.validation_fraction * len(source)))
        val_rows = np.sort(rows[:n_val]) if n_val >= 1 else None
        train_rows = np.sort(rows[n_val:]) if n_val >= 1 else np.arange(len(source))
        settings = TrainSettings(
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            warmup=float(self.warmup),
            grad_clip=1.0,
            seed=seed,
            num_workers=int(self.num_workers),
        )
        device = select_device(self.device)
        torch.manual_seed(seed)
        mae = MaskedAutoencoder(
            self._encoder(),
            mask_ratio=float(self.mask_ratio),
            decoder_dim=int(self.decoder_dim),
            decoder_depth=int(self.decoder_depth),
            decoder_heads=int(self.decoder_heads),
            norm_pix_loss=bool(self.norm_pix_loss),
        )
        dummy = np.zeros(len(source), np.float32)
        train = RenderedBatches(
            source[train_rows],
            self.render_config_,
            dummy[train_rows],
            as_augmentation(self.augment),
            seed,
        )
        val = None
        if val_rows is not None:
            val = RenderedBatches(source[val_rows], self.render_config_, dummy[val_rows])
        params = {
            k: _jsonable(v)
            for k, v in self.get_params().items()
            if k not in ("device", "num_workers", "progress", "checkpoint_dir")
        }
        trainer = Trainer(
            mae,
            _mean_loss,
            evaluate=_no_metrics if val is not None else None,
            monitor="val_loss",
            settings=settings,
            device=device,
            precision=self.precision,
            checkpoint_dir=self.checkpoint_dir,
            fingerprint={"params": params, "n_spectra": len(source), "kind": "masked-image"},
            progress=bool(self.progress),
        )
        t0 = time.perf_counter()
        self.history_ = trainer.fit(train, val, resume=resume)
        self.fit_seconds_ = time.perf_counter() - t0
        self.model_ = trainer.model.eval()
        self.best_epoch_ = trainer.best_epoch if val is not None else len(self.history_)
        self.n_spectra_ = int(train_rows.size)
        self.device_ = str(device)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This MaskedImagePretrainer is not fitted yet: call fit()")

    # -- use ---------------------------------------------------------------------------
    def transform(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Features of the pretrained ViT (its pooled token), one row per spectrum.

        Returns
        -------
        ndarray
            ``(n, embed_dim)`` float32, for example for a linear probe or kNN.
        """
        self._check_fitted()
        source = as_source(X, wavelength=wavelength, indices=indices)
        device = select_device(self.device)
        out, _ = predict_outputs(
            self.model_.encoder,
            RenderedBatches(source, self.render_config_),
            int(self.batch_size),
            device,
        )
        return out

    def reconstruct(
        self, X: Any, *, wavelength: Any = None, indices: Any = None, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Images, their hidden patches, and what the model rebuilt there.

        Returns
        -------
        images, reconstructions : ndarray
            ``(n, C, H, W)`` float32 images as rendered, and with the hidden patches
            replaced by the model's prediction.
        hidden : ndarray
            ``(n, H, W)`` bool, True on hidden patches.
        loss : ndarray
            ``(n,)`` reconstruction loss of each image.
        """
        import torch

        self._check_fitted()
        source = as_source(X, wavelength=wavelength, indices=indices)
        images = RenderedBatches(source, self.render_config_)[np.arange(len(source))][0]
        model = self.model_.cpu().eval()
        state = torch.get_rng_state()
        torch.manual_seed(seed)
        try:
            recon, hidden, loss = model.reconstruct(images)
        finally:
            torch.set_rng_state(state)
        return images.numpy(), recon.numpy(), hidden[:, 0].numpy() > 0, loss.numpy()

    def save_backbone(self, path: str | os.PathLike) -> Path:
        """Write the pretrained ViT (no head) to a ``.safetensors`` file, atomically.

        The file loads with :func:`~spectromer.models.create_model` and
        ``SpectromerModel(pretrained=path)``; its metadata (see
        :func:`read_backbone_metadata`) records the backbone, its options and the render
        configuration, and ``SpectromerModel`` warns when it is fine-tuned on images
        rendered differently.

        Returns
        -------
        Path
            The file.
        """
        from safetensors.torch import save_file

        self._check_fitted()
        path = Path(path)
        if path.suffix != ".safetensors":
            raise ValueError(f"{path}: the backbone file must end in .safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            k: v.detach().cpu().contiguous() for k, v in self.model_.encoder.state_dict().items()
        }
        meta = {
            "format": BACKBONE_FORMAT,
            "backbone": json.dumps(self.backbone),
            "backbone_options": json.dumps(_jsonable(self.backbone_options or {})),
            "render_config": json.dumps(self.render_config_.to_dict()),
            "pretraining": json.dumps(
                {
                    "method": "masked-image (MAE)",
                    "params": _jsonable(
                        {k: v for k, v in self.get_params().items() if k != "progress"}
                    ),
                    "n_spectra": self.n_spectra_,
                    "best_epoch": int(self.best_epoch_),
                    "epochs_run": len(self.history_),
                }
            ),
        }
        with atomic_path(path, suffix=".safetensors") as tmp:
            save_file(state, str(tmp), metadata=meta)
        return path
