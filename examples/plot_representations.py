"""
One spectrum, every image representation
========================================

Spectromer shows a vision transformer a spectrum as an image. This example
renders one real LAMOST DR10 star from the bundled sample in every
representation of the published method (``plot``, ``overlapsplit``,
``map2d``, ``map2dnormal``, ``map2dnormaldev``, ``roi``) and in the three fill
orders, and maps the wavelength axis onto the images, so you can see which
pixel shows which part of the spectrum.

By default the renderers are *wavelength-true*: every spectrum is resampled
onto one fixed log-wavelength grid (3600-10400 Angstrom) before layout, so a
pixel means the same wavelength for every spectrum and every instrument.
"""

import matplotlib.pyplot as plt
import numpy as np

from spectromer.datasets import load_sample
from spectromer.imaging import KINDS, pixel_wavelengths

ds = load_sample()
i = int(np.flatnonzero(ds.labels("subtype") == "A5")[0])
spec = ds[i]
print(spec.meta["source"], spec.meta["subclass"], f"S/N(r) = {spec.meta['snr_r']:.0f}")

# %%
# The spectrum itself, with its masked pixels shaded.

fig, ax = plt.subplots(figsize=(9, 2.6))
wave, flux = spec.spectral_axis.value, spec.flux.value
ax.plot(wave, np.where(spec.mask, np.nan, flux), lw=0.5, color="k")
ax.set_xlabel(r"vacuum wavelength [$\AA$]")
ax.set_ylabel("flux (relative)")
ax.set_title(f"LAMOST {spec.meta['subclass']} star", fontsize=9, loc="left")
fig.tight_layout()

# %%
# Every representation at 224 x 224 pixels (the input size of ViT-B/16).

fig, axes = plt.subplots(1, len(KINDS), figsize=(15, 3))
for ax, kind in zip(axes, KINDS, strict=True):
    ax.imshow(spec.to_image(kind, size=224))
    ax.set_title(kind, fontsize=9)
    ax.axis("off")
fig.tight_layout()

# %%
# Fill orders. ``standard`` runs row by row, ``boustrophedon`` alternates the
# direction of each row, ``hilbert`` follows a space-filling curve, which keeps
# neighbouring wavelengths in neighbouring pixels in both directions, so each
# 16 x 16 ViT patch sees one contiguous stretch of the spectrum. The bottom row
# colours every pixel by the wavelength it shows, with contours every 1000 A.

orders = ("standard", "boustrophedon", "hilbert")
fig, axes = plt.subplots(2, 3, figsize=(10, 6.8))
for col, order in enumerate(orders):
    axes[0, col].imshow(spec.to_image("map2dnormaldev", size=224, fill_order=order))
    axes[0, col].set_title(order, fontsize=9)
    wl = pixel_wavelengths(kind="map2dnormaldev", size=224, fill_order=order)
    im = axes[1, col].imshow(wl, cmap="Spectral_r")
    cs = axes[1, col].contour(wl, levels=np.arange(4000, 10001, 1000), colors="k", linewidths=0.4)
    axes[1, col].clabel(cs, fontsize=6, fmt="%d")
    for ax in axes[:, col]:
        ax.set_xticks([])
        ax.set_yticks([])
fig.colorbar(im, ax=axes[1], shrink=0.8, label=r"wavelength [$\AA$]")

# %%
# Published index mapping versus the wavelength-true grid: with
# ``grid="index"`` array element *i* goes to block *i* whatever its
# wavelength (as in the paper); spectra from instruments with other pixel
# grids then put the same line in different pixels. The wavelength-true grid
# (default) does not.

fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.4))
for ax, grid in zip(axes, ("index", "log"), strict=True):
    ax.imshow(spec.to_image("map2dnormal", size=224, grid=grid)[..., 0], cmap="magma")
    ax.set_title(f'grid="{grid}"', fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()
