"""Tests of ``spectromer.evaluation.benchmark`` and ``spectromer benchmark``.

Kept fast: the baselines run with ``quick=True``, the ViT is tiny (32-pixel images,
8-pixel patches, 2 blocks, 1 epoch) and most runs use a 150-spectrum subset of the
bundled sample (50 A, 50 F, 50 G stars).
"""

from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np
import pytest

from spectromer.cli import main
from spectromer.datasets import SpectraDataset, load_sample, sample_path, simulate_sdss
from spectromer.evaluation import benchmark as bm
from spectromer.evaluation.benchmark import (
    DEFAULT_MODELS,
    MODELS,
    SPECFORMER_PRESETS,
    VIT_PRESETS,
    load_data,
    results_table,
    results_text,
    results_to_rst,
    run_benchmark,
)
from spectromer.evaluation.families import MAE_PRESETS

TINY_VIT = {
    "image_size": 32,
    "backbone_options": {"patch_size": 8, "depth": 2},
    "epochs": 1,
    "batch_size": 32,
    "device": "cpu",
}

CLS_FIELDS = {
    "model", "label", "task", "test_set", "n_train", "n_test", "accuracy", "f1_macro",
    "f1_weighted", "confusion_matrix", "fit_seconds", "predict_seconds", "settings",
}  # fmt: skip
REG_FIELDS = {"r2", "mae", "rmse", "sigma_nmad", "outlier_fraction", "success_rate", "by_class"}


def _metrics(record):
    """A record without its timings (which differ from run to run)."""
    return {k: v for k, v in record.items() if k not in ("fit_seconds", "predict_seconds")}


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def small(sample, tmp_path_factory):
    """150 spectra of the sample (50 per type) and two disjoint 45/15-per-type files."""
    folder = tmp_path_factory.mktemp("small")
    types = sample.labels("type")
    per = {c: np.flatnonzero(types == c) for c in ("A", "F", "G")}
    pick = np.concatenate([per[c][:50] for c in per])
    train = np.concatenate([per[c][50:95] for c in per])
    test = np.concatenate([per[c][95:110] for c in per])
    return {
        "ds": sample.subset(pick, folder / "small.h5"),
        "train": sample.subset(train, folder / "train_part.h5").path,
        "test": sample.subset(test, folder / "test_part.h5").path,
    }


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    """knn + svm on the full sample, recording what each model was fitted on."""
    out = tmp_path_factory.mktemp("cls")
    seen = []
    real_fit = bm._fit

    def spy(name, task, train_x, y_train, *args, **kwargs):
        seen.append((name, task, np.asarray(y_train).copy(), len(train_x)))
        return real_fit(name, task, train_x, y_train, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bm, "_fit", spy)
        result = run_benchmark(models=["knn", "svm"], quick=True, out=out, progress=False)
    return result, out, seen


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    train = simulate_sdss(120, folder / "sim.h5", classes=("GALAXY", "QSO"), seed=0)
    extra = simulate_sdss(30, folder / "sim_extra.h5", classes=("GALAXY", "QSO"), seed=1)
    return train, extra


# --- constants -----------------------------------------------------------------------


def test_models_and_presets():
    assert MODELS == ("vit", "vit-mae", "specformer", "tokenizer", "svm", "rf", "knn")
    assert DEFAULT_MODELS == ("vit", "svm", "rf", "knn")  # SpecFormer only when named
    assert set(SPECFORMER_PRESETS) == {"quick", "default"}
    sf_quick, sf_default = SPECFORMER_PRESETS["quick"], SPECFORMER_PRESETS["default"]
    assert sf_default["encoder"]["config"] == "small"
    for stage in ("encoder", "finetune"):
        assert 1 <= sf_quick[stage]["epochs"] <= 2 < sf_default[stage]["epochs"]
    assert set(VIT_PRESETS) == {"quick", "default"}
    quick, default = VIT_PRESETS["quick"], VIT_PRESETS["default"]
    assert quick["pretrained"] is False and default["pretrained"] is False
    assert quick["epochs"] < default["epochs"]
    assert quick["image_size"] <= default["image_size"]
    assert quick["backbone_options"]["depth"] < default["backbone_options"]["depth"]


# --- classification on the sample -----------------------------------------------------


def test_classification_results_json(classified, sample):
    result, out, _ = classified
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["results"] == json.loads(json.dumps(result["results"]))
    assert on_disk["label"] == "type" and on_disk["task"] == "classification"
    assert on_disk["data"]["train"] == sample.path.name
    assert on_disk["data"]["simulated"] is False
    records = on_disk["results"]
    assert [r["model"] for r in records] == ["knn", "svm"]
    for r in records:
        assert CLS_FIELDS <= set(r), CLS_FIELDS - set(r)
        assert r["label"] == "type" and r["task"] == "classification"
        assert r["test_set"] == "test"
        assert (r["n_train"], r["n_test"]) == (480, 120)
        assert r["accuracy"] > 0.6  # chance is 1/3
        assert 0 < r["f1_macro"] <= 1 and 0 < r["f1_weighted"] <= 1
        cm = np.asarray(r["confusion_matrix"])
        assert cm.shape == (3, 3) and cm.sum() == 120
        assert np.trace(cm) / 120 == pytest.approx(r["accuracy"])
        assert r["fit_seconds"] > 0 and r["predict_seconds"] >= 0
        assert "best_params" in r["settings"] and "cv_score" in r["settings"]
    assert "model__n_neighbors" in records[0]["settings"]["best_params"]


def test_classification_same_stratified_split_for_every_model(classified, sample):
    result, _, seen = classified
    split = result["data"]["split"]
    assert split["kind"] == "stratified" and split["seed"] == 0
    tr, te = np.asarray(split["train_rows"]), np.asarray(split["test_rows"])
    assert (tr.size, te.size) == (480, 120)
    assert np.intersect1d(tr, te).size == 0
    assert np.union1d(tr, te).size == len(sample)
    types = sample.labels("type")
    for c in ("A", "F", "G"):
        n_c = (types == c).sum()
        assert abs((types[te] == c).sum() - 0.2 * n_c) <= 1
    # every model was fitted on the same spectra and labels: the split's train rows
    assert [s[0] for s in seen] == ["knn", "svm"]
    for _, task, y_train, n in seen:
        assert task == "classification" and n == 480
        np.testing.assert_array_equal(y_train, types[tr])
    # and tested on the split's test rows: confusion matrix rows = true class counts
    for r in result["results"]:
        counts = np.asarray(r["confusion_matrix"]).sum(axis=1)
        np.testing.assert_array_equal(counts, [(types[te] == c).sum() for c in "AFG"])


def test_classification_plots(classified, sample):
    result, out, _ = classified
    assert (out / "confusion_matrices.png").stat().st_size > 1000
    assert (out / "accuracy_vs_snr.png").stat().st_size > 1000
    # by S/N: the r-band S/N of the sample, with counts and Wilson intervals per bin
    assert result["data"]["snr_column"] == "snr_r"
    snr = sample.labels("snr_r")[result["data"]["split"]["test_rows"]].astype(float)
    for r in result["results"]:
        bins = r["by_snr"]
        assert sum(b["n"] for b in bins) == np.isfinite(snr).sum()  # spectra with an S/N
        for b in bins:
            assert b["accuracy_low"] <= b["accuracy"] <= b["accuracy_high"]


def test_plots_name_the_band_show_counts_and_colour_bars(small, tmp_path, monkeypatch):
    figures = {}
    monkeypatch.setattr(bm, "_save", lambda fig, path: figures.__setitem__(path.name, fig))
    result = run_benchmark(small["ds"], models=["knn", "svm"], quick=True, out=tmp_path,
                           progress=False)  # fmt: skip
    assert set(figures) == {"confusion_matrices.png", "accuracy_vs_snr.png"}
    cm = figures["confusion_matrices.png"]
    colour_bars = [ax for ax in cm.axes if ax.get_ylabel() == "fraction of true class"]
    assert len(cm.axes) == 4 and len(colour_bars) == 2  # one per model
    (ax,) = figures["accuracy_vs_snr.png"].axes
    ax.figure.canvas.draw()
    assert ax.get_xlabel() == "S/N (r band)"
    lo, hi = ax.get_xlim()
    labels = [t.get_text() for x, t in zip(ax.get_xticks(), ax.get_xticklabels()) if lo <= x <= hi]
    assert labels and all(re.fullmatch(r"\d+(\.\d+)?", t) for t in labels), labels
    assert all(t.get_text() == "" for t in ax.xaxis.get_minorticklabels())
    counts = [b["n"] for b in result["results"][0]["by_snr"]]
    assert [t.get_text() for t in ax.texts] == [f"n={n}" for n in counts]
    assert sum(c.has_yerr for c in ax.containers) == 2


def test_no_plots_and_test_fraction(small, tmp_path):
    result = run_benchmark(small["ds"], models=["knn"], quick=True, out=tmp_path,
                           test_fraction=0.4, plots=False, progress=False)  # fmt: skip
    assert (tmp_path / "results.json").is_file()
    assert not list(tmp_path.glob("*.png"))
    r = result["results"][0]
    assert (r["n_train"], r["n_test"]) == (90, 60)
    assert result["data"]["split"]["test_fraction"] == 0.4


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_subtype_has_within_one_and_two(small, tmp_path):
    result = run_benchmark(small["ds"], "subtype", models=["knn"], quick=True, out=tmp_path,
                           plots=False, progress=False)  # fmt: skip
    assert result["task"] == "classification"
    r = result["results"][0]
    assert r["label"] == "subtype"
    assert 0 <= r["accuracy"] <= r["within_one"] <= r["within_two"] <= 1
    assert r["within_two"] > r["accuracy"]  # neighbouring subtypes are often confused
    table = results_table(result)
    assert "within_one" in table.colnames and "within_two" in table.colnames


def test_seed_reproducible(small, tmp_path):
    def run(seed, name):
        return run_benchmark(small["ds"], models=["knn"], quick=True, out=tmp_path / name,
                             seed=seed, plots=False, progress=False)  # fmt: skip

    a, b, c = run(0, "a"), run(0, "b"), run(1, "c")
    assert a["data"]["split"] == b["data"]["split"]
    assert _metrics(a["results"][0]) == _metrics(b["results"][0])
    assert a["data"]["split"]["test_rows"] != c["data"]["split"]["test_rows"]
    assert len(c["data"]["split"]["test_rows"]) == len(a["data"]["split"]["test_rows"])


# --- regression on simulated spectra --------------------------------------------------


def test_regression_with_extra_test_and_saved_models(simulated, tmp_path, capsys):
    import joblib

    from spectromer.spectra import as_source

    train, extra = simulated
    result = run_benchmark(train, "z", models=["knn", "rf"], quick=True, out=tmp_path,
                           extra_tests=[extra.path], save_models=True,
                           progress=True)  # fmt: skip
    # the printed table shows every metric at the default (80-column) width, no "..."
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert lines[start].split() == ["model", "test_set", "n_train", "n_test", "r2", "mae",
                                    "rmse", "sigma_nmad", "outlier_fraction", "success_rate",
                                    "fit_s", "predict_s"]  # fmt: skip
    table = lines[start : start + 6]  # header, dashes, four records
    assert len(table[-1].split()) == 12 and not any("..." in line for line in table)
    assert result["task"] == "regression"
    assert result["data"]["simulated"] is True
    assert result["data"]["extra_tests"] == ["sim_extra.h5"]
    split = result["data"]["split"]
    assert split["kind"] == "random"
    assert (len(split["train_rows"]), len(split["test_rows"])) == (96, 24)
    assert not set(split["train_rows"]) & set(split["test_rows"])
    records = result["results"]
    assert [(r["model"], r["test_set"]) for r in records] == [
        ("knn", "test"), ("knn", "sim_extra.h5"), ("rf", "test"), ("rf", "sim_extra.h5")
    ]  # fmt: skip
    for r in records:
        assert r["task"] == "regression" and r["label"] == "z"
        assert REG_FIELDS <= set(r), REG_FIELDS - set(r)
        assert "accuracy" not in r
        assert set(r["by_class"]) == {"GALAXY", "QSO"}
        assert sum(m["n"] for m in r["by_class"].values()) == r["n_test"]
        assert r["rmse"] >= r["mae"] >= 0
        assert 0 <= r["outlier_fraction"] <= 1 and 0 <= r["success_rate"] <= 1
        assert r["r2"] > 0  # better than predicting the mean on this easy set
    for r in records[1::2]:
        assert r["n_test"] == 30 and r["n_train"] == 96
        assert len(r["truth"]) == len(r["prediction"]) == 30
        np.testing.assert_allclose(r["truth"], extra.labels("z"))
    test_rows = np.asarray(split["test_rows"])
    for r in records[0::2]:  # the main test split keeps its truth and predictions too
        assert len(r["truth"]) == len(r["prediction"]) == 24
        np.testing.assert_allclose(r["truth"], train.labels("z")[test_rows])
    # the saved baselines load and predict what was recorded
    for name, r in (("knn", records[1]), ("rf", records[3])):
        path = tmp_path / "models" / name / "model.joblib"
        assert path.is_file()
        model = joblib.load(path)
        pred = model.predict(as_source(extra, indices=np.arange(len(extra))))
        np.testing.assert_allclose(pred, r["prediction"], rtol=1e-10)
    assert (tmp_path / "redshift.png").stat().st_size > 1000
    table = results_table(result)
    assert list(table["test_set"]) == ["test", "sim_extra.h5"] * 2
    assert {"r2", "mae", "sigma_nmad", "success_rate"} <= set(table.colnames)
    assert "accuracy" not in table.colnames


def test_target_transform_fits_log1p_and_scores_in_z(simulated, tmp_path):
    import joblib

    from spectromer.spectra import as_source

    train, extra = simulated
    kw = dict(models=["knn"], quick=True, extra_tests=[extra.path], plots=False,
              progress=False)  # fmt: skip
    plain = run_benchmark(train, "z", out=tmp_path / "plain", **kw)
    logged = run_benchmark(train, "z", out=tmp_path / "log", target_transform="log1p",
                           save_models=True, **kw)  # fmt: skip
    assert plain["data"]["target_transform"] is None
    assert logged["data"]["target_transform"] == "log1p"
    assert logged["data"]["split"] == plain["data"]["split"]
    for p, r in zip(plain["results"], logged["results"], strict=True):
        assert r["truth"] == p["truth"]  # scored on z itself
        assert r["prediction"] != p["prediction"]  # a different fit
        assert r["r2"] > 0 and REG_FIELDS <= set(r)
    # the saved model predicts log(1 + z); the recorded predictions are turned back
    model = joblib.load(tmp_path / "log" / "models" / "knn" / "model.joblib")
    raw = model.predict(as_source(extra, indices=np.arange(len(extra))))
    np.testing.assert_allclose(np.expm1(raw), logged["results"][1]["prediction"], rtol=1e-10)
    assert raw.max() <= np.log1p(train.labels("z").max()) + 1e-9  # means of log(1 + z)
    assert "fitted on ``log1p`` of the label" in results_to_rst(logged).splitlines()[0]
    assert "log1p" not in results_to_rst(plain).splitlines()[0]


def test_target_transform_is_checked(small, simulated, tmp_path):
    with pytest.raises(ValueError, match=r"target_transform must be None or one of \['log1p'\]"):
        run_benchmark(small["ds"], models=["knn"], target_transform="sqrt", out=tmp_path / "a",
                      progress=False)  # fmt: skip
    assert not (tmp_path / "a").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="is for regression; label 'type'"):
        run_benchmark(small["ds"], "type", models=["knn"], target_transform="log1p",
                      out=tmp_path / "b", progress=False)  # fmt: skip


def _tiny_subtypes(sample, path):
    """40 spectra with about 25 subtypes: every class too small for 3-fold CV."""
    return sample.subset(np.arange(0, 600, 15), path)


def test_tiny_dataset_warnings_are_reported_once_each(sample, tmp_path, recwarn):
    tiny = _tiny_subtypes(sample, tmp_path / "tiny.h5")
    run_benchmark(tiny, "subtype", models=["rf", "knn"], quick=True, out=tmp_path / "out",
                  plots=False, progress=False)  # fmt: skip
    messages = [str(w.message) for w in recwarn]
    assert 1 <= len(messages) <= 3, messages  # was over a hundred
    assert len(set(messages)) == len(messages)
    least = [m for m in messages if m.startswith("The least populated class in y")]
    assert len(least) == 1 and "while fitting rf, knn]" in least[0]
    assert any(re.search(r"\[\d+ times while fitting", m) for m in messages)


def test_warnings_turned_into_errors_still_raise(sample, tmp_path):
    tiny = _tiny_subtypes(sample, tmp_path / "tiny.h5")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "The least populated class", UserWarning)
        with pytest.raises(UserWarning, match="least populated"):
            run_benchmark(tiny, "subtype", models=["knn"], quick=True, out=tmp_path / "out",
                          plots=False, progress=False)  # fmt: skip


# --- threads --------------------------------------------------------------------------


def test_threads_reach_torch_blas_and_the_baselines(small, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_info

    import spectromer.baselines

    seen, jobs = [], []
    real_fit, real_make = bm._fit, spectromer.baselines.make_baseline

    def spy_fit(name, *args, **kwargs):
        pools = {p["num_threads"] for p in threadpool_info()}
        seen.append((name, kwargs["threads"], torch.get_num_threads(), pools))
        return real_fit(name, *args, **kwargs)

    def spy_make(*args, **kwargs):
        jobs.append(kwargs["n_jobs"])
        return real_make(*args, **kwargs)

    monkeypatch.setattr(bm, "_fit", spy_fit)
    monkeypatch.setattr(spectromer.baselines, "make_baseline", spy_make)
    before = torch.get_num_threads()
    result = run_benchmark(small["ds"], models=["knn", "vit"], quick=True, out=tmp_path,
                           vit_options=TINY_VIT, threads=1, plots=False,
                           progress=False)  # fmt: skip
    assert [(name, threads) for name, threads, *_ in seen] == [("knn", 1), ("vit", 1)]
    assert seen[1][2] == 1  # torch, while the ViT trains
    assert all(pools <= {1} for *_, pools in seen)  # BLAS / OpenMP pools
    assert jobs == [1]  # the baseline's search
    assert torch.get_num_threads() == before  # given back afterwards
    assert result["machine"]["threads"] == 1
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            run_benchmark(small["ds"], models=["knn"], out=tmp_path, threads=bad, progress=False)


@pytest.mark.parametrize(("load", "expected"), [(0.3, 2), (1.2, 1), (6.0, 1)])
def test_default_threads_are_the_free_cpus(small, tmp_path, monkeypatch, load, expected):
    """Default: the usable CPUs less those the load average says are busy (at least 1)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    result = run_benchmark(small["ds"], models=["knn"], quick=True, out=tmp_path, plots=False,
                           progress=False)  # fmt: skip
    assert result["machine"]["threads"] == expected


def test_cli_threads_option(tmp_path, monkeypatch, capsys):
    calls = []

    def fake(*args, **kwargs):
        calls.append(kwargs["threads"])
        raise ValueError("stop here")

    monkeypatch.setattr(bm, "run_benchmark", fake)
    assert main(["benchmark", "--threads", "3", "--out", str(tmp_path)]) == 1
    assert main(["benchmark", "--out", str(tmp_path)]) == 1
    assert calls == [3, None]  # None: run_benchmark's default, the usable CPUs
    for bad in ("0", "two"):
        with pytest.raises(SystemExit) as info:
            main(["benchmark", "--threads", bad])
        assert info.value.code == 2
    assert "positive integer" in capsys.readouterr().err


# --- the output folder of a failed run ------------------------------------------------


def test_failed_run_removes_the_folder_it_created(small, tmp_path):
    out = tmp_path / "new" / "deeper"
    with pytest.raises((KeyError, ValueError), match="colour"):
        run_benchmark(small["ds"], "colour", models=["knn"], out=out, progress=False)
    assert not (tmp_path / "new").exists()
    # a folder that was there already stays, even empty; so does one with files in it
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises((KeyError, ValueError), match="colour"):
        run_benchmark(small["ds"], "colour", models=["knn"], out=kept, progress=False)
    assert kept.is_dir()
    full = tmp_path / "full"
    with pytest.raises((KeyError, ValueError), match="colour"):
        run_benchmark(small["ds"], "colour", models=["knn"], out=full / "sub", progress=False)
    assert not full.exists()
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    with pytest.raises((KeyError, ValueError), match="colour"):
        run_benchmark(small["ds"], "colour", models=["knn"], out=full, progress=False)
    assert (full / "notes.txt").read_text() == "mine"


def test_cli_failed_run_leaves_no_empty_folder(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["benchmark", "--models", "knn", "--label", "colour", "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 1 and "colour" in capsys.readouterr().err
    assert not out.exists()


# --- the ViT --------------------------------------------------------------------------


def test_vit_tiny(small, tmp_path):
    pytest.importorskip("torch")
    from spectromer import SpectromerModel
    from spectromer.evaluation import KNNProbe, LinearProbe
    from spectromer.spectra import as_source

    result = run_benchmark(small["ds"], models=["vit"], quick=True, out=tmp_path,
                           vit_options=TINY_VIT, save_models=True, plots=False,
                           progress=False)  # fmt: skip
    r = result["results"][0]
    assert r["model"] == "vit" and (r["n_train"], r["n_test"]) == (120, 30)
    st = r["settings"]
    assert st["best_epoch"] == 1
    assert st["device_used"] == "cpu"
    assert "precision_used" in st
    assert st["epochs"] == 1 and st["image_size"] == 32
    assert st["backbone_options"] == {"patch_size": 8, "depth": 2}
    assert st["pretrained"] is False and st["random_state"] == 0
    assert st["lr"] == VIT_PRESETS["quick"]["lr"]  # preset kept where not overridden
    assert "progress" not in st
    folder = tmp_path / "models" / "vit"
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    vit = SpectromerModel.load(folder)
    assert vit.classes_.tolist() == ["A", "F", "G"]
    # the probes of the ViT's embeddings, recorded next to it (the vit record unchanged)
    records = result["results"]
    assert [x["model"] for x in records] == ["vit", "vit-knn", "vit-mlp", "vit-linear"]
    split = result["data"]["split"]
    types = small["ds"].labels("type")
    train_x = as_source(small["ds"], indices=split["train_rows"])
    test_x = as_source(small["ds"], indices=split["test_rows"])
    emb_train, emb_test = vit.transform(train_x), vit.transform(test_x)
    for probe_record, probe in zip(records[1:], ("knn", "mlp", "linear"), strict=True):
        assert CLS_FIELDS <= set(probe_record), CLS_FIELDS - set(probe_record)
        assert (probe_record["n_train"], probe_record["n_test"]) == (120, 30)
        pst = probe_record["settings"]
        assert pst["probe"] == probe and pst["encoder"]["model"] == "vit"
        assert pst["embedding_dim"] == emb_train.shape[1]
        assert probe_record["fit_seconds"] >= r["fit_seconds"]  # the ViT's training included
        assert (tmp_path / "models" / f"vit-{probe}" / "probe.joblib").is_file()
    # the kNN probe is a KNNProbe on SpectromerModel.transform embeddings of the split
    knn = KNNProbe(task="classification").fit(emb_train, types[split["train_rows"]])
    assert records[1]["prediction"] == knn.predict(emb_test).tolist()
    assert records[1]["settings"]["n_neighbors_used"] == 64
    # and the linear head a LinearProbe on the same embeddings
    linear = LinearProbe(task="classification").fit(emb_train, types[split["train_rows"]])
    assert records[3]["prediction"] == linear.predict(emb_test).tolist()


def test_vit_members_vote_over_seeds(small, tmp_path):
    pytest.importorskip("torch")
    from spectromer import SpectromerModel
    from spectromer.models import SeedEnsemble
    from spectromer.models.ensemble import majority_vote
    from spectromer.spectra import as_source

    result = run_benchmark(small["ds"], models=["vit"], quick=True, out=tmp_path, seed=4,
                           vit_options={**TINY_VIT, "members": 3}, save_models=True,
                           plots=False, progress=False)  # fmt: skip
    r = result["results"][0]
    st = r["settings"]
    assert st["members"] == 3 and st["voting"] == "hard"
    assert st["member_seeds"] == [4, 5, 6] and st["random_state"] == 4  # the first's
    assert len(st["member_best_epochs"]) == len(st["member_fit_seconds"]) == 3
    assert r["fit_seconds"] >= sum(st["member_fit_seconds"])
    ens = SeedEnsemble.load(tmp_path / "models" / "vit")
    test_x = as_source(small["ds"], indices=result["data"]["split"]["test_rows"])
    members = np.stack([m.predict(test_x) for m in ens.estimators_])
    assert r["prediction"] == majority_vote(members).tolist()
    assert r["member_predictions"] == members.tolist()  # each member's own, in seed order
    assert "member_predictions" not in result["results"][1]  # a probe: one model
    # the probes embed with the first member: the single ViT of the run's seed
    first = SpectromerModel.load(tmp_path / "models" / "vit" / "member_0")
    assert first.random_state == 4
    assert result["results"][1]["settings"]["embedding_dim"] == first.transform(test_x).shape[1]
    assert "'members': 3" in results_to_rst(result)
    with pytest.raises(ValueError, match="members must be a whole number >= 1, got 0"):
        run_benchmark(small["ds"], models=["vit"], quick=True, out=tmp_path / "no",
                      vit_options={"members": 0}, progress=False)  # fmt: skip
    assert not (tmp_path / "no").exists()  # refused before anything was read or written


# --- SpecFormer -----------------------------------------------------------------------

SF_RECORDS = ["specformer-knn", "specformer-mlp", "specformer-linear", "specformer-ft"]


@pytest.fixture(scope="module")
def specformer_run(small, tmp_path_factory):
    """specformer + knn on the 150-spectrum subset (quick preset, 1 epoch), 45 unlabelled
    extra spectra for the pretraining; what SpecFormerEncoder.fit was given is recorded."""
    pytest.importorskip("torch")
    from spectromer.models import SpecFormerEncoder

    out = tmp_path_factory.mktemp("specformer")
    seen = []
    real_fit = SpecFormerEncoder.fit

    def spy(self, X, *args, **kwargs):
        parts = X if isinstance(X, list) else [X]
        seen.append({"n": sum(len(p) for p in parts), "parts": parts,
                     "params": self.get_params()})  # fmt: skip
        return real_fit(self, X, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SpecFormerEncoder, "fit", spy)
        result = run_benchmark(
            small["ds"], models=["specformer", "knn"], quick=True, out=out, plots=False,
            progress=False, threads=1, pretrain_data=[small["test"]], save_models=True,
            specformer_options={"epochs": 1, "encoder.mask_num_chunks": 4, "device": "cpu"},
        )  # fmt: skip
    return result, out, seen


def test_specformer_records(specformer_run, small):
    result, out, _ = specformer_run
    records = result["results"]
    assert [r["model"] for r in records] == [*SF_RECORDS, "knn"]
    types = small["ds"].labels("type")
    test_rows = result["data"]["split"]["test_rows"]
    for r in records:
        assert CLS_FIELDS <= set(r), CLS_FIELDS - set(r)
        assert (r["n_train"], r["n_test"]) == (120, 30) and r["test_set"] == "test"
        assert 0 <= r["accuracy"] <= 1 and np.asarray(r["confusion_matrix"]).sum() == 30
        assert r["fit_seconds"] > 0 and r["predict_seconds"] > 0
        assert r["truth"] == types[test_rows].tolist() and len(r["prediction"]) == 30
        assert sum(b["n"] for b in r["by_snr"]) > 0  # the same _evaluate as the baselines
    knn_probe, mlp_probe, linear_probe, ft = (r["settings"] for r in records[:4])
    assert linear_probe["probe"] == "linear" and linear_probe["embedding_dim"] == 32
    assert knn_probe["probe"] == "knn" and mlp_probe["probe"] == "mlp"
    assert knn_probe["embedding_dim"] == mlp_probe["embedding_dim"] == 32  # the quick width
    assert knn_probe["encoder"]["model"] == "specformer"
    assert knn_probe["n_neighbors_used"] == 64
    pre = ft["pretraining"]
    assert knn_probe["encoder"]["pretraining"] == pre
    assert pre["n_spectra"] == 120 + 45  # the training split and the unlabelled extras
    assert records[0]["fit_seconds"] >= pre["seconds"] and ft["best_epoch"] == 1
    assert ft["pretrained"] == pre["saved"] == str(out / "pretrained" / "specformer")
    assert (out / "pretrained" / "specformer" / "config.json").is_file()
    assert (out / "models" / "specformer-ft" / "config.json").is_file()
    assert (out / "models" / "specformer-knn" / "probe.joblib").is_file()
    # the table, its text and the docs' rst are generic over records
    table = results_table(result)
    assert list(table["model"]) == [*SF_RECORDS, "knn"]
    text = results_text(result)
    rst = results_to_rst(result)
    for name in SF_RECORDS:
        assert name in text and f"* - {name}" in rst
    assert "``specformer-knn``: the knn probe of the 32-dimensional embeddings" in rst


def test_specformer_pretrains_on_the_training_split_only(specformer_run, small):
    result, _, seen = specformer_run
    (call,) = seen
    split = result["data"]["split"]
    train_part, extra = call["parts"]
    np.testing.assert_array_equal(train_part.rows, split["train_rows"])
    assert not set(train_part.rows.tolist()) & set(split["test_rows"])
    assert len(extra) == 45 and call["n"] == 165
    # --specformer-option: "epochs" reaches both stages, "encoder.*" the encoder only
    assert call["params"]["epochs"] == 1 and call["params"]["mask_num_chunks"] == 4
    assert call["params"]["random_state"] == 0
    ft = result["results"][3]["settings"]
    assert ft["epochs"] == 1 and "mask_num_chunks" not in ft
    assert ft["pretraining"]["mask_num_chunks"] == 4


def test_specformer_regression(simulated, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    train, _ = simulated
    tiny = {**SPECFORMER_PRESETS["quick"]}
    tiny["encoder"] = {**tiny["encoder"], "config": {"embed_dim": 16, "num_layers": 1,
                                                      "num_heads": 2, "max_len": 800}}  # fmt: skip
    monkeypatch.setitem(SPECFORMER_PRESETS, "quick", tiny)
    result = run_benchmark(train, "z", models=["specformer"], quick=True, out=tmp_path,
                           plots=False, progress=False, threads=1,
                           specformer_options={"epochs": 1, "batch_size": 48})  # fmt: skip
    records = result["results"]
    assert [r["model"] for r in records] == SF_RECORDS
    for r in records:
        assert REG_FIELDS <= set(r), REG_FIELDS - set(r)
        assert set(r["by_class"]) == {"GALAXY", "QSO"} and r["n_train"] == 96
    assert records[0]["settings"]["embedding_dim"] == 16
    assert records[3]["settings"]["batch_size"] == 48


def test_specformer_options_are_checked(small, tmp_path):
    from spectromer.evaluation.families import specformer_settings

    enc, ft = specformer_settings(False, {"lr": 1e-3, "finetune.freeze_encoder": True})
    assert enc["config"] == "small" and enc["lr"] == ft["lr"] == 1e-3
    assert ft["freeze_encoder"] is True and "freeze_encoder" not in enc
    for bad, match in ((
        {"colour": 1}, "'colour': no SpecFormer stage"), ({"head.lr": 1}, "prefix must be"),
        ({"finetune.pretrained": "x"}, "'finetune.pretrained'"),
        ({"finetune.mask_num_chunks": 2}, "'finetune.mask_num_chunks'"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            specformer_settings(True, bad)
    with pytest.raises(ValueError, match="colour"):
        run_benchmark(small["ds"], models=["specformer"], quick=True, out=tmp_path / "x",
                      specformer_options={"colour": 1}, plots=False, progress=False)  # fmt: skip
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="pretrain_data"):
        run_benchmark(small["ds"], models=["knn"], quick=True, out=tmp_path / "y",
                      pretrain_data=[small["test"]], plots=False, progress=False)  # fmt: skip


def _stop_before_running(monkeypatch) -> list[dict]:
    """Replace run_benchmark by a stub that records its keyword arguments and fails."""
    calls: list[dict] = []

    def fake(*args, **kwargs):
        calls.append(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(bm, "run_benchmark", fake)
    return calls


def test_cli_specformer_options(tmp_path, monkeypatch, capsys):
    calls = _stop_before_running(monkeypatch)
    code = main(["benchmark", "--models", "vit,specformer", "--specformer-option",
                 "encoder.epochs=3", "--specformer-option", "config=small", "--pretrain-data",
                 "sim.h5", "--out", str(tmp_path)])  # fmt: skip
    assert code == 1
    (kw,) = calls
    assert kw["models"] == ["vit", "specformer"]
    assert kw["specformer_options"] == {"encoder.epochs": 3, "config": "small"}
    assert kw["pretrain"] is None and kw["pretrain_data"] == ["sim.h5"]
    assert main(["benchmark", "--out", str(tmp_path)]) == 1
    assert calls[-1]["models"] == list(DEFAULT_MODELS)
    capsys.readouterr()
    for argv, message in (
        (["--models", "vit", "--specformer-option", "epochs=1"], "--specformer-option needs"),
        (["--models", "knn", "--pretrain-data", "sim.h5"], "--pretrain-data needs"),
    ):
        assert main(["benchmark", *argv, "--out", str(tmp_path)]) == 1
        assert message in capsys.readouterr().err
    assert len(calls) == 2  # refused before any run


def test_cli_target_transform(tmp_path, monkeypatch):
    calls = _stop_before_running(monkeypatch)
    assert main(["benchmark", "--label", "z", "--target-transform", "log1p",
                 "--out", str(tmp_path)]) == 1  # fmt: skip
    assert main(["benchmark", "--out", str(tmp_path)]) == 1
    assert [c["target_transform"] for c in calls] == ["log1p", None]


# --- errors ---------------------------------------------------------------------------


def test_unknown_model(tmp_path):
    with pytest.raises(ValueError, match="foo") as info:
        run_benchmark(models=["knn", "foo"], out=tmp_path, progress=False)
    for name in MODELS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="none given"):
        run_benchmark(models=[], out=tmp_path, progress=False)


def test_missing_label_column(small, tmp_path):
    with pytest.raises((KeyError, ValueError), match="colour"):
        run_benchmark(small["ds"], "colour", models=["knn"], out=tmp_path, progress=False)


def test_test_fraction_is_checked(small, tmp_path):
    with pytest.raises(ValueError, match="test_fraction"):
        run_benchmark(small["ds"], models=["knn"], test_fraction=1.5, out=tmp_path,
                      progress=False)  # fmt: skip


def test_bad_task(small, tmp_path):
    with pytest.raises(ValueError, match="task must be"):
        run_benchmark(small["ds"], models=["knn"], task="ranking", out=tmp_path,
                      progress=False)  # fmt: skip


def test_missing_labels_are_left_out(sample, tmp_path):
    """Masked metadata come out of SpectraDataset.labels as NaN / "", never as fillers."""
    from spectromer.datasets.dataset import DatasetWriter

    with DatasetWriter(tmp_path / "holes.h5") as writer:
        for i in range(6):
            a, row = sample.arrays(i), sample.meta_row(i)
            if i % 3 == 0:
                del row["z"]
            if i % 2 == 0:
                del row["type"]
            writer.add(a["wave"], a["flux"], a["ivar"], a["mask"], row)
    ds = SpectraDataset(tmp_path / "holes.h5")
    values, has = bm._labels(ds, "z")
    assert has.tolist() == [False, True, True, False, True, True]
    assert np.isnan(values[[0, 3]]).all()
    # text columns too: masked entries are "", and has_label leaves them out
    assert ds.labels("type")[0] == "" and ds.has_label("type").tolist() == [False, True] * 3


# --- load_data ------------------------------------------------------------------------


def test_load_data(small, tmp_path):
    ds = small["ds"]
    assert load_data(ds, tmp_path, "train") is ds
    opened = load_data(str(small["train"]), tmp_path, "train")
    assert isinstance(opened, SpectraDataset) and len(opened) == 135
    assert not (tmp_path / "train.h5").exists()  # an .h5 dataset is opened, not ingested
    with pytest.raises(FileNotFoundError, match="none.h5"):
        load_data(tmp_path / "none.h5", tmp_path, "train", progress=False)


# --- results_table --------------------------------------------------------------------


def test_results_table_columns():
    cls = {"task": "classification", "results": [
        {"model": "svm", "n_train": 8, "n_test": 2, "accuracy": 0.5, "f1_macro": 0.4,
         "f1_weighted": 0.45, "fit_seconds": 1.0, "predict_seconds": 0.1},
        {"model": "knn", "test_set": "other.h5", "n_train": 8, "n_test": 3, "accuracy": 1.0,
         "f1_macro": 1.0, "f1_weighted": 1.0, "within_one": 1.0, "fit_seconds": 0.5,
         "predict_seconds": 0.2, "r2": 0.3},
    ]}  # fmt: skip
    table = results_table(cls)
    assert table.colnames == ["model", "test_set", "n_train", "n_test", "accuracy", "f1_macro",
                              "f1_weighted", "within_one", "fit_s", "predict_s"]  # fmt: skip
    assert list(table["model"]) == ["svm", "knn"]
    assert list(table["test_set"]) == ["test", "other.h5"]
    assert table["accuracy"][0] == 0.5 and table["fit_s"][1] == 0.5
    assert np.isnan(table["within_one"][0]) and table["within_one"][1] == 1.0
    reg = {"task": "regression", "results": [
        {"model": "rf", "n_train": 8, "n_test": 2, "r2": 0.9, "mae": 0.1, "rmse": 0.2,
         "sigma_nmad": 0.01, "outlier_fraction": 0.0, "success_rate": 0.5,
         "fit_seconds": 1.0, "predict_seconds": 0.1, "accuracy": 0.3},
    ]}  # fmt: skip
    table = results_table(reg)
    assert table.colnames == ["model", "test_set", "n_train", "n_test", "r2", "mae", "rmse",
                              "sigma_nmad", "outlier_fraction", "success_rate", "fit_s",
                              "predict_s"]  # fmt: skip
    assert table["r2"][0] == 0.9 and table["test_set"][0] == "test"
    assert "0.9000" in "\n".join(table.pformat())


# --- the command line -----------------------------------------------------------------


def test_cli_quick_knn(tmp_path, capsys):
    code = main(["benchmark", "--quick", "--models", "knn", "--out", str(tmp_path),
                 "--no-plots", "--no-progress"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "knn" in text and "accuracy" in text and "f1_macro" in text
    assert f"wrote {tmp_path}/results.json" in text
    assert "fitting" not in text  # --no-progress
    result = json.loads((tmp_path / "results.json").read_text())
    assert [r["model"] for r in result["results"]] == ["knn"]
    assert result["data"]["train"] == sample_path().name
    assert result["data"]["split"]["kind"] == "stratified"
    assert (result["results"][0]["n_train"], result["results"][0]["n_test"]) == (480, 120)
    assert not list(tmp_path.glob("*.png"))
    header = next(line for line in text.splitlines() if line.startswith("model "))
    assert "..." not in header and "f1_weighted" in header and "predict_s" in header


def test_cli_train_and_test_given(small, tmp_path, capsys):
    out = tmp_path / "given"
    code = main(["benchmark", "--train", str(small["train"]), "--test", str(small["test"]),
                 "--models", "knn", "--quick", "--out", str(out), "--seed", "3",
                 "--extra-test", str(small["ds"].path), "--no-progress"])  # fmt: skip
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert result["data"]["split"] == {"kind": "given"}
    assert result["data"]["train"] == "train_part.h5"
    assert result["data"]["test"] == "test_part.h5"
    assert result["data"]["extra_tests"] == ["small.h5"]
    main_rec, extra_rec = result["results"]
    assert (main_rec["n_train"], main_rec["n_test"]) == (135, 45)
    assert (extra_rec["test_set"], extra_rec["n_test"]) == ("small.h5", 150)
    assert (out / "confusion_matrices.png").is_file()
    assert "test_part.h5" not in capsys.readouterr().err


def test_cli_bad_models(capsys):
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--models", "vit,foo,specformer", "--out", "x"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown model(s) foo;" in err and "vit,vit-mae,specformer,tokenizer,svm,rf,knn" in err
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--models", ",", "--out", "x"])
    assert info.value.code == 2


def test_cli_bad_test_fraction_and_label(tmp_path, capsys):
    code = main(["benchmark", "--models", "knn", "--test-fraction", "1.5", "--out",
                 str(tmp_path), "--no-progress"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "--test-fraction" in err and "1.5" in err
    assert not (tmp_path / "results.json").exists()
    code = main(["benchmark", "--models", "knn", "--label", "colour", "--out", str(tmp_path),
                 "--no-progress"])  # fmt: skip
    assert code == 1
    assert "colour" in capsys.readouterr().err


# --- the ViT's masked-image pretraining, frozen and probed ---------------------------


def test_vit_mae_probes(small, tmp_path):
    """``vit-mae``: MaskedImagePretrainer on the training split and unlabelled extras,
    frozen; its embeddings probed like every other encoder's."""
    pytest.importorskip("torch")
    from spectromer.models import MaskedImagePretrainer

    seen = []
    real_fit = MaskedImagePretrainer.fit

    def spy(self, X, *args, **kwargs):
        seen.append({"n": sum(len(p) for p in X), "params": self.get_params()})
        return real_fit(self, X, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MaskedImagePretrainer, "fit", spy)
        result = run_benchmark(
            small["ds"], models=["vit-mae"], quick=True, out=tmp_path, plots=False,
            progress=False, threads=1, pretrain_data=[small["test"]],
            mae_options={"epochs": 1, "device": "cpu"},
        )  # fmt: skip
    records = result["results"]
    assert [r["model"] for r in records] == ["vit-mae-knn", "vit-mae-mlp", "vit-mae-linear"]
    (call,) = seen  # one pretraining for both probes
    assert call["n"] == 120 + 45  # the training split and the extras, never the test rows
    assert call["params"]["epochs"] == 1  # mae_options over MAE_PRESETS["quick"]
    assert call["params"]["batch_size"] == MAE_PRESETS["quick"]["batch_size"]
    assert call["params"]["image_size"] == VIT_PRESETS["quick"]["image_size"]  # the ViT's
    for r, probe in zip(records, ("knn", "mlp", "linear"), strict=True):
        assert CLS_FIELDS <= set(r), CLS_FIELDS - set(r)
        assert (r["n_train"], r["n_test"]) == (120, 30)
        st = r["settings"]
        assert st["probe"] == probe and st["encoder"]["model"] == "vit-mae"
        assert st["embedding_dim"] == 192  # vit_tiny's width
        assert st["encoder"]["pretraining"]["n_spectra"] == 165
        assert r["fit_seconds"] >= st["encoder_fit_seconds"] > 0
    assert (tmp_path / "mae" / "pretrained" / "backbone.safetensors").is_file()


def test_cli_vit_mae_options(tmp_path, monkeypatch, capsys):
    calls = _stop_before_running(monkeypatch)
    code = main(["benchmark", "--models", "vit,vit-mae", "--pretrain-option", "epochs=3",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 1
    (kw,) = calls
    assert kw["mae_options"] == {"epochs": 3}
    assert kw["pretrain"] is None  # the ViT itself is not pretrained without --pretrain
    capsys.readouterr()
    assert main(["benchmark", "--models", "vit", "--pretrain-option", "epochs=3",
                 "--out", str(tmp_path)]) == 1  # fmt: skip
    assert "--pretrain-option needs --pretrain or vit-mae" in capsys.readouterr().err
    assert len(calls) == 1
