"""Plots of evaluation results (matplotlib, imported only when a plot is made)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import OUTLIER_THRESHOLD

__all__ = [
    "plot_confusion_matrix",
    "plot_redshift",
    "plot_metric_vs_snr",
    "plot_reconstructions",
]


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
    colorbar: bool = True,
    ax: Any = None,
) -> Any:
    """Confusion matrix (rows: true label), normalised per true class by default.

    The colour bar says what the cells hold: with the default ``normalize="true"``
    each row sums to 1 and a cell is the fraction of the true class predicted as
    that column (``"pred"``: fraction of the predicted class, ``"all"``: fraction
    of all spectra, None: counts).

    Returns the matplotlib Axes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from spectromer.evaluation import plot_confusion_matrix
    >>> ax = plot_confusion_matrix(["A", "F", "G", "G"], ["A", "G", "G", "G"], title="test")
    >>> ax.get_title()
    'test'
    >>> ax.images[0].colorbar.ax.get_ylabel()
    'fraction of true class'
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    ax = _axes(ax)
    n_labels = len(labels if labels is not None else np.unique(np.concatenate([y_true, y_pred])))
    display = ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        normalize=normalize,
        ax=ax,
        colorbar=colorbar,
        include_values=n_labels <= 8,  # more and the numbers overlap
        values_format=".2f" if normalize else "d",
        xticks_rotation="vertical" if n_labels > 12 else "horizontal",
        # fractions share one 0..1 colour scale, so panels of several models compare
        im_kw={"vmin": 0.0, "vmax": 1.0} if normalize else None,
    )
    if colorbar:
        display.im_.colorbar.set_label(_CELL_MEANING[normalize])
    if title:
        ax.set_title(title)
    return ax


#: What a confusion-matrix cell holds, by ``normalize``.
_CELL_MEANING = {
    "true": "fraction of true class",
    "pred": "fraction of predicted class",
    "all": "fraction of all spectra",
    None: "number of spectra",
}


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


def plot_metric_vs_snr(
    tables: dict[str, Any],
    metric: str = "accuracy",
    *,
    snr_label: str = "S/N",
    ax: Any = None,
) -> Any:
    """A metric against S/N for several models (tables from :func:`metrics_by_snr`).

    The S/N axis is logarithmic with plain numbers as tick labels. Where the tables
    carry a Wilson interval of the metric (``METRIC_low``, ``METRIC_high``) it is drawn
    as error bars, and the number of spectra in each bin is written under the points
    (once when every table has the same bins and counts, else next to each point).

    Parameters
    ----------
    tables : dict of str to astropy.table.Table
        Model name to its :func:`metrics_by_snr` table.
    metric : str
        Column to plot.
    snr_label : str
        Label of the S/N axis; say which S/N it is (``"S/N (r band)"``).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from spectromer.evaluation import metrics_by_snr, plot_metric_vs_snr
    >>> t = metrics_by_snr([5, 10, 20, 40], ["A", "F", "G", "A"], ["A", "G", "G", "A"], bins=2)
    >>> ax = plot_metric_vs_snr({"svm": t}, snr_label="S/N (r band)")
    >>> ax.get_ylabel(), ax.get_xlabel()
    ('accuracy', 'S/N (r band)')
    >>> [text.get_text() for text in ax.texts]
    ['n=2', 'n=2']
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax = _axes(ax)
    bins = [_bins(table) for table in tables.values()]
    shared = all(np.array_equal(b, bins[0], equal_nan=True) for b in bins[1:])
    k = len(tables)
    for i, (name, table) in enumerate(tables.items()):
        mid = _centres(table)
        # side by side, so that the error bars of the models do not hide each other
        x = mid * 10 ** (0.012 * (i - (k - 1) / 2))
        y = np.asarray(table[metric], dtype=float)
        err = None
        if f"{metric}_low" in table.colnames and f"{metric}_high" in table.colnames:
            low = np.asarray(table[f"{metric}_low"], dtype=float)
            high = np.asarray(table[f"{metric}_high"], dtype=float)
            err = np.clip(np.vstack([y - low, high - y]), 0, None)
        line = ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        if not shared:
            for xi, yi, n in zip(x, y, table["n"], strict=True):
                ax.annotate(f"n={int(n)}", (xi, yi), xytext=(4, 4), textcoords="offset points",
                            fontsize=7, color=line[0].get_color())  # fmt: skip
    if shared and tables:  # above the frame, where no point or error bar can hide them
        first = next(iter(tables.values()))
        for xi, n in zip(_centres(first), first["n"], strict=True):
            ax.annotate(f"n={int(n)}", (xi, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize=7, color="0.3")  # fmt: skip
    ax.set(xscale="log", xlabel=snr_label, ylabel=metric)
    lo, hi = ax.get_xlim()
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    # plain numbers (5, 10, 20, 50...) as many as fit: never 3x10^1 on the minor ticks
    subs = (1.0, 2.0, 3.0, 5.0) if decades < 1.5 else (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend()
    return ax


def _bins(table: Any) -> np.ndarray:
    return np.column_stack([np.asarray(table[c], dtype=float) for c in ("snr_min", "snr_max", "n")])


def _centres(table: Any) -> np.ndarray:
    """Geometric bin centres (arithmetic where an edge is not positive)."""
    lo, hi = np.asarray(table["snr_min"], dtype=float), np.asarray(table["snr_max"], dtype=float)
    with np.errstate(invalid="ignore"):
        mid = np.sqrt(lo * hi)
    return np.where(np.isfinite(mid) & (mid > 0), mid, 0.5 * (lo + hi))


def plot_reconstructions(
    tokenizer: Any,
    X: Any,
    *,
    titles: Sequence[str] | None = None,
    grid_step: float = 2.0,
    fig: Any = None,
) -> Any:
    """Spectra, a tokenizer's reconstructions and the residuals, one pair of panels each.

    For each spectrum: the observed good pixels, the reconstruction on its own grid
    (:meth:`SpectrumTokenizer.reconstruct <spectromer.models.SpectrumTokenizer.reconstruct>`),
    the flux decoded on a uniform grid of ``grid_step`` Angstrom over its coverage (a
    grid it was not observed on), and below, the own-grid residuals in units of the
    noise, with the reduced chi-square in the title.

    Parameters
    ----------
    tokenizer : SpectrumTokenizer
        A fitted tokenizer.
    X : any spectrum input of ``tokenizer.reconstruct``
        The spectra (a few: two rows of panels each).
    titles : sequence of str, optional
        A title per spectrum (default: its name).
    grid_step : float
        Step of the uniform decoding grid, Angstrom.
    fig : matplotlib Figure, optional
        Drawn into (new by default).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.evaluation import plot_reconstructions
    >>> from spectromer.models import SpectrumTokenizer
    >>> wave = np.linspace(4000, 6000, 64)
    >>> tok = SpectrumTokenizer(patch_size=16, width=8, depth=1, decoder_depth=1, heads=2,
    ...                         epochs=1, validation_fraction=0, progress=False,
    ...                         device="cpu", random_state=0).fit(np.ones((4, 64)),
    ...                                                           wavelength=wave)
    >>> fig = plot_reconstructions(tok, {"wave": wave, "flux": np.ones((2, 64))})
    >>> len(fig.axes)
    4
    """
    import matplotlib.pyplot as plt

    from ..spectra import as_source

    source = as_source(X)
    batch = source.batch(np.arange(len(source)))
    own = tokenizer.reconstruct(source)
    chi2 = tokenizer.reduced_chi2(source)
    n = len(batch)
    if fig is None:
        fig = plt.figure(figsize=(9, 2.9 * n), layout="constrained")
    axes = fig.subplots(2 * n, 1, gridspec_kw={"height_ratios": [3, 1] * n}, squeeze=False)[:, 0]
    for k in range(n):
        m = int(batch.length[k])
        wave, flux, good = batch.wave[k, :m], batch.flux[k, :m], batch.good[k, :m]
        sigma = np.where(good, 1 / np.sqrt(np.where(good, batch.ivar[k, :m], 1.0)), np.nan)
        fine = np.arange(np.ceil(wave[good].min()), wave[good].max(), float(grid_step))
        other = tokenizer.reconstruct(source[k : k + 1], wavelength=fine)[0]
        top, bottom = axes[2 * k], axes[2 * k + 1]
        top.plot(wave[good], flux[good], color="0.6", lw=0.5, label="observed")
        top.plot(wave, own[k], color="C0", lw=0.8, label="reconstruction, own grid")
        top.plot(fine, other, color="C3", lw=0.6, ls="--",
                 label=f"decoded on a {grid_step:g} A grid")  # fmt: skip
        lo, hi = np.percentile(flux[good], [0.5, 99.5])
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        top.set_ylim(lo - 0.1 * span, hi + 0.2 * span)
        name = titles[k] if titles is not None else batch.names[k]
        top.set_title(f"{name}: {m} pixels, reduced chi2 {chi2[k]:.2f}", fontsize=9)
        top.set_ylabel("flux")
        top.legend(fontsize=7, ncol=3, loc="upper right")
        bottom.plot(wave[good], ((own[k] - flux) / sigma)[good], color="C0", lw=0.4)
        bottom.axhline(0, color="k", lw=0.5)
        bottom.set_ylim(-6, 6)
        bottom.set_xlim(top.get_xlim())
        bottom.set_ylabel("resid / sigma", fontsize=7)
    axes[-1].set_xlabel("vacuum wavelength (Angstrom)")
    return fig
