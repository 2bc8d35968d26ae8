"""The ``specformer`` family: AstroCLIP's SpecFormer pretrained by masked-token modelling,
probed frozen and fine-tuned."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._core import FitRequest, Fitted, _Encoded, _learner_settings, _pretraining_record

__all__ = ["SPECFORMER_PRESETS", "specformer_settings"]

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
    from ...models.specformer_learner import SpecFormerClassifier, SpecFormerEncoder

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
    from ...models.specformer_learner import (
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
