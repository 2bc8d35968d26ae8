"""Metrics and plots of spectromer.evaluation on small known cases."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

matplotlib.use("Agg")

from spectromer.evaluation import (  # noqa: E402
    classification_metrics,
    metrics_by_snr,
    plot_confusion_matrix,
    plot_metric_vs_snr,
    plot_redshift,
    redshift_metrics,
    subtype_index,
)


def test_subtype_index_orders_the_mk_sequence():
    got = subtype_index(["B9", "A0", "A9", "F0", "G2V", "K5III", "M0", "O5", "WD", None, "K"])
    assert got[:8].tolist() == [19, 20, 29, 30, 42, 55, 60, 5]
    assert np.isnan(got[8:]).all()


def test_classification_metrics_known_case():
    t = ["A", "A", "A", "F", "F", "G"]
    p = ["A", "A", "F", "F", "G", "G"]
    m = classification_metrics(t, p)
    assert m["n"] == 6 and m["accuracy"] == pytest.approx(4 / 6)
    assert m["labels"] == ["A", "F", "G"]
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # per class F1: A 0.8, F 0.5, G 2/3; weights 3, 2, 1
    assert m["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["f1_weighted"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)
    assert "within_one" not in m  # letters only: no subtype distances


def test_within_subtypes_cross_letter_boundaries():
    m = classification_metrics(["A9", "F0", "G5", "A3"], ["F0", "A8", "G8", "A3"])
    # distances 1, 2, 3, 0
    assert m["within_one"] == 0.5 and m["within_two"] == 0.75 and m["n_subtype_scored"] == 4


def test_classification_errors():
    with pytest.raises(ValueError, match="equal length"):
        classification_metrics(["A"], ["A", "F"])
    with pytest.raises(ValueError, match="no predictions"):
        classification_metrics([], [])


def test_redshift_metrics_known_case():
    t = np.array([0.1, 0.2, 0.3, 1.0, 2.0])
    p = np.array([0.1, 0.2033, 0.8, 1.015, 2.05])
    m = redshift_metrics(t, p, ["GALAXY", "GALAXY", "GALAXY", "QSO", "QSO"])
    dz = (p - t) / (1 + t)
    assert m["outlier_fraction"] == pytest.approx(0.2)  # only 0.3 -> 0.8
    # successes: exact; 0.0033 < 0.00334*1.2; QSO 0.015 < 0.02002; QSO 0.05 > 0.03003
    assert m["success_rate"] == pytest.approx(3 / 5)
    assert m["mae"] == pytest.approx(np.mean(np.abs(p - t)))
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((p - t) ** 2)))
    assert m["bias"] == pytest.approx(np.median(dz))
    assert m["sigma_nmad"] == pytest.approx(1.4826 * np.median(np.abs(dz - np.median(dz))))
    # without classes every object gets the galaxy tolerance
    assert redshift_metrics(t, p)["success_rate"] == pytest.approx(2 / 5)


@given(st.lists(st.floats(0, 5), min_size=2, max_size=50))
def test_perfect_redshifts(z):
    m = redshift_metrics(z, z)
    assert m["mae"] == 0 and m["outlier_fraction"] == 0 and m["success_rate"] == 1
    assert m["sigma_nmad"] == 0


def test_redshift_errors():
    with pytest.raises(ValueError, match="finite"):
        redshift_metrics([0.1, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="classes has 1"):
        redshift_metrics([0.1, 0.2], [0.1, 0.2], ["QSO"])


def test_metrics_by_snr():
    snr = [1, 2, 3, 4, 10, 20, 30, 40]
    t = ["A"] * 8
    p = ["F", "F", "A", "F", "A", "A", "A", "A"]
    table = metrics_by_snr(snr, t, p, bins=[0, 5, 50])
    assert table["n"].tolist() == [4, 4] and table["accuracy"].tolist() == [0.25, 1.0]
    quant = metrics_by_snr(snr, t, p, bins=2)
    assert quant["n"].sum() == 8
    z = metrics_by_snr(snr, np.linspace(0.1, 1, 8), np.linspace(0.1, 1, 8), bins=2, task="redshift")
    assert z["success_rate"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="task"):
        metrics_by_snr(snr, t, p, task="regression")


def test_plots():
    ax = plot_confusion_matrix(["A1", "A2", "F0"], ["A1", "A1", "F0"], title="cm")
    assert ax.get_title() == "cm" and len(ax.images) == 1
    ax = plot_redshift([0.1, 0.5], [0.1, 0.9], classes=["GALAXY", "QSO"])
    assert len(ax.collections) == 2 and ax.get_legend() is not None
    t = metrics_by_snr([1, 2, 3, 4], ["A"] * 4, ["A", "F", "A", "A"], bins=2)
    ax = plot_metric_vs_snr({"vit": t, "svm": t})
    assert [c.get_label() for c in ax.containers] == ["vit", "svm"]  # one error bar line each
    import matplotlib.pyplot as plt

    plt.close("all")


def _wilson(k, n, z=1.959963984540054):
    """The Wilson score interval, written out (independent of scipy)."""
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_metrics_by_snr_has_counts_and_wilson_intervals():
    snr = np.arange(1, 61, dtype=float)
    t = np.array(["A"] * 60)
    p = np.where(np.arange(60) % 3 == 0, "F", "A")  # 20 wrong of 60, spread over both bins
    table = metrics_by_snr(snr, t, p, bins=[0, 30.5, 61])
    assert table["n"].tolist() == [30, 30]
    for row in table:
        k = round(row["accuracy"] * row["n"])
        low, high = _wilson(k, row["n"])
        assert row["accuracy_low"] == pytest.approx(low, abs=1e-9)
        assert row["accuracy_high"] == pytest.approx(high, abs=1e-9)
        assert row["accuracy_low"] < row["accuracy"] < row["accuracy_high"]
    z = metrics_by_snr(snr[:8], np.linspace(0.1, 1, 8), np.linspace(0.1, 1, 8), bins=2,
                       task="redshift")  # fmt: skip
    assert z["success_rate_high"].tolist() == [1.0, 1.0]
    assert z["success_rate_low"][0] == pytest.approx(_wilson(4, 4)[0])
    assert z["outlier_fraction_low"].tolist() == [0.0, 0.0]
    assert "sigma_nmad_low" not in z.colnames  # not a fraction: no binomial interval
    empty = metrics_by_snr([1, 2, 3], ["A"] * 3, ["A"] * 3, bins=[10, 20])
    assert empty["n"].tolist() == [0] and np.isnan(empty["accuracy_low"][0])
    with pytest.raises(ValueError, match="confidence"):
        metrics_by_snr(snr, t, p, confidence=95)


def test_snr_plot_has_plain_log_ticks_band_counts_and_error_bars():
    import re

    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    snr = rng.uniform(20, 300, 120)
    t = np.array(["A"] * 120)
    table = metrics_by_snr(snr, t, np.where(rng.random(120) < 0.7, "A", "F"), bins=4)
    other = metrics_by_snr(snr, t, np.where(rng.random(120) < 0.5, "A", "F"), bins=4)
    ax = plot_metric_vs_snr({"vit": table, "svm": other}, snr_label="S/N (r band)")
    ax.figure.canvas.draw()
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "S/N (r band)"
    lo, hi = ax.get_xlim()
    shown = [(x, tick.get_text()) for x, tick in zip(ax.get_xticks(), ax.get_xticklabels())
             if lo <= x <= hi]  # fmt: skip
    assert len(shown) >= 2
    for _, text in shown:
        assert re.fullmatch(r"\d+(\.\d+)?", text), text  # no 3x10^1, no mathtext
    assert all(label.get_text() == "" for label in ax.xaxis.get_minorticklabels())
    # counts once per bin (the same bins for both models), above the frame
    assert [a.get_text() for a in ax.texts] == [f"n={n}" for n in table["n"]]
    # error bars: the Wilson interval of each point
    bars = [c for c in ax.containers if c.has_yerr]
    assert len(bars) == 2
    segments = bars[0].lines[2][0].get_segments()
    np.testing.assert_allclose([s[0][1] for s in segments], table["accuracy_low"])
    np.testing.assert_allclose([s[1][1] for s in segments], table["accuracy_high"])
    # different bins: each point carries its own count
    ax = plot_metric_vs_snr({"vit": table, "few": metrics_by_snr(snr[:40], t[:40], t[:40])})
    assert len(ax.texts) == 8
    plt.close("all")


def test_confusion_matrix_has_a_colourbar_saying_rows_are_normalised():
    import matplotlib.pyplot as plt

    ax = plot_confusion_matrix(["A", "A", "F", "G"], ["A", "F", "F", "G"])
    assert len(ax.figure.axes) == 2  # the matrix and its colour bar
    assert ax.images[0].colorbar.ax.get_ylabel() == "fraction of true class"
    assert ax.images[0].get_array()[0].tolist() == [0.5, 0.5, 0.0]  # a row sums to 1
    assert ax.images[0].get_clim() == (0.0, 1.0)  # one scale for every model's panel
    ax = plot_confusion_matrix(["A", "F"], ["A", "A"], normalize=None)
    assert ax.images[0].colorbar.ax.get_ylabel() == "number of spectra"
    ax = plot_confusion_matrix(["A", "F"], ["A", "A"], colorbar=False)
    assert len(ax.figure.axes) == 1
    plt.close("all")
