"""The model families of :func:`~spectromer.evaluation.run_benchmark`, as data.

A family is one name of ``--models``: how it is fitted on the training split, and which
records of ``results.json`` it gives. :data:`FAMILIES` is the table:

* ``vit``: :class:`~spectromer.SpectromerModel` (preset :data:`VIT_PRESETS`, optionally
  after masked-image pretraining), recorded as ``vit``: by default the majority vote of
  three of them trained with consecutive seeds (:data:`VIT_MEMBERS`,
  :class:`~spectromer.models.SeedEnsemble`); and AstroCLIP's probes of its (first
  member's) embeddings (:meth:`SpectromerModel.transform <spectromer.SpectromerModel.transform>`),
  ``vit-knn`` and ``vit-mlp``, and the linear head ``vit-linear``
  (:class:`~spectromer.evaluation.LinearProbe`). Every encoder family has the same three
  probes.
* ``specformer``: a :class:`~spectromer.models.SpecFormerEncoder` pretrained by
  masked-token modelling on the training split's spectra (labels unused) and any
  unlabelled ``pretrain_data``, never the test spectra (preset
  :data:`SPECFORMER_PRESETS`). Its frozen embeddings are probed (``specformer-knn``,
  ``specformer-mlp``, ``specformer-linear``), and it is fine-tuned on the labels
  (:class:`~spectromer.models.SpecFormerClassifier` or
  :class:`~spectromer.models.SpecFormerRegressor`): ``specformer-ft``.
* ``vit-mae``: the ViT's :class:`~spectromer.models.MaskedImagePretrainer` alone
  (settings :data:`MAE_PRESETS`, then ``options["vit-mae"]``, ``--pretrain-option``),
  pretrained on the training split's spectra and ``pretrain_data`` (labels unused),
  frozen; its embeddings are probed (``vit-mae-knn``, ``vit-mae-mlp``,
  ``vit-mae-linear``). With ``vit`` and ``--pretrain`` in the same run the pretraining
  is done once per family (same settings and seed, so the same encoder on a CPU).
* ``tokenizer``: a :class:`~spectromer.models.SpectrumTokenizer` (the universal spectral
  tokenizer, arXiv:2510.17959) trained by chi-square reconstruction on the training
  split's spectra (labels unused) and any unlabelled ``pretrain_data``, each on its own
  wavelength grid, never the test spectra (settings :data:`TOKENIZER_PRESETS`, then
  ``options["tokenizer"]``, ``--tokenizer-option``); its frozen embeddings are probed:
  ``tokenizer-knn``, ``tokenizer-mlp``, ``tokenizer-linear``.
* ``svm``, ``rf``, ``knn``: the baselines of :func:`~spectromer.baselines.make_baseline`.

Every record is a fitted model with ``predict(spectra)`` (a probe is wrapped with its
encoder in an :class:`EmbeddingProbe`), so the benchmark scores each of them the same
way, on the same split and any extra test sets.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ._core import EmbeddingProbe, FitRequest, Fitted, ModelFamily, _Encoded, _plain
from .baselines import _baseline
from .specformer import SPECFORMER_PRESETS, _fit_specformer, specformer_settings
from .tokenizer import TOKENIZER_PRESETS, _fit_tokenizer
from .vit import MAE_PRESETS, VIT_MEMBERS, _fit_mae, _fit_vit, vit_members

__all__ = [
    "FAMILIES",
    "VIT_MEMBERS",
    "SPECFORMER_PRESETS",
    "MAE_PRESETS",
    "TOKENIZER_PRESETS",
    "ModelFamily",
    "FitRequest",
    "Fitted",
    "EmbeddingProbe",
    "fit_family",
    "vit_members",
    "specformer_settings",
]

#: The probes of every encoder family's frozen embeddings: record suffix -> probe name
#: of :data:`~spectromer.evaluation.PROBES`.
ENCODER_PROBES = ("knn", "mlp", "linear")


def _probed(name: str) -> dict[str, str]:
    return {f"{name}-{p}": p for p in ENCODER_PROBES}


#: The families of ``--models``, in their default order.
FAMILIES: dict[str, ModelFamily] = {
    "vit": ModelFamily("vit", _fit_vit, ("vit", *_probed("vit")), _probed("vit"), torch=True),
    "vit-mae": ModelFamily("vit-mae", _fit_mae, tuple(_probed("vit-mae")), _probed("vit-mae"),
                           torch=True),  # fmt: skip
    "specformer": ModelFamily(
        "specformer", _fit_specformer, (*_probed("specformer"), "specformer-ft"),
        _probed("specformer"), torch=True,
    ),  # fmt: skip
    "tokenizer": ModelFamily("tokenizer", _fit_tokenizer, tuple(_probed("tokenizer")),
                             _probed("tokenizer"), torch=True),  # fmt: skip
    **{n: ModelFamily(n, _baseline(n), (n,)) for n in ("svm", "rf", "knn")},
}


def _probe_records(family: ModelFamily, fitted: _Encoded, req: FitRequest) -> dict[str, Fitted]:
    """Fit the family's probes on its encoder's embeddings of the training split."""
    from ..probes import make_probe

    if not family.probes:
        return {}
    t0 = time.perf_counter()
    train = np.asarray(fitted.encoder.transform(req.train))
    embed_s = time.perf_counter() - t0
    out = {}
    for record, probe_name in family.probes.items():
        options = {"n_jobs": req.threads} if probe_name == "knn" else {}
        probe = make_probe(probe_name, req.task, req.seed, **options)
        t0 = time.perf_counter()
        probe.fit(train, req.y)
        probe_s = time.perf_counter() - t0
        settings: dict[str, Any] = {
            "encoder": fitted.encoder_settings,
            "probe": probe_name,
            "probe_params": {k: _plain(v) for k, v in probe.get_params().items()},
            "embedding_dim": int(train.shape[1]),
            "encoder_fit_seconds": round(fitted.encoder_seconds, 3),
            "embed_seconds": round(embed_s, 3),
            "probe_fit_seconds": round(probe_s, 3),
            "device_used": getattr(fitted.encoder, "device_", "cpu"),
        }
        if hasattr(probe, "n_neighbors_"):
            settings["n_neighbors_used"] = int(probe.n_neighbors_)
        seconds = fitted.encoder_seconds + embed_s + probe_s
        out[record] = Fitted(record, EmbeddingProbe(fitted.encoder, probe), seconds, settings)
    return out


def fit_family(name: str, request: FitRequest) -> list[Fitted]:
    """Fit a family of :data:`FAMILIES` on the training split: its records, in order.

    A probe record's ``fit_seconds`` is the encoder's training, the embedding of the
    training split and the probe's fit; its ``settings`` say which encoder and probe.

    Parameters
    ----------
    name : str
        A key of :data:`FAMILIES`.
    request : FitRequest
        The training split and the settings.

    Returns
    -------
    list of Fitted
        One per record of the family (``FAMILIES[name].records``).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.spectra import as_source
    >>> from spectromer.evaluation.families import FitRequest, fit_family
    >>> ds = load_sample()
    >>> rows = np.arange(0, 600, 5)
    >>> req = FitRequest("classification", as_source(ds, indices=rows), ds.labels("type")[rows],
    ...                  quick=True)
    >>> [f.name for f in fit_family("knn", req)]
    ['knn']
    """
    if name not in FAMILIES:
        raise ValueError(f"models: unknown {name!r}; choose from {tuple(FAMILIES)}")
    family = FAMILIES[name]
    fitted = family.fit(request)
    records = {**fitted.fitted, **_probe_records(family, fitted, request)}
    if set(records) != set(family.records):  # pragma: no cover - a table error
        raise RuntimeError(f"family {name!r} gave records {sorted(records)}, "
                           f"not {sorted(family.records)}")  # fmt: skip
    return [records[r] for r in family.records]
