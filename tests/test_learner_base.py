"""The learner base supports a learner that is not an image learner.

:class:`TinyNativeClassifier` and :class:`TinyNativeRegressor` read spectra on their
native wavelength grids (no rendering, no resampling): each batch of the source becomes
the padded flux (over each spectrum's median, bad pixels zeroed), the wavelength and a
padding mask, and a tiny per-pixel network pools over the good pixels. They add only
their own hooks to :class:`~spectromer.models.base.SpectrumLearner`, the way
``docs/architecture.rst`` ("How to add a learner") says, and everything else (parameter
checks, the targets of the task, split, Trainer, metrics, tags, predict/predict_proba/
score, save/load, resume) is the base's.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import DataConversionWarning  # noqa: E402
from sklearn.utils._param_validation import Interval, InvalidParameterError  # noqa: E402

from spectromer.models.base import SpectrumLearner  # noqa: E402
from spectromer.spectra import SpectrumBatch, SpectrumSource  # noqa: E402
from spectromer.training import as_augmentation  # noqa: E402
from spectromer.utils.grid import LINEAR, LOGLINEAR  # noqa: E402


# -- the learner: what a native-grid learner adds to the base ------------------------------
def native_inputs(batch: SpectrumBatch) -> np.ndarray:
    """``(N, 3, L)`` float32: flux over its median minus 1, scaled log-wavelength, good."""
    good = batch.good
    flux = np.where(good, batch.flux, np.nan)
    median = np.nanmedian(np.where(good.any(axis=1, keepdims=True), flux, 1.0), axis=1)
    median = np.where(np.isfinite(median) & (median != 0), median, 1.0)[:, None]
    wave = np.where(good, batch.wave, 1.0)
    return np.stack(
        [
            np.where(good, batch.flux / median - 1.0, 0.0),
            np.where(good, (np.log10(wave) - 3.74) * 20.0, 0.0),
            good,
        ],
        axis=1,
    ).astype(np.float32)


class NativeBatches:
    """What the Trainer iterates: batches of a source by rows, on the spectra's own grids."""

    def __init__(self, source: SpectrumSource, targets: np.ndarray | None = None,
                 augment: Any = None, seed: int = 0) -> None:  # fmt: skip
        self.source, self.targets, self.augment, self.seed = source, targets, augment, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, rows: Any) -> tuple[Any, Any]:
        idx = np.asarray(rows, np.int64).reshape(-1)
        batch = self.source.batch(idx)
        if self.augment is not None:
            batch = self.augment(batch, np.random.default_rng([self.seed, self.epoch, *idx]))
        x = torch.from_numpy(native_inputs(batch))
        if self.targets is None:
            return x, torch.from_numpy(idx)  # predict_outputs puts outputs back in order
        return x, torch.from_numpy(np.asarray(self.targets[idx]))


class PooledPixelNet(torch.nn.Module):
    """Per-pixel features of (flux, wavelength), mean- and max-pooled over good pixels."""

    def __init__(self, n_hidden: int, n_outputs: int) -> None:
        super().__init__()
        self.pixels = torch.nn.Sequential(
            torch.nn.Conv1d(2, n_hidden, 5, padding=2), torch.nn.ReLU(),
            torch.nn.Conv1d(n_hidden, n_hidden, 1), torch.nn.ReLU(),
        )  # fmt: skip
        self.head = torch.nn.Linear(2 * n_hidden, n_outputs)

    def forward(self, x: Any) -> Any:
        good = x[:, 2:3]
        h = self.pixels(x[:, :2]) * good  # features are >= 0: padding cannot win the max
        mean = h.sum(-1) / good.sum(-1).clamp_min(1.0)
        return self.head(torch.cat([mean, h.amax(-1)], dim=1))


class _TinyNative(SpectrumLearner):
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **SpectrumLearner._parameter_constraints,
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_hidden=16, epochs=30, batch_size=32, lr=1e-2, weight_decay=0.0,
                 warmup=0.0, augment=False, validation_fraction=0.0, device="cpu",
                 precision="fp32", num_workers=0, checkpoint_dir=None, random_state=0,
                 progress=False):  # fmt: skip
        self.n_hidden = n_hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    def _build_module(self, initial: bool) -> Any:
        return PooledPixelNet(self.n_hidden, self._n_outputs())  # classes, or targets

    def _training_data(self, source: SpectrumSource, targets: np.ndarray | None, seed: int,
                       train: bool) -> NativeBatches:  # fmt: skip
        return NativeBatches(source, targets, as_augmentation(self.augment) if train else None,
                             seed)  # fmt: skip


class TinyNativeClassifier(_TinyNative):
    task = "classification"  # labels checked and encoded, classes_, accuracy: the base's
    _file_format = "tiny-native-classifier"

    def _loss(self, targets):
        return torch.nn.functional.cross_entropy


class TinyNativeRegressor(_TinyNative):
    task = "regression"  # targets checked and standardised, R^2: the base's
    _file_format = "tiny-native-regressor"

    def _loss(self, targets):
        return torch.nn.functional.mse_loss  # (n, k) outputs, (n, k) standardised targets


# -- data: absorption lines on spectra of different lengths and grids ----------------------
def line_spectra(n: int, seed: int) -> tuple[SpectrumBatch, np.ndarray, np.ndarray]:
    """Spectra with one absorption line at 5100-5900 Angstrom, on their own grids.

    Every spectrum has its own start, end and step (linear or log-linear grid, so its
    own length), continuum level and slope, noise, and a few NaN pixels. Returns the
    batch, the class (line bluewards or redwards of 5500 Angstrom) and the line centre
    in thousands of Angstrom.
    """
    rng = np.random.default_rng(seed)
    centre = rng.uniform(5100, 5900, n)
    rows = []
    for i in range(n):
        start, stop = rng.uniform(4500, 4800), rng.uniform(6200, 6700)
        if i % 2:
            wave = np.arange(start, stop, rng.uniform(1.5, 3.0))
        else:
            wave = 10 ** np.arange(np.log10(start), np.log10(stop), rng.uniform(1.2e-4, 2.4e-4))
        level = rng.uniform(1, 100)
        continuum = level * (1 + rng.uniform(-0.2, 0.2) * (wave - 5500) / 1000)
        line = 1 - 0.6 * np.exp(-0.5 * ((wave - centre[i]) / 12.0) ** 2)
        flux = continuum * line * (1 + 0.03 * rng.standard_normal(wave.size))
        flux[rng.integers(0, wave.size, 5)] = np.nan
        rows.append({"wave": wave, "flux": flux})
    batch = SpectrumBatch.from_rows(rows)
    return batch, np.where(centre < 5500, "blue", "red"), centre / 1000


@pytest.fixture(scope="module")
def lines():
    train, train_cls, train_centre = line_spectra(192, seed=1)
    test, test_cls, test_centre = line_spectra(96, seed=2)
    return train, train_cls, train_centre, test, test_cls, test_centre


@pytest.fixture(scope="module")
def fitted_classifier(lines):
    train, train_cls = lines[:2]
    return TinyNativeClassifier(validation_fraction=0.25).fit(train, train_cls)


# -- tests -----------------------------------------------------------------------------------
def test_data_are_on_native_grids(lines):
    train = lines[0]
    assert len(set(train.length.tolist())) > 100  # lengths differ
    assert set(train.grid_kind.tolist()) == {LINEAR, LOGLINEAR}  # grids differ
    assert np.isnan(train.flux).sum() == 0 and train.mask.sum() > len(train) * 5  # NaNs masked


@pytest.mark.parametrize(
    "bad",
    [dict(n_hidden=0), dict(n_hidden="8"), dict(epochs=0), dict(lr=-1.0),
     dict(precision="fp8"), dict(validation_fraction=1.0), dict(augment={"no_such": 1})],
)  # fmt: skip
def test_bad_parameters_are_refused_before_any_work(lines, bad, monkeypatch):
    calls = []
    for hook in ("_as_source", "_fit_targets", "_build_module", "_training_data"):
        original = getattr(TinyNativeClassifier, hook)

        def spy(self, *args, _hook=hook, _original=original, **kwargs):
            calls.append(_hook)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TinyNativeClassifier, hook, spy)
    train, train_cls = lines[:2]
    with pytest.raises((InvalidParameterError, ValueError, TypeError)) as err:
        TinyNativeClassifier(**bad).fit(train, train_cls)
    assert calls == [], f"{bad} was only refused after {calls}"
    assert next(iter(bad)) in str(err.value) or "no_such" in str(err.value)
    # the same spies see every hook of a good fit (so the check above can fail)
    TinyNativeClassifier(epochs=1).fit(train.take(np.arange(8)), train_cls[:8])
    assert set(calls) == {"_as_source", "_fit_targets", "_build_module", "_training_data"}


def test_classifier_learns_line_position(lines, fitted_classifier):
    model = fitted_classifier
    test, test_cls = lines[3], lines[4]
    assert model.classes_.tolist() == ["blue", "red"]
    assert model.n_train_ == 144 and model.n_validation_ == 48
    assert len(model.history_) == model.epochs and "val_accuracy" in model.history_[0]
    assert 1 <= model.best_epoch_ <= model.epochs
    pred = model.predict(test)
    assert pred.shape == (96,) and set(pred.tolist()) <= {"blue", "red"}
    accuracy = model.score(test, test_cls)
    assert accuracy >= 0.85, accuracy  # chance is about 0.5


def test_fit_returns_self_and_is_reproducible(lines):
    train, train_cls = lines[:2]
    sub = train.take(np.arange(48))
    model = TinyNativeClassifier(epochs=2)
    assert model.fit(sub, train_cls[:48]) is model
    again = TinyNativeClassifier(epochs=2).fit(sub, train_cls[:48])
    for (name, a), b in zip(model.model_.state_dict().items(), again.model_.state_dict().values()):
        assert torch.equal(a, b), name


def test_regressor_learns_line_centre(lines):
    train, _, train_centre, test, _, test_centre = lines
    model = TinyNativeRegressor(epochs=40).fit(train, train_centre)
    assert model.predict(test).shape == (96,)
    r2 = model.score(test, test_centre)
    assert r2 > 0.6, r2


def test_save_load_round_trip(lines, fitted_classifier, tmp_path):
    test = lines[3]
    folder = fitted_classifier.save(tmp_path / "tiny")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    loaded = TinyNativeClassifier.load(folder)
    assert loaded.get_params() == fitted_classifier.get_params()
    assert loaded.classes_.tolist() == ["blue", "red"]
    assert loaded.best_epoch_ == fitted_classifier.best_epoch_
    np.testing.assert_array_equal(
        loaded._outputs(test), fitted_classifier._outputs(test)
    )  # identical outputs, not only identical labels
    with pytest.raises(Exception, match="tiny-native-classifier|format"):
        TinyNativeRegressor.load(folder)  # another learner's folder is refused


def test_get_params_clone_and_not_fitted(lines):
    model = TinyNativeClassifier(n_hidden=4, epochs=3)
    params = model.get_params()
    assert params["n_hidden"] == 4 and params["epochs"] == 3 and "task" not in params
    copy = clone(model)
    assert copy is not model and copy.get_params() == params
    model.set_params(n_hidden=5)
    assert model.n_hidden == 5 and copy.n_hidden == 4
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="TinyNativeClassifier is not fitted"):
        copy.predict(lines[3])


def test_tags_follow_the_task():
    classifier, regressor = TinyNativeClassifier(), TinyNativeRegressor()
    assert is_classifier(classifier) and not is_regressor(classifier)
    assert is_regressor(regressor) and not is_classifier(regressor)
    tags = classifier.__sklearn_tags__()
    assert tags.classifier_tags is not None and tags.regressor_tags is None
    assert tags.input_tags.allow_nan and tags.target_tags.required
    tags = regressor.__sklearn_tags__()
    assert tags.regressor_tags is not None and tags.classifier_tags is None
    assert tags.transformer_tags is None  # neither has transform


def test_interrupted_then_resumed_gives_identical_weights(lines, tmp_path, interrupt_after):
    train, train_cls = lines[:2]
    sub = train.take(np.arange(64))
    params = dict(epochs=3, validation_fraction=0.25, augment=True)
    full = TinyNativeClassifier(**params).fit(sub, train_cls[:64])

    ckpt = str(tmp_path / "ckpt")
    interrupt_after(1, every_trainer=True)
    with pytest.raises(interrupt_after.error):
        TinyNativeClassifier(**params, checkpoint_dir=ckpt).fit(sub, train_cls[:64])
    assert (tmp_path / "ckpt" / "checkpoint.pt").is_file()
    resumed = TinyNativeClassifier(**params, checkpoint_dir=ckpt).fit(
        sub, train_cls[:64], resume=True
    )
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    assert resumed.best_epoch_ == full.best_epoch_
    for (name, a), b in zip(full.model_.state_dict().items(), resumed.model_.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="different training run"):
        TinyNativeClassifier(**params | dict(n_hidden=8), checkpoint_dir=ckpt).fit(
            sub, train_cls[:64], resume=True
        )


def test_fit_refuses_to_overwrite_a_checkpoint(lines, tmp_path, monkeypatch):
    from spectromer.training import CheckpointExists

    built = _spy_build(monkeypatch, TinyNativeClassifier)
    sub, labels = lines[0].take(np.arange(32)), lines[1][:32]
    ckpt = tmp_path / "ckpt"
    TinyNativeClassifier(epochs=2, checkpoint_dir=ckpt).fit(sub, labels)
    before = (ckpt / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointExists, match=rf"{ckpt} holds .* \(epoch 2 of 2 done\)"):
        TinyNativeClassifier(epochs=3, checkpoint_dir=ckpt).fit(sub, labels)
    assert built == [True]  # refused before any module was built
    assert (ckpt / "checkpoint.pt").read_bytes() == before
    with pytest.raises(ValueError, match="choose one"):
        TinyNativeClassifier(epochs=1, checkpoint_dir=ckpt).fit(sub, labels, resume=True,
                                                                overwrite=True)  # fmt: skip
    model = TinyNativeClassifier(epochs=1, checkpoint_dir=ckpt).fit(sub, labels, overwrite=True)
    assert len(model.history_) == 1


def test_fit_validates_on_given_spectra(lines, monkeypatch):
    train, train_cls = lines[:2]
    sub, labels = train.take(np.arange(48)), train_cls[:48]
    val, val_labels = train.take(np.arange(48, 64)), train_cls[48:64]
    seen = []
    original = TinyNativeClassifier._training_data

    def spy(self, source, targets, seed, train):
        seen.append((train, len(source), None if targets is None else np.asarray(targets)))
        return original(self, source, targets, seed, train)

    monkeypatch.setattr(TinyNativeClassifier, "_training_data", spy)
    model = TinyNativeClassifier(epochs=2, validation_fraction=0.25).fit(
        sub, labels, validation=(val, val_labels))
    (fit_part, val_part) = seen
    assert fit_part[:2] == (True, 48)  # all of X trained on, no fraction held out
    assert val_part[:2] == (False, 16)
    np.testing.assert_array_equal(model.classes_[val_part[2]], val_labels)
    assert model.n_train_ == 48 and model.n_validation_ == 16
    assert "val_accuracy" in model.history_[0]
    with pytest.raises(ValueError, match="label that y does not have \\(purple"):
        TinyNativeClassifier(epochs=1).fit(sub, labels, validation=(val, np.full(16, "purple")))
    with pytest.raises(ValueError, match="validation: y is required"):
        TinyNativeClassifier(epochs=1).fit(sub, labels, validation=val)
    reg = TinyNativeRegressor(epochs=1).fit(sub, lines[2][:48], validation=(val, lines[2][48:64]))
    assert reg.n_validation_ == 16 and "val_r2" in reg.history_[0]


# -- the targets of the task come from the base ----------------------------------------------
def _spy_build(monkeypatch, cls):
    built = []
    original = cls._build_module

    def spy(self, initial):
        built.append(initial)
        return original(self, initial)

    monkeypatch.setattr(cls, "_build_module", spy)
    return built


def test_classifier_refuses_continuous_targets(lines, monkeypatch):
    built = _spy_build(monkeypatch, TinyNativeClassifier)
    sub, centre = lines[0].take(np.arange(32)), lines[2][:32]
    with pytest.raises(ValueError, match="Unknown label type: 'continuous'.*task='regression'"):
        TinyNativeClassifier(epochs=1).fit(sub, centre)
    with pytest.raises(ValueError, match="y is required"):
        TinyNativeClassifier(epochs=1).fit(sub)
    with pytest.raises(ValueError, match="at least 2 classes"):
        TinyNativeClassifier(epochs=1).fit(sub, np.full(32, "blue"))
    assert built == []  # refused before the module was built
    TinyNativeClassifier(epochs=1).fit(sub, lines[1][:32])
    assert built == [True]  # the spy sees a good fit


def test_classifier_names_the_missing_labels(lines):
    sub = lines[0].take(np.arange(32))
    labels = lines[1][:32].astype(object)
    labels[[3, 7, 20]] = [None, "", np.nan]
    match = r"y: 3 of 32 spectra have no label \(first at position 3\)"
    with pytest.raises(ValueError, match=match):
        TinyNativeClassifier(epochs=1).fit(sub, labels)


def test_classifier_column_vector_and_probabilities(lines):
    sub, labels = lines[0].take(np.arange(32)), lines[1][:32]
    with pytest.warns(DataConversionWarning, match="column vector"):
        model = TinyNativeClassifier(epochs=2).fit(sub, labels[:, None])
    assert model.classes_.tolist() == ["blue", "red"]
    proba = model.predict_proba(sub)
    assert proba.shape == (32, 2) and np.allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(sub))
    assert model.score(sub, labels) == np.mean(model.predict(sub) == labels)
    assert not hasattr(TinyNativeRegressor(), "predict_proba")  # available_if the task


def test_regression_targets_standardised_and_restored(lines, tmp_path, monkeypatch):
    train, _, centre = lines[:3]
    sub = train.take(np.arange(48))
    y = np.stack([centre[:48], 100.0 * centre[:48] + 7.0], axis=1)  # (n, 2), other units
    seen = []
    original = TinyNativeRegressor._training_data

    def spy(self, source, targets, seed, train):
        if train:
            seen.append(np.asarray(targets))
        return original(self, source, targets, seed, train)

    monkeypatch.setattr(TinyNativeRegressor, "_training_data", spy)
    model = TinyNativeRegressor(epochs=3, validation_fraction=0.25).fit(sub, y)
    np.testing.assert_allclose(model.target_mean_, y.mean(axis=0))
    np.testing.assert_allclose(model.target_scale_, y.std(axis=0))
    assert model.n_targets_ == 2 and model._n_outputs() == 2
    trained = seen[0]  # what the module was trained on: the standardised targets
    assert trained.shape == (36, 2) and trained.dtype == np.float32
    assert np.all(np.abs(trained.mean(axis=0)) < 0.5) and np.all(trained.std(axis=0) > 0.5)
    assert "val_r2" in model.history_[0] and "val_mae" in model.history_[0]
    pred = model.predict(sub)
    assert pred.shape == (48, 2)
    assert abs(pred[:, 1].mean() - y[:, 1].mean()) < 5 * y[:, 1].std()  # in the targets' units

    loaded = TinyNativeRegressor.load(model.save(tmp_path / "reg"))
    np.testing.assert_array_equal(loaded.target_mean_, model.target_mean_)
    np.testing.assert_array_equal(loaded.target_scale_, model.target_scale_)
    np.testing.assert_array_equal(loaded.predict(sub), pred)
    assert loaded.score(sub, y) == model.score(sub, y)

    one = TinyNativeRegressor(epochs=1).fit(sub, centre[:48])  # (n,) targets give (n,)
    again = TinyNativeRegressor.load(one.save(tmp_path / "one"))
    assert one.predict(sub).shape == again.predict(sub).shape == (48,)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array(["a", "b"] * 16), "regression targets must be numbers"),
        (np.r_[np.nan, np.arange(31.0)], "1 spectra have a non-finite target"),
        (np.zeros((32, 2, 2)), r"\(n,\) or \(n, k\)"),
        (np.arange(31.0), "y has 31 targets but X has 32 spectra"),
    ],
)
def test_regressor_refuses_bad_targets(lines, y, match):
    with pytest.raises(ValueError, match=match):
        TinyNativeRegressor(epochs=1).fit(lines[0].take(np.arange(32)), y)
