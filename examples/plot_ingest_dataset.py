"""
Ingesting a folder of spectra into a dataset
============================================

:func:`spectromer.datasets.ingest` (or ``spectromer ingest DIR --out FILE.h5``)
reads every spectrum file of a folder into one HDF5
:class:`~spectromer.datasets.SpectraDataset`. Bad files are skipped and
reported, and every good file still lands.

Here we copy the real test fixtures (LAMOST, SDSS, BOSS and DESI files) into a
temporary folder, add broken files of every kind a survey download can
produce, and ingest the lot.
"""

import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import spectromer
from spectromer.datasets import ingest
from spectromer.testing import write_corrupt_spectra

data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
work = Path(tempfile.mkdtemp())
folder = work / "downloads"
shutil.copytree(data, folder)
bad = write_corrupt_spectra(folder, folder / "spec-59517-EG025613N082253M02_sp08-200.fits.gz")

# %%
# Ingest. The report at the end lists each failed file with its reason.

ds = ingest(folder, work / "fixtures.h5", progress=False)
print(ds.ingest_result.report())

# %%
# The dataset holds one row of labels per spectrum, in an astropy Table...

print(ds.summary("survey"))
ds.meta["survey", "source", "class", "subclass", "z"].pprint(max_width=120)

# %%
# ...and the ingest report, one row per file.

ds.ingest_report["path", "status", "reason"][ds.ingest_report["status"] == "failed"].pprint(
    max_width=140
)

# %%
# Spectra keep their native wavelength grids. Batches are padded to the
# longest spectrum, with padded pixels masked.

batch = next(ds.iter_batches(batch_size=len(ds)))
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.imshow(~batch.mask, aspect="auto", interpolation="nearest", cmap="Greys")
ax.set_yticks(
    np.arange(len(ds)),
    [f"{s} ({n})" for s, n in zip(ds.labels("survey"), batch.length, strict=True)],
    fontsize=7,
)
ax.set_xlabel("pixel index (native grid)")
ax.set_title("valid pixels per spectrum (black) in one padded batch", fontsize=9)
fig.tight_layout()
plt.show()
