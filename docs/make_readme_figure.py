"""Make ``docs/_static/spectrum_to_image.png``, the picture in the README.

Run ``python docs/make_readme_figure.py`` from the repository root.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spectromer.datasets import load_sample  # noqa: E402

ds = load_sample()
spec = ds[int(np.flatnonzero(ds.labels("subtype") == "F5")[0])]
fig, (ax0, ax1, ax2) = plt.subplots(
    1, 3, figsize=(11, 3), gridspec_kw={"width_ratios": [2.4, 1, 1]}
)
wave, flux = spec.spectral_axis.value, spec.flux.value
ax0.plot(wave, np.where(spec.mask, np.nan, flux), lw=0.5, color="k")
ax0.set_xlabel(r"vacuum wavelength [$\AA$]")
ax0.set_ylabel("flux")
ax0.set_title(f"LAMOST DR10 {spec.meta['subclass']} star", fontsize=9, loc="left")
ax1.imshow(spec.to_image("map2dnormaldev", size=224))
ax1.set_title('to_image("map2dnormaldev")', fontsize=8)
ax2.imshow(spec.to_image("map2dnormaldev", size=224, fill_order="hilbert"))
ax2.set_title('fill_order="hilbert"', fontsize=8)
for ax in (ax1, ax2):
    ax.axis("off")
fig.tight_layout()
out = Path(__file__).with_name("_static") / "spectrum_to_image.png"
fig.savefig(out, dpi=90)
print(f"wrote {out}")
