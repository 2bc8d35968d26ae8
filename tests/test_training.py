"""Tests of spectromer.training: augmentations, batch rendering, the engine (sources and
batches: tests/test_spectra.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from spectromer.datasets import load_sample  # noqa: E402
from spectromer.imaging import RenderConfig, render  # noqa: E402
from spectromer.spectra import SpectrumBatch  # noqa: E402
from spectromer.training import (  # noqa: E402
    Augmentation,
    Callback,
    CheckpointExists,
    CheckpointMismatch,
    CSVLogger,
    EarlyStopping,
    RenderedBatches,
    Trainer,
    TrainSettings,
    as_augmentation,
    as_source,
    autocast_dtype,
    make_loader,
    predict_outputs,
    select_device,
)
from spectromer.training.engine import CHECKPOINT_NAME, HISTORY_NAME  # noqa: E402


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _batch(b=3, n=200, seed=0):
    rng = np.random.default_rng(seed)
    return SpectrumBatch.from_rows(
        [
            {"wave": np.geomspace(4000, 8000, n),
             "flux": (1 + 0.1 * rng.standard_normal(n)).astype(np.float32),
             "ivar": np.full(n, 100.0, np.float32)}
            for _ in range(b)
        ]
    )


# -- augmentations -----------------------------------------------------------------------
def test_augmentation_is_deterministic_and_pure():
    batch = _batch()
    copy = {k: batch[k].copy() for k in batch.keys()}
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
    ivar = batch.ivar.copy()
    ivar[:, :50] = 0  # no error known: no noise added there
    batch = batch.replace(ivar=ivar)
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


def _trainer(model, tmp_path=None, callbacks=None, **settings):
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
        callbacks=callbacks,
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


def test_resume_continues_exactly(sample, tmp_path, interrupt_after):
    data = _data(sample)
    full = _trainer(_linear(), tmp_path / "full", epochs=4)
    full.fit(data, data)

    cut = _trainer(_linear(), tmp_path / "cut", epochs=4)
    with pytest.raises(interrupt_after.error):
        cut.fit(data, data, callbacks=[interrupt_after(2)])
    assert [h["epoch"] for h in cut.load_checkpoint(tmp_path / "cut" / CHECKPOINT_NAME)[
        "history"]] == [1, 2]  # fmt: skip
    # a new process would start from scratch: new model object, same recipe
    again = _trainer(_linear(seed=123), tmp_path / "cut", epochs=4)
    history = again.fit(data, data, resume=True)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for k, v in _weights(full.model).items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in full.history]
    assert again.best_epoch == full.best_epoch and again.best_metric == full.best_metric


def test_resume_reads_format_1_checkpoints(sample, tmp_path, interrupt_after):
    """A checkpoint of the format before callbacks (early stopping state at the top) resumes."""
    data = _data(sample)
    full = _trainer(_linear(), None, epochs=3)
    full.fit(data, data)
    with pytest.raises(interrupt_after.error):
        _trainer(_linear(), tmp_path, epochs=3).fit(data, data, callbacks=[interrupt_after(1)])
    path = tmp_path / CHECKPOINT_NAME
    state = torch.load(path, weights_only=False)
    state.update(state.pop("callbacks")["EarlyStopping"], format_version=1)
    torch.save(state, path)
    again = _trainer(_linear(seed=5), tmp_path, epochs=3)
    again.fit(data, data, resume=True)
    for k, v in _weights(full.model).items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    state["format_version"] = 99
    torch.save(state, path)
    with pytest.raises(CheckpointMismatch, match="format 99 is newer"):
        _trainer(_linear(), tmp_path, epochs=3).fit(data, data, resume=True)


def test_resume_refuses_another_run(sample, tmp_path):
    data = _data(sample)
    _trainer(_linear(), tmp_path, epochs=1).fit(data, data)
    other = _trainer(_linear(), tmp_path, epochs=2)
    with pytest.raises(CheckpointMismatch, match="different training run"):
        other.fit(data, data, resume=True)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    with pytest.raises(CheckpointMismatch, match="not a readable checkpoint"):
        _trainer(_linear(), tmp_path, epochs=1).fit(data, data, resume=True)


def test_fresh_run_refuses_an_existing_checkpoint(sample, tmp_path, capsys):
    """Issue 13: a run without resume kept the checkpoint of an earlier one only until epoch 1."""
    data = _data(sample)
    _trainer(_linear(), tmp_path, epochs=2).fit(data, data)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()
    again = _trainer(_linear(seed=3), tmp_path, epochs=2)
    with pytest.raises(CheckpointExists, match=r"epoch 2 of 2 done.*resume=True.*overwrite=True"):
        again.fit(data, data)
    assert again.history == []  # refused before the first epoch
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before  # the earlier run is kept
    assert (tmp_path / HISTORY_NAME).read_text().count("\n") == 3
    err = pytest.raises(CheckpointExists, _trainer(_linear(), tmp_path, epochs=5).fit, data)
    assert err.value.path == tmp_path / CHECKPOINT_NAME and err.value.epoch == 2
    assert str(tmp_path) in str(err.value)
    history = _trainer(_linear(seed=3), tmp_path, epochs=1).fit(data, data, overwrite=True)
    assert len(history) == 1  # started over, as asked
    assert (tmp_path / HISTORY_NAME).read_text().count("\n") == 2


def test_resume_says_where_it_resumes(sample, tmp_path, interrupt_after, capsys):
    data = _data(sample)
    with pytest.raises(interrupt_after.error):
        _trainer(_linear(), tmp_path, epochs=3).fit(data, data, callbacks=[interrupt_after(1)])
    again = _trainer(_linear(), tmp_path, epochs=3)
    again.progress = True
    again.fit(data, data, resume=True)
    assert f"resuming from epoch 2 of 3 ({tmp_path / CHECKPOINT_NAME})" in capsys.readouterr().out


class _Snapshots(Callback):
    """Copies of the weights at the end of every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.weights.append(_weights(trainer.model))


def test_early_stopping_keeps_best(sample):
    data = _data(sample)
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])
    snapshots = _Snapshots()
    trainer = _trainer(_linear(), None, epochs=6, patience=2)
    trainer.evaluate = lambda out, y: {"val_accuracy": next(scores)}
    history = trainer.fit(data, data, callbacks=[snapshots])
    assert len(history) == 4 and trainer.stopped_early and trainer.best_epoch == 2
    assert len(snapshots.weights) == 4
    for k, v in snapshots.weights[1].items():  # the weights after epoch 2 were restored
        assert torch.equal(v, trainer.model.state_dict()[k])
    assert not all(torch.equal(v, snapshots.weights[3][k]) for k, v in snapshots.weights[1].items())


def test_early_stopping_callback_replaces_the_built_in_one(sample):
    """An EarlyStopping given by the user runs first, with its own monitor, mode and patience."""
    data = _data(sample)
    losses = iter([3.0, 1.0, 2.0, 0.5, 4.0, 5.0, 6.0])
    trainer = _trainer(_linear(), None, epochs=7)  # no patience in the settings
    trainer.evaluate = lambda out, y: {"val_accuracy": 0.5, "val_custom": next(losses)}
    stopper = EarlyStopping("val_custom", patience=2, mode="min")
    snapshots = _Snapshots()
    trainer.callbacks = [snapshots, stopper]
    history = trainer.fit(data, data)
    assert trainer.active_callbacks == [stopper, snapshots]
    assert [h["val_custom"] for h in history] == [3.0, 1.0, 2.0, 0.5, 4.0, 5.0]
    assert stopper.best_epoch == trainer.best_epoch == 4 and stopper.best_value == 0.5
    assert trainer.stopped_early and stopper.bad_epochs == 2
    for k, v in snapshots.weights[3].items():
        assert torch.equal(v, trainer.model.state_dict()[k])
    keep_last = _trainer(_linear(), None, epochs=3)
    keep_last.evaluate = lambda out, y: {"val_accuracy": 1.0 / (1 + len(keep_last.history))}
    snapshots = _Snapshots()
    keep_last.fit(data, data, callbacks=[EarlyStopping("val_accuracy", restore_best=False),
                                         snapshots])  # fmt: skip
    assert keep_last.best_epoch == 1
    for k, v in snapshots.weights[-1].items():  # the last weights, not the best ones
        assert torch.equal(v, keep_last.model.state_dict()[k])


def test_user_callbacks_see_every_hook_in_order(sample, tmp_path):
    data = _data(sample, n=32)
    calls = []

    class Record(Callback):
        def __init__(self, name):
            self.name = name

        def on_fit_start(self, trainer):
            calls.append((self.name, "fit_start", trainer.epoch))

        def on_epoch_start(self, trainer, epoch):
            calls.append((self.name, "epoch_start", epoch))

        def on_batch_end(self, trainer, batch, logs):
            assert set(logs) == {"loss"} and np.isfinite(logs["loss"])
            calls.append((self.name, "batch_end", batch))

        def on_epoch_end(self, trainer, epoch, logs):
            assert logs is trainer.history[-1] and logs["epoch"] == epoch + 1 == trainer.epoch
            assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(logs)
            # the built-in checkpoint (earlier in the list) has written this epoch already
            state = trainer.load_checkpoint(tmp_path / CHECKPOINT_NAME)
            assert state["epoch"] == epoch + 1
            calls.append((self.name, "epoch_end", epoch))

        def on_fit_end(self, trainer):
            calls.append((self.name, "fit_end", len(trainer.history)))

    trainer = _trainer(_linear(), tmp_path, epochs=2, batch_size=16)
    trainer.callbacks = [Record("a")]
    trainer.fit(data, data, callbacks=[Record("b")])
    kinds = [type(cb).__name__ for cb in trainer.active_callbacks]
    assert kinds == ["EarlyStopping", "Checkpoint", "CSVLogger", "Record", "Record"]
    per_epoch = [
        ("epoch_start",), ("batch_end", 0), ("batch_end", 1), ("epoch_end",)
    ]  # fmt: skip
    expected = [(n, "fit_start", 0) for n in "ab"]
    for epoch in range(2):
        for hook in per_epoch:
            arg = hook[1] if len(hook) > 1 else epoch
            expected += [(n, hook[0], arg) for n in "ab"]
    expected += [(n, "fit_end", 2) for n in "ab"]
    assert calls == expected
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a function"):
        _trainer(_linear(), None, callbacks=[lambda t: None])


def test_a_callback_can_stop_training(sample):
    class StopAfterOne(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            trainer.stop_training = True

    trainer = _trainer(_linear(), None, epochs=5)
    assert len(trainer.fit(_data(sample, n=16), callbacks=[StopAfterOne()])) == 1


def test_progress_bar_and_history_csv(sample, tmp_path, capsys):
    data = _data(sample, n=32)
    trainer = _trainer(_linear(), None, epochs=2, batch_size=16)
    trainer.progress = True
    history = trainer.fit(data, data, callbacks=[CSVLogger(tmp_path / "log" / "h.csv")])
    err = capsys.readouterr()
    text = err.out + err.err
    assert "epoch 1: train_loss" in text and "val_accuracy" in text and "epoch 2:" in text
    from astropy.table import Table

    table = Table.read(tmp_path / "log" / "h.csv", format="ascii.csv")
    assert list(table["epoch"]) == [1, 2]
    np.testing.assert_allclose(table["train_loss"], [h["train_loss"] for h in history])


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
