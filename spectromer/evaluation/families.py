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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..models.presets import VIT_PRESETS

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

#: Settings of the SpecFormer family, as data: ``encoder`` for the masked-token
#: pretraining (:class:`~spectromer.models.SpecFormerEncoder`), ``finetune`` for
#: :class:`~spectromer.models.SpecFormerClassifier` / ``SpecFormerRegressor`` started
#: from the pretrained encoder. ``quick`` is a smoke run (a one-block model of width 32,
#: 2 epochs each). ``default`` is the ``"small"`` configuration (width 128, 2 blocks)
#: on a CPU schedule, sized to fit a 30-minute budget on 2 CPU cores: measured on the
#: 2269 real LAMOST spectra (``docs/benchmark_results/astroclip_type``, 1816 in the
#: training split, 1725 after the 5% validation hold-out), 854 s of pretraining (10
#: epochs) and 428 s of fine-tuning (6 epochs) on 2 threads.
SPECFORMER_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "encoder": {
            "config": {"embed_dim": 32, "num_layers": 1, "num_heads": 2, "max_len": 800},
            "epochs": 2,
            "batch_size": 32,
            "lr": 1e-3,
            "warmup": 0.0,
            "validation_fraction": 0.0,
        },
        "finetune": {
            "epochs": 2,
            "batch_size": 32,
            "lr": 1e-3,
            "warmup": 0.0,
            "validation_fraction": 0.0,
        },  # fmt: skip
    },
    "default": {
        "encoder": {
            "config": "small",
            "epochs": 10,
            "batch_size": 32,
            "lr": 3e-4,
            "warmup": 1.0,
            "validation_fraction": 0.05,
        },
        "finetune": {
            "epochs": 6,
            "batch_size": 32,
            "lr": 1e-4,
            "warmup": 1.0,
            "validation_fraction": 0.1,
        },  # fmt: skip
    },
}

#: Prefixes of ``specformer_options`` keys that reach one stage only.
_STAGES = ("encoder", "finetune")


@dataclass(frozen=True)
class FitRequest:
    """What a family is fitted with: the training split and the run's settings.

    Parameters
    ----------
    task : {"classification", "regression"}
        The task.
    train : SpectrumSource
        The training split's spectra.
    y : ndarray
        Their labels.
    quick : bool
        The ``quick`` presets.
    seed : int
        Seed of every model.
    progress : bool
        Progress bars.
    out : Path
        The benchmark's output folder (pretrained weights go under ``out/pretrained``).
    threads : int
        CPU threads (the baselines' parallel search, the kNN probe).
    options : dict
        Settings per family overriding its preset: ``{"vit": {...}, "specformer": {...}}``.
    pretrain : dict, optional
        The ViT's masked-image pretraining settings (None: none).
    pretrain_sources : list of SpectrumSource
        Unlabelled spectra for the pretraining of either encoder.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.evaluation.families import FitRequest
    >>> FitRequest("classification", None, np.array(["A", "F"])).options
    {}
    """

    task: str
    train: Any
    y: np.ndarray
    quick: bool = False
    seed: int = 0
    progress: bool = False
    out: Path = Path(".")
    threads: int = 1
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pretrain: Mapping[str, Any] | None = None
    pretrain_sources: tuple[Any, ...] | list[Any] = ()


@dataclass
class Fitted:
    """One record's fitted model: its name, ``predict``-able model, fit seconds, settings.

    Examples
    --------
    >>> from spectromer.evaluation.families import Fitted
    >>> Fitted("knn", None, 1.5, {}).name
    'knn'
    """

    name: str
    model: Any
    fit_seconds: float
    settings: dict[str, Any]


@dataclass
class _Encoded:
    """What a family's own fit returns: its records, and the encoder its probes embed with."""

    fitted: dict[str, Fitted]
    encoder: Any = None
    encoder_seconds: float = 0.0
    encoder_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelFamily:
    """A ``--models`` name: how to fit it and which records it gives, in order.

    Parameters
    ----------
    name : str
        The name in ``--models``.
    fit : callable
        ``fit(request) -> _Encoded``: the family's own fitted records and the encoder
        (with ``transform``) its probes use.
    records : tuple of str
        The records, in the order they are written.
    probes : dict
        Records that are probes of the encoder's embeddings: record name -> probe name
        of :data:`~spectromer.evaluation.PROBES`.
    torch : bool
        Whether fitting uses PyTorch (its thread count is then limited too).

    Examples
    --------
    >>> from spectromer.evaluation.families import FAMILIES
    >>> FAMILIES["specformer"].records
    ('specformer-knn', 'specformer-mlp', 'specformer-linear', 'specformer-ft')
    >>> FAMILIES["vit"].probes
    {'vit-knn': 'knn', 'vit-mlp': 'mlp', 'vit-linear': 'linear'}
    """

    name: str
    fit: Callable[[FitRequest], _Encoded]
    records: tuple[str, ...]
    probes: Mapping[str, str] = field(default_factory=dict)
    torch: bool = False


class EmbeddingProbe:
    """A fitted probe of a fitted encoder's embeddings, used as a model of spectra.

    ``predict(X)`` is ``probe.predict(encoder.transform(X))``: the encoder is frozen.

    Parameters
    ----------
    encoder : object with ``transform``
        The fitted encoder.
    probe : KNNProbe or MLPProbe
        The probe, fitted on the encoder's embeddings of the training split.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from spectromer.evaluation import KNNProbe
    >>> from spectromer.evaluation.families import EmbeddingProbe
    >>> X = np.random.default_rng(0).normal(size=(40, 6))
    >>> y = np.where(X[:, 0] > 0, "a", "b")
    >>> pca = PCA(2).fit(X)
    >>> model = EmbeddingProbe(pca, KNNProbe(n_neighbors=5).fit(pca.transform(X), y))
    >>> model.predict(X[:3]).shape
    (3,)
    """

    def __init__(self, encoder: Any, probe: Any) -> None:
        self.encoder = encoder
        self.probe = probe

    def predict(self, X: Any) -> np.ndarray:
        """The probe's prediction from the encoder's embeddings of spectra ``X``.

        Parameters
        ----------
        X : any input of ``encoder.transform``
            The spectra.

        Returns
        -------
        ndarray
        """
        return self.probe.predict(np.asarray(self.encoder.transform(X)))

    def save(self, folder: str | Path) -> Path:
        """Save the probe (joblib, atomically) as ``folder/probe.joblib``; not the encoder.

        Parameters
        ----------
        folder : path
            Created if missing.

        Returns
        -------
        Path
            The file written.
        """
        import joblib

        from ..utils.atomic import atomic_path

        path = Path(folder) / "probe.joblib"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".joblib") as tmp:
            joblib.dump(self.probe, tmp)
        return path


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def _learner_settings(model: Any) -> dict[str, Any]:
    """A fitted learner's parameters (not ``progress``), best epoch, device and precision."""
    settings = {k: v for k, v in model.get_params().items() if k != "progress"}
    settings["best_epoch"] = int(model.best_epoch_)
    settings["device_used"] = model.device_
    settings["precision_used"] = model.precision_
    return settings


def _pretraining_record(encoder: Any, seconds: float, path: Path) -> dict[str, Any]:
    """What a self-supervised encoder's record says of its training: time, settings,
    spectra, where it was saved, and its final losses."""
    return {"seconds": round(seconds, 3), **_learner_settings(encoder),
            "n_spectra": int(encoder.n_spectra_), "saved": str(path),
            "final_train_loss": encoder.history_[-1].get("train_loss"),
            "final_val_loss": encoder.history_[-1].get("val_loss")}  # fmt: skip


# ---------------------------------------------------------------------- the ViT


#: Settings the masked-image pretraining takes over from the ViT (so its images and
#: architecture are the ones fine-tuned).
_SHARED_WITH_PRETRAINING = (
    "backbone",
    "representation",
    "image_size",
    "render_options",
    "backbone_options",
    "augment",
    "device",
    "precision",
    "num_workers",
    "random_state",
    "progress",
)


#: Masked-image pretraining of the ``vit-mae`` family where ``--pretrain-option`` does not
#: set a parameter (``quick``: a smoke run); the ViT's settings come from
#: :data:`VIT_PRESETS`, so its images and backbone are the fine-tuned ViT's.
MAE_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"epochs": 2, "batch_size": 32, "warmup": 0.0, "validation_fraction": 0.0},
    "default": {"epochs": 30, "batch_size": 64},
}


#: How many ViTs the ``vit`` record votes over, per preset (``options["vit"]["members"]``,
#: ``--vit-option members=N``, overrides it): a :class:`~spectromer.models.SeedEnsemble`
#: of the preset's ViT with the seeds ``seed, seed + 1, ...``, majority-voted (mean for
#: regression). On the real LAMOST types the vote of three seeds was the best ViT
#: measured (docs/benchmark.rst); 1 is a single ViT.
VIT_MEMBERS: dict[str, int] = {"quick": 1, "default": 3}


def _vit_params(req: FitRequest) -> dict[str, Any]:
    """The ViT's settings: its preset, then ``options["vit"]``, the seed, progress
    (without ``members``: :func:`vit_members`)."""
    params = dict(VIT_PRESETS["quick" if req.quick else "default"])
    params.update(req.options.get("vit") or {})
    params.pop("members", None)
    params.setdefault("random_state", req.seed)
    params.setdefault("progress", req.progress)
    return params


def vit_members(options: Mapping[str, Any] | None, quick: bool = False) -> int:
    """How many seeds the ``vit`` record votes over: ``options["members"]``, else
    :data:`VIT_MEMBERS` of the preset.

    Parameters
    ----------
    options : dict or None
        The ViT's options (``vit_options`` of the benchmark).
    quick : bool
        The quick preset.

    Returns
    -------
    int

    Examples
    --------
    >>> from spectromer.evaluation.families import vit_members
    >>> vit_members(None), vit_members(None, quick=True), vit_members({"members": 5})
    (3, 1, 5)
    >>> vit_members({"members": 0})
    Traceback (most recent call last):
    ...
    ValueError: vit option members must be a whole number >= 1, got 0
    """
    members = (options or {}).get("members", VIT_MEMBERS["quick" if quick else "default"])
    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or members < 1:
        raise ValueError(f"vit option members must be a whole number >= 1, got {members!r}")
    return int(members)


def _pretrain_vit(params: dict[str, Any], pretrain: Mapping[str, Any], sources: list, out: Path):
    """Masked-image pretraining for the ViT: the pretrainer, backbone file, seconds, settings."""
    from ..models import MaskedImagePretrainer, SpectromerModel

    shared = {k: v for k, v in SpectromerModel(**params).get_params().items()
              if k in _SHARED_WITH_PRETRAINING}  # fmt: skip
    pretrainer = MaskedImagePretrainer(**{**shared, **pretrain})
    t0 = time.perf_counter()
    pretrainer.fit(sources)
    seconds = time.perf_counter() - t0
    path = pretrainer.save_backbone(out / "pretrained" / "backbone.safetensors")
    settings = {k: v for k, v in pretrainer.get_params().items() if k != "progress"}
    settings.update(n_spectra=pretrainer.n_spectra_, best_epoch=int(pretrainer.best_epoch_),
                    final_val_loss=pretrainer.history_[-1].get("val_loss"))  # fmt: skip
    return pretrainer, path, seconds, settings


def _fit_vit(req: FitRequest) -> _Encoded:
    from ..models import SeedEnsemble, SpectromerModel

    params, members = _vit_params(req), vit_members(req.options.get("vit"), req.quick)
    pre = None
    if req.pretrain is not None:
        _, path, pre_s, pre_settings = _pretrain_vit(
            {"task": req.task, **params}, req.pretrain, [req.train, *req.pretrain_sources],
            req.out,
        )  # fmt: skip
        params["pretrained"] = str(path)
        pre = {"seconds": round(pre_s, 3), **pre_settings}
    model = SpectromerModel(task=req.task, **params)
    if members > 1:
        model = SeedEnsemble(model, n_members=members)  # seeds random_state, + 1, ...
    t0 = time.perf_counter()
    model.fit(req.train, req.y)
    fit_s = time.perf_counter() - t0
    first = model.estimators_[0] if members > 1 else model
    settings = _learner_settings(first)
    if members > 1:  # the first member's settings, and what every member did
        settings.update(members=members, voting=model.voting, member_seeds=model.seeds_,
                        member_best_epochs=[int(m.best_epoch_) for m in model.estimators_],
                        member_fit_seconds=[round(m.fit_seconds_, 3)
                                            for m in model.estimators_])  # fmt: skip
    if pre is not None:
        settings["pretraining"] = pre
        fit_s += pre["seconds"]
    # the probes embed with the first member (the single ViT of seed ``random_state``)
    return _Encoded({"vit": Fitted("vit", model, fit_s, settings)}, first, fit_s,
                    {"model": "vit"})  # fmt: skip


def _fit_mae(req: FitRequest) -> _Encoded:
    """The ViT's masked-image pretraining alone: its frozen encoder, for the probes."""
    preset = MAE_PRESETS["quick" if req.quick else "default"]
    pretrain = {**preset, **(req.options.get("vit-mae") or {})}
    pretrainer, _, seconds, settings = _pretrain_vit(
        {"task": req.task, **_vit_params(req)}, pretrain, [req.train, *req.pretrain_sources],
        req.out / "mae",
    )  # fmt: skip
    return _Encoded({}, pretrainer, seconds, {"model": "vit-mae", "pretraining": settings})


# ---------------------------------------------------------------------- SpecFormer


def specformer_settings(
    quick: bool = False, options: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The encoder's and the fine-tuner's settings: a preset, then ``options`` over it.

    An option ``KEY`` sets the parameter of both stages that have it (``epochs=3`` sets
    the pretraining and the fine-tuning epochs); ``encoder.KEY`` or ``finetune.KEY``
    sets one stage only (``encoder.epochs=20``).

    Parameters
    ----------
    quick : bool
        Start from ``SPECFORMER_PRESETS["quick"]`` instead of ``"default"``.
    options : dict, optional
        ``--specformer-option`` settings.

    Returns
    -------
    encoder, finetune : dict
        Parameters of :class:`~spectromer.models.SpecFormerEncoder` and of
        :class:`~spectromer.models.SpecFormerClassifier` (or ``SpecFormerRegressor``).

    Raises
    ------
    ValueError
        For a key that no stage has, naming it and the valid ones.

    Examples
    --------
    >>> from spectromer.evaluation.families import specformer_settings
    >>> enc, ft = specformer_settings(True, {"epochs": 3, "encoder.mask_num_chunks": 4})
    >>> enc["epochs"], ft["epochs"], enc["mask_num_chunks"], "mask_num_chunks" in ft
    (3, 3, 4, False)
    >>> specformer_settings(True, {"colour": 1})
    Traceback (most recent call last):
    ...
    ValueError: specformer option 'colour': no SpecFormer stage has it; ...
    """
    from ..models.specformer_learner import SpecFormerClassifier, SpecFormerEncoder

    preset = SPECFORMER_PRESETS["quick" if quick else "default"]
    stages = {"encoder": dict(preset["encoder"]), "finetune": dict(preset["finetune"])}
    # the fine-tuner always starts from the encoder pretrained here
    valid = {
        "encoder": set(SpecFormerEncoder().get_params()) - {"progress"},
        "finetune": set(SpecFormerClassifier().get_params()) - {"progress", "pretrained"},
    }
    for key, value in (options or {}).items():
        stage, _, name = key.rpartition(".")
        targets = [stage] if stage else [s for s in _STAGES if key in valid[s]]
        if stage and stage not in _STAGES:
            raise ValueError(f"specformer option {key!r}: the prefix must be one of "
                             f"{', '.join(s + '.' for s in _STAGES)}")  # fmt: skip
        if not targets or any(name not in valid[s] for s in targets):
            known = sorted(valid["encoder"] | valid["finetune"])
            raise ValueError(f"specformer option {key!r}: no SpecFormer stage has it; choose "
                             f"from {known} (prefix encoder. or finetune. for one "
                             "stage)")  # fmt: skip
        for s in targets:
            stages[s][name] = value
    return stages["encoder"], stages["finetune"]


def _fit_specformer(req: FitRequest) -> _Encoded:
    from ..models.specformer_learner import (
        SpecFormerClassifier,
        SpecFormerEncoder,
        SpecFormerRegressor,
    )

    enc_params, ft_params = specformer_settings(req.quick, req.options.get("specformer"))
    common = {"random_state": req.seed, "progress": req.progress}
    encoder = SpecFormerEncoder(**{**common, **enc_params})
    # the training split's spectra (labels unused) and unlabelled extras, never the test
    sources = [req.train, *req.pretrain_sources]
    t0 = time.perf_counter()
    encoder.fit(sources if len(sources) > 1 else req.train)
    pre_s = time.perf_counter() - t0
    path = encoder.save(req.out / "pretrained" / "specformer")
    pre = _pretraining_record(encoder, pre_s, path)
    tuner = SpecFormerClassifier if req.task == "classification" else SpecFormerRegressor
    model = tuner(**{**common, **ft_params, "pretrained": str(path)})
    t0 = time.perf_counter()
    model.fit(req.train, req.y)
    fit_s = time.perf_counter() - t0 + pre_s
    settings = {**_learner_settings(model), "pretraining": pre}
    ft = Fitted("specformer-ft", model, fit_s, settings)
    return _Encoded({"specformer-ft": ft}, encoder, pre_s, {"model": "specformer",
                                                           "pretraining": pre})  # fmt: skip


# ---------------------------------------------------------------------- the tokenizer

#: Settings of the ``tokenizer`` family (:class:`~spectromer.models.SpectrumTokenizer`)
#: where ``--tokenizer-option`` does not set a parameter. ``quick``: a smoke run.
#: ``default``: the CPU configuration (width 128, 4 encoder and 2 decoder layers, 4
#: heads, patches of 32); the paper's architecture (width 512, 6 + 6 layers, 8 heads) is
#: ``SpectrumTokenizer()``'s default, reached with ``--tokenizer-option width=512
#: depth=6 decoder_depth=6 heads=8``, about 13 times slower on a CPU (the speed table of
#: ``docs/tokenizer.rst``, ``benchmarks/bench_specformer.py``): a GPU job.
TOKENIZER_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"width": 32, "depth": 1, "decoder_depth": 1, "heads": 2, "epochs": 2,
              "batch_size": 32, "lr": 1e-3, "warmup": 0.0, "validation_fraction": 0.0},
    "default": {"width": 128, "depth": 4, "decoder_depth": 2, "heads": 4, "epochs": 12,
                "batch_size": 32, "lr": 5e-4, "warmup": 1.0, "validation_fraction": 0.05},
}  # fmt: skip


def _fit_tokenizer(req: FitRequest) -> _Encoded:
    """The tokenizer trained on the training split and ``pretrain_sources``: frozen, probed."""
    from ..models.tokenizer_learner import SpectrumTokenizer

    params = dict(TOKENIZER_PRESETS["quick" if req.quick else "default"])
    params.update(req.options.get("tokenizer") or {})
    params.setdefault("random_state", req.seed)
    params.setdefault("progress", req.progress)
    tokenizer = SpectrumTokenizer(**params)
    sources = [req.train, *req.pretrain_sources]  # never the test spectra
    t0 = time.perf_counter()
    tokenizer.fit(sources if len(sources) > 1 else req.train)
    seconds = time.perf_counter() - t0
    path = tokenizer.save(req.out / "pretrained" / "tokenizer")
    settings = _pretraining_record(tokenizer, seconds, path)
    return _Encoded({}, tokenizer, seconds, {"model": "tokenizer", "pretraining": settings})


# ---------------------------------------------------------------------- the baselines


def _baseline(name: str) -> Callable[[FitRequest], _Encoded]:
    def fit(req: FitRequest) -> _Encoded:
        from ..baselines import make_baseline

        search = make_baseline(name, task=req.task, quick=req.quick, random_state=req.seed,
                               n_pixels=1000 if req.quick else 2000,
                               n_jobs=req.threads)  # fmt: skip
        t0 = time.perf_counter()
        search.fit(req.train, req.y)
        fit_s = time.perf_counter() - t0
        best = {k: _plain(v) for k, v in search.best_params_.items()}
        settings = {"best_params": best, "cv_score": float(search.best_score_)}
        return _Encoded({name: Fitted(name, search, fit_s, settings)})

    fit.__name__ = f"_fit_{name}"
    return fit


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
    from .probes import make_probe

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
