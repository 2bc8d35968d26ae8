"""Classical baselines as scikit-learn pipelines, built by name from configs held as data."""

from __future__ import annotations

from typing import Any

from .resample import SpectrumResampler

__all__ = ["BASELINES", "make_baseline"]

#: Each baseline: its estimator for each task, and the hyper-parameter grid searched by
#: cross-validation on the training data (``quick`` grids for smoke runs).
BASELINES: dict[str, dict[str, Any]] = {
    "svm": {
        "description": "RBF support vector machine on standardised resampled flux",
        "scale": True,
        "grid": {"model__C": [1.0, 10.0, 100.0], "model__gamma": ["scale", 0.3, 3.0]},
        "quick_grid": {"model__C": [1.0, 10.0]},
    },
    "rf": {
        "description": "random forest (500 trees) on resampled flux",
        "scale": False,
        "grid": {"model__max_features": ["sqrt", 0.05], "model__min_samples_leaf": [1, 3]},
        "quick_grid": {"model__min_samples_leaf": [1]},
    },
    "knn": {
        "description": "k nearest neighbours (cosine) on standardised resampled flux",
        "scale": True,
        "grid": {"model__n_neighbors": [5, 15, 31], "model__weights": ["uniform", "distance"]},
        "quick_grid": {"model__n_neighbors": [5, 15]},
    },
}


def _estimator(name: str, task: str, random_state: int, n_jobs: int | None, quick: bool) -> Any:
    from sklearn import ensemble, neighbors, svm

    classify = task == "classification"
    if name == "svm":
        return svm.SVC(kernel="rbf") if classify else svm.SVR(kernel="rbf")
    if name == "rf":
        cls = ensemble.RandomForestClassifier if classify else ensemble.RandomForestRegressor
        return cls(n_estimators=100 if quick else 500, n_jobs=n_jobs, random_state=random_state)
    cls = neighbors.KNeighborsClassifier if classify else neighbors.KNeighborsRegressor
    return cls(metric="cosine")


def make_baseline(
    name: str,
    *,
    task: str = "classification",
    n_pixels: int = 2000,
    wave_range: tuple[float, float] | str = "auto",
    normalization: str = "median",
    cv: int = 3,
    quick: bool = False,
    n_jobs: int | None = None,
    random_state: int = 0,
) -> Any:
    """A baseline by name: resampler, (scaler), model, tuned by cross-validation.

    Parameters
    ----------
    name : {"svm", "rf", "knn"}
        Which baseline (see :data:`BASELINES`).
    task : {"classification", "regression"}
        Classifier or regressor (SVC/SVR, random forest, kNN).
    n_pixels, wave_range, normalization
        Options of the :class:`SpectrumResampler` step.
    cv : int
        Folds of the (stratified, for classification) cross-validation that picks the
        hyper-parameters, on the data given to ``fit`` only.
    quick : bool
        Smaller grids (and 100 trees) for smoke runs.
    n_jobs : int, optional
        Parallel jobs of the search and the forest.
    random_state : int
        Seed of the folds and the forest.

    Returns
    -------
    sklearn.model_selection.GridSearchCV
        Over the pipeline; for regression over a ``TransformedTargetRegressor`` that
        standardises the target (grid keys then start with ``regressor__``). Fit it
        with spectra (a :class:`~spectromer.training.SpectrumSource`, a list of
        ``Spectrum``) and labels; ``best_params_`` tells what the search chose.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.baselines import make_baseline
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.spectra import as_source
    >>> ds = load_sample()
    >>> rows = np.arange(0, 600, 5)
    >>> knn = make_baseline("knn", n_pixels=300, quick=True)
    >>> knn.fit(as_source(ds, indices=rows), ds.labels("type")[rows]).best_params_
    {'model__n_neighbors': 5}
    """
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    spec = BASELINES[name]
    steps = [("resample", SpectrumResampler(n_pixels, wave_range, normalization))]
    if spec["scale"]:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", _estimator(name, task, random_state, n_jobs, quick)))
    grid = dict(spec["quick_grid"] if quick else spec["grid"])
    if "model__gamma" in grid:  # relative to 1/n_features, i.e. to "scale" on unit variance
        grid["model__gamma"] = [
            g if isinstance(g, str) else g / n_pixels for g in grid["model__gamma"]
        ]
    folds = (StratifiedKFold if task == "classification" else KFold)(
        n_splits=cv, shuffle=True, random_state=random_state
    )
    estimator: Any = Pipeline(steps)
    if task == "regression":
        # fit on the standardised target, so that the SVR's epsilon tube (0.1) and the
        # searched C mean the same for redshifts of 0.05 or 3 (and nothing changes for
        # the forest or kNN, whose predictions scale with the target)
        from sklearn.compose import TransformedTargetRegressor

        estimator = TransformedTargetRegressor(estimator, transformer=StandardScaler())
        grid = {f"regressor__{k}": v for k, v in grid.items()}
    return GridSearchCV(
        estimator,
        grid,
        cv=folds,
        scoring="accuracy" if task == "classification" else "r2",
        n_jobs=n_jobs,
        refit=True,
    )
