"""
Embeddings of two encoders, probed the AstroCLIP way
====================================================

AstroCLIP judges a spectrum encoder by what its frozen embeddings hold: a
k-nearest-neighbour and a small MLP "probe" are fitted on the embeddings of the
training spectra and scored on the test spectra. Spectromer applies the same probes
(:mod:`spectromer.evaluation`) to every encoder it has. This example pretrains two of
them on the bundled sample's training spectra, without labels:

* AstroCLIP's spectrum encoder, :class:`~spectromer.models.SpecFormerEncoder`
  (masked-token modelling on the native pixels), and
* Spectromer's vision transformer as a masked autoencoder,
  :class:`~spectromer.models.MaskedImagePretrainer`,

then projects their test embeddings to two dimensions (PCA), coloured by the
spectral type, and scores the probes. Both networks are tiny and trained for a few
epochs so that the page builds in seconds on a CPU; "Spectromer vs AstroCLIP"
(:doc:`/astroclip`) reports the full-size comparison on 2269 real LAMOST spectra.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA

from spectromer.datasets import load_sample
from spectromer.evaluation import probe_encoder
from spectromer.models import MaskedImagePretrainer, SpecFormerEncoder
from spectromer.spectra import as_source

ds = load_sample()
split = ds.load_split("default")
train = as_source(ds, indices=split["train"])
test = as_source(ds, indices=split["test"])
types = np.asarray(ds.labels("type"))
y_train, y_test = types[split["train"]], types[split["test"]]

# %%
# Two encoders, pretrained without labels
# ---------------------------------------
#
# The SpecFormer reads the spectrum as tokens of 20 pixels (stride 10) on the native
# LAMOST grid; the ViT reads the 32 x 32 image Spectromer renders from it. Neither
# sees a label or a test spectrum.

specformer = SpecFormerEncoder(
    config={"embed_dim": 64, "num_layers": 2, "num_heads": 4, "max_len": 400},
    epochs=4, batch_size=32, lr=1e-3, warmup=0.0, validation_fraction=0.0,
    random_state=0, progress=False,
)  # fmt: skip
specformer.fit(train)
vit = MaskedImagePretrainer(
    image_size=32, backbone_options={"patch_size": 8, "depth": 2},
    epochs=6, batch_size=64, warmup=1, validation_fraction=0.0, random_state=0,
    progress=False,
)  # fmt: skip
vit.fit(train)
encoders = {"SpecFormer (AstroCLIP)": specformer, "ViT masked autoencoder": vit}

# %%
# The probes
# ----------
#
# :func:`~spectromer.evaluation.probe_encoder` embeds both splits with the frozen
# encoder, standardises the embeddings on the training split and fits AstroCLIP's
# probes: kNN (k = 64, distance weights; fewer when the training split is small) and
# an MLP (64, 64). The numbers are accuracies on the held-out spectra.

scores = {}
for name, encoder in encoders.items():
    result = probe_encoder(encoder, train, y_train, test, y_test, random_state=0)
    scores[name] = {probe: r["metrics"]["accuracy"] for probe, r in result.items()}
    print(f"{name}: " + ", ".join(f"{p} probe {a:.3f}" for p, a in scores[name].items()))
majority = max(np.mean(y_test == c) for c in np.unique(y_train))
print(f"majority class: {majority:.3f}")

# %%
# Two-dimensional projections
# ---------------------------
#
# The first two principal components of each encoder's test embeddings
# (standardised on the training split), one colour per type.

colours = {"A": "tab:blue", "F": "tab:green", "G": "tab:orange", "K": "tab:red"}
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, (name, encoder) in zip(axes, encoders.items(), strict=True):
    e_train, e_test = encoder.transform(train), encoder.transform(test)
    mean, std = e_train.mean(0), e_train.std(0) + 1e-8
    pca = PCA(n_components=2, random_state=0).fit((e_train - mean) / std)
    xy = pca.transform((e_test - mean) / std)
    for t in np.unique(y_test):
        sel = y_test == t
        ax.scatter(xy[sel, 0], xy[sel, 1], s=10, alpha=0.7, c=colours.get(t, "grey"), label=t)
    knn = scores[name]["knn"]
    ax.set(title=f"{name}\nkNN probe accuracy {knn:.2f}", xlabel="PC 1", ylabel="PC 2")
    ax.legend(title="type", fontsize=8)
fig.tight_layout()
plt.show()
