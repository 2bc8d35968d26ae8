"""Tests of spectromer.training: sources, augmentations, batch rendering, the engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from spectromer.datasets import load_sample  # noqa: E402
from spectromer.imaging import RenderConfig, render  # noqa: E402
from spectromer.training import (  # noqa: E402
    Augmentation,
    CheckpointMismatch,
    RenderedBatches,
    Trainer,
    TrainSettings,
    as_augmentation,
    as_source,
    autocast_dtype,
    make_loader,
    pad_arrays,
    predict_outputs,
    select_device,
)
from spectromer.training.engine import CHECKPOINT_NAME, HISTORY_NAME  # noqa: E402


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _batch(b=3, n=200, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "wave": np.tile(np.geomspace(4000, 8000, n), (b, 1)),
        "flux": (1 + 0.1 * rng.standard_normal((b, n))).astype(np.float32),
        "ivar": np.full((b, n), 100.0, np.float32),
        "mask": np.zeros((b, n), bool),
        "length": np.full(b, n),
    }


# -- sources -------------------------------------------------------------------------------
def test_sources_agree(sample):
    """A dataset, its Spectrum objects and its arrays give the same batch (and images)."""
    rows = [3, 10, 7]
    a = as_source(sample, indices=rows).batch([0, 1, 2])
    b = as_source([sample[i] for i in rows]).batch([0, 1, 2])
    for key in ("flux", "ivar", "mask"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(a["wave"], b["wave"], rtol=1e-12)
    cfg = RenderConfig(size=32)
    np.testing.assert_array_equal(render(a, config=cfg), render(b, config=cfg))
    np.testing.assert_array_equal(a["index"], [0, 1, 2])


def test_flux_array_source():
    wave = np.linspace(4000, 8000, 50)
    flux = np.ones((4, 50))
    flux[1, 3] = np.nan
    src = as_source(flux, wavelength=wave)
    b = src.batch([1, 2])
    assert b["mask"][0, 3] and b["ivar"][0, 3] == 0 and b["flux"][0, 3] == 0
    assert len(src) == 4
    src2 = as_source({"wave": wave, "flux": flux[0]})
    assert len(src2) == 1


def test_source_errors(sample):
    with pytest.raises(ValueError, match="wavelength"):
        as_source(np.ones((2, 5)))
    with pytest.raises(ValueError, match="wavelength has shape"):
        as_source(np.ones((2, 5)), wavelength=np.arange(4.0))
    with pytest.raises(TypeError, match=r"X\[1\]"):
        as_source([sample[0], "not a spectrum"])
    with pytest.raises(TypeError, match="SpectraDataset"):
        as_source(42)
    with pytest.raises(IndexError, match="out of range"):
        as_source(sample, indices=[len(sample)])
    with pytest.raises(IndexError, match="out of range"):
        as_source(sample, indices=[0, 1]).batch([2])


def test_pad_arrays_defaults():
    b = pad_arrays([{"wave": np.arange(2.0), "flux": np.ones(2)}], np.array([7]))
    assert b["ivar"].tolist() == [[1.0, 1.0]] and not b["mask"].any()


# -- augmentations -----------------------------------------------------------------------
def test_augmentation_is_deterministic_and_pure():
    batch = _batch()
    copy = {k: v.copy() for k, v in batch.items()}
    aug = Augmentation(p=1.0)
    a = aug(batch, np.random.default_rng(5))
    b = aug(batch, np.random.default_rng(5))
    for key in ("flux", "ivar", "mask", "wave"):
        np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(batch[key], copy[key])  # input untouched
    c = aug(batch, np.random.default_rng(6))
    assert not np.array_equal(a["flux"], c["flux"])


def test_augmentation_physics():
    batch = _batch(b=400, n=300)
    batch["ivar"][:, :50] = 0  # no error known: no noise added there
    only_noise = Augmentation(noise=1.0, scale=(1, 1), shift_kms=0, mask_runs=0, p=1.0)
    out = only_noise(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(out["flux"][:, :50], batch["flux"][:, :50])
    diff = out["flux"][:, 50:] - batch["flux"][:, 50:]
    assert abs(diff.std() - 0.1) < 0.005  # sigma = 1/sqrt(ivar) = 0.1
    assert np.allclose(out["ivar"][:, 50:], 50.0)  # variance doubled
    shift = Augmentation(noise=0, scale=(1, 1), shift_kms=100, mask_runs=0, p=1.0)
    out = shift(batch, np.random.default_rng(0))
    v = (out["wave"] / batch["wave"] - 1) * 299792.458
    assert np.abs(v).max() <= 100 + 1e-6 and np.ptp(v[0]) < 1e-6 and v.std() > 20
    scale = Augmentation(noise=0, scale=(0.5, 2.0), shift_kms=0, mask_runs=0, p=1.0)
    out = scale(batch, np.random.default_rng(0))
    f = out["flux"][:, 60] / batch["flux"][:, 60]
    assert f.min() >= 0.5 - 1e-6 and f.max() <= 2.0 + 1e-6
    np.testing.assert_allclose(out["ivar"][:, 60] * f**2, 100.0, rtol=1e-5)
    masks = Augmentation(noise=0, scale=(1, 1), shift_kms=0, mask_runs=3, mask_width=0.02, p=1.0)
    out = masks(batch, np.random.default_rng(0))
    per = out["mask"].sum(axis=1)
    assert per.max() <= 3 * 6 and per.mean() > 3
    assert np.all(out["ivar"][out["mask"]] == 0)


@given(st.floats(0, 1), st.integers(0, 2**31 - 1))
def test_augmentation_probability(p, seed):
    batch = _batch(b=20)
    out = Augmentation(p=p, noise=1.0, shift_kms=0, mask_runs=0, scale=(1, 1))(
        batch, np.random.default_rng(seed)
    )
    changed = (out["flux"] != batch["flux"]).any(axis=1)
    if p == 0:
        assert not changed.any()
    if p == 1:
        assert changed.all()


def test_as_augmentation():
    assert as_augmentation(True) == Augmentation()
    assert as_augmentation(None) is None
    with pytest.raises(ValueError, match="augment"):
        as_augmentation({"nois": 1})
    with pytest.raises(ValueError, match="noise"):
        Augmentation(noise=-1)
    with pytest.raises(TypeError):
        as_augmentation("yes")


# -- batches, loaders ------------------------------------------------------------------------
def test_rendered_batches_seeded(sample):
    src = as_source(sample, indices=range(16))
    data = RenderedBatches(src, RenderConfig(size=32), np.arange(16) % 3, Augmentation(p=1.0), 1)
    x1, y1 = data[[0, 5, 9]]
    x2, _ = data[[0, 5, 9]]
    assert x1.shape == (3, 3, 32, 32) and x1.dtype == torch.float32
    assert torch.equal(x1, x2) and y1.tolist() == [0, 2, 0]
    data.set_epoch(1)
    x3, _ = data[[0, 5, 9]]
    assert not torch.equal(x1, x3)
    plain = RenderedBatches(src, RenderConfig(size=32))
    x, idx = plain[[2, 4]]
    assert idx.tolist() == [2, 4]
    np.testing.assert_array_equal(
        x.numpy(), render(sample, indices=[2, 4], size=32, output="float32")
    )
    with pytest.raises(ValueError, match="targets"):
        RenderedBatches(src, RenderConfig(size=32), np.zeros(3))


def test_loader_shards_cover_everything(sample):
    data = RenderedBatches(as_source(sample, indices=range(10)), RenderConfig(size=16))
    seen = []
    for rank in range(3):
        loader = make_loader(data, 2, shuffle=True, seed=0, rank=rank, world_size=3)
        loader.sampler.sampler.set_epoch(0)
        seen += [i for _, idx in loader for i in idx.tolist()]
    assert sorted(set(seen)) == list(range(10)) and len(seen) == 12  # padded to 3 x 4


def test_loader_with_worker_processes(sample):
    data = RenderedBatches(as_source(sample, indices=range(12)), RenderConfig(size=16))
    loader = make_loader(data, 4, shuffle=False, num_workers=2)
    got = torch.cat([x for x, _ in loader])
    ref = render(sample, indices=range(12), size=16, output="float32", batch_size=4)
    np.testing.assert_array_equal(got.numpy(), ref)


# -- devices, precision -----------------------------------------------------------------------
def test_cuda_device_follows_local_rank_under_torchrun(monkeypatch):
    """Each torchrun process gets its own GPU, whether device is "auto" or "cuda"."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert select_device("auto") == torch.device("cuda", 1)
    assert select_device("cuda") == torch.device("cuda", 1)
    assert select_device("cuda:0") == torch.device("cuda", 0)  # an explicit GPU is kept
    monkeypatch.delenv("LOCAL_RANK")
    assert select_device("cuda") == torch.device("cuda", 0)


def test_devices_and_precision():
    cpu = torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    assert select_device("cpu") == cpu
    with pytest.raises(ValueError, match="torch device"):
        select_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
    assert autocast_dtype("auto", cpu) is None and autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="CUDA"):
        autocast_dtype("fp16", cpu)
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("fp8", cpu)


# -- the engine -------------------------------------------------------------------------------
def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))


def _data(sample, n=48):
    labels = np.searchsorted(["A", "F", "G"], sample.labels("type")[:n])
    return RenderedBatches(
        as_source(sample, indices=range(n)), RenderConfig(size=16), labels, Augmentation(), 0
    )


def _trainer(model, tmp_path=None, **settings):
    s = dict(epochs=3, batch_size=16, lr=1e-2, seed=0) | settings
    return Trainer(
        model,
        torch.nn.functional.cross_entropy,
        evaluate=lambda out, y: {"val_accuracy": float((out.argmax(1) == y).mean())},
        monitor="val_accuracy",
        settings=TrainSettings(**s),
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path,
        fingerprint={"test": 1},
    )


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_trainer_is_reproducible_and_checkpoints(sample, tmp_path):
    data = _data(sample)
    t1 = _trainer(_linear(), tmp_path / "a")
    h1 = t1.fit(data, data)
    t2 = _trainer(_linear(), None)
    t2.fit(data, data)
    for k, v in _weights(t1.model).items():
        assert torch.equal(v, t2.model.state_dict()[k])
    assert [h["epoch"] for h in h1] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "data_fraction"} <= set(h1[0])
    assert (tmp_path / "a" / CHECKPOINT_NAME).is_file()
    assert (tmp_path / "a" / HISTORY_NAME).read_text().count("\n") == 4  # header + 3 epochs
    assert not list((tmp_path / "a").glob(".*tmp"))  # no temporary files left behind
    assert h1[-1]["lr"] < h1[0]["lr"]  # cosine decay


class _Interrupted(Exception):
    pass


def test_resume_continues_exactly(sample, tmp_path):
    data = _data(sample)
    full = _trainer(_linear(), tmp_path / "full", epochs=4)
    full.fit(data, data)

    cut = _trainer(_linear(), tmp_path / "cut", epochs=4)

    def stop(epoch):
        if epoch == 1:
            raise _Interrupted

    cut._end_epoch = stop
    with pytest.raises(_Interrupted):
        cut.fit(data, data)
    # a new process would start from scratch: new model object, same recipe
    again = _trainer(_linear(seed=123), tmp_path / "cut", epochs=4)
    history = again.fit(data, data, resume=True)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for k, v in _weights(full.model).items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in full.history]


def test_resume_refuses_another_run(sample, tmp_path):
    data = _data(sample)
    _trainer(_linear(), tmp_path, epochs=1).fit(data, data)
    other = _trainer(_linear(), tmp_path, epochs=2)
    with pytest.raises(CheckpointMismatch, match="different training run"):
        other.fit(data, data, resume=True)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    with pytest.raises(CheckpointMismatch, match="not a readable checkpoint"):
        _trainer(_linear(), tmp_path, epochs=1).fit(data, data, resume=True)


def test_early_stopping_keeps_best(sample):
    data = _data(sample)
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])
    snapshots = []
    trainer = _trainer(_linear(), None, epochs=6, patience=2)
    trainer.evaluate = lambda out, y: {"val_accuracy": next(scores)}
    orig = trainer._end_epoch
    trainer._end_epoch = lambda e: (snapshots.append(_weights(trainer.model)), orig(e))
    history = trainer.fit(data, data)
    assert len(history) == 4 and trainer.stopped_early and trainer.best_epoch == 2
    for k, v in snapshots[1].items():  # the weights after epoch 2 were restored
        assert torch.equal(v, trainer.model.state_dict()[k])


def test_monitoring_the_validation_loss_keeps_the_lowest(sample):
    data = _data(sample)
    trainer = _trainer(_linear(), None, epochs=4, lr=1e-4)
    trainer.monitor = "val_loss"
    trainer.evaluate = lambda out, y: {}
    history = trainer.fit(data, data)
    losses = [h["val_loss"] for h in history]
    assert trainer.best_epoch == int(np.argmin(losses)) + 1
    assert losses[trainer.best_epoch - 1] < losses[0]  # it learns: not the first epoch


def test_bf16_autocast_on_cpu(sample):
    data = _data(sample, n=32)
    trainer = Trainer(
        _linear(),
        torch.nn.functional.cross_entropy,
        settings=TrainSettings(epochs=1, batch_size=16),
        device=torch.device("cpu"),
        precision="bf16",
    )
    assert trainer.dtype == torch.bfloat16
    history = trainer.fit(data)
    assert np.isfinite(history[0]["train_loss"])
    out, rate = predict_outputs(trainer.model, data, 8, torch.device("cpu"), torch.bfloat16)
    assert out.shape == (32, 3) and out.dtype == np.float32 and rate > 0


def test_diverging_loss_is_reported(sample):
    data = _data(sample, n=16)
    trainer = Trainer(
        _linear(),
        lambda out, y: out.sum() * float("nan"),
        settings=TrainSettings(epochs=1, batch_size=16),
        device=torch.device("cpu"),
    )
    with pytest.raises(FloatingPointError, match="lower lr"):
        trainer.fit(data)
