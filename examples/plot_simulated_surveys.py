"""
Real and simulated spectra, survey by survey
============================================

:func:`spectromer.datasets.simulate_survey` observes stars, galaxies and quasars
with the instrument of LAMOST, SDSS, BOSS or DESI (see :doc:`/simulation`). This
example puts one real spectrum of each survey, from the small files shipped with
the test suite, next to **simulated** spectra of the same class at a similar
redshift and S/N, each on its survey's own wavelength grid.

Two of the real spectra are not independent of the simulator: the SDSS galaxy is
one of the 12 real galaxies the galaxy eigen-coefficient distribution was fitted
to, and the BOSS quasar one of the two quasars behind the quasar coefficients.
The measured comparison with real spectra is on the :doc:`/simulation` page.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import spectromer
from spectromer.datasets import simulate_survey
from spectromer.io import read_spectra

data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
folder = Path(tempfile.mkdtemp())

# One row per survey: the real file, and what to simulate to match it.
rows = [
    ("lamost", "spec-59517-EG025613N082253M02_sp08-200.fits.gz", {"star_types": "G"}),
    ("sdss", "spec-0385-51783-0396.fits", {"z_range": (0.0, 0.02)}),
    ("boss", "spec-3655-55240-0002.fits", {"z_range": (2.3, 2.4)}),
    ("desi", "coadd-4-80613-thru20210324.fits", {"z_range": (0.35, 0.39)}),
]

# %%
# Read the real spectra and simulate a handful of each
# ----------------------------------------------------
#
# The class comes from the real file's labels. The S/N is matched as the
# simulator defines it, the median per-pixel ``flux * sqrt(ivar)`` (here of the
# real, noisy spectrum): the simulated spectra get 0.8-1.2 times that.


def median_snr(spec):
    """Median per-pixel S/N of a spectrum with inverse-variance uncertainties."""
    ivar = spec.uncertainty.array
    good = ivar > 0
    return float(np.median(np.abs(spec.flux.value[good]) * np.sqrt(ivar[good])))


real, simulated = [], []
for survey, name, options in rows:
    spec = read_spectra(data / name)[0]
    real.append(spec)
    snr = median_snr(spec)
    options = {**options, "snr": (0.8 * snr, 1.2 * snr)}
    ds = simulate_survey(
        4, folder / f"{survey}.h5", survey=survey, classes=[spec.meta["class"]], seed=1, **options
    )
    simulated.append(ds)
    m = spec.meta
    print(f"real      {m['survey']:6s} {m['class']:6s} z = {m['z']:.4f}  S/N {snr:5.1f}  {name}")
    for i in range(len(ds)):
        r = ds.meta_row(i)
        print(
            f"simulated {r['survey']:6s} {r['class']:6s} z = {r['z']:.4f}  "
            f"S/N {r['snr']:5.1f}  {r['subclass']}"
        )


def normalised(wave, flux, mask):
    """Flux over its median over the good pixels, NaN where masked."""
    good = ~np.asarray(mask, bool) & np.isfinite(flux)
    return wave, np.where(good, flux / np.median(flux[good]), np.nan)


# %%
# Side by side
# ------------
#
# Each row shares its axes: the real spectrum on the left, the first simulated
# one on the right, both divided by their median.

fig, axes = plt.subplots(
    len(rows), 2, figsize=(10, 10), sharex="row", sharey="row", layout="constrained"
)
for (left, right), spec, ds in zip(axes, real, simulated, strict=True):
    m = spec.meta
    mask = np.zeros(spec.flux.shape, bool) if spec.mask is None else spec.mask
    wave, flux = normalised(spec.spectral_axis.value, spec.flux.value, mask)
    left.plot(wave, flux, lw=0.4, color="k")
    label = f"REAL {m['survey']} {m['class']} {m.get('subclass', '')}".rstrip()
    left.set_title(f"{label}, z = {m['z']:.3f}", loc="left", fontsize=9)

    sim = ds.arrays(0)
    row = ds.meta_row(0)
    s_wave, s_flux = normalised(sim["wave"], sim["flux"], sim["mask"])
    right.plot(s_wave, s_flux, lw=0.4, color="tab:blue")
    label = f"SIMULATED {row['survey']} {row['class']} {row['subclass']}".rstrip()
    right.set_title(f"{label}, z = {row['z']:.3f}", loc="left", fontsize=9)
    both = np.concatenate([flux[np.isfinite(flux)], s_flux[np.isfinite(s_flux)]])
    left.set_ylim(*np.percentile(both, [0.5, 99.5]) * [0.8, 1.2])
    left.set_ylabel("flux / median")
for ax in axes[-1]:
    ax.set_xlabel(r"vacuum wavelength [$\AA$]")
plt.show()
