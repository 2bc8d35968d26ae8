"""
Train a model on the bundled sample
===================================

:class:`~spectromer.models.SpectromerModel` is a scikit-learn estimator that
trains a timm vision transformer on spectra rendered to images on the fly. This
example trains one to tell A, F and G stars apart on the 600 real LAMOST
spectra of the bundled sample, then looks at its learning curves, its confusion
matrix on the test split and its predictions for a few spectra, and saves and
reloads it.

To run in seconds on a laptop CPU the network here is tiny (two transformer
blocks on 32 x 32 images, trained from scratch); a real model would fine-tune
``vit_base_patch16_224`` from ImageNet weights on 224 x 224 images, on a GPU
(see :ref:`training`).
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.table import Table
from sklearn.metrics import ConfusionMatrixDisplay, classification_report

from spectromer import SpectromerModel
from spectromer.datasets import load_sample

ds = load_sample()
split = ds.load_split("default")
types = ds.labels("type")
print({part: len(rows) for part, rows in split.items()})

# %%
# Training
# --------
#
# ``fit`` takes the dataset, the label column and the rows to train on. It
# holds out its own validation set (``validation_fraction``, stratified by
# class) to follow the training and keep the weights of the best epoch, so we
# give it the ``train`` and ``validation`` parts of the saved split together and
# keep ``test`` for the end. Training spectra are augmented (noise from their
# inverse variance, flux scaling, radial-velocity shifts, masked pixels) before
# they are rendered.

model = SpectromerModel(
    backbone="vit_tiny_patch16_224",
    pretrained=False,
    image_size=32,
    backbone_options=dict(patch_size=8, depth=2),
    epochs=10,
    batch_size=32,
    validation_fraction=0.2,
    random_state=0,
    progress=False,
)
model.fit(ds, "type", indices=np.concatenate([split["train"], split["validation"]]))
print(f"{model.n_train_} training and {model.n_validation_} validation spectra")
print(f"best epoch: {model.best_epoch_} of {len(model.history_)}")

history = Table(rows=model.history_)
for name in ("train_loss", "val_loss", "val_accuracy", "lr"):
    history[name].info.format = ".3g"
history["images_per_s"].info.format = ".0f"
history["epoch", "train_loss", "val_loss", "val_accuracy", "lr", "images_per_s"].pprint_all()

# %%
# Learning curves
# ---------------
#
# ``history_`` holds one record per epoch: the losses, the validation
# metrics, the learning rate (one epoch of linear warm-up, then a cosine decay
# to zero) and the speed.

epoch = np.array(history["epoch"])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
ax1.plot(epoch, history["train_loss"], "o-", label="training")
ax1.plot(epoch, history["val_loss"], "s-", label="validation")
ax1.set_xlabel("epoch")
ax1.set_ylabel("cross-entropy")
ax1.legend()
ax2.plot(epoch, history["val_accuracy"], "o-", color="C2", label="validation accuracy")
ax2.axvline(model.best_epoch_, color="0.6", ls=":", label="kept (best) epoch")
ax2.axhline(1 / 3, color="0.8", lw=0.8)
ax2.set_xlabel("epoch")
ax2.set_ylabel("accuracy")
ax2.set_ylim(0, 1)
ax2.legend(loc="lower right", fontsize=8)
fig.tight_layout()

# %%
# Test set
# --------
#
# The test spectra were never seen during training. ``score`` gives the
# accuracy; the confusion matrix shows which types get mixed up (neighbouring
# ones: F with A and G).

test = split["test"]
pred = model.predict(ds, indices=test)
print(f"test accuracy: {model.score(ds, 'type', indices=test):.3f} (chance: 0.333)")
print(classification_report(types[test], pred, zero_division=0))

fig, ax = plt.subplots(figsize=(4.2, 3.8))
ConfusionMatrixDisplay.from_predictions(
    types[test], pred, labels=model.classes_, ax=ax, colorbar=False, cmap="Blues"
)
ax.set_title("test split", fontsize=9)
fig.tight_layout()

# %%
# Predictions with probabilities
# ------------------------------
#
# ``predict_proba`` gives the probability of every class (in the order of
# ``classes_``) for each spectrum. Here one test star of each type.

picks = [int(test[np.flatnonzero(types[test] == t)[0]]) for t in model.classes_]
proba = model.predict_proba(ds, indices=picks)
fig, axes = plt.subplots(2, len(picks), figsize=(10, 4.6), gridspec_kw=dict(height_ratios=[2, 1]))
for col, (i, p) in enumerate(zip(picks, proba, strict=True)):
    spec = ds[i]
    good = ~spec.mask
    ax = axes[0, col]
    ax.plot(spec.spectral_axis.value[good], spec.flux.value[good], lw=0.4, color="k")
    ax.set_title(
        f"{spec.meta['subclass']} star: predicted {model.classes_[p.argmax()]} ({p.max():.2f})",
        fontsize=9,
    )
    ax.set_xlabel(r"wavelength [$\AA$]", fontsize=8)
    ax.set_yticks([])
    bar = axes[1, col]
    bar.bar(model.classes_, p, color=["C0", "C1", "C3"])
    bar.set_ylim(0, 1)
    bar.set_ylabel("probability", fontsize=8)
fig.tight_layout()

# %%
# Saving and loading
# ------------------
#
# ``save`` writes a folder with the weights (``model.safetensors``) and the
# configuration (``config.json``: parameters, classes, rendering, history,
# versions). The loaded model gives exactly the same predictions.

with tempfile.TemporaryDirectory() as tmp:
    folder = model.save(Path(tmp) / "afg-types")
    print(sorted(p.name for p in folder.iterdir()))
    loaded = SpectromerModel.load(folder, device="cpu")
same = np.array_equal(loaded.predict_proba(ds, indices=test), model.predict_proba(ds, indices=test))
print(f"identical probabilities after loading: {same}")
plt.show()

# sphinx_gallery_thumbnail_number = 2
