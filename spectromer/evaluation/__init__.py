"""Evaluation: metrics for classification and redshift, by S/N, and their plots.

* :func:`classification_metrics` - accuracy, macro/weighted F1, confusion matrix, and
  for stellar subtypes the fraction within one and two subtypes.
* :func:`redshift_metrics` - R^2, MAE, RMSE, sigma_NMAD, outlier fraction, bias and the
  published success rule.
* :func:`metrics_by_snr` - either, in bins of S/N.
* :class:`KNNProbe`, :class:`MLPProbe` - AstroCLIP's probes of frozen embeddings (kNN
  with 64 distance-weighted neighbours, an MLP 64-64), :class:`LinearProbe` (logistic or
  ridge regression, the tokenizer paper's linear head), :func:`probe_embeddings` and
  :func:`probe_encoder` to score any encoder with them.
* :func:`run_benchmark` - the ViT, SpecFormer (probed and fine-tuned), SVM, random
  forest and kNN on one split (``spectromer benchmark``; the model families are the table
  of :mod:`spectromer.evaluation.families`), :func:`results_to_rst` for the docs
  (:mod:`spectromer.evaluation.report`).
* :func:`plot_confusion_matrix`, :func:`plot_redshift`, :func:`plot_metric_vs_snr`,
  :func:`plot_reconstructions` (a tokenizer's reconstructions and residuals).
"""

from .benchmark import (
    DEFAULT_MODELS,
    MODELS,
    SPECFORMER_PRESETS,
    VIT_PRESETS,
    load_data,
    run_benchmark,
)
from .metrics import (
    OUTLIER_THRESHOLD,
    SUCCESS_TOLERANCE,
    classification_metrics,
    metrics_by_snr,
    redshift_metrics,
    subtype_index,
)
from .plots import (
    plot_confusion_matrix,
    plot_metric_vs_snr,
    plot_reconstructions,
    plot_redshift,
)
from .probes import PROBES, KNNProbe, LinearProbe, MLPProbe, probe_embeddings, probe_encoder
from .report import results_table, results_to_rst

__all__ = [
    "classification_metrics",
    "redshift_metrics",
    "metrics_by_snr",
    "subtype_index",
    "SUCCESS_TOLERANCE",
    "OUTLIER_THRESHOLD",
    "plot_confusion_matrix",
    "plot_redshift",
    "plot_reconstructions",
    "plot_metric_vs_snr",
    "KNNProbe",
    "MLPProbe",
    "LinearProbe",
    "PROBES",
    "probe_embeddings",
    "probe_encoder",
    "run_benchmark",
    "results_table",
    "results_to_rst",
    "load_data",
    "MODELS",
    "DEFAULT_MODELS",
    "VIT_PRESETS",
    "SPECFORMER_PRESETS",
]
