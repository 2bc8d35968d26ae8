"""Plots of evaluation results (matplotlib, imported only when a plot is made)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import OUTLIER_THRESHOLD

__all__ = ["plot_confusion_matrix", "plot_redshift", "plot_metric_vs_snr"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(5, 4.5), layout="constrained")[1]


def plot_confusion_matrix(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    labels: Sequence[Any] | None = None,
    normalize: str | None = "true",
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Confusion matrix (rows: true label), normalised per true class by default.

    Returns the matplotlib Axes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from spectromer.evaluation import plot_confusion_matrix
    >>> ax = plot_confusion_matrix(["A", "F", "G", "G"], ["A", "G", "G", "G"], title="test")
    >>> ax.get_title()
    'test'
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    ax = _axes(ax)
    many = len(labels if labels is not None else np.unique(np.concatenate([y_true, y_pred]))) > 12
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        normalize=normalize,
        ax=ax,
        colorbar=False,
        include_values=not many,
        values_format=".2f" if normalize else "d",
        xticks_rotation="vertical" if many else "horizontal",
    )
    if title:
        ax.set_title(title)
    return ax


def plot_redshift(
    z_true: Sequence[float],
    z_pred: Sequence[float],
    *,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Predicted against true redshift with the 1:1 line and the outlier limits.

    The dashed lines are ``|dz| / (1 + z) = 0.15``: points outside are catastrophic
    outliers. With ``classes`` each class gets its own colour. Returns the Axes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from spectromer.evaluation import plot_redshift
    >>> ax = plot_redshift([0.1, 0.5, 1.0], [0.12, 0.5, 0.6], classes=["GALAXY", "GALAXY", "QSO"])
    >>> ax.get_xlabel()
    'true z'
    """
    ax = _axes(ax)
    t = np.asarray(z_true, dtype=float)
    p = np.asarray(z_pred, dtype=float)
    groups = [("all", np.ones(t.size, bool))]
    if classes is not None:
        cls = np.asarray(classes).astype(str)
        groups = [(c, cls == c) for c in np.unique(cls)]
    for name, sel in groups:
        ax.scatter(t[sel], p[sel], s=6, alpha=0.6, label=None if name == "all" else name)
    hi = float(max(t.max(), p.max())) * 1.05 if t.size else 1.0
    lo = min(0.0, float(min(t.min(), p.min()))) if t.size else 0.0
    grid = np.linspace(lo, hi, 100)
    ax.plot(grid, grid, color="k", lw=1)
    for sign in (1, -1):
        ax.plot(grid, grid + sign * OUTLIER_THRESHOLD * (1 + grid), "k--", lw=0.8)
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="true z", ylabel="predicted z")
    if classes is not None:
        ax.legend(loc="upper left", markerscale=2)
    if title:
        ax.set_title(title)
    return ax


def plot_metric_vs_snr(tables: dict[str, Any], metric: str = "accuracy", *, ax: Any = None) -> Any:
    """A metric against S/N for several models (tables from :func:`metrics_by_snr`).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from spectromer.evaluation import metrics_by_snr, plot_metric_vs_snr
    >>> t = metrics_by_snr([5, 10, 20, 40], ["A", "F", "G", "A"], ["A", "G", "G", "A"], bins=2)
    >>> ax = plot_metric_vs_snr({"svm": t})
    >>> ax.get_ylabel()
    'accuracy'
    """
    ax = _axes(ax)
    for name, table in tables.items():
        mid = np.sqrt(np.asarray(table["snr_min"]) * np.asarray(table["snr_max"]))
        mid = np.where(
            np.isfinite(mid) & (mid > 0), mid, 0.5 * (table["snr_min"] + table["snr_max"])
        )
        ax.plot(mid, table[metric], marker="o", label=name)
    ax.set(xscale="log", xlabel="S/N (bin centre)", ylabel=metric)
    ax.legend()
    return ax
