"""
The ViT against SVM, random forest and kNN
==========================================

:func:`spectromer.evaluation.run_benchmark` (the ``spectromer benchmark`` command)
trains a vision transformer and the classical baselines of
:mod:`spectromer.baselines` on exactly the same split, scores them with the same
metrics and writes ``results.json`` and plots. Here it runs with ``quick=True`` on the
600 real LAMOST spectra of the bundled sample: a tiny ViT trained from scratch for a few
epochs and small hyper-parameter grids, so the whole comparison takes about a minute on
2 CPU cores. It is a smoke run, not a result: the full LAMOST runs, with their settings
and caveats, are on the :ref:`benchmark` page.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from astropy.table import Table

from spectromer.evaluation import (
    plot_confusion_matrix,
    plot_metric_vs_snr,
    results_table,
    run_benchmark,
)

out = Path(tempfile.mkdtemp()) / "benchmark"
result = run_benchmark(
    label="type", models=["vit", "svm", "rf", "knn"], quick=True, out=out, progress=False
)
results_table(result).pprint_all()

# %%
# What was written
# ----------------
#
# ``results.json`` holds one record per model with every metric, the fit and predict
# seconds, and the settings the model used or the grid search chose (on the training
# split only). The split itself is saved too, so the run can be reproduced row for row.

print(sorted(p.name for p in out.iterdir()))
for record in result["results"]:
    print(f"{record['model']:>4}: {record['settings'].get('best_params', '')}")
split = result["data"]["split"]
print(f"{len(split['train_rows'])} training and {len(split['test_rows'])} test spectra")

# %%
# Confusion matrices
# ------------------
#
# Each record keeps the true and predicted label of every test spectrum, so any plot can
# be redrawn from ``results.json``; the run also wrote these matrices to
# ``confusion_matrices.png``. Most errors are between neighbouring types. ``vit-knn``
# and ``vit-mlp`` are AstroCLIP's probes (kNN and a small MLP) of the ViT's frozen
# embeddings, the protocol every encoder is compared with.

records = result["results"]
ncols = 3
nrows = -(-len(records) // ncols)
fig, axes = plt.subplots(nrows, ncols, figsize=(11, 3.4 * nrows), layout="constrained")
for ax in axes.flat[len(records) :]:
    ax.set_visible(False)
for ax, record in zip(axes.flat, records):
    plot_confusion_matrix(
        record["truth"], record["prediction"], ax=ax, title=f"{record['model']}: type"
    )

# %%
# Accuracy against signal-to-noise
# --------------------------------
#
# The records also hold the metrics in bins of S/N (``by_snr``): every model does
# worse on faint spectra, which is where a better model has room to win.

tables = {r["model"]: Table(rows=r["by_snr"]) for r in result["results"] if "by_snr" in r}
fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
plot_metric_vs_snr(tables, "accuracy", ax=ax)
plt.show()
