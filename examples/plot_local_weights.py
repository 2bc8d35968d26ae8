"""
Loading ImageNet weights from a local file
==========================================

The published method fine-tunes vision transformers pretrained on ImageNet. Their
weights come from the Hugging Face hub, which compute nodes (and these docs' build
machine) often cannot reach. Spectromer fails fast and clearly when weights cannot be
downloaded, and loads them from a local ``.safetensors`` or ``.pth`` file instead,
adapting them to the image size and number of channels of your spectrum images.

On a machine with network access, save the weights once::

    python -c "import timm, safetensors.torch as st; \\
    m = timm.create_model('vit_base_patch16_224.augreg2_in21k_ft_in1k', pretrained=True); \\
    st.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, 'vit_base.safetensors')"

and copy ``vit_base.safetensors`` to the cluster. This example cannot download real
ImageNet weights, so it saves the weights of a small randomly initialised ViT to stand in
for that file; everything else is what you would run.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import timm
import torch
from safetensors.torch import save_file

from spectromer import SpectromerModel
from spectromer.datasets import load_sample
from spectromer.models import PretrainedWeightsUnavailable, create_model

os.environ["HF_HUB_OFFLINE"] = "1"  # as on a compute node without network

# %%
# Without network, ``pretrained=True`` fails at once
# ---------------------------------------------------
#
# The error says how to get the weights; nothing hangs on a network timeout.

try:
    create_model("vit_tiny_patch16_224", pretrained=True, num_outputs=3, img_size=32)
except PretrainedWeightsUnavailable as err:
    print(str(err)[:400], "...")

# %%
# The stand-in weights file
# -------------------------
#
# A small ViT (two blocks, patches of 8 pixels) built for 32 x 32 images, saved as a
# state dict in safetensors format, as the command above saves the real ones.

folder = Path(tempfile.mkdtemp())
weights = folder / "vit_tiny_stand_in.safetensors"
source = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2)
save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(weights))
print(f"{weights.name}: {weights.stat().st_size / 1e6:.1f} MB")

# %%
# Build a model from the file
# ---------------------------
#
# ``pretrained=PATH`` loads the file; here the images are 48 x 48 instead of 32 x 32,
# so the position embeddings are interpolated to the new grid of patches, and the
# classifier head is new (three classes). Every other tensor is the file's.

model = create_model(
    "vit_tiny_patch16_224",
    pretrained=weights,
    num_outputs=3,
    img_size=48,
    patch_size=8,
    depth=2,
)
same = torch.equal(model.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
print("first block loaded from the file:", same)
print("position embeddings:", tuple(source.pos_embed.shape), "->", tuple(model.pos_embed.shape))

# %%
# Fine-tune on spectra
# --------------------
#
# :class:`~spectromer.SpectromerModel` takes the same ``pretrained`` argument. With
# pretrained weights its default learning rate is lower (1e-4) than from scratch.

ds = load_sample()
split = ds.load_split("default")
clf = SpectromerModel(
    backbone="vit_tiny_patch16_224",
    pretrained=weights,
    backbone_options={"patch_size": 8, "depth": 2},
    image_size=48,
    epochs=3,
    batch_size=32,
    random_state=0,
    progress=False,
)
clf.fit(ds, "type", indices=split["train"])
print(f"test accuracy after 3 epochs: {clf.score(ds, 'type', indices=split['test']):.3f}")

epochs = [h["epoch"] for h in clf.history_]
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.plot(epochs, [h["train_loss"] for h in clf.history_], marker="o", label="training loss")
ax.plot(epochs, [h["val_loss"] for h in clf.history_], marker="o", label="validation loss")
ax.set(xlabel="epoch", ylabel="cross-entropy", title="Fine-tuning from a local weights file")
ax.legend()
plt.show()
