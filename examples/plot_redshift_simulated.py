"""
Redshift on simulated SDSS spectra
==================================

Real galaxy and quasar spectra in bulk need a download, so this example uses
**simulated** SDSS spectra from :func:`spectromer.datasets.simulate_survey`
(``survey="sdss"``, :doc:`/simulation`): the SDSS pipeline's own eigenspectra with
coefficient spreads, emission lines, velocity dispersions and the Lyman-alpha forest,
redshifted onto the SDSS log-wavelength grid and observed with the SDSS instrument
(resolution, calibration errors, the measured noise profile, sky residuals).
Every spectrum is labelled ``simulated`` in the dataset. A k-nearest-neighbours
baseline (:func:`spectromer.baselines.make_baseline`) learns their redshifts, and
:func:`spectromer.evaluation.redshift_metrics` scores it with the survey's metrics.
Numbers measured this way describe the simulation, not the sky: the :ref:`benchmark`
page also checks models on real SDSS galaxies.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from spectromer.baselines import make_baseline
from spectromer.datasets import simulate_survey
from spectromer.evaluation import plot_redshift, redshift_metrics
from spectromer.spectra import as_source

path = Path(tempfile.mkdtemp()) / "simulated_sdss.h5"
ds = simulate_survey(400, path, survey="sdss", classes=("GALAXY", "QSO"), seed=0)
print(ds.summary("class"))

# %%
# Two simulated spectra
# ---------------------
#
# A galaxy and a quasar, on the SDSS grid (3800-9200 A), with their redshifts.

z = ds.labels("z").astype(float)
classes = ds.labels("class")
fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True, layout="constrained")
for ax, name in zip(axes, ["GALAXY", "QSO"], strict=True):
    i = int(np.flatnonzero(classes == name)[0])
    spec = ds.spectrum(i)
    ax.plot(spec.spectral_axis.value, spec.flux.value, lw=0.5)
    ax.set_title(f"SIMULATED {name}, z = {z[i]:.3f}, S/N {ds.labels('snr')[i]:.0f}")
    ax.set_ylabel(f"flux [{spec.flux.unit}]")
axes[-1].set_xlabel("observed wavelength [Angstrom]")

# %%
# A kNN redshift baseline
# -----------------------
#
# The spectra are resampled onto one log-wavelength grid, normalised and
# standardised; the number of neighbours is chosen by cross-validation on the
# training spectra only.

rng = np.random.default_rng(0)
order = rng.permutation(len(ds))
train, test = np.sort(order[:300]), np.sort(order[300:])
knn = make_baseline("knn", task="regression", quick=True, n_pixels=1000)
knn.fit(as_source(ds, indices=train), z[train])
pred = knn.predict(as_source(ds, indices=test))
print("chosen:", knn.best_params_)

metrics = redshift_metrics(z[test], pred, classes[test])
for key in ("r2", "sigma_nmad", "outlier_fraction", "success_rate"):
    print(f"{key:>16}: {metrics[key]:.4f}")

# %%
# Predicted against true redshift
# -------------------------------
#
# The dashed lines mark the catastrophic-outlier limit, :math:`|\Delta z|/(1+z) = 0.15`.

fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
plot_redshift(z[test], pred, classes=classes[test], ax=ax, title="kNN on SIMULATED SDSS spectra")
plt.show()
