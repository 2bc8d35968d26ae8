"""Several copies of one learner that differ only in their seed, voted or averaged.

On the real LAMOST spectra of the benchmark, the majority vote of three ViTs trained
with seeds 0, 1 and 2 classifies better than any one of them (docs/benchmark.rst, the
paper's-claim tables): the seed changes the initialisation, the augmentations and the
validation draw, and their errors only partly overlap. :class:`SeedEnsemble` makes that
recipe an estimator: ``fit`` trains ``n_members`` clones of ``estimator`` with the
seeds ``random_state, random_state + 1, ...``, ``predict`` votes (or averages), and
``save``/``load`` keep every member in the learners' own format.
"""

from __future__ import annotations

import json
import os
import time
from importlib import import_module
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from .persistence import CONFIG_NAME, ModelFileError, jsonable, read_format_json, sha256_file

__all__ = ["SeedEnsemble", "majority_vote"]

#: File of an ensemble folder that lists its members; written last.
ENSEMBLE_NAME = "ensemble.json"
_FORMAT, _FORMAT_VERSION = "spectromer-seed-ensemble", 1


def _kind(estimator: Any) -> str:
    kind = estimator._learner_kind() if hasattr(estimator, "_learner_kind") else None
    if kind is None:
        from sklearn.base import is_classifier, is_regressor

        kind = ("classifier" if is_classifier(estimator)
                else "regressor" if is_regressor(estimator) else "transformer")  # fmt: skip
    return kind


def _soft_classifier(self: SeedEnsemble) -> bool:
    return _kind(self.estimator) == "classifier" and self.voting == "soft"


def _supervised(self: SeedEnsemble) -> bool:
    return _kind(self.estimator) != "transformer"


class SeedEnsemble(BaseEstimator):
    """Train one learner with several seeds; predict by their vote or mean.

    Parameters
    ----------
    estimator : estimator
        A supervised learner with a ``random_state`` parameter, for example a
        :class:`~spectromer.SpectromerModel` or a SpecFormer fine-tuner; it is cloned
        once per member, the clones differing only in ``random_state``.
    n_members : int
        How many members.
    voting : {"hard", "soft"}
        Classification: ``"hard"`` is the majority vote of the members' labels, a tie
        going to the label of the earliest member among the tied (the vote of the
        benchmark's claim tables); ``"soft"`` the class of the largest mean
        probability, and ``predict_proba`` (the mean probabilities) exists only then,
        as in scikit-learn's ``VotingClassifier``. Regression: the mean of the members'
        predictions, whatever ``voting`` says.
    random_state : int, optional
        Member ``k`` is trained with ``random_state + k``. None: with the estimator's
        own ``random_state`` plus ``k`` where that is an int, else every member with
        None (fresh seeds; not reproducible).

    Attributes
    ----------
    estimators_ : list of estimator
        The fitted members, in seed order.
    seeds_ : list of int or None
        Their ``random_state``.
    classes_ : ndarray
        The class labels (classification; every member has the same).
    fit_seconds_ : float
        Wall time of training all members.

    Examples
    --------
    Three tiny ViTs on the bundled LAMOST sample:

    >>> from spectromer import SpectromerModel
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.models import SeedEnsemble
    >>> ds = load_sample()
    >>> vit = SpectromerModel(backbone="vit_tiny_patch16_224", pretrained=False,
    ...                       image_size=32, backbone_options=dict(patch_size=8, depth=2),
    ...                       standardize=None, epochs=1, batch_size=32, progress=False)
    >>> ensemble = SeedEnsemble(vit, n_members=3, random_state=0)
    >>> ensemble.fit(ds, "type", indices=range(0, 600, 10)) is ensemble
    True
    >>> ensemble.seeds_, ensemble.classes_.tolist()
    ([0, 1, 2], ['A', 'F', 'G'])
    >>> ensemble.predict(ds, indices=[0, 1]).shape
    (2,)
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "estimator": [HasMethods(["fit", "predict", "get_params", "set_params"])],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "voting": [StrOptions({"hard", "soft"})],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        estimator: Any,
        n_members: int = 3,
        voting: str = "hard",
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.n_members = n_members
        self.voting = voting
        self.random_state = random_state

    # -- scikit-learn tags ----------------------------------------------------------------
    @property
    def _estimator_type(self) -> str:  # scikit-learn < 1.6
        return _kind(self.estimator)

    def __sklearn_tags__(self):  # scikit-learn >= 1.6: the members' tags
        return self.estimator.__sklearn_tags__()

    # -- fit --------------------------------------------------------------------------------
    def _member_seeds(self) -> list[int | None]:
        base = self.random_state
        if base is None:
            own = self.estimator.get_params().get("random_state")
            base = int(own) if isinstance(own, (int, np.integer)) else None
        return [None if base is None else int(base) + k for k in range(self.n_members)]

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> SeedEnsemble:
        """Train ``n_members`` clones of ``estimator``, one per seed.

        Parameters
        ----------
        X, y
            As the estimator's ``fit`` takes them (for a Spectromer learner: spectra,
            and labels or a label column of the dataset).
        **fit_params
            Passed to every member's ``fit`` (``indices``, ``wavelength``,
            ``validation``...).

        Returns
        -------
        SeedEnsemble
            ``self``.
        """
        self._validate_params()
        if "random_state" not in self.estimator.get_params():
            raise ValueError(
                f"estimator: {type(self.estimator).__name__} has no random_state parameter; "
                "a SeedEnsemble varies only that"
            )
        if _kind(self.estimator) == "transformer":
            raise ValueError("estimator: a SeedEnsemble needs a classifier or a regressor")
        t0 = time.perf_counter()
        members = []
        for seed in self._member_seeds():
            member = clone(self.estimator).set_params(random_state=seed)
            members.append(member.fit(X, y, **fit_params))
        self._set_members(members)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _set_members(self, members: list[Any]) -> None:
        self.estimators_ = members
        self.seeds_ = [m.get_params().get("random_state") for m in members]
        if _kind(members[0]) == "classifier":
            self.classes_ = np.asarray(members[0].classes_)
            for m in members[1:]:
                if not np.array_equal(np.asarray(m.classes_), self.classes_):
                    raise ValueError("the members were trained on different classes")

    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "estimators_")

    # -- predict ----------------------------------------------------------------------------
    def predict(self, X: Any, **predict_params: Any) -> np.ndarray:
        """The members' vote (classification) or mean (regression) for spectra ``X``.

        Parameters
        ----------
        X
            As the members' ``predict`` takes it.
        **predict_params
            Passed to every member's ``predict`` (``indices``, ``wavelength``).

        Returns
        -------
        ndarray
        """
        self._check_fitted()
        if _kind(self.estimators_[0]) != "classifier":
            return self.predict_members(X, **predict_params).astype(float).mean(axis=0)
        if self.voting == "soft":
            return self.classes_[self.predict_proba(X, **predict_params).argmax(axis=1)]
        return majority_vote(self.predict_members(X, **predict_params))

    def predict_members(self, X: Any, **predict_params: Any) -> np.ndarray:
        """Every member's own prediction for spectra ``X``, one row per member (in the
        order of ``seeds_``): how far the seeds agree, and what each scores alone.

        Parameters
        ----------
        X, **predict_params
            As in :meth:`predict`.

        Returns
        -------
        ndarray
            ``(n_members, n)`` (``(n_members, n, k)`` for ``k`` regression targets).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> from spectromer.models import SeedEnsemble
        >>> X = np.random.default_rng(0).normal(size=(60, 4))
        >>> y = np.where(X[:, 0] + X[:, 1] > 0, "a", "b")
        >>> ens = SeedEnsemble(DecisionTreeClassifier(max_features=1), n_members=3).fit(X, y)
        >>> ens.predict_members(X[:5]).shape
        (3, 5)
        """
        self._check_fitted()
        return np.stack([np.asarray(m.predict(X, **predict_params)) for m in self.estimators_])

    @available_if(_soft_classifier)
    def predict_proba(self, X: Any, **predict_params: Any) -> np.ndarray:
        """The members' mean class probabilities, ``(n, len(classes_))`` (soft voting).

        Parameters
        ----------
        X, **predict_params
            As in :meth:`predict`.

        Returns
        -------
        ndarray
        """
        self._check_fitted()
        return np.mean([m.predict_proba(X, **predict_params) for m in self.estimators_], axis=0)

    @available_if(_supervised)
    def score(self, X: Any, y: Any = None, **predict_params: Any) -> float:
        """Accuracy (classification) or R^2 (regression) of :meth:`predict` on ``X``, ``y``.

        Parameters
        ----------
        X, y
            As in :meth:`fit` (``y`` may be a label column of the dataset ``X``).
        **predict_params
            As in :meth:`predict`.

        Returns
        -------
        float
        """
        from sklearn.metrics import accuracy_score, r2_score

        self._check_fitted()
        first = self.estimators_[0]
        if hasattr(first, "targets"):  # a Spectromer learner: y may name a column
            y = first.targets(X, y, wavelength=predict_params.get("wavelength"),
                              indices=predict_params.get("indices"))  # fmt: skip
        pred = self.predict(X, **predict_params)
        if _kind(first) == "classifier":
            return float(accuracy_score(y, pred))
        return float(r2_score(np.asarray(y, dtype=float), pred))

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the ensemble to folder ``path``: one sub-folder per member, then the list.

        Every member is saved with its own ``save`` into ``member_<k>``; ``ensemble.json``
        (the parameters, the members' classes and the SHA-256 of each member's config)
        is written last and atomically, so an interrupted save leaves no ensemble that
        loads with a member missing or from another run.

        Parameters
        ----------
        path : path
            The folder.

        Returns
        -------
        Path
            The folder.
        """
        from ..utils.atomic import atomic_path

        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        members = []
        for k, member in enumerate(self.estimators_):
            sub = member.save(folder / f"member_{k}")
            cls = type(member)
            members.append({"folder": sub.name, "class": f"{cls.__module__}.{cls.__qualname__}",
                            "config_sha256": sha256_file(sub / CONFIG_NAME)})  # fmt: skip
        config = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "params": jsonable({k: v for k, v in self.get_params(deep=False).items()
                                if k != "estimator"}),  # fmt: skip
            "members": members,
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }
        with atomic_path(folder / ENSEMBLE_NAME) as tmp:
            tmp.write_text(json.dumps(config, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> SeedEnsemble:
        """Load an ensemble written by :meth:`save`.

        Parameters
        ----------
        path : path
            The folder.
        device : str, optional
            Override every member's saved ``device`` parameter (e.g. ``"cpu"``).

        Returns
        -------
        SeedEnsemble

        Raises
        ------
        ModelFileError
            When ``ensemble.json`` is missing or not an ensemble's, a member's class is
            not a Spectromer learner, or a member's config differs from the one saved
            with the ensemble.
        """
        folder = Path(path)
        listing = folder / ENSEMBLE_NAME
        if not listing.is_file():
            raise ModelFileError(f"{folder}: no {ENSEMBLE_NAME}; not a saved SeedEnsemble folder")
        config = read_format_json(listing, file_format=_FORMAT, format_version=_FORMAT_VERSION,
                                  what="SeedEnsemble")  # fmt: skip
        members = []
        for entry in config["members"]:
            module, _, name = entry["class"].rpartition(".")
            if not module.startswith("spectromer."):
                raise ModelFileError(f"{listing}: member class {entry['class']!r} is not a "
                                     "Spectromer learner")  # fmt: skip
            sub = folder / entry["folder"]
            if not (sub / CONFIG_NAME).is_file() or (
                sha256_file(sub / CONFIG_NAME) != entry["config_sha256"]
            ):
                raise ModelFileError(
                    f"{sub}: missing, or not the member saved with {listing} (its config "
                    "checksum differs: an interrupted save, or a folder replaced by hand)"
                )
            learner_cls = getattr(import_module(module), name)
            members.append(learner_cls.load(sub, device=device))
        ensemble = cls(clone(members[0]), **config["params"])
        ensemble._set_members(members)
        ensemble.fit_seconds_ = config.get("fit_seconds")
        return ensemble


def majority_vote(labels: np.ndarray) -> np.ndarray:
    """The most common label of every column of ``labels`` (members x spectra).

    A tie goes to the label of the earliest member (row) among the tied.

    Parameters
    ----------
    labels : ndarray, (n_members, n)
        Each member's labels.

    Returns
    -------
    ndarray, (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models.ensemble import majority_vote
    >>> majority_vote(np.array([["A", "F", "G"], ["F", "F", "K"], ["F", "A", "A"]])).tolist()
    ['F', 'F', 'G']
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] < 1:
        raise ValueError(f"labels must be (n_members, n), got shape {labels.shape}")
    values, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(labels.shape)
    counts = np.stack([(codes == c).sum(axis=0) for c in range(values.size)])  # (classes, n)
    best = counts.max(axis=0)
    out = np.empty(labels.shape[1], dtype=codes.dtype)
    for j in range(labels.shape[1]):  # the earliest member whose label has the top count
        col = codes[:, j]
        out[j] = next(c for c in col if counts[c, j] == best[j])
    return values[out]
