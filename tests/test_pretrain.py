"""Masked-image pretraining: the masked autoencoder, ConcatSource, MaskedImagePretrainer,
and the benchmark's ``--pretrain``."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from spectromer import SpectromerModel  # noqa: E402
from spectromer.cli import main  # noqa: E402
from spectromer.datasets import load_sample  # noqa: E402
from spectromer.evaluation import run_benchmark  # noqa: E402
from spectromer.models import (  # noqa: E402
    MaskedImagePretrainer,
    create_model,
    read_backbone_metadata,
)
from spectromer.models.mae import MaskedAutoencoder  # noqa: E402
from spectromer.spectra import ConcatSource, as_source  # noqa: E402

TINY_OPTIONS = {"patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2}
TINY = dict(backbone="vit_tiny_patch16_224", image_size=32, backbone_options=TINY_OPTIONS)
DECODER = dict(decoder_dim=16, decoder_depth=1, decoder_heads=2)


def _encoder(size=32, patch=8, chans=3):
    return create_model("vit_tiny_patch16_224", img_size=size, in_chans=chans,
                        patch_size=patch, depth=1, embed_dim=32, num_heads=2)  # fmt: skip


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def pretrained(sample):
    mae = MaskedImagePretrainer(**TINY, **DECODER, epochs=2, batch_size=32, warmup=0.5,
                                random_state=0, progress=False)  # fmt: skip
    return mae.fit(sample, indices=np.arange(0, 600, 5))


# --- the masked autoencoder -----------------------------------------------------------


@pytest.mark.parametrize("size, patch", [((16, 32), (1, 16)), (32, 8), ((32, 16), (4, 8))])
def test_patchify_round_trip_and_token_order(size, patch):
    mae = MaskedAutoencoder(_encoder(size, patch), **DECODER)
    images = torch.rand(2, 3, *((size, size) if isinstance(size, int) else size))
    patches = mae.patchify(images)
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    assert patches.shape == (2, images.shape[2] // ph * (images.shape[3] // pw), ph * pw * 3)
    assert torch.equal(mae.unpatchify(patches), images)
    # token k is the k-th patch of the encoder's patch embedding (row-major)
    gw = images.shape[3] // pw
    k = gw + 1  # second row of patches, second column
    block = images[0, :, ph : 2 * ph, pw : 2 * pw].permute(1, 2, 0).reshape(-1)
    assert torch.equal(patches[0, k], block)


def test_masking_hides_the_ratio_and_eval_is_repeatable():
    mae = MaskedAutoencoder(_encoder(), mask_ratio=0.5, **DECODER)
    images = torch.rand(4, 3, 32, 32)
    recon, hidden, loss = mae.reconstruct(images)
    assert recon.shape == images.shape and hidden.shape == (4, 1, 32, 32)
    assert hidden.float().mean(dim=(1, 2, 3)).tolist() == [0.5] * 4
    visible = hidden.expand_as(images) == 0
    assert torch.allclose(recon[visible], images[visible])  # visible patches copied
    mae.eval()
    assert torch.equal(mae(images), mae(images))  # fixed masks in eval mode
    mae.train()
    torch.manual_seed(1)
    a = mae(images)
    torch.manual_seed(2)
    assert not torch.equal(a, mae(images))  # random masks in training


def test_the_loss_is_only_on_hidden_patches():
    mae = MaskedAutoencoder(_encoder(), mask_ratio=0.75, norm_pix_loss=False, **DECODER)
    images = torch.rand(2, 3, 32, 32)
    torch.manual_seed(0)
    _, hidden, loss = mae.reconstruct(images)
    changed = images.clone()
    changed[hidden.expand_as(images) == 0] += 10.0  # move only the visible pixels' targets
    torch.manual_seed(0)
    tokens, order = mae._encode(images)
    pred = mae._decode(tokens, order)
    per_patch = ((pred - mae._target(changed)) ** 2).mean(-1)
    h = mae._hidden(order)
    assert torch.allclose((per_patch * h).sum(1) / h.sum(1), loss, atol=1e-5)


def test_it_learns():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(_encoder(), **DECODER)
    x = torch.linspace(0, 1, 32)
    images = (torch.sin(6 * x)[None, None, None, :] * torch.ones(8, 3, 32, 1)) + 0.1 * torch.rand(
        8, 3, 32, 32
    )
    opt = torch.optim.AdamW(mae.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = mae(images).mean()
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.7 * first


def test_bad_encoder_and_settings():
    with pytest.raises(TypeError, match="VisionTransformer"):
        MaskedAutoencoder(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedAutoencoder(_encoder(), mask_ratio=1.0)
    with pytest.raises(ValueError, match="hides no patch"):
        MaskedAutoencoder(_encoder(), mask_ratio=0.01, **DECODER)
    with pytest.raises(ValueError, match="decoder_heads"):
        MaskedAutoencoder(_encoder(), decoder_dim=10, decoder_heads=4)


# --- ConcatSource ---------------------------------------------------------------------


def test_concat_source_maps_indices_and_pads(sample):
    a = as_source(sample, indices=[0, 1, 2])
    b = as_source(np.arange(10.0).reshape(2, 5) + 1, wavelength=np.linspace(4000, 5000, 5))
    both = ConcatSource([a, b])
    assert len(both) == 5 and "+" in both.describe
    batch = both.batch([4, 0])
    ref = a.batch([0])
    n = int(ref["length"][0])
    assert batch["flux"].shape[1] == n  # padded to the longest
    np.testing.assert_array_equal(batch["flux"][1, :n], ref["flux"][0, :n])
    np.testing.assert_array_equal(batch["flux"][0, :5], [6, 7, 8, 9, 10])
    assert batch["mask"][0, 5:].all() and np.isnan(batch["wave"][0, 5:]).all()
    assert batch["index"].tolist() == [4, 0]
    assert len(both[[1, 3]]) == 2
    with pytest.raises(IndexError):
        both.batch([5])
    with pytest.raises(ValueError, match="at least one"):
        ConcatSource([])
    with pytest.raises(TypeError, match="as_source"):
        ConcatSource([a, sample])


# --- MaskedImagePretrainer ------------------------------------------------------------


def test_pretrainer_fits_and_records(pretrained):
    mae = pretrained
    assert len(mae.history_) == 2
    val = [h["val_loss"] for h in mae.history_]
    assert mae.best_epoch_ == int(np.argmin(val)) + 1  # the lowest reconstruction loss
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in mae.history_)
    assert mae.n_spectra_ == 114  # 120 minus 5% validation
    assert mae.render_config_.size == 32 and mae.device_ == "cpu"
    assert mae.get_params()["mask_ratio"] == 0.75


def test_pretrainer_is_reproducible(sample, pretrained):
    again = MaskedImagePretrainer(**pretrained.get_params()).fit(
        sample, indices=np.arange(0, 600, 5)
    )
    assert [h["train_loss"] for h in again.history_] == [
        h["train_loss"] for h in pretrained.history_
    ]


def test_transform_and_reconstruct(sample, pretrained):
    feats = pretrained.transform(sample, indices=[0, 1, 2])
    assert feats.shape == (3, 32) and np.isfinite(feats).all()
    images, recon, hidden, loss = pretrained.reconstruct(sample, indices=[0, 1])
    assert images.shape == recon.shape == (2, 3, 32, 32)
    assert hidden.shape == (2, 32, 32) and hidden.mean() == 0.75
    assert np.allclose(images[:, :, ~hidden[0]][0], recon[:, :, ~hidden[0]][0])
    assert (loss > 0).all()


def test_save_backbone_and_fine_tune(sample, pretrained, tmp_path):
    path = pretrained.save_backbone(tmp_path / "mae.safetensors")
    meta = read_backbone_metadata(path)
    assert meta["backbone"] == "vit_tiny_patch16_224"
    assert meta["render_config"]["size"] == 32
    assert meta["pretraining"]["n_spectra"] == 114
    assert read_backbone_metadata(tmp_path / "none.safetensors") == {}
    # the file is the encoder: it loads into a classifier with a fresh head
    enc = pretrained.model_.encoder.state_dict()
    model = SpectromerModel(**TINY, pretrained=path, epochs=1, batch_size=32, random_state=0,
                            progress=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same images and architecture: no warning
        net = create_model("vit_tiny_patch16_224", num_outputs=3, pretrained=path, img_size=32,
                           **TINY["backbone_options"])  # fmt: skip
        model.fit(sample, "type", indices=np.arange(0, 600, 10))
    assert torch.equal(
        net.state_dict()["blocks.0.attn.qkv.weight"], enc["blocks.0.attn.qkv.weight"]
    )
    assert model.predict(sample, indices=[0]).shape == (1,)
    with pytest.raises(ValueError, match=".safetensors"):
        pretrained.save_backbone(tmp_path / "mae.pth")


def test_fine_tuning_other_images_warns(sample, pretrained, tmp_path):
    path = pretrained.save_backbone(tmp_path / "mae.safetensors")
    model = SpectromerModel(**TINY, pretrained=path, epochs=1, batch_size=32, random_state=0,
                            render_options={"fill_order": "hilbert"}, progress=False)  # fmt: skip
    with pytest.warns(UserWarning, match="fill_order"):
        model.fit(sample, "type", indices=np.arange(0, 600, 10))


def test_pretrainer_on_several_inputs_and_resume(sample, tmp_path, interrupt_after):
    a = as_source(sample, indices=np.arange(0, 600, 12))
    b = as_source(np.random.default_rng(0).normal(1, 0.1, (20, 400)),
                  wavelength=np.linspace(3800, 9000, 400))  # fmt: skip
    settings = dict(**TINY, **DECODER, epochs=2, batch_size=16, random_state=1, progress=False,
                    validation_fraction=0.0)  # fmt: skip
    full = MaskedImagePretrainer(**settings).fit([a, b])
    assert full.n_spectra_ == 70 and full.best_epoch_ == 2

    half = MaskedImagePretrainer(**settings, checkpoint_dir=tmp_path / "ck")
    interrupt_after(1, every_trainer=True)
    with pytest.raises(interrupt_after.error):
        half.fit([a, b])
    half.fit([a, b], resume=True)
    assert [h["train_loss"] for h in half.history_] == [h["train_loss"] for h in full.history_]


def test_pretrainer_errors(sample):
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedImagePretrainer(mask_ratio=0).fit(sample)
    with pytest.raises(ValueError, match="epochs"):
        MaskedImagePretrainer(epochs=0).fit(sample)
    with pytest.raises(ValueError, match="indices"):
        MaskedImagePretrainer(**TINY).fit([sample, sample], indices=[0])
    with pytest.raises(ValueError, match="resume"):
        MaskedImagePretrainer(**TINY).fit(sample, resume=True)
    with pytest.raises(ValueError, match="render_options"):
        MaskedImagePretrainer(**{**TINY, "render_options": {"colour": 1}}).fit(sample)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MaskedImagePretrainer().transform(sample)


def test_clone():
    from sklearn.base import clone

    mae = MaskedImagePretrainer(**TINY, mask_ratio=0.6)
    assert clone(mae).get_params() == mae.get_params()


# --- the benchmark --------------------------------------------------------------------


def test_benchmark_pretrains_on_the_training_split_only(sample, tmp_path):
    import spectromer.models.pretrainer as pt

    seen = []
    real_fit = pt.MaskedImagePretrainer.fit

    def spy(self, X, *args, **kwargs):
        seen.append(X)
        return real_fit(self, X, *args, **kwargs)

    small = sample.subset(np.arange(0, 600, 4), tmp_path / "small.h5")
    extra = sample.subset(np.arange(1, 600, 20), tmp_path / "extra.h5")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pt.MaskedImagePretrainer, "fit", spy)
        result = run_benchmark(small, models=["vit"], quick=True, out=tmp_path / "out",
                               vit_options={"epochs": 1, **{k: v for k, v in TINY.items()}},
                               pretrain={"epochs": 1, **DECODER}, pretrain_data=[extra],
                               plots=False, progress=False)  # fmt: skip
    (parts,) = seen
    train_part, extra_part = parts
    assert len(train_part) == 120 and len(extra_part) == 30  # 150 * 0.8, and the extra data
    test_rows = set(result["data"]["split"]["test_rows"])
    assert not test_rows & set(train_part.rows.tolist())  # no test spectrum pretrained on
    r = result["results"][0]
    pre = r["settings"]["pretraining"]
    assert pre["epochs"] == 1 and pre["n_spectra"] == 142  # 150 less 5% validation
    assert pre["image_size"] == 32 and pre["backbone_options"] == TINY["backbone_options"]
    assert r["settings"]["pretrained"].endswith("backbone.safetensors")
    assert r["fit_seconds"] >= pre["seconds"]
    json.dumps(result, allow_nan=False)


def test_benchmark_pretrain_errors(tmp_path, capsys):
    with pytest.raises(TypeError, match="pretrain"):
        run_benchmark(models=["knn"], quick=True, out=tmp_path, pretrain="yes", progress=False)
    code = main(["benchmark", "--models", "knn", "--quick", "--pretrain-option", "epochs=1",
                 "--out", str(tmp_path), "--no-progress"])  # fmt: skip
    assert code == 1
    assert "--pretrain" in capsys.readouterr().err


# --- spectromer pretrain --------------------------------------------------------------


def test_cli_pretrain_then_train(sample, tmp_path, capsys):
    from spectromer.datasets import stratified_split

    small = sample.subset(np.arange(0, 600, 6), tmp_path / "small.h5")
    split = stratified_split(small.labels("type"), (0.8, 0.2), seed=0)
    small.save_split("default", split)
    n_train = len(split["train"]) - round(0.05 * len(split["train"]))
    out = tmp_path / "mae.safetensors"
    opts = ["--image-size", "32", "--backbone-option", "patch_size=8",
            "--backbone-option", "depth=2", "--fill-order", "boustrophedon"]  # fmt: skip
    code = main(["pretrain", str(small.path), "--split", "default", "--out", str(out),
                 "--epochs", "1", "--batch-size", "32", "--no-progress", *opts])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert f"pretrained on {n_train} spectra" in text and str(out) in text  # less validation
    meta = read_backbone_metadata(out)
    assert meta["render_config"]["fill_order"] == "boustrophedon"
    assert meta["backbone_options"] == {"patch_size": 8, "depth": 2}
    code = main(["train", str(small.path), "--label", "type", "--out", str(tmp_path / "m"),
                 "--backbone", "vit_tiny_patch16_224", "--pretrained", str(out), "--epochs", "1",
                 "--split", "default", "--standardize", "append", "--no-progress",
                 *opts])  # fmt: skip
    assert code == 0
    assert "saved the model" in capsys.readouterr().out


def test_cli_pretrain_errors(sample, tmp_path, capsys):
    code = main(["pretrain", str(sample.path), "--out", str(tmp_path / "x.pth")])
    assert code == 1 and ".safetensors" in capsys.readouterr().err
    code = main(["pretrain", str(sample.path), "--out", str(tmp_path / "x.safetensors"),
                 "--resume"])  # fmt: skip
    assert code == 1 and "--checkpoint-dir" in capsys.readouterr().err


def test_cli_pretrain_refuses_to_overwrite_a_checkpoint(sample, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    args = ["pretrain", str(sample.path), "--out", str(tmp_path / "x.safetensors"),
            "--image-size", "32", "--backbone-option", "patch_size=8", "--backbone-option",
            "depth=1", "--backbone-option", "embed_dim=32", "--backbone-option", "num_heads=2",
            "--epochs", "1", "--batch-size", "64", "--no-progress", "--checkpoint-dir",
            str(ckpt), "--seed", "0"]  # fmt: skip
    assert main(args) == 0
    before = (ckpt / "checkpoint.pt").read_bytes()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{ckpt} holds the checkpoint" in err and "--resume" in err and "--overwrite" in err
    assert (ckpt / "checkpoint.pt").read_bytes() == before
    assert main([*args, "--overwrite"]) == 0
