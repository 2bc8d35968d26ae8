"""SpecFormer: AstroCLIP's spectrum transformer, its forward pass and its checkpoints.

The forward pass is checked against a second computation written here with plain tensor
operations in float64 (standardise, slice, pad, statistics token, positions, one
pre-norm block with the fused q/k/v weight split by hand, softmax attention, exact GELU
MLP, final LayerNorm, head). The checkpoints are written in the formats AstroCLIP
publishes: a Lightning ``specformer.ckpt`` and the full ``astroclip.ckpt``, whose
SpecFormer is under ``spectrum_encoder.backbone.`` among other tensors.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")

from spectromer.models import (  # noqa: E402
    SPECFORMER_CONFIGS,
    PretrainedWeightsUnavailable,
    SpecFormer,
    SpecFormerConfig,
)

TINY = SpecFormerConfig(embed_dim=8, num_layers=1, num_heads=2, max_len=64, dropout=0.0)
# width 12 with the published 6 heads: the architecture can be told from the tensors alone
SHAPED = SpecFormerConfig(embed_dim=12, num_layers=2, num_heads=6, max_len=64, dropout=0.0)

PUBLISHED_KEYS_OF_A_BLOCK = [
    "layernorm1.weight",
    "layernorm1.bias",
    "attention.attention.weight",
    "attention.attention.bias",
    "attention.projection.weight",
    "attention.projection.bias",
    "layernorm2.weight",
    "layernorm2.bias",
    "mlp.encoder.weight",
    "mlp.encoder.bias",
    "mlp.decoder.weight",
    "mlp.decoder.bias",
]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomised(config: SpecFormerConfig, seed: int = 0) -> SpecFormer:
    """A model whose every parameter (biases and LayerNorms too) is random, in eval mode."""
    torch.manual_seed(seed)
    model = SpecFormer(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "layernorm" in name:
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "layernorm" in name and
                                                     name.endswith("weight") else 0.0))  # fmt: skip
    return model.eval()


# ---------------------------------------------------------------- the independent forward pass


def reference_tokens(flux: torch.Tensor) -> torch.Tensor:
    """AstroCLIP's tokens by hand: float64, python loops over windows."""
    x = flux.double()
    n_spectra, n_pixels = x.shape
    rows = []
    for b in range(n_spectra):
        mean = x[b].sum() / n_pixels
        std = torch.sqrt(((x[b] - mean) ** 2).sum() / (n_pixels - 1))  # unbiased
        std = torch.clamp(std, min=0.2)
        z = (x[b] - mean) / std
        starts = list(range(0, n_pixels - 10, 10))[:-1]  # below L - overlap, last dropped
        tokens = [torch.cat([torch.stack([(mean - 2) / 2, (std - 2) / 8]), torch.zeros(20)])]
        tokens += [torch.cat([torch.zeros(2, dtype=torch.float64), z[s : s + 20]]) for s in starts]
        rows.append(torch.stack(tokens))
    return torch.stack(rows)


def layer_norm(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    mu = h.mean(-1, keepdim=True)
    var = ((h - mu) ** 2).mean(-1, keepdim=True)  # biased, as LayerNorm
    return (h - mu) / torch.sqrt(var + 1e-5) * weight + bias


def reference_forward(model: SpecFormer, flux: torch.Tensor) -> dict[str, torch.Tensor]:
    s = {k: v.detach().double() for k, v in model.state_dict().items()}
    width, heads = model.config.embed_dim, model.config.num_heads
    size = width // heads
    tokens = reference_tokens(flux)
    n_tokens = tokens.shape[1]
    h = tokens @ s["data_embed.weight"].T + s["data_embed.bias"] + s["position_embed.weight"][
        :n_tokens]  # fmt: skip
    for i in range(model.config.num_layers):
        p = f"blocks.{i}."
        a = layer_norm(h, s[p + "layernorm1.weight"], s[p + "layernorm1.bias"])
        w, bias = s[p + "attention.attention.weight"], s[p + "attention.attention.bias"]
        q = a @ w[:width].T + bias[:width]  # fused rows: q, then k, then v
        k = a @ w[width : 2 * width].T + bias[width : 2 * width]
        v = a @ w[2 * width :].T + bias[2 * width :]
        outs = []
        for head in range(heads):
            cols = slice(head * size, (head + 1) * size)
            scores = q[..., cols] @ k[..., cols].transpose(-1, -2) / math.sqrt(size)
            weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
            weights = weights / weights.sum(-1, keepdim=True)
            outs.append(weights @ v[..., cols])
        attended = torch.cat(outs, -1)
        h = (
            h
            + attended @ s[p + "attention.projection.weight"].T
            + s[p + "attention.projection.bias"]
        )
        m = layer_norm(h, s[p + "layernorm2.weight"], s[p + "layernorm2.bias"])
        u = m @ s[p + "mlp.encoder.weight"].T + s[p + "mlp.encoder.bias"]
        u = 0.5 * u * (1 + torch.erf(u / math.sqrt(2)))  # exact GELU
        h = h + u @ s[p + "mlp.decoder.weight"].T + s[p + "mlp.decoder.bias"]
    h = layer_norm(h, s["final_layernorm.weight"], s["final_layernorm.bias"])
    return {"embedding": h, "reconstructions": h @ s["head.weight"].T + s["head.bias"]}


@pytest.mark.parametrize("n_pixels", [63, 60, 21])
def test_forward_matches_the_computation_by_hand(n_pixels):
    model = randomised(TINY)
    torch.manual_seed(1)
    flux = torch.randn(3, n_pixels) * 4 + 7
    flux[2] = 3.0  # a flat spectrum: its standard deviation is clipped at 0.2
    expected = reference_forward(model, flux)
    with torch.no_grad():
        out = model(flux)
    assert set(out) == {"embedding", "reconstructions"}
    assert out["embedding"].shape == (3, TINY.n_tokens(n_pixels), 8)
    assert out["reconstructions"].shape == (3, TINY.n_tokens(n_pixels), 22)
    torch.testing.assert_close(model.tokenize(flux).double(), reference_tokens(flux),
                               atol=1e-5, rtol=0)  # fmt: skip
    for key in ("embedding", "reconstructions"):
        torch.testing.assert_close(out[key].double(), expected[key], atol=1e-5, rtol=0)


def test_two_blocks_match_the_computation_by_hand():
    model = randomised(SHAPED, seed=3)
    flux = torch.rand(2, 95) * 10
    with torch.no_grad():
        out = model(flux)
    expected = reference_forward(model, flux)
    torch.testing.assert_close(out["embedding"].double(), expected["embedding"], atol=1e-5,
                               rtol=0)  # fmt: skip


def test_statistics_token_and_padding():
    flux = torch.full((1, 45), 3.0)
    tokens = SpecFormer(TINY).tokenize(flux)
    assert tokens.shape == (1, 4, 22)  # windows at 0, 10, 20 (30 is the dropped last)
    torch.testing.assert_close(tokens[0, 0, :2], torch.tensor([(3.0 - 2) / 2, (0.2 - 2) / 8]))
    assert torch.count_nonzero(tokens[0, 0, 2:]) == 0
    assert torch.count_nonzero(tokens[0, 1:]) == 0  # flat: standardised pixels are all 0
    ramp = torch.arange(45.0)[None]
    tokens = SpecFormer(TINY).tokenize(ramp)
    assert torch.count_nonzero(tokens[0, 1:, :2]) == 0  # two zeros in front of each window
    std = ramp.std()
    torch.testing.assert_close(tokens[0, 2, 2:], (ramp[0, 10:30] - 22.0) / std)


def test_post_norm_blocks_use_the_same_parameters():
    pre = randomised(TINY)
    post = SpecFormer(TINY, norm_first=False).eval()
    post.load_state_dict(pre.state_dict())
    flux = torch.rand(2, 75)  # 7 tokens
    block = post.blocks[0]
    with torch.no_grad():
        x = post.data_embed(post.tokenize(flux)) + post.position_embed.weight[:7]
        y = block.layernorm1(x + block.attention(x))
        y = block.layernorm2(y + block.mlp(y))
        expected = post.head(post.final_layernorm(y))
        torch.testing.assert_close(post(flux)["reconstructions"], expected)
        assert not torch.allclose(pre(flux)["reconstructions"], expected)


def test_flux_with_a_channel_axis_equals_flat_flux():
    model = randomised(TINY)
    flux = torch.rand(4, 81)
    with torch.no_grad():
        flat, channel = model(flux), model(flux[..., None])
        doubled = model(flux.double())
    for key in flat:
        assert torch.equal(flat[key], channel[key])
        torch.testing.assert_close(flat[key], doubled[key])
    with pytest.raises(
        ValueError, match=r"\(batch, pixels\) or \(batch, pixels, 1\), not \(4, 81, 2\)"
    ):
        model(torch.rand(4, 81, 2))
    with pytest.raises(ValueError, match="not \\(81,\\)"):
        model(torch.rand(81))


def test_dropout_acts_only_in_training_and_gradients_reach_every_parameter():
    model = SpecFormer(TINY, dropout=0.5)
    flux = torch.rand(2, 60)
    model.train()
    torch.manual_seed(0)
    first = model(flux)["reconstructions"]
    assert not torch.equal(first, model(flux)["reconstructions"])
    first.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(flux)["embedding"], model(flux)["embedding"])


# ---------------------------------------------------------------- tokens


def test_token_count_follows_the_published_rule():
    model = SpecFormer(TINY, max_len=800)
    for n_pixels in range(21, 160):
        starts = list(range(0, n_pixels - 10, 10))[:-1]  # AstroCLIP's windows
        n_tokens = model.tokenize(torch.rand(1, n_pixels)).shape[1]
        assert n_tokens == 1 + len(starts) == TINY.n_tokens(n_pixels), n_pixels
        rule = 1 + (n_pixels - 20) // 10 + 1
        assert n_tokens == (rule - 1 if n_pixels % 10 == 0 else rule), n_pixels


def test_the_desi_grid_gives_778_tokens():
    assert SPECFORMER_CONFIGS["astroclip"].n_tokens(7781) == 778 <= 800
    model = SpecFormer(TINY, max_len=800).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 7781))
    assert out["embedding"].shape == (1, 778, 8)


def test_too_short_and_too_long_spectra_are_refused():
    model = SpecFormer(TINY)  # 64 positions
    with pytest.raises(ValueError, match="20 pixels is too short"):
        model(torch.rand(1, 20))
    assert model(torch.rand(1, 641))["embedding"].shape[1] == 64
    with pytest.raises(ValueError, match="65 tokens.*max_len=64"):
        model(torch.rand(1, 651))


def test_configurations():
    assert SpecFormerConfig() == SpecFormerConfig(22, 768, 6, 6, 800, 0.1, True, 20, 10)
    published = SPECFORMER_CONFIGS["astroclip"]
    assert (published.embed_dim, published.num_layers, published.num_heads) == (768, 6, 6)
    assert (published.dropout, published.max_len, published.mlp_dim) == (0.0, 800, 3072)
    small = SPECFORMER_CONFIGS["small"]
    assert (small.embed_dim, small.num_layers, small.num_heads) == (128, 2, 4)
    with pytest.raises(ValueError, match="input_dim .23. must be slice_section_length"):
        SpecFormerConfig(input_dim=23)
    with pytest.raises(ValueError, match="slice_overlap .20. must be smaller"):
        SpecFormerConfig(slice_overlap=20)
    with pytest.raises(ValueError, match="dropout"):
        SpecFormerConfig(dropout=1.0)
    with pytest.raises(TypeError, match="num_layers must be an int"):
        SpecFormerConfig(num_layers=2.0)
    with pytest.raises(KeyError, match="the presets are astroclip, small"):
        SpecFormer("huge")
    assert SpecFormer("small", num_layers=1).config.num_layers == 1


def test_parameter_names_and_shapes_are_the_published_ones():
    model = SpecFormer(SHAPED)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {
        "data_embed.weight": (12, 22),
        "data_embed.bias": (12,),
        "position_embed.weight": (64, 12),
        "final_layernorm.weight": (12,),
        "final_layernorm.bias": (12,),
        "head.weight": (22, 12),
        "head.bias": (22,),
    }
    block_shapes = [(12,), (12,), (36, 12), (36,), (12, 12), (12,)]
    block_shapes += [(12,), (12,), (48, 12), (48,), (12, 48), (12,)]
    block = dict(zip(PUBLISHED_KEYS_OF_A_BLOCK, block_shapes, strict=True))
    for i in range(2):
        expected.update({f"blocks.{i}.{k}": v for k, v in block.items()})
    assert shapes == expected


# ---------------------------------------------------------------- checkpoints


def lightning_checkpoint(model: SpecFormer, hyper_parameters: dict | None = None) -> dict:
    """A checkpoint as PyTorch Lightning writes AstroCLIP's SpecFormer (specformer.ckpt)."""
    config = model.config
    hp = {
        "input_dim": config.input_dim,
        "embed_dim": config.embed_dim,
        "num_layers": config.num_layers,
        "num_heads": config.num_heads,
        "max_len": config.max_len,
        "mask_num_chunks": 6,
        "mask_chunk_width": 50,
        "slice_section_length": config.slice_section_length,
        "slice_overlap": config.slice_overlap,
        "dropout": config.dropout,
        "norm_first": False,  # recorded by AstroCLIP, never read by its blocks
    }
    hp.update(hyper_parameters or {})
    first = next(iter(model.parameters()))
    return {
        "epoch": 3,
        "global_step": 1200,
        "pytorch-lightning_version": "2.2.1",
        "state_dict": OrderedDict(model.state_dict()),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4}}}},
        "callbacks": {
            "ModelCheckpoint{'monitor': None}": {"best_model_score": None, "dirpath": "/outputs"}
        },  # fmt: skip
        "optimizer_states": [
            {
                "state": {0: {"step": torch.tensor(1200.0), "exp_avg": torch.zeros_like(first)}},
                "param_groups": [{"lr": 1e-5, "params": [0]}],
            }
        ],  # fmt: skip
        "lr_schedulers": [{"T_max": 500000, "T_warmup": 2000, "last_epoch": 1200}],
        "hparams_name": "kwargs",
        "hyper_parameters": hp,
    }


TRIPPED: list[str] = []


def _trip(*args):
    TRIPPED.append("ran")
    return args


class Tripwire:
    """Stands for the modules AstroCLIP pickles in the hyper-parameters of astroclip.ckpt."""

    def __reduce__(self):
        return (_trip, ("code from the checkpoint",))


def astroclip_checkpoint(model: SpecFormer) -> dict:
    """A checkpoint like the full astroclip.ckpt: SpecFormer under spectrum_encoder.backbone."""
    state = OrderedDict()
    state["image_encoder.backbone.patch_embed.proj.weight"] = torch.randn(4, 3, 2, 2)
    state["image_encoder.cross_attention.query"] = torch.randn(1, 1, 4)
    for k, v in model.state_dict().items():
        state["spectrum_encoder.backbone." + k] = v
    state["spectrum_encoder.cross_attention.multihead_attn.in_proj_weight"] = torch.randn(12, 4)
    state["spectrum_encoder.mlp.encoder.weight"] = torch.randn(16, 4)
    return {
        "epoch": 0,
        "global_step": 10,
        "pytorch-lightning_version": "2.2.1",
        "state_dict": state,
        "hparams_name": "kwargs",
        "hyper_parameters": {
            "image_encoder": Tripwire(),
            "spectrum_encoder": torch.nn.Linear(3, 2),
            "temperature": 15.5,
            "lr": 1e-4,
            "logit_scale": 15.5,
            "learnable_logit_scale": False,
        },
    }


def assert_same_outputs(a: SpecFormer, b: SpecFormer, n_pixels: int = 200) -> None:
    flux = torch.rand(3, n_pixels) * 5
    with torch.no_grad():
        out_a, out_b = a.eval()(flux), b.eval()(flux)
    for key in ("embedding", "reconstructions"):
        assert torch.equal(out_a[key], out_b[key])


def test_lightning_specformer_checkpoint_loads(tmp_path):
    source = randomised(SHAPED)
    path = tmp_path / "specformer.ckpt"
    torch.save(lightning_checkpoint(source), path)
    loaded = SpecFormer.from_astroclip_checkpoint(path)
    assert loaded.config == SHAPED  # from the hyper-parameters; norm_first stays pre-norm
    assert not loaded.training
    assert_same_outputs(source, loaded)
    tiny = randomised(TINY)  # 2 heads: only the hyper-parameters can tell
    torch.save(lightning_checkpoint(tiny), path)
    assert SpecFormer.from_astroclip_checkpoint(str(path)).config == TINY
    assert_same_outputs(tiny, SpecFormer.from_astroclip_checkpoint(path))


def test_full_astroclip_checkpoint_loads_only_the_spectrum_backbone(tmp_path):
    source = randomised(SHAPED, seed=5)
    path = tmp_path / "astroclip.ckpt"
    torch.save(astroclip_checkpoint(source), path)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)  # the pickled objects need the fallback
    TRIPPED.clear()
    loaded = SpecFormer.from_astroclip_checkpoint(path)  # architecture from the shapes
    assert TRIPPED == []  # nothing of the file's objects was run
    assert loaded.config == SPECFORMER_CONFIGS["astroclip"].__class__(
        embed_dim=12, num_layers=2, num_heads=6, max_len=64, dropout=0.0)  # fmt: skip
    assert_same_outputs(source, loaded)
    tiny = randomised(TINY, seed=6)
    torch.save(astroclip_checkpoint(tiny), path)
    with pytest.raises(ValueError, match="pass config=SpecFormerConfig"):
        SpecFormer.from_astroclip_checkpoint(path)  # width 8 and the published 6 heads
    assert_same_outputs(tiny, SpecFormer.from_astroclip_checkpoint(path, config=TINY))


def test_bare_state_dict_loads(tmp_path):
    source = randomised(SHAPED, seed=2)
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    assert_same_outputs(source, SpecFormer.from_astroclip_checkpoint(path))
    torch.save(lightning_checkpoint(source), path, _use_new_zipfile_serialization=False)
    assert_same_outputs(source, SpecFormer.from_astroclip_checkpoint(path))  # legacy format


@pytest.mark.parametrize("kind", ["specformer", "astroclip"])
def test_missing_unexpected_and_misshapen_tensors_are_named(tmp_path, kind):
    source = randomised(SHAPED)
    prefix = "spectrum_encoder.backbone." if kind == "astroclip" else ""
    make = astroclip_checkpoint if kind == "astroclip" else lightning_checkpoint
    path = tmp_path / f"{kind}.ckpt"

    checkpoint = make(source)
    del checkpoint["state_dict"][prefix + "blocks.1.mlp.encoder.bias"]
    torch.save(checkpoint, path)
    with pytest.raises(
        ValueError, match=rf"missing from the file: {prefix}blocks\.1\.mlp\.encoder\.bias"
    ):
        SpecFormer.from_astroclip_checkpoint(path)
    with pytest.warns(UserWarning, match="blocks.1.mlp.encoder.bias"):
        partial = SpecFormer.from_astroclip_checkpoint(path, strict=False)
    assert torch.equal(partial.blocks[0].mlp.encoder.weight, source.blocks[0].mlp.encoder.weight)

    checkpoint = make(source)
    checkpoint["state_dict"][prefix + "blocks.0.attention.rotary.weight"] = torch.zeros(3)
    torch.save(checkpoint, path)
    with pytest.raises(
        ValueError, match=rf"not in SpecFormer: {prefix}blocks\.0\.attention\.rotary"
    ):
        SpecFormer.from_astroclip_checkpoint(path)

    checkpoint = make(source)
    checkpoint["state_dict"][prefix + "head.bias"] = torch.zeros(21)
    torch.save(checkpoint, path)
    for strict in (True, False):
        with pytest.raises(
            ValueError, match=rf"wrong shape: {prefix}head\.bias \(file \(21,\), model \(22,\)\)"
        ):
            SpecFormer.from_astroclip_checkpoint(path, strict=strict)


def test_hyper_parameters_that_do_not_fit_the_tensors(tmp_path):
    path = tmp_path / "specformer.ckpt"
    torch.save(lightning_checkpoint(randomised(SHAPED), {"embed_dim": 24}), path)
    with pytest.raises(
        ValueError, match=r"wrong shape: data_embed\.weight \(file \(12, 22\), model \(24, 22\)\)"
    ):
        SpecFormer.from_astroclip_checkpoint(path)
    torch.save(lightning_checkpoint(randomised(SHAPED), {"num_layers": 3}), path)
    with pytest.raises(ValueError, match=r"missing from the file: blocks\.2\.layernorm1\.weight"):
        SpecFormer.from_astroclip_checkpoint(path)


def test_files_that_hold_no_specformer(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        SpecFormer.from_astroclip_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(ValueError, match="is a directory"):
        SpecFormer.from_astroclip_checkpoint(tmp_path)
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="cannot read SpecFormer checkpoint .*text.ckpt"):
        SpecFormer.from_astroclip_checkpoint(tmp_path / "text.ckpt")
    torch.save({"state_dict": {"x": 1}}, tmp_path / "odd.ckpt")
    with pytest.raises(ValueError, match="holds no SpecFormer checkpoint"):
        SpecFormer.from_astroclip_checkpoint(tmp_path / "odd.ckpt")
    torch.save({"head.weight": torch.zeros(22, 8)}, tmp_path / "part.pt")
    with pytest.raises(
        ValueError, match="missing from the file: data_embed.weight, position_embed"
    ):
        SpecFormer.from_astroclip_checkpoint(tmp_path / "part.pt")


# ---------------------------------------------------------------- published weights


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.parametrize(("name", "repo", "filename"), [
    ("specformer", "polymathic-ai/specformer", "specformer.ckpt"),
    ("astroclip", "polymathic-ai/astroclip", "astroclip.ckpt"),
])  # fmt: skip
def test_pretrained_offline_fails_at_once_with_the_way_out(empty_hub_cache, name, repo, filename):
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable) as info:
        SpecFormer.from_pretrained(name)
    assert time.monotonic() - start < 2
    message = str(info.value)
    assert "HF_HUB_OFFLINE is set" in message
    assert f"hf_hub_download('{repo}', '{filename}', local_dir='.')" in message
    assert f"https://huggingface.co/{repo}/resolve/main/{filename}" in message
    assert f"SpecFormer.from_astroclip_checkpoint('{filename}')" in message
    assert info.value.reason == "HF_HUB_OFFLINE is set"


def test_pretrained_uses_the_cached_copy_offline(empty_hub_cache):
    snapshot = empty_hub_cache / "models--polymathic-ai--specformer" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (empty_hub_cache / "models--polymathic-ai--specformer" / "refs").mkdir()
    (empty_hub_cache / "models--polymathic-ai--specformer" / "refs" / "main").write_text("abc123")
    source = randomised(SHAPED, seed=9)
    torch.save(lightning_checkpoint(source), snapshot / "specformer.ckpt")
    assert_same_outputs(source, SpecFormer.from_pretrained())


def test_unknown_pretrained_name():
    with pytest.raises(ValueError, match="choose one of specformer, astroclip"):
        SpecFormer.from_pretrained("specformer-v2")
