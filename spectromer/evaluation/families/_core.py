"""What every family shares: the fit request, the fitted record, the family entry, the
probe of an encoder's embeddings, and the settings a record keeps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FitRequest", "Fitted", "ModelFamily", "EmbeddingProbe"]


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

        from ...utils.atomic import atomic_path

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
