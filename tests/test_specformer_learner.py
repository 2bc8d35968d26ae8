"""The SpecFormer estimators on the learner base (tiny models, short spectra, 1 thread).

:class:`SpecFormerEncoder` pretrains by AstroCLIP's masked-token objective without
labels; :class:`SpecFormerClassifier`/:class:`SpecFormerRegressor` fine-tune the pooled
embedding with a head. The spectra have an absorption line whose position is the label,
on their own grids of 200-400 pixels (so one batch mixes lengths).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from spectromer.models import (  # noqa: E402
    SpecFormer,
    SpecFormerClassifier,
    SpecFormerConfig,
    SpecFormerEncoder,
    SpecFormerRegressor,
)
from spectromer.models.base import ratio_loss  # noqa: E402
from spectromer.models.specformer_learner import (  # noqa: E402
    DESI_N_PIXELS,
    MaskedTokenModel,
    SpecFormerTokens,
    batch_tokens,
    mask_spans,
    to_desi_grid,
)
from spectromer.spectra import SpectrumBatch, as_source  # noqa: E402

TINY = dict(embed_dim=16, num_layers=1, num_heads=2, max_len=64, dropout=0.0)
FAST = dict(config=TINY, batch_size=16, device="cpu", precision="fp32", random_state=0,
            progress=False, validation_fraction=0.0)  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def line_spectra(n: int, seed: int) -> tuple[SpectrumBatch, np.ndarray, np.ndarray]:
    """Spectra of 200-400 pixels of 2.5 A with one deep absorption line; its class and centre.

    Every spectrum starts near 5000 A and has its own length, level and noise, and a few
    NaN pixels; the line (5100-5450 A) is always covered. Class: bluewards of 5275 A.
    """
    rng = np.random.default_rng(seed)
    centre = rng.uniform(5100, 5450, n)
    rows = []
    for i in range(n):
        wave = rng.uniform(4990, 5010) + 2.5 * np.arange(int(rng.integers(200, 401)))
        level = rng.uniform(5, 50)
        line = 1 - 0.8 * np.exp(-0.5 * ((wave - centre[i]) / 15.0) ** 2)
        flux = level * line * (1 + 0.02 * rng.standard_normal(wave.size))
        flux[rng.integers(0, wave.size, 3)] = np.nan
        rows.append({"wave": wave, "flux": flux})
    return SpectrumBatch.from_rows(rows), np.where(centre < 5275, "blue", "red"), centre / 1000


@pytest.fixture(scope="module")
def lines():
    return line_spectra(160, seed=1), line_spectra(64, seed=2)


@pytest.fixture(scope="module")
def encoder(lines):
    (train, _, _), _ = lines
    return SpecFormerEncoder(**FAST, epochs=4, lr=3e-3, weight_decay=0.0, warmup=0.0).fit(train)


def _spy(monkeypatch, cls, hooks=("_as_source", "_build_module", "_training_data")):
    calls = []
    for hook in hooks:
        original = getattr(cls, hook)

        def spy(self, *args, _hook=hook, _original=original, **kwargs):
            calls.append(_hook)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, hook, spy)
    return calls


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (dict(config="huge"), InvalidParameterError, "config"),
        (dict(config={"embed_dim": 10, "num_heads": 4}), ValueError, "config: .*multiple"),
        (dict(config={"width": 8}), TypeError, "config: .*width"),
        (dict(grid="sdss"), InvalidParameterError, "grid"),
        (dict(mask_num_chunks=0), InvalidParameterError, "mask_num_chunks"),
        (dict(mask_chunk_width=1.5), InvalidParameterError, "mask_chunk_width"),
        (dict(pretrained=3), InvalidParameterError, "pretrained"),
        (dict(epochs=0), InvalidParameterError, "epochs"),
        (dict(pretrained=True, grid="native"), ValueError, "DESI's 7781-pixel grid"),
        (dict(pretrained="/no/such/specformer.ckpt"), FileNotFoundError, "no/such"),
    ],
)
def test_bad_parameters_are_refused_before_any_work(lines, monkeypatch, bad, error, match):
    calls = _spy(monkeypatch, SpecFormerEncoder)
    train = lines[0][0].take(np.arange(8))
    with pytest.raises(error, match=match):
        SpecFormerEncoder(**{**FAST, **bad}).fit(train)
    assert calls == [], f"{bad} was refused only after {calls}"
    SpecFormerEncoder(**FAST, epochs=1).fit(train)  # the spies see a good fit
    assert {"_as_source", "_build_module", "_training_data"} <= set(calls)


def test_get_params_clone_and_tags():
    model = SpecFormerEncoder(config=TINY, mask_chunk_width=7)
    params = model.get_params()
    assert params["config"] is TINY and params["mask_chunk_width"] == 7  # stored verbatim
    assert params["grid"] == "auto" and params["pretrained"] is None
    copy = clone(model)
    assert copy.get_params() == params and copy is not model
    tags = model.__sklearn_tags__()
    assert tags.estimator_type == "transformer" and not tags.target_tags.required
    assert not hasattr(model, "predict")
    assert is_classifier(SpecFormerClassifier()) and is_regressor(SpecFormerRegressor())
    assert not hasattr(SpecFormerRegressor(), "predict_proba")
    assert clone(SpecFormerClassifier(freeze_encoder=True)).freeze_encoder is True


# ---------------------------------------------------------------- masking and the loss


def test_mask_spans_follow_the_published_rule():
    rng = np.random.default_rng(0)
    for _ in range(50):
        starts, width = mask_spans(778, 6, 50, rng)  # DESI: the published 6 x 50
        assert width == 50
        segment = 778 // 6
        for i, s in enumerate(starts):
            assert i * 778 // 6 <= s < i * 778 // 6 + segment - 50  # inside its segment
    assert mask_spans(549, 6, 50, rng)[1] == 549 // 11  # clamped: (2*6 - 1) * w <= T
    assert mask_spans(30, 6, 50, rng)[1] == 2
    assert mask_spans(12, 6, 50, rng)[1] == 1
    with pytest.raises(ValueError, match="11 tokens are too few .* at least 12"):
        mask_spans(11, 6, 50, rng)


def test_masking_zeroes_whole_tokens_and_spares_padding(lines):
    train = lines[0][0]
    config = SpecFormerConfig(**TINY)
    data = SpecFormerTokens(as_source(train), None, "native", config, masking=(6, 50), seed=3)
    x, _ = data[np.arange(8)]
    d = config.input_dim
    masked, clean, valid = x[..., :d], x[..., d : 2 * d], x[..., -1] > 0.5
    assert len(set(valid.sum(1).tolist())) > 1  # lengths differ within the batch
    zeroed = (masked == 0).all(-1) & (clean != 0).any(-1)
    changed = (masked != clean).any(-1)
    assert torch.equal(zeroed, changed)  # whole tokens, nothing else touched
    for row, n in enumerate(valid.sum(1).tolist()):
        width = mask_spans(n, 6, 50, np.random.default_rng(0))[1]
        assert int(changed[row].sum()) == 6 * width
        assert not changed[row, n:].any()  # never in the padding
    again, _ = data[np.arange(8)]
    assert torch.equal(again, x)  # fixed for a fixed epoch
    data.set_epoch(1)
    assert not torch.equal(data[np.arange(8)][0], x)  # new masks every epoch


def test_loss_is_astroclips_masked_mse():
    torch.manual_seed(0)
    model = MaskedTokenModel(SpecFormer(SpecFormerConfig(**TINY))).eval()
    target = torch.randn(3, 20, 22)
    target[..., :2] = 0.0  # the pad slots of the windows are zero
    masked = target.clone()
    masked[:, 4:9] = 0.0
    x = torch.cat([masked, target, torch.ones(3, 20, 1)], -1)
    out = model.specformer.forward_tokens(masked)["reconstructions"]
    locs = (masked != target).float()
    published = torch.nn.functional.mse_loss(out * locs, target * locs) / locs.mean()
    ours = ratio_loss(model(x), None)
    assert float(locs.sum()) == 3 * 5 * 20  # masked non-zero elements only
    torch.testing.assert_close(ours, published)


def test_fit_without_labels_reduces_the_masked_loss(encoder):
    losses = [h["train_loss"] for h in encoder.history_]
    assert len(losses) == 4 and np.all(np.isfinite(losses))
    assert losses[-1] < losses[0] * 0.85, losses
    assert encoder.grid_ == "native" and encoder.n_spectra_ == 160
    assert encoder.specformer_config_ == SpecFormerConfig(**TINY)


def test_validation_loss_uses_fixed_masks(lines):
    train = lines[0][0].take(np.arange(40))
    model = SpecFormerEncoder(**{**FAST, "validation_fraction": 0.25}, epochs=2).fit(train)
    assert all("val_loss" in h and np.isfinite(h["val_loss"]) for h in model.history_)
    assert model.n_train_ == 30 and model.n_validation_ == 10


# ---------------------------------------------------------------- embeddings


def test_transform_shape_determinism_and_pooling(lines, encoder):
    test = lines[1][0]
    emb = encoder.transform(test)
    assert emb.shape == (64, 16) and emb.dtype == np.float32
    np.testing.assert_array_equal(emb, encoder.transform(test))
    tokens = encoder.embed(test.take(np.arange(5)))
    n_pixels = test.length[:5]
    assert [t.shape for t in tokens] == [(SpecFormerConfig(**TINY).n_tokens(n), 16)
                                         for n in n_pixels]  # fmt: skip
    pooled = np.stack([t.mean(axis=0) for t in tokens])  # over ALL tokens
    np.testing.assert_allclose(pooled, emb[:5], rtol=1e-5, atol=1e-6)


def test_mixed_lengths_in_one_batch_equal_each_spectrum_alone(lines, encoder):
    test = lines[1][0].take(np.arange(12))
    assert len(set(test.length.tolist())) > 5
    together = encoder.transform(test)  # one batch of 12 lengths
    alone = np.concatenate([encoder.transform(test.take([i])) for i in range(12)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    # the padding mask matters: without it the padded spectra would change
    tokens, valid = batch_tokens(test, "native", encoder.specformer_config_)
    spec = encoder.model_.specformer
    with torch.no_grad():
        unmasked = spec.forward_tokens(tokens)["embedding"]
        shortest = int(valid.sum(1).argmin())
        mean = unmasked[shortest, valid[shortest]].mean(0).numpy()
    assert not np.allclose(mean, alone[shortest], atol=1e-4)


def test_save_load_round_trip(lines, encoder, tmp_path):
    test = lines[1][0]
    folder = encoder.save(tmp_path / "enc")
    loaded = SpecFormerEncoder.load(folder)
    assert loaded.get_params() == encoder.get_params()
    assert loaded.grid_ == "native" and loaded.specformer_config_ == encoder.specformer_config_
    assert loaded.history_ == encoder.history_
    np.testing.assert_array_equal(loaded.transform(test), encoder.transform(test))
    with pytest.raises(Exception, match="specformer-encoder|format"):
        SpecFormerRegressor.load(folder)


# ---------------------------------------------------------------- fine-tuning


def test_classifier_learns_the_line_position(lines, tmp_path):
    (train, train_cls, _), (test, test_cls, _) = lines
    model = SpecFormerClassifier(**FAST, epochs=20, lr=3e-3, weight_decay=0.0, warmup=0.0)
    model.fit(train, train_cls)
    assert model.classes_.tolist() == ["blue", "red"]
    proba = model.predict_proba(test)
    assert proba.shape == (64, 2) and np.allclose(proba.sum(1), 1)
    accuracy = model.score(test, test_cls)
    assert accuracy >= 0.8, accuracy  # chance is about 0.5
    loaded = SpecFormerClassifier.load(model.save(tmp_path / "cls"))
    np.testing.assert_array_equal(loaded.predict_proba(test), proba)
    assert model.transform(test).shape == (64, 16)


def test_regressor_learns_the_line_centre(lines):
    (train, _, train_centre), (test, _, test_centre) = lines
    model = SpecFormerRegressor(**FAST, epochs=20, lr=3e-3, weight_decay=0.0, warmup=0.0)
    model.fit(train, train_centre)
    pred = model.predict(test)
    assert pred.shape == (64,)
    r2 = model.score(test, test_centre)
    assert r2 > 0.7, r2


def test_fine_tuning_from_a_saved_encoder(lines, encoder, tmp_path):
    (train, train_cls, _), (test, _, _) = lines
    folder = encoder.save(tmp_path / "enc")
    sub, labels = train.take(np.arange(32)), train_cls[:32]
    frozen = SpecFormerClassifier(**{**FAST, "config": None}, pretrained=str(folder),
                                  freeze_encoder=True, epochs=2).fit(sub, labels)  # fmt: skip
    assert frozen.grid_ == "native"
    for (name, a), b in zip(encoder.model_.specformer.state_dict().items(),
                            frozen.model_.specformer.state_dict().values()):  # fmt: skip
        assert torch.equal(a, b), name  # loaded, and frozen
    np.testing.assert_array_equal(frozen.transform(test), encoder.transform(test))
    tuned = SpecFormerClassifier(**{**FAST, "config": None}, pretrained=folder,
                                 epochs=1).fit(sub, labels)  # fmt: skip
    first = next(iter(tuned.model_.specformer.state_dict()))
    assert not torch.equal(tuned.model_.specformer.state_dict()[first],
                           encoder.model_.specformer.state_dict()[first])  # fmt: skip
    with pytest.raises(ValueError, match="trained on grid 'native'"):
        SpecFormerClassifier(**FAST, pretrained=folder, grid="desi").fit(sub, labels)


# ---------------------------------------------------------------- the DESI grid


def test_desi_grid_resampling(lines):
    test = lines[1][0].take(np.arange(4))
    flux, covered = to_desi_grid(test)
    assert flux.shape == covered.shape == (4, DESI_N_PIXELS) and flux.dtype == np.float32
    grid = np.linspace(3600, 9824, DESI_N_PIXELS)
    assert np.allclose(np.diff(grid), 0.8)
    for i in range(4):
        good = test.good[i]
        lo, hi = test.wave[i][good].min(), test.wave[i][good].max()
        inside = (grid >= lo + 1) & (grid <= hi - 1)
        assert covered[i][inside].all() and not covered[i][(grid < lo - 1) | (grid > hi + 1)].any()
        first, last = np.flatnonzero(covered[i])[[0, -1]]
        assert (flux[i, :first] == flux[i, first]).all()  # the edge value, not zeros
        assert (flux[i, last:] == flux[i, last]).all()
        assert np.isfinite(flux[i]).all()
        interp = np.interp(grid[inside], test.wave[i][good], test.flux[i][good])
        np.testing.assert_allclose(flux[i][inside], interp, rtol=0.05, atol=0.5)
    tokens, valid = batch_tokens(test, "desi", SpecFormerConfig(**{**TINY, "max_len": 800}))
    assert tokens.shape == (4, 778, 22) and bool(valid.all())
    with pytest.raises(ValueError, match="without|wavelength"):
        to_desi_grid(np.ones((2, 100)))


def test_too_many_tokens_for_the_positions_are_named(lines):
    train = lines[0][0].take(np.arange(4))
    with pytest.raises(ValueError, match="more than the max_len=64 positions.*grid='desi'"):
        SpecFormerEncoder(**FAST, grid="desi", epochs=1).fit(train)


def lightning_checkpoint(model: SpecFormer) -> dict:
    """AstroCLIP's ``specformer.ckpt`` layout (see tests/test_specformer.py)."""
    c = model.config
    return {
        "epoch": 1,
        "global_step": 10,
        "pytorch-lightning_version": "2.2.1",
        "state_dict": OrderedDict(model.state_dict()),
        "hparams_name": "kwargs",
        "hyper_parameters": {
            "input_dim": c.input_dim,
            "embed_dim": c.embed_dim,
            "num_layers": c.num_layers,
            "num_heads": c.num_heads,
            "max_len": c.max_len,
            "mask_num_chunks": 6,
            "mask_chunk_width": 50,
            "slice_section_length": c.slice_section_length,
            "slice_overlap": c.slice_overlap,
            "dropout": c.dropout,
            "norm_first": False,
        },  # fmt: skip
    }


def test_astroclip_checkpoint_is_loaded_and_used_on_the_desi_grid(lines, tmp_path):
    (train, _, train_centre), (test, _, _) = lines
    torch.manual_seed(5)
    source = SpecFormer(SpecFormerConfig(**{**TINY, "max_len": 800})).eval()
    path = tmp_path / "specformer.ckpt"
    torch.save(lightning_checkpoint(source), path)
    sub = train.take(np.arange(24))
    model = SpecFormerRegressor(**{**FAST, "config": None}, pretrained=path, freeze_encoder=True,
                                epochs=1).fit(sub, train_centre[:24])  # fmt: skip
    assert model.grid_ == "desi"  # "auto" with AstroCLIP weights
    assert model.specformer_config_ == source.config
    for (name, a), b in zip(source.state_dict().items(),
                            model.model_.specformer.state_dict().values()):  # fmt: skip
        assert torch.equal(a, b), name
    # the embedding is the checkpoint's forward pass on the spectra on DESI's grid
    flux, _ = to_desi_grid(test.take(np.arange(3)))
    with torch.no_grad():
        expected = source(torch.from_numpy(flux))["embedding"].mean(1).numpy()
    np.testing.assert_allclose(model.transform(test.take(np.arange(3))), expected,
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="trained on grid 'desi'"):
        SpecFormerEncoder(**FAST, pretrained=path, grid="native").fit(sub)
    with pytest.raises(ValueError, match="does not fit the weights"):
        SpecFormerEncoder(**{**FAST, "config": {**TINY, "embed_dim": 8}},
                          pretrained=path).fit(sub)  # fmt: skip
