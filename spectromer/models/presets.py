"""Measured settings of :class:`~spectromer.SpectromerModel`, as data.

``VIT_PRESETS["default"]`` is what the benchmark reports in the docs and what
``SpectromerModel()`` resolves to on a CPU (``backbone="auto"``); ``"quick"`` is the
smoke run of ``spectromer benchmark --quick``. The benchmark
(:mod:`spectromer.evaluation`) and the estimator read them from here.

Examples
--------
>>> from spectromer.models.presets import VIT_PRESETS
>>> sorted(VIT_PRESETS), VIT_PRESETS["default"]["image_size"]
(['default', 'quick'], 64)
"""

from __future__ import annotations

from typing import Any

__all__ = ["VIT_PRESETS"]

#: SpectromerModel settings of the ViT in the benchmark (``quick``: a smoke run; the
#: whole quick benchmark on the bundled sample takes about 60 s on an idle 2-core
#: machine; ``default``: the setting reported in the docs). Trained from scratch: no
#: ImageNet weights are downloaded.
VIT_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "backbone": "vit_tiny_patch16_224",
        "pretrained": False,
        "image_size": 32,
        "backbone_options": {"patch_size": 8, "depth": 2},
        "epochs": 10,
        "batch_size": 32,
        "lr": 1e-3,
    },
    "default": {
        "backbone": "vit_tiny_patch16_224",
        "pretrained": False,
        "image_size": 64,
        "backbone_options": {"patch_size": 8, "depth": 6},
        "render_options": {"fill_order": "boustrophedon"},
        "standardize": "append",
        "epochs": 30,
        "batch_size": 64,
        "lr": 1e-3,
        "early_stopping": 8,
    },
}
