"""Classical baselines: SVM, random forest and k nearest neighbours on resampled spectra.

* :class:`SpectrumResampler` - a scikit-learn transformer from spectra (any grid,
  masked pixels) to a fixed log-wavelength feature matrix.
* :func:`make_baseline` - ``"svm"``, ``"rf"`` or ``"knn"`` as a Pipeline
  (resampler, scaler, model) inside a grid search that picks the hyper-parameters by
  cross-validation on the training data only.
* :data:`BASELINES` - their definitions and grids, as data.
"""

from .models import BASELINES, make_baseline
from .resample import RESAMPLER_NORMALIZATIONS, SpectrumResampler

__all__ = ["SpectrumResampler", "make_baseline", "BASELINES", "RESAMPLER_NORMALIZATIONS"]
