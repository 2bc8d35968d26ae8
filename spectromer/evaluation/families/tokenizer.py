"""The ``tokenizer`` family: the universal spectral tokenizer, trained by reconstruction
and probed frozen."""

from __future__ import annotations

import time
from typing import Any

from ._core import FitRequest, _Encoded, _pretraining_record

__all__ = ["TOKENIZER_PRESETS"]


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
    from ...models.tokenizer_learner import SpectrumTokenizer

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
