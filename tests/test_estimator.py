"""Tests of SpectromerModel: the scikit-learn contract, learning, save/load, resume, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from spectromer import SpectromerModel  # noqa: E402
from spectromer.datasets import load_sample  # noqa: E402
from spectromer.io import read_spectra  # noqa: E402
from spectromer.models import ModelFileError  # noqa: E402

TINY = dict(
    backbone="vit_tiny_patch16_224",
    pretrained=False,
    image_size=32,
    backbone_options=dict(patch_size=8, depth=2),
    batch_size=32,
    random_state=0,
    progress=False,
    device="cpu",
)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def split(sample):
    return sample.load_split("default")


@pytest.fixture(scope="module")
def fitted(sample, split):
    """A tiny ViT trained on the bundled sample's training split (about 15 s)."""
    return SpectromerModel(epochs=8, **TINY).fit(sample, "type", indices=split["train"])


def _subtype_number(labels):
    """A0..G9 -> 0..29: spectral subtype as a temperature-like number."""
    return np.array([("AFG".index(s[0]) * 10 + int(s[1])) for s in labels], dtype=float)


# -- scikit-learn contract ---------------------------------------------------------------
def test_params_and_clone():
    model = SpectromerModel(epochs=3, render_options={"fill_order": "hilbert"}, **TINY)
    params = model.get_params()
    assert params["epochs"] == 3 and params["render_options"] == {"fill_order": "hilbert"}
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    assert model.set_params(lr=1e-2, task="regression") is model
    assert model.lr == 1e-2 and is_regressor(model) and not is_classifier(model)
    assert is_classifier(SpectromerModel())
    assert "epochs=3" in repr(twin)


def test_defaults_fit_where_they_run(sample, split, tmp_path, monkeypatch):
    """Issue 13: the defaults were ViT-B/16 at 224 px from ImageNet (network) on any machine."""
    import json

    from spectromer.models.presets import VIT_PRESETS

    preset = VIT_PRESETS["default"]
    model = SpectromerModel(epochs=1, progress=False, random_state=0, device="cpu")
    assert model.backbone == "auto" and model.image_size is None and model.pretrained == "auto"
    rows = split["train"][::8]
    model.fit(sample, "type", indices=rows)  # offline (HF_HUB_OFFLINE): no weights needed
    assert model.backbone_ == preset["backbone"] and model.image_size_ == preset["image_size"]
    assert model.pretrained_ is False and model.standardize_ == preset["standardize"]
    assert model.backbone_options_ == preset["backbone_options"]
    assert model.render_config_.fill_order == preset["render_options"]["fill_order"]
    assert model.render_config_.size == preset["image_size"] and model.standardizer_ is not None
    folder = model.save(tmp_path / "m")
    saved = json.loads((folder / "config.json").read_text())
    assert saved["params"]["backbone"] == "auto"
    assert saved["fitted"]["resolved"]["backbone"] == preset["backbone"]
    loaded = SpectromerModel.load(folder)
    assert (loaded.backbone_, loaded.image_size_) == (model.backbone_, model.image_size_)
    np.testing.assert_allclose(loaded.predict_proba(sample, indices=rows[:4]),
                               model.predict_proba(sample, indices=rows[:4]), atol=1e-6)
    # given values win, the preset's options lie under the given ones
    mixed = SpectromerModel(image_size=32, backbone_options={"depth": 1}, standardize=None)
    r = mixed._resolve()
    assert r["image_size"] == 32 and r["standardize"] is None
    assert r["backbone_options"] == {**preset["backbone_options"], "depth": 1}
    own = SpectromerModel(backbone="vit_small_patch16_224")._resolve()  # the user's own network
    assert own["standardize"] is None and own["backbone_options"] is None
    assert own["image_size"] == preset["image_size"] and own["pretrained"] is False
    # on a CUDA GPU: the paper's ViT-B/16 at 224 px from ImageNet
    import spectromer.training as training

    monkeypatch.setattr(training, "select_device", lambda device: torch.device("cuda", 0))
    gpu = SpectromerModel()._resolve()
    assert gpu == {"backbone": "vit_base_patch16_224", "image_size": 224, "pretrained": True,
                   "standardize": None, "backbone_options": None, "render_options": None}


def test_parameter_errors(sample):
    rows = np.arange(0, 600, 50)
    for bad, match in [
        (dict(task="clustering"), "task"),
        (dict(loss="hinge"), "loss"),
        (dict(loss="mse"), "regression"),
        (dict(epochs=0), "epochs"),
        (dict(validation_fraction=1.0), "validation_fraction"),
        (dict(render_options={"size": 64}), "image_size"),
        (dict(render_options={"colour": "red"}), "render_options"),
        (dict(early_stopping=-2), "early_stopping"),
        (dict(lr=-1.0), "lr"),
    ]:
        with pytest.raises(ValueError, match=match):
            SpectromerModel(**(TINY | dict(epochs=1) | bad)).fit(sample, "type", indices=rows)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        SpectromerModel(**TINY).fit(sample, "type", indices=rows, resume=True)


BAD_PARAMS = [
    dict(task="clustering"),
    dict(loss="hinge"),
    dict(loss="mse"),  # a regression loss for a classifier
    dict(task="regression", loss="cross_entropy"),
    dict(epochs=0),
    dict(epochs=1.5),
    dict(batch_size=0),
    dict(lr=-1.0),
    dict(lr="fast"),
    dict(weight_decay=-0.1),
    dict(warmup=-1),
    dict(label_smoothing=1.0),
    dict(class_weight="even"),
    dict(class_weight=[1, 2]),
    dict(augment="yes"),
    dict(augment={"colour": 1.0}),
    dict(validation_fraction=1.0),
    dict(early_stopping=-2),
    dict(grad_clip=0.0),
    dict(device=3),
    dict(device="tpu"),
    dict(precision="fp8"),
    dict(precision="fp16"),  # CUDA only; the tests run on the CPU
    dict(num_workers=-1),
    dict(checkpoint_dir=3),
    dict(random_state="seed"),
    dict(progress="yes"),
    dict(standardize="zscore"),
    dict(test_time_augmentation=-1),
    dict(backbone=3),
    dict(pretrained=3),
    dict(representation="nope"),
    dict(image_size=0),
    dict(image_size=4),  # the renderer needs 8 pixels
    dict(render_options={"size": 64}),
    dict(render_options={"colour": "red"}),
    dict(render_options=[("grid", "log")]),
    dict(backbone_options=["depth"]),
]


@pytest.mark.parametrize(
    "bad", BAD_PARAMS, ids=lambda b: "-".join(f"{k}={v}" for k, v in b.items())
)
def test_every_bad_parameter_is_refused_before_reading_data(bad, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the parameters were checked")

    monkeypatch.setattr(SpectromerModel, "_as_source", no_data)
    model = SpectromerModel(**(TINY | dict(epochs=1) | bad))
    with pytest.raises(ValueError, match=next(iter(bad)) if "loss" not in bad else "loss|regr"):
        model.fit(np.ones((4, 50)), np.array(["a", "b", "a", "b"]))


def test_bad_class_weight_is_refused_before_rendering(sample, monkeypatch):
    import spectromer.models.factory as factory
    import spectromer.models.image as image

    def never(*args, **kwargs):
        raise AssertionError("rendered or built a model before checking class_weight")

    monkeypatch.setattr(image, "RenderedBatches", never)
    monkeypatch.setattr(factory, "create_model", never)
    model = SpectromerModel(**TINY, epochs=1, class_weight={"Z": 2.0})
    with pytest.raises(ValueError, match="class_weight names unknown classes"):
        model.fit(sample, "type", indices=np.arange(0, 600, 50))
    model.set_params(class_weight={"A": "heavy"})
    with pytest.raises(ValueError, match="class_weight values must be numbers"):
        model.fit(sample, "type", indices=np.arange(0, 600, 50))


def test_predict_time_parameters_are_checked_at_predict(fitted, sample, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the parameters were checked")

    model = clone(fitted)
    model.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    model.set_params(test_time_augmentation=-1)
    monkeypatch.setattr(SpectromerModel, "_as_source", no_data)
    with pytest.raises(ValueError, match="test_time_augmentation"):
        model.predict(sample, indices=[0])


def test_tags_follow_the_task():
    from sklearn.utils import get_tags

    clf, reg = SpectromerModel(), SpectromerModel(task="regression")
    assert is_classifier(clf) and not is_regressor(clf)
    assert is_regressor(reg) and not is_classifier(reg)
    ct, rt = get_tags(clf), get_tags(reg)
    assert ct.classifier_tags is not None and ct.regressor_tags is None
    assert rt.regressor_tags is not None and rt.classifier_tags is None
    assert rt.target_tags.multi_output and ct.target_tags.required and rt.target_tags.required
    assert ct.input_tags.allow_nan and rt.input_tags.allow_nan  # NaN pixels are masked
    assert ct.non_deterministic and not get_tags(SpectromerModel(random_state=0)).non_deterministic
    assert clf._more_tags()["allow_nan"] and reg._estimator_type == "regressor"  # sklearn < 1.6
    assert hasattr(clf, "predict_proba")
    assert not hasattr(reg, "predict_proba")
    with pytest.raises(AttributeError, match="predict_proba"):
        getattr(reg, "predict_proba")  # noqa: B009


def test_targets_of_the_wrong_kind(sample):
    rows = np.arange(0, 600, 50)
    with pytest.raises(ValueError, match="Unknown label type: 'continuous'.*task='regression'"):
        SpectromerModel(**TINY, epochs=1).fit(sample, np.linspace(0.1, 3.3, rows.size),
                                              indices=rows)  # fmt: skip
    with pytest.raises(ValueError, match="complex targets"):
        SpectromerModel(**TINY, epochs=1, task="regression").fit(
            sample, np.ones(rows.size) * (1 + 1j), indices=rows
        )


def test_target_errors(sample):
    model = SpectromerModel(epochs=1, **TINY)
    with pytest.raises(KeyError, match="no metadata column 'colour'"):
        model.fit(sample, "colour", indices=range(10))
    with pytest.raises(ValueError, match="y is required"):
        model.fit(sample, indices=range(10))
    with pytest.raises(ValueError, match="2 classes"):
        model.fit(sample, "type", indices=range(10))  # all A stars
    with pytest.raises(ValueError, match="have no label"):
        model.fit(sample, np.array(["A", "", "F", "G"]), indices=range(4))
    with pytest.raises(ValueError, match="4 targets but X has 3"):
        model.fit(sample, np.array(["A", "F", "G", "A"]), indices=range(3))
    with pytest.raises(TypeError, match="label column"):
        model.fit([sample[0], sample[1]], "type")
    reg = SpectromerModel(task="regression", epochs=1, **TINY)
    with pytest.raises(ValueError, match="non-finite target"):
        reg.fit(sample, np.array([1.0, np.nan, 2.0]), indices=range(3))
    with pytest.raises(NotFittedError):
        model.predict(sample, indices=[0])


def test_targets_reads_y_as_fit_and_score_do(sample):
    model = SpectromerModel(epochs=1, **TINY)  # unfitted: reading targets needs no training
    rows = np.array([3, 0, 7])
    np.testing.assert_array_equal(model.targets(sample, "type", indices=rows),
                                  sample.labels("type")[rows])  # fmt: skip
    given = np.array(["A", "F", "G"])
    np.testing.assert_array_equal(model.targets(sample, given, indices=rows), given)
    with pytest.raises(ValueError, match="3 targets but X has 2"):
        model.targets(sample, given, indices=[0, 1])
    with pytest.raises(TypeError, match="label column"):
        model.targets([sample[0]], "type")
    with pytest.raises(ValueError, match="y is required"):
        model.targets(sample, None, indices=rows)


# -- learning ------------------------------------------------------------------------------
def test_tiny_vit_beats_chance(fitted, sample, split):
    acc = fitted.score(sample, "type", indices=split["test"])
    assert acc > 0.55, acc  # three balanced classes: chance is 1/3
    assert fitted.classes_.tolist() == ["A", "F", "G"]
    h = fitted.history_
    assert len(h) == 8 and h[-1]["train_loss"] < h[0]["train_loss"]
    assert {"val_accuracy", "val_f1_macro", "val_loss", "data_fraction"} <= set(h[0])
    assert 1 <= fitted.best_epoch_ <= 8
    assert fitted.n_train_ + fitted.n_validation_ == len(split["train"])


def test_predict_proba_transform(fitted, sample):
    p = fitted.predict_proba(sample, indices=range(5))
    assert p.shape == (5, 3) and np.allclose(p.sum(axis=1), 1)
    np.testing.assert_array_equal(
        fitted.classes_[p.argmax(axis=1)], fitted.predict(sample, indices=range(5))
    )
    emb = fitted.transform(sample, indices=range(5))
    assert emb.shape == (5, 192) and np.isfinite(emb).all()
    with pytest.raises(ValueError, match="return_std"):
        fitted.predict(sample, indices=[0], return_std=True)


def test_test_time_augmentation(fitted, sample):
    from sklearn.base import clone

    rows = range(12)
    plain = fitted.predict_proba(sample, indices=rows)
    tta = clone(fitted).set_params(test_time_augmentation=3)
    for attr in ("model_", "classes_", "render_config_", "seed_", "standardizer_"):
        setattr(tta, attr, getattr(fitted, attr))
    p = tta.predict_proba(sample, indices=rows)
    assert p.shape == plain.shape and np.allclose(p.sum(axis=1), 1)
    assert not np.allclose(p, plain)  # the augmented copies change the average
    np.testing.assert_allclose(p, tta.predict_proba(sample, indices=rows))  # reproducible
    np.testing.assert_array_equal(tta.classes_[p.argmax(1)], tta.predict(sample, indices=rows))
    # the embeddings stay those of the plain spectra
    np.testing.assert_allclose(
        tta.transform(sample, indices=rows), fitted.transform(sample, indices=rows), rtol=1e-5
    )
    tta.set_params(test_time_augmentation=-1)
    with pytest.raises(ValueError, match="test_time_augmentation"):
        tta.predict(sample, indices=rows)


def test_inputs_agree(fitted, sample, data_dir):
    """Dataset rows, Spectrum objects and a flux array give the same predictions."""
    rows = [0, 250, 599]
    p_ds = fitted.predict_proba(sample, indices=rows)
    p_sp = fitted.predict_proba([sample[i] for i in rows])
    np.testing.assert_allclose(p_ds, p_sp, atol=1e-6)
    a = [sample.arrays(i) for i in rows]
    n = min(len(x["flux"]) for x in a)
    flux = np.stack([x["flux"][:n] for x in a])
    wave = np.stack([x["wave"][:n] for x in a])
    mask = np.stack([x["mask"][:n] for x in a])
    p_flux = fitted.predict_proba(flux, wavelength=wave)
    assert p_flux.shape == (3, 3)
    p_arr = fitted.predict_proba(
        {"wave": wave, "flux": flux, "mask": mask, "ivar": np.stack([x["ivar"][:n] for x in a])}
    )
    assert p_arr.shape == (3, 3) and np.allclose(p_arr.sum(axis=1), 1)
    # straight from the files on disk (fixtures of three surveys)
    files = sorted(data_dir.glob("spec-*.fits*"))
    spectra = [s for f in files for s in read_spectra(f)]
    with pytest.warns(UserWarning, match="from another survey"):  # SDSS files among them
        labels = fitted.predict(spectra)
    assert len(labels) == len(spectra) and set(labels) <= {"A", "F", "G"}


def test_predict_warns_outside_the_trained_domain(fitted, sample, data_dir, tmp_path):
    """Issue 13: DESI and SDSS galaxies were labelled A/F/G stars without a word."""
    import warnings

    domain = fitted.domain_
    assert domain["surveys"] == ["LAMOST"] and domain["classes"] == ["A", "F", "G"]
    lo, hi = domain["wavelength"]
    assert 3600 < lo < 3800 and 8900 < hi < 9200
    lamost = [s for f in sorted(data_dir.glob("spec-5*.fits*")) for s in read_spectra(f)]
    others = [s for name in ("spec-0385-51783-0396.fits", "spec-3655-55240-0002.fits",
                             "coadd-4-80613-thru20210324.fits")
              for s in read_spectra(data_dir / name)]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in the domain: no warning
        fitted.predict(lamost)
        fitted.predict_proba(sample, indices=[0, 1, 2])
    with pytest.warns(UserWarning) as seen:
        fitted.predict(lamost + others)
    (w,) = [x for x in seen if "trained on" in str(x.message)]  # one warning per call
    text = str(w.message)
    assert text.startswith(f"3 of {len(lamost) + 3} spectra are unlike those this "
                           "SpectromerModel was trained on (LAMOST, ")  # fmt: skip
    assert "3 from another survey (DESI: 1, SDSS: 2)" in text
    assert "2 reach beyond the trained wavelength range" in text  # SDSS 3655 and DESI
    loaded = SpectromerModel.load(fitted.save(tmp_path / "m"))
    assert loaded.domain_ == domain
    with pytest.warns(UserWarning, match="3 from another survey"):
        loaded.predict_proba(others)


def test_reproducible_with_seed(sample):
    rows = np.arange(0, 600, 10)
    a = SpectromerModel(epochs=2, **TINY).fit(sample, "type", indices=rows)
    b = SpectromerModel(epochs=2, **TINY).fit(sample, "type", indices=rows)
    np.testing.assert_array_equal(
        a.predict_proba(sample, indices=rows), b.predict_proba(sample, indices=rows)
    )


def test_class_weights_and_bf16(sample):
    rows = np.r_[0:100, 200:220, 400:420]  # imbalanced: 100 A, 20 F, 20 G
    model = SpectromerModel(
        epochs=1, class_weight="balanced", precision="bf16", label_smoothing=0.1, **TINY
    )
    model.fit(sample, "type", indices=rows)
    assert np.isfinite(model.history_[0]["train_loss"])
    with pytest.raises(ValueError, match="unknown classes"):
        model.set_params(class_weight={"B": 2.0}).fit(sample, "type", indices=rows)


def test_regression_end_to_end(sample, split, tmp_path):
    """Regress the spectral subtype (A0=0 ... G9=29) of real stars; Gaussian NLL head."""
    train, test = split["train"], split["test"]
    y = _subtype_number(sample.labels("subtype"))
    model = SpectromerModel(task="regression", loss="gaussian_nll", epochs=8, **TINY)
    model.fit(sample, y[train], indices=train)
    assert model.target_mean_.shape == (1,) and abs(model.target_mean_[0] - y[train].mean()) < 1e-9
    mean, std = model.predict(sample, indices=test, return_std=True)
    assert mean.shape == std.shape == (len(test),) and (std > 0).all()
    r2 = model.score(sample, y[test], indices=test)
    assert r2 > 0.4, r2
    assert "val_r2" in model.history_[-1]
    model.save(tmp_path / "reg")
    again = SpectromerModel.load(tmp_path / "reg")
    m2, s2 = again.predict(sample, indices=test, return_std=True)  # same batches: same numbers
    np.testing.assert_array_equal(m2, mean)
    np.testing.assert_array_equal(s2, std)


def test_regression_huber_two_targets(sample):
    rows = np.arange(0, 600, 12)
    y = np.stack([_subtype_number(sample.labels("subtype")[rows]), np.arange(rows.size)], 1)
    model = SpectromerModel(task="regression", loss="huber", epochs=1, **TINY)
    pred = model.fit(sample, y, indices=rows).predict(sample, indices=rows[:4])
    assert pred.shape == (4, 2)
    with pytest.raises(ValueError, match="gaussian_nll"):
        model.predict(sample, indices=[0], return_std=True)


# -- persistence ---------------------------------------------------------------------------
def test_save_load_round_trip(fitted, sample, tmp_path):
    folder = fitted.save(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["params"]["backbone"] == "vit_tiny_patch16_224"
    assert config["fitted"]["classes"] == ["A", "F", "G"]
    assert config["fitted"]["render_config"]["kind"] == "map2dnormaldev"
    loaded = SpectromerModel.load(folder)
    rows = range(0, 600, 37)
    np.testing.assert_array_equal(
        loaded.predict_proba(sample, indices=rows), fitted.predict_proba(sample, indices=rows)
    )
    assert loaded.get_params() == fitted.get_params()
    assert loaded.history_ == json.loads(json.dumps(fitted.history_))


def test_load_errors(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="no config.json"):
        SpectromerModel.load(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    # a config that does not describe these weights
    bad = dict(
        config, params=dict(config["params"], backbone_options={"patch_size": 8, "depth": 3})
    )
    (folder / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelFileError, match="does not fit the architecture"):
        SpectromerModel.load(folder)
    (folder / "config.json").write_text(json.dumps(dict(config, format_version=99)))
    with pytest.raises(ModelFileError, match="newer"):
        SpectromerModel.load(folder)
    (folder / "config.json").write_text(json.dumps(dict(config, weights_sha256="0" * 64)))
    with pytest.raises(ModelFileError, match="checksum"):
        SpectromerModel.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        SpectromerModel.load(folder)


def test_pretrained_offline_fails_fast(sample, monkeypatch):
    from spectromer.models import PretrainedWeightsUnavailable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("spectromer.models.factory.hub_weights_file", lambda backbone: None)
    model = SpectromerModel(**(TINY | dict(pretrained=True, epochs=1)))
    with pytest.raises(PretrainedWeightsUnavailable) as err:
        model.fit(sample, "type", indices=np.arange(0, 600, 50))
    # issue 13: the hint named create_model(...), which the user never called
    hint = str(err.value).split("copy the file here")[1]
    assert "SpectromerModel(backbone='vit_tiny_patch16_224', pretrained='vit_tiny_" in hint
    assert "create_model(" not in hint
    assert err.value.backbone == "vit_tiny_patch16_224" and "HF_HUB_OFFLINE" in err.value.reason


def test_pretrained_from_local_file(sample, tmp_path):
    """Weights saved by a 'networked' run of another size load offline and adapt."""
    from safetensors.torch import save_file

    from spectromer.models import create_model

    torch.manual_seed(1)
    donor = create_model("vit_tiny_patch16_224", img_size=64, patch_size=8, depth=2)
    path = tmp_path / "vit_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in donor.state_dict().items()}, str(path))
    rows = np.arange(0, 600, 30)
    model = SpectromerModel(**(TINY | dict(pretrained=str(path), epochs=1, lr=1e-12)))
    model.fit(sample, "type", indices=rows)
    got = model.model_.state_dict()
    # a vanishing learning rate leaves the transferred weights (nearly) as loaded
    torch.testing.assert_close(
        got["blocks.0.attn.qkv.weight"], donor.state_dict()["blocks.0.attn.qkv.weight"]
    )
    assert got["pos_embed"].shape[1] == 1 + (32 // 8) ** 2  # resized from 64 px


# -- checkpoints, resume, DDP --------------------------------------------------------------
def test_resume_after_interruption(sample, tmp_path, interrupt_after):
    rows = np.arange(0, 600, 15)
    params = TINY | dict(epochs=3, checkpoint_dir=str(tmp_path / "ckpt"))
    full = SpectromerModel(**(TINY | dict(epochs=3))).fit(sample, "type", indices=rows)

    interrupt_after(1, every_trainer=True)  # the trainer the estimator builds stops there
    with pytest.raises(interrupt_after.error):
        SpectromerModel(**params).fit(sample, "type", indices=rows)
    assert (tmp_path / "ckpt" / "checkpoint.pt").is_file()
    resumed = SpectromerModel(**params).fit(sample, "type", indices=rows, resume=True)
    np.testing.assert_array_equal(
        resumed.predict_proba(sample, indices=rows), full.predict_proba(sample, indices=rows)
    )
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    with pytest.raises(ValueError, match="different training run"):
        SpectromerModel(**(params | dict(lr=0.5))).fit(sample, "type", indices=rows, resume=True)


def test_ddp_two_processes_agree(tmp_path):
    """torchrun starts 2 CPU processes (gloo); DDP keeps their weights identical."""
    worker = Path(__file__).with_name("_ddp_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(worker), str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["weights_sha256"] == r1["weights_sha256"]
    assert r0["history"] == r1["history"] and len(r0["history"]) == 2
    assert r0["finite"]
    # the run trained: its saved weights differ from a fresh initialisation with the same seed
    loaded = SpectromerModel.load(tmp_path / "model")
    torch.manual_seed(loaded.seed_)
    fresh = loaded._build(False).state_dict()
    key = "blocks.0.attn.qkv.weight"
    assert not torch.equal(fresh[key], loaded.model_.state_dict()[key])
