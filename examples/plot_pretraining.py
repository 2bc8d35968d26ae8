"""
Pretrain a vision transformer on unlabelled spectra
===================================================

A vision transformer trained from scratch on a few hundred labelled spectra must
learn what a spectrum looks like and what tells the classes apart at once.
:class:`~spectromer.models.MaskedImagePretrainer` teaches it the first part
without labels, as a masked autoencoder: each spectrum is rendered as for
fine-tuning, three quarters of the image's patches are hidden, and the network
learns to rebuild them from the rest. This example pretrains a small ViT on the
bundled sample's training spectra, shows what it rebuilds, and fine-tunes it.

The network is tiny (two blocks on 32 x 32 images) and the run short, so that the
page builds in seconds on a CPU; :ref:`benchmark` reports the full-size run on
2269 real LAMOST spectra.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from spectromer import SpectromerModel
from spectromer.datasets import load_sample
from spectromer.models import MaskedImagePretrainer, read_backbone_metadata
from spectromer.spectra import as_source

ds = load_sample()
split = ds.load_split("default")
same = dict(
    backbone="vit_tiny_patch16_224",
    image_size=32,
    backbone_options={"patch_size": 8, "depth": 2},
    render_options={"fill_order": "boustrophedon"},
)

# %%
# Pretraining
# -----------
#
# ``fit`` takes any spectrum input, or a list of them used as one collection (for
# example a survey's training spectra plus simulated ones). Only the training
# split is used here: the test spectra stay unseen. A few per cent are held out to
# follow the reconstruction loss with fixed masks.

mae = MaskedImagePretrainer(**same, epochs=12, batch_size=64, warmup=2, random_state=0,
                            progress=False)  # fmt: skip
mae.fit(as_source(ds, indices=split["train"]))
loss = [h["train_loss"] for h in mae.history_]
val = [h["val_loss"] for h in mae.history_]
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(range(1, len(loss) + 1), loss, label="training")
ax.plot(range(1, len(val) + 1), val, label="validation (fixed masks)")
ax.set(xlabel="epoch", ylabel="reconstruction loss (MSE)", title="Masked-image pretraining")
ax.legend()
fig.tight_layout()
print(f"{mae.n_spectra_} spectra, {mae.fit_seconds_:.0f} s; best epoch {mae.best_epoch_}")

# %%
# What the model rebuilds
# -----------------------
#
# ``reconstruct`` hides a random three quarters of each image's patches and fills
# them with the model's prediction. Shown is the flux channel (red) of two test
# spectra: the image, the patches the model saw, and its reconstruction.

images, recon, hidden, errors = mae.reconstruct(ds, indices=split["test"][:2])
fig, axes = plt.subplots(2, 3, figsize=(7, 4.8))
for row, (img, rec, hid) in enumerate(zip(images, recon, hidden, strict=True)):
    seen = np.where(hid, np.nan, img[0])
    panels = zip(axes[row], (img[0], seen, rec[0]),
                 ("image", "visible patches", "reconstruction"), strict=True)  # fmt: skip
    for ax, picture, title in panels:
        ax.imshow(picture, cmap="magma", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
fig.tight_layout()

# %%
# Fine-tuning
# -----------
#
# The pretrained ViT is saved without its decoder, with the settings it was
# pretrained on in the file's metadata, and fine-tuned by ``SpectromerModel`` with
# ``pretrained=`` that file and the same image and backbone settings.

folder = Path(tempfile.mkdtemp())
path = mae.save_backbone(folder / "mae_vit.safetensors")
print(read_backbone_metadata(path)["render_config"]["fill_order"])

model = SpectromerModel(**same, pretrained=path, lr=1e-3, epochs=10, batch_size=32,
                        random_state=0, progress=False)  # fmt: skip
model.fit(ds, "type", indices=split["train"])
print(f"test accuracy after pretraining: {model.score(ds, 'type', indices=split['test']):.3f}")
plt.show()
