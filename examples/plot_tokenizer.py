"""
One tokenizer for every survey: reconstructing real spectra on any grid
=======================================================================

:class:`~spectromer.models.SpectrumTokenizer` is the universal spectral tokenizer
(arXiv:2510.17959, see :doc:`/tokenizer`): it reads each spectrum on its own native
pixels, whatever the instrument, turns runs of pixels into tokens with their
wavelengths, and decodes flux at any wavelengths asked for.

Here a small one is trained on the CPU in well under a minute, on the bundled real
LAMOST sample and on simulated SDSS, BOSS and DESI spectra
(:func:`~spectromer.datasets.simulate_survey`), all at once, each on its own grid.
It then reconstructs **real** spectra of the four surveys that it never saw (the small
files shipped with the test suite), on their own grids and on a uniform 2 Angstrom
grid, with the residuals in units of the noise. A tokenizer trained for minutes is far
from the paper's (the measured one is on the :doc:`/tokenizer` page); what this shows is
the interface and that one model handles all the layouts.
"""

import tempfile
from pathlib import Path

import numpy as np
import torch

import spectromer
from spectromer.datasets import load_sample, simulate_survey
from spectromer.evaluation import plot_reconstructions
from spectromer.io import read_spectra
from spectromer.models import SpectrumTokenizer
from spectromer.spectra import as_source

torch.set_num_threads(2)
folder = Path(tempfile.mkdtemp())
data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"

# %%
# Training spectra: four instruments, four grids
# ----------------------------------------------
#
# 160 real LAMOST spectra (3909 pixels each) and 40 simulated spectra of each other
# survey (SDSS about 3800 pixels, BOSS about 4600, DESI 7781). A list of sources is
# one training set; spectra of different lengths are padded and masked per batch.

sample = load_sample()
parts = [as_source(sample, indices=np.arange(0, 600, 3)[:160])]
for survey in ("sdss", "boss", "desi"):
    ds = simulate_survey(40, folder / f"{survey}.h5", survey=survey, seed=3)
    parts.append(as_source(ds))
    print(f"{survey}: {len(ds)} simulated spectra, {ds.batch([0]).length[0]} pixels")

tok = SpectrumTokenizer(
    patch_size=32, width=64, depth=2, decoder_depth=1, heads=4, epochs=4, batch_size=16,
    lr=2e-3, warmup=0.5, validation_fraction=0.1, random_state=0, progress=False,
)
tok.fit(parts)
for h in tok.history_:
    print(f"epoch {h['epoch']}: train chi2/pixel {h['train_loss']:.1f}, "
          f"validation {h['val_loss']:.1f}")

# %%
# Real spectra it never saw, reconstructed
# ----------------------------------------
#
# ``reconstruct(X)`` decodes on each spectrum's own pixels; ``reconstruct(X, grid)``
# on any wavelength grid (an array in Angstrom, or a Quantity). ``reduced_chi2`` is
# the training loss of each spectrum: the chi-square of its own-grid reconstruction
# over its good pixels, divided by their number.
# :func:`~spectromer.evaluation.plot_reconstructions` draws both reconstructions (the
# second on a uniform 2 Angstrom grid) and the residuals in units of the noise.

files = {
    "LAMOST DR10": "spec-59517-EG025613N082253M02_sp08-200.fits.gz",
    "SDSS": "spec-0385-51783-0396.fits",
    "BOSS": "spec-3655-55240-0002.fits",
    "DESI": "coadd-4-80613-thru20210324.fits",
}
real = [read_spectra(data / name)[0] for name in files.values()]
source = as_source(real)
print("reduced chi2:", dict(zip(files, np.round(tok.reduced_chi2(source), 1))))
plot_reconstructions(tok, source, titles=list(files))

# %%
# Tokens and embeddings
# ---------------------
#
# ``encode`` gives each spectrum's tokens with the mean wavelength of each patch and
# whether it is valid (a patch with more than half its pixels bad is left out of
# attention); ``transform`` the mean of the valid tokens, the frozen embedding that
# the benchmark's probes read (``spectromer benchmark --models tokenizer``).

for label, t in zip(files, tok.encode(source)):
    print(f"{label:12s} {t.tokens.shape[0]:4d} tokens of width {t.tokens.shape[1]}, "
          f"{int((~t.valid).sum())} invalid, patches centred "
          f"{t.wavelength[0]:.0f}-{t.wavelength[-1]:.0f} A")
print("embeddings:", tok.transform(source).shape)
