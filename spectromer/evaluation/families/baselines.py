"""The ``svm``, ``rf`` and ``knn`` families: the baselines' grid searches."""

from __future__ import annotations

import time
from collections.abc import Callable

from ._core import FitRequest, Fitted, _Encoded, _plain


def _baseline(name: str) -> Callable[[FitRequest], _Encoded]:
    def fit(req: FitRequest) -> _Encoded:
        from ...baselines import make_baseline

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
