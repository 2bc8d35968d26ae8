"""Per-pixel standardisation: PixelStandardizer and SpectromerModel(standardize=...)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spectromer.datasets import load_sample
from spectromer.imaging import RenderConfig
from spectromer.spectra import as_source
from spectromer.training import PixelStandardizer, RenderedBatches

torch = pytest.importorskip("torch")

TINY = dict(backbone="vit_tiny_patch16_224", pretrained=False, image_size=32,
            backbone_options={"patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
            epochs=1, batch_size=32, random_state=0, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def test_fit_matches_numpy(sample):
    data = RenderedBatches(as_source(sample, indices=range(100)), RenderConfig(size=16))
    images = data[list(range(100))][0].numpy().astype(np.float64)
    std = PixelStandardizer.fit(data, batch_size=30)  # several batches
    np.testing.assert_allclose(std.mean, images.mean(axis=0), atol=1e-5)
    scale = images.std(axis=0)
    np.testing.assert_allclose(std.scale, np.where(scale > 1e-3, scale, 1), rtol=1e-3, atol=1e-5)
    out = std(images.astype(np.float32))
    assert out.shape == (100, 6, 16, 16)
    np.testing.assert_array_equal(out[:, :3], images.astype(np.float32))
    z = np.clip((images - images.mean(0)) / np.where(scale > 1e-3, scale, 1), -5, 5)
    np.testing.assert_allclose(out[:, 3:], z, atol=1e-3)


def test_augmentation_is_off_while_fitting(sample):
    from spectromer.training import Augmentation

    aug = Augmentation(noise=5.0, p=1.0)
    plain = RenderedBatches(as_source(sample, indices=range(40)), RenderConfig(size=16))
    noisy = RenderedBatches(as_source(sample, indices=range(40)), RenderConfig(size=16),
                            augment=aug)  # fmt: skip
    a, b = PixelStandardizer.fit(plain), PixelStandardizer.fit(noisy)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert noisy.augment is aug  # left as it was


@given(arrays(np.float32, (5, 2, 4, 4), elements=st.floats(-1e3, 1e3, width=32)),
       st.sampled_from(["append", "replace"]), st.floats(0.5, 10))  # fmt: skip
def test_output_bounded_and_shaped(images, mode, clip):
    std = PixelStandardizer(images.mean(0), images.std(0) + 1e-2, mode=mode, clip=clip)
    out = std(images)
    assert out.shape[1] == std.channels(2)
    z = out[:, 2:] if mode == "append" else out
    assert np.isfinite(out).all() and np.abs(z).max() <= clip + 1e-6


def test_errors():
    with pytest.raises(ValueError, match="mode"):
        PixelStandardizer(np.zeros((1, 2, 2)), np.ones((1, 2, 2)), mode="add")
    with pytest.raises(ValueError, match="one shape"):
        PixelStandardizer(np.zeros((1, 2, 2)), np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="clip"):
        PixelStandardizer(np.zeros((1, 2, 2)), np.ones((1, 2, 2)), clip=0)
    std = PixelStandardizer(np.zeros((1, 2, 2)), np.ones((1, 2, 2)))
    with pytest.raises(ValueError, match="do not match"):
        std(np.zeros((3, 1, 4, 4), np.float32))


@pytest.mark.parametrize("mode, chans", [("append", 6), ("replace", 3)])
def test_estimator_standardize_save_load(sample, tmp_path, mode, chans):
    from spectromer import SpectromerModel

    rows = np.arange(0, 600, 4)
    model = SpectromerModel(**TINY, standardize=mode).fit(sample, "type", indices=rows)
    assert model.model_.patch_embed.proj.in_channels == chans
    assert model.standardizer_.mode == mode and model.standardizer_.mean.shape == (3, 32, 32)
    # fitted on the training part (not the validation part) of the given rows
    p1 = model.predict_proba(sample, indices=range(8))
    model.save(tmp_path / mode)
    loaded = SpectromerModel.load(tmp_path / mode)
    np.testing.assert_array_equal(loaded.standardizer_.scale, model.standardizer_.scale)
    np.testing.assert_allclose(loaded.predict_proba(sample, indices=range(8)), p1, atol=1e-6)


def test_estimator_standardize_is_checked(sample):
    from spectromer import SpectromerModel

    with pytest.raises(ValueError, match="standardize"):
        SpectromerModel(**TINY, standardize="zscore").fit(sample, "type", indices=range(40))
    plain = SpectromerModel(**TINY).fit(sample, "type", indices=np.arange(0, 600, 8))
    assert plain.standardizer_ is None and plain.model_.patch_embed.proj.in_channels == 3


def test_load_detects_a_missing_standardizer(sample, tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    from spectromer import SpectromerModel
    from spectromer.models import ModelFileError
    from spectromer.models.persistence import sha256_file

    model = SpectromerModel(**TINY, standardize="append")
    model.fit(sample, "type", indices=np.arange(0, 600, 8))
    folder = model.save(tmp_path / "m")
    state = load_file(str(folder / "model.safetensors"))
    del state["spectromer.standardizer.mean"]
    save_file(state, str(folder / "model.safetensors"))
    cfg = json.loads((folder / "config.json").read_text())
    cfg["weights_sha256"] = sha256_file(folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="standardisation"):
        SpectromerModel.load(folder)
