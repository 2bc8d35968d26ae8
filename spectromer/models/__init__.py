"""Vision-transformer backbones from timm, built by name.

* :class:`SpectromerModel` - the scikit-learn estimator: fit, predict, save, load.
* :class:`SeedEnsemble` - one learner trained with several seeds, voted or averaged
  (the benchmark's default ViT is three of them).
* :func:`create_model` - any timm model by name, with ``num_outputs`` outputs (0: pooled
  features), any ``img_size`` and ``in_chans``, and pretrained weights from the
  Hugging Face hub or, offline, from a local ``.safetensors``/``.pth`` file.
* :class:`MaskedImagePretrainer` - self-supervised masked-image pretraining (a masked
  autoencoder) on unlabelled spectra; its ViT is then fine-tuned by
  ``SpectromerModel(pretrained=file)``.
* :func:`model_info` - architecture facts of a model as JSON-ready data.
* :func:`list_backbones` - the timm model names.
* :class:`PretrainedWeightsUnavailable` - raised, within seconds, when pretrained
  weights are asked for but cannot be downloaded here.
* :class:`SpecFormer` - AstroCLIP's spectrum transformer, re-implemented with the
  parameter names of its checkpoints (``SpecFormer.from_astroclip_checkpoint``,
  ``SpecFormer.from_pretrained``); :class:`SpecFormerConfig` its architecture and
  :data:`SPECFORMER_CONFIGS` the presets (``"astroclip"``, ``"small"``).
* :class:`SpecFormerEncoder` - AstroCLIP's masked-token pretraining of a SpecFormer on
  unlabelled spectra, and its mean-pooled embeddings (``transform``);
  :class:`SpecFormerClassifier` and :class:`SpecFormerRegressor` fine-tune one with a
  head for a label.
* :class:`SpectrumTokenizer` - the universal spectral tokenizer (arXiv:2510.17959):
  spectra of every survey on their native grids, patch tokens, a decoder queried by
  wavelength, chi-square reconstruction; ``transform``, ``encode``, ``reconstruct``.

Both are :class:`~spectromer.models.base.SpectrumLearner` subclasses (one fit skeleton,
parameter constraints, tags, save/load in :mod:`spectromer.models.persistence`); the
image parameters live in :class:`~spectromer.models.image.ImageLearner`.

PyTorch and timm are imported only when these functions are called, so
``import spectromer.models`` works (and stays fast) without them; ``SpecFormer``
the SpecFormer estimators and the tokenizer are imported on first use.
"""

from importlib import import_module
from typing import Any

from .ensemble import SeedEnsemble
from .estimator import ModelFileError, SpectromerModel
from .factory import create_model, list_backbones, model_info
from .pretrainer import MaskedImagePretrainer
from .specformer_config import SPECFORMER_CONFIGS, SpecFormerConfig
from .weights import PretrainedWeightsUnavailable, read_backbone_metadata, write_backbone

__all__ = [
    "SpectromerModel",
    "SeedEnsemble",
    "ModelFileError",
    "create_model",
    "model_info",
    "list_backbones",
    "PretrainedWeightsUnavailable",
    "MaskedImagePretrainer",
    "read_backbone_metadata",
    "write_backbone",
    "SpecFormer",
    "SpecFormerConfig",
    "SPECFORMER_CONFIGS",
    "SpecFormerEncoder",
    "SpecFormerClassifier",
    "SpecFormerRegressor",
    "SpectrumTokenizer",
]

#: Names imported on first use (their modules import PyTorch): name -> module.
_LAZY = {
    "SpecFormer": "spectromer.models.specformer",
    "SpecFormerEncoder": "spectromer.models.specformer_learner",
    "SpecFormerClassifier": "spectromer.models.specformer_learner",
    "SpecFormerRegressor": "spectromer.models.specformer_learner",
    "SpectrumTokenizer": "spectromer.models.tokenizer_learner",
}


def __getattr__(name: str) -> Any:
    """Import the lazily exported names on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'spectromer.models' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
