"""
The bundled LAMOST sample
=========================

Spectromer ships 600 real LAMOST DR10 stellar spectra, 200 each of spectral
types A, F and G (:func:`spectromer.datasets.load_sample`), so that everything
in these docs runs without a download. This example looks at what is in it and
at the stratified split saved with it.
"""

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from spectromer.datasets import load_sample

ds = load_sample()
print(ds.summary("type"))

# %%
# Subclass counts, coloured by split. ``load_split("default")`` returns the
# train/validation/test index arrays saved in the file (stratified by subtype).

parts = ds.load_split("default")
subtypes = ds.labels("subtype")
names = sorted(set(subtypes.tolist()))
fig, ax = plt.subplots(figsize=(9, 3.2))
bottom = np.zeros(len(names))
for part in ("train", "validation", "test"):
    counts = Counter(subtypes[parts[part]].tolist())
    heights = np.array([counts.get(n, 0) for n in names])
    ax.bar(names, heights, bottom=bottom, label=f"{part} ({len(parts[part])})")
    bottom += heights
ax.set_ylabel("spectra")
ax.legend(fontsize=8)
ax.tick_params(axis="x", labelsize=7)
fig.tight_layout()

# %%
# The median normalised spectrum of each type, on a common wavelength grid:
# the Balmer lines weaken and the metal lines strengthen from A to G.

grid = np.linspace(3800, 9000, 3000)
fig, ax = plt.subplots(figsize=(9, 3.8))
types = ds.labels("type")
for offset, letter in enumerate(("A", "F", "G")):
    stack = []
    for i in np.flatnonzero(types == letter)[:60]:
        a = ds.arrays(int(i))
        good = ~a["mask"]
        flux = np.interp(grid, a["wave"][good], a["flux"][good])
        stack.append(flux / np.median(flux))
    ax.plot(grid, np.median(stack, axis=0) + 0.8 * offset, lw=0.6, label=f"type {letter}")
ax.set_xlabel(r"vacuum wavelength [$\AA$]")
ax.set_ylabel("median flux (offset)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
