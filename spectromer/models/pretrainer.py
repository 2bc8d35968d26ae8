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

import os
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ..spectra import ConcatSource, SpectrumSource, as_source
from .image import ImageLearner
from .weights import write_backbone

__all__ = ["MaskedImagePretrainer"]


def _mean_loss(out: Any, _: Any) -> Any:
    return out.mean()


class MaskedImagePretrainer(ImageLearner):
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

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **ImageLearner._parameter_constraints,
        "mask_ratio": [Interval(Real, 0, 1, closed="neither")],
        "decoder_dim": [Interval(Integral, 1, None, closed="left")],
        "decoder_depth": [Interval(Integral, 1, None, closed="left")],
        "decoder_heads": [Interval(Integral, 1, None, closed="left")],
        "norm_pix_loss": ["boolean"],
    }
    _file_format: ClassVar[str] = "spectromer-masked-image-pretrainer"
    _file_format_version: ClassVar[int] = 1

    # -- what is the pretrainer's own -----------------------------------------------------
    def _as_source(self, X: Any, wavelength: Any, indices: Any) -> SpectrumSource:
        """One source; a list of datasets or sources is joined into one collection."""
        from specutils import Spectrum

        if isinstance(X, (list, tuple)) and X and not any(isinstance(x, Spectrum) for x in X):
            if indices is not None:
                raise ValueError(
                    "indices= selects rows of one input; for several inputs pass "
                    "as_source(data, indices=...) for each"
                )
            parts = [as_source(x) for x in X]
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

    def _build_module(self, initial: bool) -> Any:
        from .mae import MaskedAutoencoder

        return MaskedAutoencoder(
            self._encoder(),
            mask_ratio=float(self.mask_ratio),
            decoder_dim=int(self.decoder_dim),
            decoder_depth=int(self.decoder_depth),
            decoder_heads=int(self.decoder_heads),
            norm_pix_loss=bool(self.norm_pix_loss),
        )

    def _loss(self, targets: np.ndarray) -> Any:
        return _mean_loss  # the autoencoder's output is its reconstruction loss

    def _fingerprint(self, targets: np.ndarray, source: SpectrumSource) -> dict[str, Any]:
        return {**super()._fingerprint(targets, source), "kind": "masked-image"}

    def _fitted_config(self) -> dict[str, Any]:
        return {**super()._fitted_config(), "n_spectra": int(self.n_spectra_)}

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any], where: Any) -> None:
        super()._restore_fitted(fitted, state, where)
        self.n_spectra_ = int(fitted["n_spectra"])

    # -- fit ---------------------------------------------------------------------------
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
    ) -> MaskedImagePretrainer:
        """Pretrain on spectra ``X`` (no labels: ``y`` is ignored).

        Every parameter is checked first, before any spectrum is read or rendered.

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
        validation : spectra, optional
            Spectra to validate on instead of holding out ``validation_fraction``.
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir``.

        overwrite : bool
            Start over, replacing the checkpoint of an earlier run in ``checkpoint_dir``
            (without it, and without ``resume``, such a checkpoint is refused with
            :class:`~spectromer.training.CheckpointExists`).

        Returns
        -------
        MaskedImagePretrainer
            ``self``, fitted.
        """
        super().fit(X, None, wavelength=wavelength, indices=indices, validation=validation,
                    resume=resume, overwrite=overwrite)
        self.n_spectra_ = self.n_train_
        return self

    # -- use ---------------------------------------------------------------------------
    def transform(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Features of the pretrained ViT (its pooled token), one row per spectrum.

        Returns
        -------
        ndarray
            ``(n, embed_dim)`` float32, for example for a linear probe or kNN.
        """
        source = self._inference_source(X, wavelength, indices)
        out = self._run(self.model_.encoder, self._images(source))
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

        source = self._inference_source(X, wavelength, indices)
        images = self._images(source)[np.arange(len(source))][0]
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
        self._check_fitted()
        pretraining = {
            "method": "masked-image (MAE)",
            "params": {k: v for k, v in self.get_params().items() if k != "progress"},
            "n_spectra": self.n_spectra_,
            "best_epoch": int(self.best_epoch_),
            "epochs_run": len(self.history_),
        }
        return write_backbone(
            path,
            self.model_.encoder.state_dict(),
            backbone=self.backbone,
            backbone_options=self.backbone_options,
            render_config=self.render_config_.to_dict(),
            pretraining=pretraining,
        )
