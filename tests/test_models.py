"""Tests of spectromer.models: the timm model factory and offline pretrained weights.

All models are tiny ViTs (depth 2, 64-dim, 32-64 px images), so the file runs in seconds
on a laptop CPU; nothing touches the network (``HF_HUB_OFFLINE=1`` from conftest, and
the hub probe is mocked where the test needs the network to look absent).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

from spectromer.models import (  # noqa: E402
    PretrainedWeightsUnavailable,
    create_model,
    list_backbones,
    model_info,
)
from spectromer.models import weights as weights_mod  # noqa: E402

BACKBONE = "vit_tiny_patch16_224"
TINY = dict(patch_size=8, depth=2, embed_dim=64, num_heads=2)


def tiny(**kwargs):
    """A tiny ViT; ``kwargs`` override create_model's arguments and the TINY sizes."""
    kwargs = {"img_size": 32, **TINY, **kwargs}
    return create_model(BACKBONE, **kwargs)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny ViT (img 32, 3 channels, 5 outputs) saved as .safetensors and .pth."""
    torch.manual_seed(1)
    model = tiny(num_outputs=5)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    folder = tmp_path_factory.mktemp("weights")
    safe = folder / "tiny.safetensors"
    pth = folder / "tiny.pth"
    safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(safe))
    torch.save(state, pth)
    return {"state": state, "safetensors": safe, "pth": pth}


# ---------------------------------------------------------------- building by name


@pytest.mark.parametrize("in_chans", [1, 3, 4])
def test_forward_shapes_with_head(in_chans):
    model = tiny(num_outputs=7, in_chans=in_chans).eval()
    with torch.no_grad():
        out = model(torch.rand(3, in_chans, 32, 32))
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


def test_forward_features_without_head():
    model = tiny(num_outputs=0).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 64)  # (B, embed_dim)


def test_rectangular_images_and_patches():
    model = tiny(num_outputs=2, img_size=(32, 64), patch_size=(4, 16)).eval()
    assert tuple(model.patch_embed.grid_size) == (8, 4)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 64)).shape == (1, 2)


def test_dropout_rates_reach_the_model():
    model = tiny(drop_rate=0.25, drop_path_rate=0.1)
    assert model.head_drop.p == 0.25
    assert model.blocks[-1].drop_path1.drop_prob == pytest.approx(0.1)


def test_same_seed_same_model():
    torch.manual_seed(123)
    a = tiny(num_outputs=3)
    torch.manual_seed(123)
    b = tiny(num_outputs=3)
    torch.manual_seed(124)
    c = tiny(num_outputs=3)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["blocks.0.attn.qkv.weight"], sc["blocks.0.attn.qkv.weight"])
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(a.eval()(x), b.eval()(x))


def test_convolutional_backbone_without_img_size():
    model = create_model("resnet18", num_outputs=2, img_size=48, in_chans=4).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 4, 48, 48)).shape == (1, 2)
    info = model_info(model)
    assert info["img_size"] is None and info["patch_size"] is None
    assert info["in_chans"] == 4 and info["embed_dim"] == 512


def test_unknown_backbone_suggests_names():
    with pytest.raises(ValueError, match="unknown backbone 'vit_tinny_patch16_224'.*vit_tiny"):
        create_model("vit_tinny_patch16_224")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_outputs": -1}, ValueError, "num_outputs must be >= 0"),
        ({"num_outputs": 2.0}, TypeError, "num_outputs must be an int"),
        ({"in_chans": 0}, ValueError, "in_chans must be >= 1"),
        ({"img_size": (32, 32, 3)}, TypeError, "img_size"),
        ({"img_size": 0}, ValueError, "img_size must be positive"),
        ({"num_classes": 3}, TypeError, "sets num_classes itself"),
        ({"pretrained": 1.5}, TypeError, "pretrained must be a bool or a file path"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tiny(**kwargs)


def test_list_backbones():
    names = list_backbones()
    assert BACKBONE in names and all(n.startswith("vit_") for n in names)
    assert "resnet18" in list_backbones("resnet*")
    tagged = list_backbones("vit_tiny_patch16_224*", pretrained=True)
    assert "vit_tiny_patch16_224.augreg_in21k_ft_in1k" in tagged


# ---------------------------------------------------------------- model_info


def test_model_info_json_round_trip():
    model = tiny(num_outputs=4, img_size=(32, 64), in_chans=2)
    info = model_info(model)
    assert json.loads(json.dumps(info)) == info
    assert info["name"] == BACKBONE
    assert info["img_size"] == [32, 64]
    assert info["in_chans"] == 2
    assert info["patch_size"] == [8, 8]
    assert info["embed_dim"] == 64
    assert info["depth"] == 2 and info["num_heads"] == 2
    assert info["num_outputs"] == 4
    assert info["n_params"] == sum(p.numel() for p in model.parameters())
    model.blocks.requires_grad_(False)
    assert model_info(model)["n_trainable"] < info["n_params"]


def test_importing_spectromer_does_not_import_torch():
    code = (
        "import sys, spectromer, spectromer.models; "
        "print(sorted({'torch', 'timm'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- local weight files


@pytest.mark.parametrize("kind", ["safetensors", "pth"])
def test_load_local_file_adapts_size_and_channels(checkpoint, kind):
    state = checkpoint["state"]
    model = tiny(num_outputs=3, img_size=64, in_chans=4, pretrained=checkpoint[kind])
    # position embeddings resized from a 4x4 to an 8x8 grid (+ class token)
    assert state["pos_embed"].shape == (1, 17, 64)
    assert model.pos_embed.shape == (1, 65, 64)
    assert torch.allclose(model.pos_embed[:, 0], state["pos_embed"][:, 0])  # class token kept
    # patch embedding adapted from 3 to 4 input channels (timm repeats, scales by 3/4)
    assert model.patch_embed.proj.weight.shape == (64, 4, 8, 8)
    adapted, saved = model.patch_embed.proj.weight, state["patch_embed.proj.weight"]
    assert torch.allclose(adapted[:, :3], saved * 0.75)
    assert torch.allclose(adapted[:, 3], saved[:, 0] * 0.75)
    # everything else loaded as saved
    for key in ("blocks.1.attn.qkv.weight", "blocks.0.mlp.fc1.bias", "norm.weight", "cls_token"):
        assert torch.equal(model.state_dict()[key], state[key]), key
    # a fresh head with the new number of outputs
    assert model.head.weight.shape == (3, 64)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 4, 64, 64)).shape == (2, 3)


def test_fresh_head_is_random_not_loaded(checkpoint):
    state = checkpoint["state"]
    torch.manual_seed(5)
    a = tiny(num_outputs=5 + 1, pretrained=checkpoint["safetensors"])
    assert not torch.equal(a.head.weight[:5], state["head.weight"])
    b = tiny(num_outputs=0, pretrained=checkpoint["safetensors"])
    assert isinstance(b.head, torch.nn.Identity)
    assert torch.equal(b.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])


def test_same_outputs_loads_the_head(checkpoint):
    state = checkpoint["state"]
    model = tiny(num_outputs=5, pretrained=checkpoint["pth"])
    assert all(torch.equal(model.state_dict()[k], state[k]) for k in state)


def test_reload_of_a_four_channel_model(tmp_path):
    torch.manual_seed(2)
    src = tiny(num_outputs=2, in_chans=4)
    path = tmp_path / "four.pth"
    torch.save(src.state_dict(), path)
    model = tiny(num_outputs=2, in_chans=4, pretrained=path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in src.state_dict().items())


def test_wrapped_checkpoint_with_module_prefix(checkpoint, tmp_path):
    path = tmp_path / "wrapped.pth"
    state = checkpoint["state"]
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}}, path)
    model = tiny(num_outputs=5, pretrained=path)
    assert torch.equal(model.blocks[1].attn.qkv.weight, state["blocks.1.attn.qkv.weight"])


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "no_such_weights.safetensors"
    with pytest.raises(FileNotFoundError, match="no_such_weights.safetensors"):
        tiny(pretrained=missing)
    with pytest.raises(FileNotFoundError, match="no_such_weights.pth"):
        tiny(pretrained=str(tmp_path / "no_such_weights.pth"))


def test_not_a_weight_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot read pretrained weight file .*bad.safetensors"):
        tiny(pretrained=bad)
    with pytest.raises(ValueError, match="is a directory"):
        tiny(pretrained=tmp_path)


@pytest.mark.parametrize("num_outputs", [5, 2, 0])  # head kept (strict load) or fresh
@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"depth": 3}, "blocks.2.attn.qkv.weight"),  # missing from the file
        ({"depth": 1}, "blocks.1.attn.qkv.weight"),  # unexpected in the file
        ({"embed_dim": 96}, "cls_token"),  # size mismatch
    ],
)
def test_mismatched_architecture_names_keys(checkpoint, num_outputs, change, key):
    with pytest.raises(ValueError, match=rf"(?s)do not fit {BACKBONE}.*{key}"):
        tiny(num_outputs=num_outputs, pretrained=checkpoint["safetensors"], **{**TINY, **change})


# ---------------------------------------------------------------- pretrained=True


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def no_network(monkeypatch):
    """Make every connection attempt fail at once, and record that one was made."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise urllib.error.URLError("network disabled by the test")

    def refuse_socket(self, *args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    def refuse_lookup(host, *args, **kwargs):
        attempts.append((host, *args))
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by the test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse_socket)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    return attempts


def test_pretrained_offline_fails_fast(empty_hub_cache, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(PretrainedWeightsUnavailable) as err:
        create_model(BACKBONE, pretrained=True)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "HF_HUB_OFFLINE is set" in message
    assert "cannot be downloaded here" in message
    assert "timm.create_model('vit_tiny_patch16_224.augreg_in21k_ft_in1k', pretrained=True)" in (
        message
    )
    assert "st.save_file(" in message and "pretrained='" in message
    assert isinstance(err.value, RuntimeError)
    assert not no_network  # offline: the network was not even tried


def test_pretrained_unreachable_hub_fails_fast(empty_hub_cache, no_network, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    start = time.perf_counter()
    with pytest.raises(PretrainedWeightsUnavailable, match="cannot be reached"):
        create_model(BACKBONE, pretrained=True)
    assert time.perf_counter() - start < 5
    # one probe (one name lookup of the hub), no retries
    assert [a[0] for a in no_network if a[0] == "huggingface.co"] == ["huggingface.co"]


def test_pretrained_failed_download_is_reported(empty_hub_cache, monkeypatch):
    # the hub looks reachable, but the download fails (huggingface_hub is offline here)
    monkeypatch.setattr(weights_mod, "hub_offline", lambda: False)
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda *a, **k: True)
    with pytest.raises(PretrainedWeightsUnavailable, match="the download failed"):
        create_model(BACKBONE, pretrained=True)


def test_pretrained_from_hub_cache_loads_offline(checkpoint, empty_hub_cache, no_network):
    # lay the tiny checkpoint out as huggingface_hub caches the weights of BACKBONE
    snapshot = empty_hub_cache / "models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("0" * 40)
    (snapshot / "snapshots" / ("0" * 40)).mkdir(parents=True)
    target = snapshot / "snapshots" / ("0" * 40) / "model.safetensors"
    target.write_bytes(checkpoint["safetensors"].read_bytes())
    assert weights_mod.hub_weights_file(BACKBONE) == target
    model = tiny(num_outputs=0, img_size=48, pretrained=True)
    state = checkpoint["state"]
    assert torch.equal(model.blocks[1].attn.qkv.weight, state["blocks.1.attn.qkv.weight"])
    assert model.pos_embed.shape == (1, 37, 64)
    assert not no_network


def test_no_pretrained_weights_for_name():
    with pytest.raises(ValueError, match="no pretrained weights"):
        weights_mod.save_snippet("vit_base_patch16_224_not_a_model")


def test_read_checkpoint_shapes(checkpoint):
    shapes = weights_mod.read_checkpoint_shapes(checkpoint["safetensors"])
    assert shapes == weights_mod.read_checkpoint_shapes(checkpoint["pth"])
    assert shapes["pos_embed"] == (1, 17, 64) and shapes["head.weight"] == (5, 64)


def test_hub_offline_reads_environment(monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    for value, expected in [("1", True), ("true", True), ("0", False), ("", False)]:
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
        assert weights_mod.hub_offline() is expected
    assert os.environ["HF_HUB_OFFLINE"] == ""


def test_loading_leaves_timm_logging_as_it_was(checkpoint, caplog):
    import logging

    logger = logging.getLogger("timm.models._builder")
    level, filters = logger.level, list(logger.filters)
    assert logger.getEffectiveLevel() == logging.WARNING  # Python's default
    tiny(num_outputs=2, pretrained=checkpoint["pth"])  # timm logs missing head keys at INFO
    assert logger.level == level and logger.filters == filters
    assert not [r for r in caplog.records if r.name == logger.name and r.levelno < logging.WARNING]
