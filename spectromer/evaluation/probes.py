"""Probes of frozen embeddings: AstroCLIP's evaluation protocol, for any encoder.

AstroCLIP (Parker et al. 2024, arXiv:2310.03024) scores an encoder by what simple models
learn from its frozen embeddings: a "zero-shot" k-nearest-neighbour regressor and a
"few-shot" multi-layer perceptron. The protocol, as published with its code:

* the embeddings are standardised with the mean and standard deviation of the training
  split (:class:`~sklearn.preprocessing.StandardScaler` fitted in ``fit``), and so are
  regression targets (predictions are mapped back);
* kNN: 64 neighbours, weighted by inverse distance (Euclidean);
* MLP: two hidden layers of 64, each Linear -> ReLU -> Dropout(0.1), then a linear
  output; mean squared error, Adam at 1e-3, 10 epochs, batches of 64, shuffled;
* scored by R^2 (and accuracy for labels).

:class:`KNNProbe` and :class:`MLPProbe` are scikit-learn estimators on an embedding
matrix ``(n, d)`` (the output of ``SpectromerModel.transform``,
``MaskedImagePretrainer.transform``, ``SpecFormerEncoder.transform``...), for regression
or, beyond AstroCLIP, classification (the kNN votes with the same distance weights; the
MLP is trained with cross-entropy on encoded labels). :func:`probe_embeddings` fits both
on one split and returns the package's metrics; :func:`probe_encoder` embeds the split
with a fitted encoder first. Nothing here pretrains or fine-tunes an encoder.

PyTorch is imported only when an :class:`MLPProbe` is fitted.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from .metrics import classification_metrics, redshift_metrics

__all__ = [
    "KNNProbe",
    "MLPProbe",
    "LinearProbe",
    "PROBES",
    "make_probe",
    "probe_embeddings",
    "probe_encoder",
]

TASKS = ("auto", "regression", "classification")


def resolve_task(task: str, y: Any) -> str:
    """The task of a probe: ``task`` itself, or for ``"auto"`` what ``y`` looks like.

    ``"auto"`` reads the targets with :func:`sklearn.utils.multiclass.type_of_target`:
    continuous numbers are a regression; labels (strings, booleans, integers, or floats
    that are all whole numbers) are a classification. Pass the task explicitly for
    integer-valued quantities to regress.

    Parameters
    ----------
    task : {"auto", "regression", "classification"}
        The task asked for.
    y : array-like
        The training targets.

    Returns
    -------
    str
        ``"regression"`` or ``"classification"``.

    Examples
    --------
    >>> from spectromer.evaluation.probes import resolve_task
    >>> resolve_task("auto", [0.1, 0.52, 1.3]), resolve_task("auto", ["STAR", "QSO"])
    ('regression', 'classification')
    >>> resolve_task("regression", [1, 2, 3])
    'regression'
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task != "auto":
        return task
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(np.asarray(y))
    if kind in ("continuous", "continuous-multioutput"):
        return "regression"
    if kind in ("binary", "multiclass"):
        return "classification"
    raise ValueError(
        f"Unknown label type {kind!r}: task='auto' cannot tell the task from these targets; "
        "pass task='regression' or task='classification'"
    )


def _validate_data(estimator: BaseEstimator, X: Any, y: Any = None, *, reset: bool,
                   **kwargs: Any) -> Any:  # fmt: skip
    """scikit-learn's input validation (``validate_data`` since 1.6, a method before)."""
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:  # pragma: no cover - scikit-learn < 1.6
        return estimator._validate_data(X, y, reset=reset, **kwargs)
    if y is None:
        return validate_data(estimator, X, reset=reset, **kwargs)
    return validate_data(estimator, X, y, reset=reset, **kwargs)


class _Probe(BaseEstimator):
    """What the probes share: the task, the scaling, validation, prediction and score.

    A subclass defines ``_make(task, n_samples)``, the unscaled scikit-learn estimator
    on standardised embeddings (and, for regression, standardised targets).
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "task": [StrOptions(set(TASKS))],
    }

    def _make(self, task: str, n_samples: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _kind(self) -> str | None:
        """The scikit-learn estimator type the ``task`` parameter gives (None: auto)."""
        return {"regression": "regressor", "classification": "classifier"}.get(self.task)

    @property
    def _estimator_type(self) -> str | None:  # scikit-learn < 1.6
        return self._kind()

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {
            "requires_y": True,
            "multioutput": self.task == "regression",
            "non_deterministic": getattr(self, "random_state", 0) is None,
        }

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        kind = self._kind()
        tags.estimator_type = kind
        tags.target_tags.required = True
        tags.target_tags.multi_output = self.task == "regression"
        tags.classifier_tags = ClassifierTags() if kind == "classifier" else None
        tags.regressor_tags = RegressorTags() if kind == "regressor" else None
        tags.non_deterministic = getattr(self, "random_state", 0) is None
        return tags

    def _check_params(self) -> None:
        self._validate_params()

    def fit(self, X: Any, y: Any) -> _Probe:
        """Standardise on this training split and fit the probe.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training embeddings.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Labels (classification) or numbers (regression; several columns allowed).

        Returns
        -------
        self
            The fitted probe (``task_``, ``model_``, ``n_features_in_``, and
            ``classes_`` for a classification).
        """
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        task = resolve_task(self.task, y)
        if task == "classification":
            from sklearn.utils.multiclass import check_classification_targets

            X, y = _validate_data(self, X, y, reset=True, multi_output=False)
            check_classification_targets(y)
        else:
            X, y = _validate_data(self, X, y, reset=True, multi_output=True, y_numeric=True)
        self.task_ = task
        self.model_ = self._compose(self._make(task, X.shape[0]), task).fit(X, y)
        if task == "classification":
            self.classes_ = self.model_.classes_
        return self

    @staticmethod
    def _compose(model: Any, task: str) -> Any:
        """``model`` behind a StandardScaler, and for regression on standardised targets."""
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        pipe = Pipeline([("scale", StandardScaler()), ("model", model)])
        if task == "regression":
            return TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler())
        return pipe

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit() first")

    def predict(self, X: Any) -> np.ndarray:
        """Labels or values for embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings of the same encoder as the training ones.

        Returns
        -------
        ndarray
            ``(n_samples,)`` (or ``(n_samples, n_outputs)`` for a multi-output regression).
        """
        self._check_fitted()
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X)

    def _is_classification(self) -> bool:
        return getattr(self, "task_", None) == "classification" or self.task == "classification"

    @available_if(_is_classification)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (a classification only), columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        self._check_fitted()
        if self.task_ != "classification":
            raise AttributeError(f"this {type(self).__name__} was fitted for a regression")
        X = _validate_data(self, X, reset=False)
        return self.model_.predict_proba(X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (classification) or R^2 (regression, averaged over outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.
        y : array-like
            The truth.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples in the score.

        Returns
        -------
        float
        """
        from sklearn.metrics import accuracy_score, r2_score

        pred = self.predict(X)
        if self.task_ == "classification":
            return float(accuracy_score(y, pred, sample_weight=sample_weight))
        return float(r2_score(y, pred, sample_weight=sample_weight))


class KNNProbe(_Probe):
    """k-nearest-neighbour probe of embeddings (AstroCLIP's "zero-shot" regression).

    Embeddings are standardised with the training split's statistics, then the
    ``n_neighbors`` nearest training embeddings (Euclidean) vote, weighted by inverse
    distance: :class:`~sklearn.neighbors.KNeighborsRegressor` on standardised targets,
    or :class:`~sklearn.neighbors.KNeighborsClassifier` on labels.

    Parameters
    ----------
    task : {"auto", "regression", "classification"}
        ``"auto"`` decides in ``fit`` from the targets (continuous numbers: a
        regression; strings, booleans or whole numbers: a classification); the explicit
        tasks also tell scikit-learn whether this is a regressor or a
        classifier (``is_regressor``, stratified cross-validation).
    n_neighbors : int
        Neighbours that vote (AstroCLIP: 64). More than the training set is clamped to
        its size, with a warning (``n_neighbors_`` is the number used): with fewer
        training embeddings than 64 every one of them votes.
    weights : {"distance", "uniform"} or callable
        Vote weights, as in scikit-learn (AstroCLIP: ``"distance"``).
    n_jobs : int, optional
        Parallel jobs of the neighbour search.

    Attributes
    ----------
    task_ : str
        The task fitted.
    n_neighbors_ : int
        The neighbours used (``n_neighbors``, or the training size when smaller).
    model_ : estimator
        The fitted scaler and neighbours (a Pipeline; for regression inside a
        :class:`~sklearn.compose.TransformedTargetRegressor`).
    classes_ : ndarray
        The labels (classification).
    n_features_in_ : int
        Width of the embeddings.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.evaluation import KNNProbe
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> probe = KNNProbe(task="regression").fit(X[:1600], y[:1600])
    >>> probe.score(X[1600:], y[1600:]) > 0.9
    True
    >>> labels = np.where(X[:, 0] > 0, "STAR", "QSO")
    >>> KNNProbe().fit(X[:1600], labels[:1600]).score(X[1600:], labels[1600:]) > 0.9
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_Probe._parameter_constraints,
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "weights": [StrOptions({"distance", "uniform"}), callable],
        "n_jobs": [Integral, None],
    }

    def __init__(self, task: str = "auto", n_neighbors: int = 64, weights: Any = "distance",
                 n_jobs: int | None = None) -> None:  # fmt: skip
        self.task = task
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.n_jobs = n_jobs

    def _make(self, task: str, n_samples: int) -> Any:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        k = int(self.n_neighbors)
        if k > n_samples:
            warnings.warn(
                f"KNNProbe: n_neighbors={k} is more than the {n_samples} training "
                f"embeddings; using n_neighbors={n_samples}",
                UserWarning,
                stacklevel=3,
            )
            k = n_samples
        self.n_neighbors_ = k
        cls = KNeighborsClassifier if task == "classification" else KNeighborsRegressor
        return cls(n_neighbors=k, weights=self.weights, n_jobs=self.n_jobs)


class _TorchMLP(BaseEstimator):
    """The MLP itself, on standardised inputs (and targets): MSE or cross-entropy."""

    def __init__(self, classify: bool = False, hidden: tuple[int, ...] = (64, 64),
                 dropout: float = 0.1, lr: float = 1e-3, epochs: int = 10,
                 batch_size: int = 64, seed: int = 0, device: str = "cpu") -> None:  # fmt: skip
        self.classify = classify
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> _TorchMLP:
        import torch
        from torch import nn

        from ..training import select_device

        device = select_device(self.device)
        if self.classify:
            from sklearn.preprocessing import LabelEncoder

            encoder = LabelEncoder().fit(y)
            self.classes_ = encoder.classes_
            target = torch.as_tensor(encoder.transform(y), dtype=torch.long)
            n_out = len(self.classes_)
            loss_fn: Any = nn.CrossEntropyLoss()
        else:
            self.output_shape_ = np.shape(y)[1:]
            target = torch.as_tensor(np.asarray(y, dtype=np.float32).reshape(len(y), -1))
            n_out = target.shape[1]
            loss_fn = nn.MSELoss()
        inputs = torch.as_tensor(np.asarray(X, dtype=np.float32))
        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):  # seeded, the caller's RNG untouched
            torch.manual_seed(int(self.seed))
            layers: list[Any] = []
            width = inputs.shape[1]
            for size in self.hidden:
                layers += [nn.Linear(width, int(size)), nn.ReLU(), nn.Dropout(self.dropout)]
                width = int(size)
            layers.append(nn.Linear(width, n_out))
            net = nn.Sequential(*layers).to(device)
            optimiser = torch.optim.Adam(net.parameters(), lr=float(self.lr))
            shuffle = torch.Generator().manual_seed(int(self.seed))
            net.train()
            self.loss_curve_ = []
            for _ in range(int(self.epochs)):
                order = torch.randperm(len(inputs), generator=shuffle)
                total = 0.0
                for start in range(0, len(order), int(self.batch_size)):
                    rows = order[start : start + int(self.batch_size)]
                    optimiser.zero_grad()
                    loss = loss_fn(net(inputs[rows].to(device)), target[rows].to(device))
                    loss.backward()
                    optimiser.step()
                    total += float(loss.detach()) * len(rows)
                self.loss_curve_.append(total / len(order))
        self.net_ = net.eval()
        self.device_ = str(device)
        return self

    def _outputs(self, X: np.ndarray) -> np.ndarray:
        import torch

        inputs = torch.as_tensor(np.asarray(X, dtype=np.float32))
        device = next(self.net_.parameters()).device
        with torch.no_grad():
            parts = [self.net_(inputs[i : i + 8192].to(device)).cpu() for i in
                     range(0, len(inputs), 8192)]  # fmt: skip
        return torch.cat(parts).numpy().astype(np.float64) if parts else np.zeros((0, 1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = self._outputs(X)
        if self.classify:
            return self.classes_[out.argmax(axis=1)]
        return out.reshape((len(out), *self.output_shape_))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        return softmax(self._outputs(X), axis=1)


class MLPProbe(_Probe):
    """Multi-layer-perceptron probe of embeddings (AstroCLIP's "few-shot" regression).

    Embeddings are standardised with the training split's statistics; a PyTorch MLP
    (each hidden layer Linear -> ReLU -> Dropout, then a linear output) is trained with
    Adam on shuffled mini-batches: mean squared error on standardised targets for a
    regression (predictions mapped back), cross-entropy on encoded labels for a
    classification. The defaults are AstroCLIP's.

    Parameters
    ----------
    task : {"auto", "regression", "classification"}
        ``"auto"`` decides in ``fit`` from the targets (continuous numbers: a
        regression; strings, booleans or whole numbers: a classification).
    hidden : tuple of int
        Widths of the hidden layers (AstroCLIP: ``(64, 64)``; ``()`` is a linear probe).
    dropout : float
        Dropout probability after each hidden layer, in [0, 1).
    lr : float
        Adam's learning rate.
    epochs : int
        Passes over the training embeddings.
    batch_size : int
        Embeddings per step.
    random_state : int, RandomState or None
        Seeds the initial weights, the shuffling and the dropout masks: equal seeds give
        equal probes on the same device (None: a fresh seed each fit). The global torch
        random state is left as it was.
    device : str
        Torch device, ``"cpu"`` by default (``"auto"``, ``"cuda"``... as in
        :func:`spectromer.training.select_device`).

    Attributes
    ----------
    task_ : str
        The task fitted.
    model_ : estimator
        The fitted scaler and network (a Pipeline; for regression inside a
        :class:`~sklearn.compose.TransformedTargetRegressor`).
    loss_curve_ : list of float
        Mean training loss of each epoch (on standardised targets for a regression).
    classes_ : ndarray
        The labels (classification).
    n_features_in_ : int
        Width of the embeddings.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.evaluation import MLPProbe
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 4))
    >>> y = X @ [1.0, -2.0, 0.5, 0.0]
    >>> probe = MLPProbe(task="regression", random_state=0).fit(X[:800], y[:800])
    >>> probe.score(X[800:], y[800:]) > 0.9
    True
    >>> len(probe.loss_curve_)
    10
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_Probe._parameter_constraints,
        "hidden": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str],
    }

    def __init__(self, task: str = "auto", hidden: tuple[int, ...] = (64, 64),
                 dropout: float = 0.1, lr: float = 1e-3, epochs: int = 10,
                 batch_size: int = 64, random_state: Any = None,
                 device: str = "cpu") -> None:  # fmt: skip
        self.task = task
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        if any(not isinstance(h, Integral) or isinstance(h, bool) or h < 1 for h in self.hidden):
            raise ValueError(
                f"The 'hidden' parameter of MLPProbe must hold positive ints (layer widths), "
                f"got {self.hidden!r}"
            )

    def _make(self, task: str, n_samples: int) -> Any:
        from ..models.base import seed_from

        return _TorchMLP(classify=task == "classification", hidden=tuple(self.hidden),
                         dropout=self.dropout, lr=self.lr, epochs=self.epochs,
                         batch_size=self.batch_size, seed=seed_from(self.random_state),
                         device=self.device)  # fmt: skip

    @property
    def loss_curve_(self) -> list[float]:
        """Mean training loss of each epoch (fitted probes only)."""
        self._check_fitted()
        net = self.model_.regressor_ if self.task_ == "regression" else self.model_
        return list(net[-1].loss_curve_)


class LinearProbe(_Probe):
    """Linear probe of embeddings: logistic regression for labels, ridge for numbers.

    Embeddings are standardised with the training split's statistics (and regression
    targets too, predictions mapped back), then one linear map is fitted:
    :class:`~sklearn.linear_model.LogisticRegression` (multinomial, L2 penalty
    ``C = 1 / alpha``) on labels, :class:`~sklearn.linear_model.Ridge` (penalty
    ``alpha``) on numbers. This is the "linear head" of the tokenizer paper's
    evaluation (arXiv:2510.17959) next to AstroCLIP's kNN and MLP; it says how much of
    a quantity the embedding holds *linearly*.

    Parameters
    ----------
    task : {"auto", "regression", "classification"}
        As for :class:`KNNProbe`.
    alpha : float
        L2 penalty on the standardised embeddings (> 0). The logistic regression's
        solver (lbfgs) runs up to 2000 iterations.

    Attributes
    ----------
    task_ : str
        The task fitted.
    model_ : estimator
        The fitted scaler and linear model.
    classes_ : ndarray
        The labels (classification).
    n_features_in_ : int
        Width of the embeddings.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.evaluation import LinearProbe
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> y = X @ [1.0, 2.0, 0.0]
    >>> LinearProbe().fit(X[:400], y[:400]).score(X[400:], y[400:]) > 0.99
    True
    >>> labels = np.where(X[:, 1] > 0, "F", "G")
    >>> LinearProbe().fit(X[:400], labels[:400]).score(X[400:], labels[400:]) > 0.9
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_Probe._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, task: str = "auto", alpha: float = 1.0) -> None:
        self.task = task
        self.alpha = alpha

    def _make(self, task: str, n_samples: int) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        if task == "classification":
            return LogisticRegression(C=1.0 / float(self.alpha), max_iter=2000)
        return Ridge(alpha=float(self.alpha))


#: The probes of :func:`probe_embeddings`, by name.
PROBES: dict[str, type[_Probe]] = {"knn": KNNProbe, "mlp": MLPProbe, "linear": LinearProbe}


def make_probe(name: str, task: str = "auto", random_state: Any = 0, **options: Any) -> _Probe:
    """A probe of :data:`PROBES` by name, for ``task``, seeded where it draws numbers.

    Parameters
    ----------
    name : {"knn", "mlp", "linear"}
        The probe.
    task : {"auto", "regression", "classification"}
        Its task.
    random_state : int, RandomState or None
        Seed of a probe that has one (the MLP); ignored by the kNN.
    **options
        Other parameters of the probe (they override ``task`` and ``random_state``).

    Returns
    -------
    KNNProbe, MLPProbe or LinearProbe
        Not fitted.

    Examples
    --------
    >>> from spectromer.evaluation.probes import make_probe
    >>> make_probe("mlp", "regression", 3, epochs=5).get_params()["random_state"]
    3
    >>> make_probe("knn", n_neighbors=8)
    KNNProbe(n_neighbors=8)
    """
    if name not in PROBES:
        raise ValueError(f"probe must be one of {sorted(PROBES)}, got {name!r}")
    params: dict[str, Any] = {"task": task}
    if "random_state" in PROBES[name]().get_params():
        params["random_state"] = random_state
    return PROBES[name]().set_params(**{**params, **options})


def probe_embeddings(
    train_embeddings: Any,
    y_train: Any,
    test_embeddings: Any,
    y_test: Any,
    *,
    probes: Iterable[str] = ("knn", "mlp"),
    task: str = "auto",
    random_state: Any = 0,
    probe_options: Mapping[str, Mapping[str, Any]] | None = None,
    classes: Any = None,
) -> dict[str, dict[str, Any]]:
    """Fit the probes on training embeddings and score them on test embeddings.

    Parameters
    ----------
    train_embeddings, test_embeddings : array-like of shape (n, d)
        Embeddings of the two splits by one encoder.
    y_train, y_test : array-like of shape (n,)
        Labels or numbers (one target).
    probes : iterable of str
        Names in :data:`~spectromer.evaluation.PROBES`: ``"knn"``
        (:class:`KNNProbe`), ``"mlp"`` (:class:`MLPProbe`).
    task : {"auto", "regression", "classification"}
        Decided once from ``y_train`` for ``"auto"``, as by the probes.
    random_state : int, RandomState or None
        Seed of the MLP.
    probe_options : dict, optional
        Parameters per probe name that replace the published defaults, e.g.
        ``{"mlp": {"epochs": 20}, "knn": {"n_neighbors": 16}}``.
    classes : array-like of str, optional
        Class of each test object (GALAXY, QSO, STAR) for the redshift success rule of
        :func:`~spectromer.evaluation.redshift_metrics` (regression only).

    Returns
    -------
    dict
        Per probe name: ``task``, ``metrics``
        (:func:`~spectromer.evaluation.classification_metrics` or
        :func:`~spectromer.evaluation.redshift_metrics`; the latter's ``sigma_nmad``,
        ``outlier_fraction``, ``bias`` and ``success_rate`` read the target as a
        redshift), ``fit_seconds``, ``predict_seconds``, ``n_train``, ``n_test``,
        ``embedding_dim`` and ``params`` (the probe's parameters), all JSON-ready.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.evaluation import probe_embeddings
    >>> rng = np.random.default_rng(0)
    >>> E = rng.normal(size=(1000, 2))
    >>> z = 0.3 + 0.1 * np.tanh(E[:, 0] + E[:, 1])
    >>> out = probe_embeddings(E[:800], z[:800], E[800:], z[800:])
    >>> sorted(out), out["knn"]["task"]
    (['knn', 'mlp'], 'regression')
    >>> out["knn"]["metrics"]["r2"] > 0.8, out["mlp"]["metrics"]["r2"] > 0.8
    (True, True)
    """
    from sklearn.utils.validation import column_or_1d

    names = [probes] if isinstance(probes, str) else list(probes)
    unknown = [n for n in names if n not in PROBES]
    if unknown or not names:
        raise ValueError(f"probes must name some of {sorted(PROBES)}, got {names!r}")
    options = dict(probe_options or {})
    extra = sorted(set(options) - set(names))
    if extra:
        raise ValueError(f"probe_options names probes not in probes={names!r}: {extra}")
    y_fit = column_or_1d(np.asarray(y_train), warn=False)
    y_true = column_or_1d(np.asarray(y_test), warn=False)
    if len(y_fit) != len(train_embeddings):
        raise ValueError(f"y_train has {len(y_fit)} targets for {len(train_embeddings)} "
                         "training embeddings")  # fmt: skip
    if len(y_true) != len(test_embeddings):
        raise ValueError(f"y_test has {len(y_true)} targets for {len(test_embeddings)} "
                         "test embeddings")  # fmt: skip
    resolved = resolve_task(task, y_fit)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        probe = make_probe(name, resolved, random_state, **options.get(name, {}))
        t0 = time.perf_counter()
        probe.fit(train_embeddings, y_fit)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = probe.predict(test_embeddings)
        predict_s = time.perf_counter() - t0
        if resolved == "classification":
            metrics = classification_metrics(y_true, pred)
        else:
            metrics = redshift_metrics(y_true.astype(float), pred, classes)
        settings = {k: v if isinstance(v, (int, float, str, type(None))) else str(v)
                    for k, v in probe.get_params().items()}  # fmt: skip
        if hasattr(probe, "n_neighbors_"):
            settings["n_neighbors_used"] = int(probe.n_neighbors_)
        out[name] = {
            "task": resolved,
            "metrics": metrics,
            "fit_seconds": round(fit_s, 4),
            "predict_seconds": round(predict_s, 4),
            "n_train": int(len(y_fit)),
            "n_test": int(len(y_true)),
            "embedding_dim": int(probe.n_features_in_),
            "params": settings,
        }
    return out


def probe_encoder(
    encoder: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    **kwargs: Any,
) -> dict[str, dict[str, Any]]:
    """Embed both splits with a fitted encoder, then :func:`probe_embeddings`.

    The encoder is used as it is (frozen): this neither pretrains nor fine-tunes it.

    Parameters
    ----------
    encoder : object with ``transform``
        A fitted encoder: ``SpectromerModel``, ``MaskedImagePretrainer``,
        ``SpecFormerEncoder``, or any object whose ``transform(X)`` gives an
        ``(n, d)`` embedding matrix. A scikit-learn estimator that is not fitted
        (:func:`~sklearn.utils.validation.check_is_fitted`), or an object whose
        ``__sklearn_is_fitted__()`` is false, is refused with
        :class:`~sklearn.exceptions.NotFittedError`; other objects are trusted.
    X_train, X_test : any input of ``encoder.transform``
        Spectra (arrays, a dataset, a ``SpectrumSource``...).
    y_train, y_test : array-like of shape (n,)
        Targets of the two splits.
    **kwargs
        Passed to :func:`probe_embeddings` (``probes``, ``task``, ``random_state``,
        ``probe_options``, ``classes``).

    Returns
    -------
    dict
        As :func:`probe_embeddings`, each probe's entry with ``embed_seconds`` too (the
        time to embed both splits).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from spectromer.evaluation import probe_encoder
    >>> rng = np.random.default_rng(0)
    >>> latent = rng.normal(size=(400, 3))  # three hidden factors behind 50 "pixels"
    >>> flux = latent @ rng.normal(size=(3, 50)) + 0.1 * rng.normal(size=(400, 50))
    >>> labels = np.where(latent[:, 0] > 0, "GALAXY", "QSO")
    >>> encoder = PCA(n_components=3, random_state=0).fit(flux[:300])  # a stand-in encoder
    >>> out = probe_encoder(encoder, flux[:300], labels[:300], flux[300:], labels[300:],
    ...                     probes=["knn"])
    >>> out["knn"]["embedding_dim"], out["knn"]["metrics"]["accuracy"] > 0.9
    (3, True)
    """
    transform = getattr(encoder, "transform", None)
    if not callable(transform):
        raise TypeError(f"encoder must have a transform method, got {type(encoder).__name__}")
    fitted_check = getattr(encoder, "__sklearn_is_fitted__", None)
    if isinstance(encoder, BaseEstimator) or callable(fitted_check):
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            if isinstance(encoder, BaseEstimator):
                check_is_fitted(encoder)
            elif not fitted_check():
                raise NotFittedError
        except NotFittedError:
            raise NotFittedError(
                f"encoder: this {type(encoder).__name__} is not fitted; fit (pretrain) or load "
                "it first: probe_encoder only embeds with a trained encoder"
            ) from None
    t0 = time.perf_counter()
    train = np.asarray(transform(X_train))
    test = np.asarray(transform(X_test))
    embed_s = time.perf_counter() - t0
    for name, split in (("X_train", train), ("X_test", test)):
        if split.ndim != 2:
            raise ValueError(f"encoder.transform({name}) gave shape {split.shape}, not (n, d)")
    out = probe_embeddings(train, y_train, test, y_test, **kwargs)
    for entry in out.values():
        entry["embed_seconds"] = round(embed_s, 4)
    return out
