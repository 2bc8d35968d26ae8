"""Tests of ``spectromer train`` and ``spectromer predict``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from astropy.table import Table  # noqa: E402

from spectromer import SpectromerModel  # noqa: E402
from spectromer.cli import main  # noqa: E402
from spectromer.datasets import sample_path  # noqa: E402

TINY = [
    "--backbone", "vit_tiny_patch16_224", "--pretrained", "none", "--seed", "0",
    "--image-size", "32", "--backbone-option", "patch_size=8", "--backbone-option", "depth=2",
    "--batch-size", "32", "--no-progress", "--device", "cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    code = main(
        ["train", str(sample_path()), "--label", "type", "--split", "default", "--out", str(out),
         "--epochs", "2", "--kind", "map2dnormaldev", "--fill-order", "hilbert", *TINY]
    )  # fmt: skip
    assert code == 0
    return out


def test_train_writes_a_loadable_model(trained, capsys):
    model = SpectromerModel.load(trained)
    assert model.classes_.tolist() == ["A", "F", "G"]
    assert model.render_config_.fill_order == "hilbert"
    assert model.backbone_options == {"patch_size": 8, "depth": 2}
    assert len(model.history_) == 2
    assert (trained / "checkpoints" / "checkpoint.pt").is_file()
    assert (trained / "checkpoints" / "history.csv").is_file()


def test_train_validates_on_the_split_validation_rows(tmp_path, monkeypatch, capsys):
    """Issue 13: --split default held out 10% of 'train' and left 'validation' unused."""
    from spectromer.datasets import load_sample

    parts = load_sample().load_split("default")
    seen = {}
    original = SpectromerModel.fit

    def spy(self, X, y=None, **kwargs):
        seen.update(kwargs, n_y=len(y))
        return original(self, X, y, **kwargs)

    monkeypatch.setattr(SpectromerModel, "fit", spy)
    out = tmp_path / "m"
    assert main(["train", str(sample_path()), "--label", "type", "--split", "default", "--out",
                 str(out), "--epochs", "1", *TINY]) == 0  # fmt: skip
    text = capsys.readouterr().out
    n_train, n_val = len(parts["train"]), len(parts["validation"])
    np.testing.assert_array_equal(seen["indices"], parts["train"])
    assert seen["n_y"] == n_train and len(seen["validation"][0]) == n_val
    assert f"validating on the {n_val} validation spectra of split 'default'" in text
    assert f"trained on {n_train} spectra ({n_val} for validation)" in text


def test_train_resume_and_report(tmp_path, capsys):
    out = tmp_path / "m"
    args = ["train", str(sample_path()), "--label", "type", "--split", "default", "--out",
            str(out), "--epochs", "1", *TINY]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "test accuracy on split 'default' (89 spectra)" in text
    assert "saved the model" in text
    assert main([*args, "--resume"]) == 0  # already complete: nothing to redo
    assert main([*args, "--lr", "0.5", "--resume"]) == 1
    assert "different training run" in capsys.readouterr().err


def test_train_refuses_to_overwrite_a_checkpoint(tmp_path, capsys):
    """Issue 13: without --resume a second run replaced the first one's checkpoint silently."""
    out = tmp_path / "m"
    args = ["train", str(sample_path()), "--label", "type", "--out", str(out),
            "--validation-fraction", "0.2", *TINY]  # fmt: skip
    assert main([*args, "--epochs", "1"]) == 0
    capsys.readouterr()
    history = (out / "checkpoints" / "history.csv").read_text()
    assert main([*args, "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert f"{out / 'checkpoints'} holds the checkpoint of an earlier training run" in err
    assert "(epoch 1 of 1 done)" in err and "--resume" in err and "--overwrite" in err
    assert (out / "checkpoints" / "history.csv").read_text() == history
    assert main([*args, "--epochs", "2", "--resume", "--overwrite"]) == 1
    assert "choose one" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--resume"]) == 1  # other epochs: another run
    assert "different training run" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--overwrite"]) == 0
    assert len(SpectromerModel.load(out).history_) == 2


def test_train_says_resuming_from_epoch(tmp_path, capsys, interrupt_after):
    out = tmp_path / "m"
    args = ["train", str(sample_path()), "--label", "type", "--out", str(out),
            "--validation-fraction", "0.2", "--epochs", "2", *TINY]  # fmt: skip
    interrupt_after(1, every_trainer=True)  # fires once
    with pytest.raises(interrupt_after.error):
        main(args)
    capsys.readouterr()
    assert main([a for a in args if a != "--no-progress"] + ["--resume"]) == 0
    text = capsys.readouterr().out
    assert f"resuming from epoch 2 of 2 ({out / 'checkpoints' / 'checkpoint.pt'})" in text
    assert len(SpectromerModel.load(out).history_) == 2


def test_train_errors(tmp_path, capsys):
    code = main(["train", str(sample_path()), "--label", "colour", "--out", str(tmp_path), *TINY])
    assert code == 1
    assert "no metadata column 'colour'" in capsys.readouterr().err
    code = main(["train", str(tmp_path / "none.h5"), "--label", "type", "--out", str(tmp_path)])
    assert code == 1
    assert "no such dataset file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(sample_path()), "--label", "type", "--out", "x",
              "--backbone-option", "depth"])  # fmt: skip


def test_train_regression(tmp_path, capsys):
    out = tmp_path / "reg"
    code = main(
        ["train", str(sample_path()), "--label", "z", "--task", "regression", "--loss",
         "gaussian_nll", "--out", str(out), "--epochs", "1", "--split", "default", *TINY]
    )  # fmt: skip
    assert code == 0
    assert "test R^2" in capsys.readouterr().out
    table = tmp_path / "z.ecsv"
    args = ["predict", str(out), str(sample_path()), "--out", str(table), "--no-progress"]
    assert main(args) == 0
    t = Table.read(table)
    assert len(t) == 600 and (np.asarray(t["std"]) > 0).all()


def test_predict_files_skips_bad_ones(trained, data_dir, tmp_path, capsys):
    bad = tmp_path / "spec-broken.fits"
    bad.write_text("not a fits file")
    out = tmp_path / "pred.csv"
    code = main(["predict", str(trained), str(data_dir), str(bad), "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "spec-broken.fits" in captured.err
    (line,) = [x for x in captured.err.splitlines() if "spec-broken.fits" in x]
    assert line.count("spec-broken.fits") == 1, line  # issue 13: the path was printed twice
    assert line.startswith(f"skipped {bad}: ") and "not a FITS file" in line
    (warned,) = [x for x in captured.err.splitlines() if x.startswith("warning: ")]
    assert "SpectromerModel was trained on (LAMOST" in warned
    assert "from another survey (DESI: 1, SDSS: 2)" in warned
    t = Table.read(out, format="ascii.csv")
    n_files = len(list(data_dir.glob("spec-*"))) + 1  # + the DESI coadd
    assert len(t) >= n_files
    assert set(t["prediction"]) <= {"A", "F", "G"}
    np.testing.assert_allclose(t["p_A"] + t["p_F"] + t["p_G"], 1, atol=1e-5)
    model = SpectromerModel.load(trained)
    from spectromer.io import read_spectra

    first = read_spectra(data_dir / t["source"][0])[int(t["index"][0])]
    with pytest.warns(UserWarning, match="unlike those"):  # the first file is DESI's
        assert model.predict([first])[0] == t["prediction"][0]


def test_train_offline_weights_hint_names_the_option(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("spectromer.models.factory.hub_weights_file", lambda backbone: None)
    args = [a if a != "none" else "imagenet" for a in TINY]
    code = main(["train", str(sample_path()), "--label", "type", "--out", str(tmp_path / "m"),
                 "--epochs", "1", *args])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot be downloaded here" in err
    assert "--backbone vit_tiny_patch16_224 --pretrained vit_tiny_patch16_224." in err
    assert "create_model(" not in err.split("copy the file here")[1]


def test_predict_errors(trained, tmp_path, capsys):
    assert main(["predict", str(tmp_path), "x.fits", "--no-progress"]) == 1
    assert "not a saved SpectromerModel" in capsys.readouterr().err
    assert main(["predict", str(trained), str(tmp_path), "--no-progress"]) == 1
    assert "no spectrum files found" in capsys.readouterr().err
    assert main(["predict", str(trained), str(sample_path()), "--out", "p.txt"]) == 1
    assert ".csv, .ecsv or .fits" in capsys.readouterr().err


class _Stop(ValueError):
    """Raised by the fit spy: the CLI built its estimator, nothing is trained."""


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_cli_defaults_are_the_estimator_defaults(command, tmp_path, monkeypatch, capsys):
    from spectromer.cli.pretrain import PRETRAIN_OPTIONS
    from spectromer.cli.train import NEGATED_FLAGS, TRAIN_OPTIONS
    from spectromer.models import MaskedImagePretrainer

    cls = SpectromerModel if command == "train" else MaskedImagePretrainer
    built = []

    def spy(self, *args, **kwargs):
        built.append(self.get_params())
        raise _Stop("stop")

    monkeypatch.setattr(cls, "fit", spy)
    args = ["--label", "type"] if command == "train" else []
    out = tmp_path / ("m" if command == "train" else "b.safetensors")
    assert main([command, str(sample_path()), *args, "--out", str(out)]) == 1
    (params,) = built
    defaults = cls().get_params()
    if command == "train":  # the CLI checkpoints by default, into the model's folder
        assert params.pop("checkpoint_dir") == str(out / "checkpoints")
        defaults.pop("checkpoint_dir")
    assert params == defaults
    options = TRAIN_OPTIONS if command == "train" else PRETRAIN_OPTIONS
    assert set(options.values()) | set(NEGATED_FLAGS.values()) <= set(defaults) | {
        "checkpoint_dir"
    }  # every option names a real parameter
