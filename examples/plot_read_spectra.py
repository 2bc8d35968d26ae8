"""
Reading LAMOST, SDSS/BOSS and DESI spectra
==========================================

After ``import spectromer``, :meth:`specutils.Spectrum.read` reads the spectrum
files of three surveys, identifies each by its content (not its name), and puts
the survey's own labels into ``spectrum.meta`` under the same keys for every
survey: ``survey``, ``class``, ``subclass``, ``z``, ``snr`` and more.

This example reads one real file of each kind shipped with the test suite and
plots them, greying out the pixels each survey's pipeline flagged as bad.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from specutils import Spectrum

import spectromer

data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
files = [
    "spec-59517-EG025613N082253M02_sp08-200.fits.gz",  # LAMOST DR10 (binary table)
    "spec-55862-B6212_sp06-003.fits",  # LAMOST DR1 (image layout)
    "spec-0385-51783-0396.fits",  # SDSS DR12+ spec file
    "spec-3655-55240-0002.fits",  # BOSS, unnamed HDUs
    "coadd-4-80613-thru20210324.fits",  # DESI coadd, b/r/z arms merged
]

# %%
# Every file goes through the same call. The labels are plain Python scalars.

spectra = [Spectrum.read(data / name) for name in files]
for name, spec in zip(files, spectra, strict=True):
    m = spec.meta
    print(
        f"{name:48s} {m['survey']:7s} class={m.get('class', '?'):6s} "
        f"subclass={m.get('subclass', '-')!s:14s} z={m.get('z', float('nan')):.4f} "
        f"{spec.flux.size} pixels"
    )

# %%
# Plot each spectrum, normalised by its median, with masked pixels shaded.

fig, axes = plt.subplots(len(spectra), 1, figsize=(9, 11), sharex=True)
for ax, spec in zip(axes, spectra, strict=True):
    wave = spec.spectral_axis.value
    flux = spec.flux.value
    mask = np.zeros(flux.shape, bool) if spec.mask is None else spec.mask
    good = ~mask & np.isfinite(flux)
    norm = np.median(flux[good])
    ax.plot(wave, np.where(good, flux / norm, np.nan), lw=0.5, color="k")
    ax.fill_between(
        wave,
        0,
        1,
        where=mask,
        transform=ax.get_xaxis_transform(),
        color="0.85",
        step="mid",
        label="masked",
    )
    ax.set_ylim(np.nanpercentile(flux[good] / norm, [0.5, 99.5]) * [0.8, 1.2])
    m = spec.meta
    label = f"{m['survey']}  {m.get('class', '')} {m.get('subclass', '')}"
    ax.set_title(f"{label}  z = {m.get('z', np.nan):.4f}", fontsize=9, loc="left")
    ax.set_ylabel("flux / median")
axes[-1].set_xlabel(r"vacuum wavelength [$\AA$]")
fig.tight_layout()
plt.show()
