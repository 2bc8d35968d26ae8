"""Metrics for classification and redshift estimation, on top of scikit-learn.

Every function takes plain arrays and returns a dict of JSON-ready numbers, so the
results of any model (a ViT, a baseline, a published catalogue) are scored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..datasets.labels import stellar_type

__all__ = [
    "SUCCESS_TOLERANCE",
    "OUTLIER_THRESHOLD",
    "subtype_index",
    "classification_metrics",
    "redshift_metrics",
    "metrics_by_snr",
]

#: The MK spectral sequence used to order stellar subtypes.
MK_SEQUENCE = "OBAFGKML"
#: The published redshift success rule: ``|dz| < tol * (1 + z)``, by class.
SUCCESS_TOLERANCE = {"GALAXY": 0.00334, "STAR": 0.00334, "QSO": 0.01001}
#: Catastrophic outliers: ``|dz| / (1 + z)`` above this.
OUTLIER_THRESHOLD = 0.15


def subtype_index(labels: Sequence[Any]) -> np.ndarray:
    """Position of stellar subtypes on the MK sequence: O0 = 0, ..., A0 = 20, F0 = 30, ...

    Parameters
    ----------
    labels : sequence of str
        Subclasses such as ``"A7"``, ``"F5V"`` or ``"G2III"`` (the luminosity class is
        ignored).

    Returns
    -------
    ndarray of float
        NaN where a label is not an MK type with a number (``"Carbon"``, ``"K"``).

    Examples
    --------
    >>> from spectromer.evaluation import subtype_index
    >>> subtype_index(["A0", "A9", "F1V", "Carbon"]).tolist()
    [20.0, 29.0, 31.0, nan]
    """
    out = np.full(len(labels), np.nan)
    for i, label in enumerate(labels):
        letter, sub = stellar_type(None if label is None else str(label))
        if sub is not None:
            out[i] = 10 * MK_SEQUENCE.index(letter) + int(sub[1:])
    return out


def classification_metrics(
    y_true: Sequence[Any], y_pred: Sequence[Any], *, labels: Sequence[Any] | None = None
) -> dict[str, Any]:
    """Accuracy, macro and weighted F1, the confusion matrix, and subtype distances.

    Parameters
    ----------
    y_true, y_pred : sequence
        True and predicted labels.
    labels : sequence, optional
        Label order of the confusion matrix (default: every label seen, sorted).

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``f1_macro``, ``f1_weighted``, ``labels``,
        ``confusion_matrix`` (rows: true, columns: predicted). When the true labels are
        stellar subtypes (``A7``, ``F5``...), also ``within_one`` and ``within_two``: the
        fraction predicted within one and two subtypes on the MK sequence (A9 and F0 are
        neighbours), over the spectra whose true and predicted labels both parse.

    Examples
    --------
    >>> from spectromer.evaluation import classification_metrics
    >>> m = classification_metrics(["A1", "A2", "F0", "G5"], ["A1", "A3", "A9", "G8"])
    >>> m["accuracy"], m["within_one"], m["within_two"]
    (0.25, 0.75, 0.75)
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {t.shape}, {p.shape}")
    if t.size == 0:
        raise ValueError("no predictions to score")
    order = np.asarray(labels) if labels is not None else np.unique(np.concatenate([t, p]))
    out: dict[str, Any] = {
        "n": int(t.size),
        "accuracy": float(accuracy_score(t, p)),
        "f1_macro": float(f1_score(t, p, average="macro", labels=order, zero_division=0)),
        "f1_weighted": float(f1_score(t, p, average="weighted", labels=order, zero_division=0)),
        "labels": order.tolist(),
        "confusion_matrix": confusion_matrix(t, p, labels=order).tolist(),
    }
    ti, pi = subtype_index(t.tolist()), subtype_index(p.tolist())
    ok = np.isfinite(ti) & np.isfinite(pi)
    if ok.sum() and np.isfinite(ti).mean() > 0.5:
        d = np.abs(ti[ok] - pi[ok])
        out["within_one"] = float(np.mean(d <= 1))
        out["within_two"] = float(np.mean(d <= 2))
        out["n_subtype_scored"] = int(ok.sum())
    return out


def redshift_metrics(
    z_true: Sequence[float],
    z_pred: Sequence[float],
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """R^2, MAE, RMSE, sigma_NMAD, outlier fraction and the published success rate.

    Parameters
    ----------
    z_true, z_pred : sequence of float
        True and predicted redshifts.
    classes : sequence of str, optional
        Class of each object (GALAXY, QSO, STAR) for the success rule
        ``|dz| < 0.00334 (1 + z)`` (galaxies, stars) or ``0.01001 (1 + z)`` (QSOs);
        without it the galaxy tolerance is used for all.

    Returns
    -------
    dict
        ``n``, ``r2``, ``mae``, ``rmse``, ``sigma_nmad`` (1.4826 times the median absolute
        deviation of ``dz / (1 + z)``), ``outlier_fraction`` (``|dz| / (1 + z) > 0.15``),
        ``success_rate``, and ``bias`` (median of ``dz / (1 + z)``).

    Examples
    --------
    >>> from spectromer.evaluation import redshift_metrics
    >>> classes = ["GALAXY", "GALAXY", "GALAXY", "QSO"]
    >>> m = redshift_metrics([0.1, 0.2, 0.3, 1.0], [0.1, 0.201, 0.7, 1.01], classes)
    >>> m["outlier_fraction"], m["success_rate"]
    (0.25, 0.75)
    """
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    t = np.asarray(z_true, dtype=float)
    p = np.asarray(z_pred, dtype=float)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"z_true and z_pred must be 1-D of equal length, got {t.shape}, {p.shape}")
    if t.size == 0:
        raise ValueError("no predictions to score")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("redshifts must be finite")
    dz = (p - t) / (1 + t)
    if classes is None:
        tol = np.full(t.size, SUCCESS_TOLERANCE["GALAXY"])
    else:
        cls = np.asarray([str(c).strip().upper() for c in classes])
        if cls.shape != t.shape:
            raise ValueError(f"classes has {cls.size} entries for {t.size} redshifts")
        tol = np.array([SUCCESS_TOLERANCE.get(c, SUCCESS_TOLERANCE["GALAXY"]) for c in cls])
    med = np.median(dz)
    return {
        "n": int(t.size),
        "r2": float(r2_score(t, p)) if t.size > 1 else float("nan"),
        "mae": float(mean_absolute_error(t, p)),
        "rmse": float(np.sqrt(mean_squared_error(t, p))),
        "sigma_nmad": float(1.4826 * np.median(np.abs(dz - med))),
        "bias": float(med),
        "outlier_fraction": float(np.mean(np.abs(dz) > OUTLIER_THRESHOLD)),
        "success_rate": float(np.mean(np.abs(p - t) < tol * (1 + t))),
    }


def metrics_by_snr(
    snr: Sequence[float],
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    bins: Sequence[float] | int = 4,
    task: str = "classification",
    classes: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> Any:
    """Metrics in bins of signal-to-noise ratio, as an astropy Table.

    Each fraction (accuracy, outlier fraction, success rate) comes with its binomial
    Wilson confidence interval, so that a bin of 30 spectra is read as what it is.

    Parameters
    ----------
    snr : sequence of float
        S/N of each spectrum (e.g. the survey's ``snr`` column).
    y_true, y_pred : sequence
        Truth and predictions.
    bins : int or sequence of float
        Bin edges, or a number of bins with equal counts (quantiles).
    task : {"classification", "redshift"}
        Which metrics: accuracy, or sigma_NMAD/outlier fraction/success rate.
    classes : sequence of str, optional
        Classes for the redshift success rule.
    confidence : float
        Confidence level of the Wilson intervals.

    Returns
    -------
    astropy.table.Table
        One row per bin: ``snr_min``, ``snr_max``, ``n`` and the metrics; for each
        fraction ``M`` also ``M_low`` and ``M_high``, its Wilson interval (NaN for an
        empty bin).

    Examples
    --------
    >>> from spectromer.evaluation import metrics_by_snr
    >>> t = metrics_by_snr([5, 10, 20, 40], ["A", "F", "G", "A"], ["A", "G", "G", "A"], bins=2)
    >>> t["accuracy"].tolist(), t["n"].tolist()
    ([0.5, 1.0], [2, 2])
    >>> t["accuracy_low"].round(3).tolist(), t["accuracy_high"].round(3).tolist()
    ([0.095, 0.342], [0.905, 1.0])
    """
    from astropy.table import Table

    s = np.asarray(snr, dtype=float)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if not (s.shape == t.shape == p.shape):
        raise ValueError("snr, y_true and y_pred must have the same length")
    if task not in ("classification", "redshift"):
        raise ValueError(f"task must be 'classification' or 'redshift', got {task!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    good = np.isfinite(s)
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        edges = np.unique(np.quantile(s[good], np.linspace(0, 1, int(bins) + 1)))
    else:
        edges = np.asarray(bins, dtype=float)
    rows = []
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        last = k == len(edges) - 2
        sel = good & (s >= lo) & ((s <= hi) if last else (s < hi))
        row: dict[str, Any] = {"snr_min": float(lo), "snr_max": float(hi), "n": int(sel.sum())}
        if task == "classification":
            row["accuracy"] = float(np.mean(t[sel] == p[sel])) if sel.any() else np.nan
            fractions = ("accuracy",)
        else:
            if sel.any():
                m = redshift_metrics(
                    t[sel], p[sel], None if classes is None else np.asarray(classes)[sel]
                )
            else:
                m = {"sigma_nmad": np.nan, "outlier_fraction": np.nan, "success_rate": np.nan}
            row.update({k2: m[k2] for k2 in ("sigma_nmad", "outlier_fraction", "success_rate")})
            fractions = ("outlier_fraction", "success_rate")
        for name in fractions:
            row[f"{name}_low"], row[f"{name}_high"] = _wilson(row[name], row["n"], confidence)
        rows.append(row)
    return Table(rows=rows)


def _wilson(fraction: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson interval of a binomial fraction measured on ``n`` trials (NaN when n = 0)."""
    if n == 0 or not np.isfinite(fraction):
        return np.nan, np.nan
    from scipy.stats import binomtest

    ci = binomtest(int(round(fraction * n)), n).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)
