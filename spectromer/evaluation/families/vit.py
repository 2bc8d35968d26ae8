"""The ``vit`` family (the Spectromer ViT, a seed vote of it, its probes) and ``vit-mae``
(its masked-image pretraining alone)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...models.presets import VIT_PRESETS
from ._core import FitRequest, Fitted, _Encoded, _learner_settings

__all__ = ["VIT_MEMBERS", "MAE_PRESETS", "vit_members"]



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
#: measured (docs/benchmark.rst); 1 is a single ViT. Three cost three fits: 28 min of
#: training for the 1816 real LAMOST training spectra on 2 CPU cores, so a 30-minute CPU
#: budget with the baselines needs ``members=1`` (a hard vote of 2 is the first member's
#: prediction: ties go to the earliest member).
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
    from ...models import MaskedImagePretrainer, SpectromerModel

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
    from ...models import SeedEnsemble, SpectromerModel

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
