"""The docs' benchmark results are generated from results.json, never typed in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _scripts import load_benchmark

from spectromer.evaluation import results_to_rst

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "benchmark_results"


def _result(task: str = "classification") -> dict:
    rec = {"model": "rf", "test_set": "test", "n_train": 80, "n_test": 20, "fit_seconds": 2.5,
           "predict_seconds": 0.25, "settings": {"best_params": {"model__max_features": "sqrt"},
                                                 "cv_score": 0.75}}  # fmt: skip
    if task == "classification":
        rec.update(accuracy=0.85, f1_macro=0.8, f1_weighted=0.84)
    else:
        rec.update(r2=0.9, mae=0.01, rmse=0.02, sigma_nmad=0.004, outlier_fraction=0.05,
                   success_rate=0.7, by_class={"QSO": {"n": 5, "r2": 0.5, "sigma_nmad": 0.01,
                   "outlier_fraction": 0.2, "success_rate": 0.4, "bias": 0.001}})  # fmt: skip
    return {"label": "type" if task == "classification" else "z", "task": task,
            "data": {"train": "x.h5", "simulated": task != "classification",
                     "split": {"kind": "stratified", "test_fraction": 0.2, "seed": 3}},
            "machine": {"processor": "Test CPU", "cpus": 2, "python": "3.11"},
            "results": [rec]}  # fmt: skip


def test_results_to_rst_classification_table():
    text = results_to_rst(_result(), title="Title")
    lines = text.splitlines()
    assert lines[:2] == ["Title", "-----"]
    assert "stratified, 20% held out, seed 3" in text
    assert "     - 0.850" in lines and "     - 2.5" in lines
    assert "max_features=sqrt (cross-validated 0.750)" in text
    assert "Test CPU, 2 CPUs" in text
    assert "simulated" not in text


def test_results_to_rst_regression_marks_simulated_data_and_per_class():
    text = results_to_rst(_result("regression"))
    assert "**simulated**" in text
    assert "sigma_nmad" in text and "Per class:" in text and "     - QSO" in text


@pytest.mark.skipif(not RUNS.is_dir(), reason="no committed benchmark results")
def test_committed_results_page_matches_the_json_files():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "make_results_page.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(not RUNS.is_dir(), reason="no committed benchmark results")
def test_committed_results_have_the_fields_the_issue_asks_for():
    for path in RUNS.glob("*/results.json"):
        result = json.loads(path.read_text())
        for rec in result["results"]:
            for field in ("model", "label", "n_train", "n_test", "fit_seconds",
                          "predict_seconds"):  # fmt: skip
                assert field in rec, (path, field)
            metric = "accuracy" if result["task"] == "classification" else "sigma_nmad"
            assert metric in rec, (path, metric)


def _page_module():
    return load_benchmark("make_results_page")


def _run(models, rows=(1, 2, 3), acc=0.8):
    result = _result()
    result["data"]["test"] = "x.h5"
    result["data"]["split"].update(train_rows=[0, 4, 5], test_rows=list(rows))
    result["results"] = [dict(result["results"][0], model=m, accuracy=acc + 0.01 * k)
                         for k, m in enumerate(models)]  # fmt: skip
    return result


def test_astroclip_page_combines_runs_on_one_split_only(tmp_path):
    page = _page_module()
    run = _run(["vit", "vit-knn", "vit-mlp", "specformer-knn", "specformer-mlp",
                "specformer-ft"])  # fmt: skip
    base = _run(["vit", "svm", "rf", "knn"], acc=0.5)
    combined = page.combine_runs(run, base, "astroclip_type", "lamost_type")
    models = [r["model"] for r in combined["results"]]
    assert models[:6] == [r["model"] for r in run["results"]]
    assert models[6:] == ["svm", "rf", "knn"]  # the base's vit is not taken twice
    assert combined["records_from"] == {"lamost_type": ["knn", "rf", "svm"]}
    with pytest.raises(ValueError, match="different splits"):
        page.combine_runs(run, _run(["svm"], rows=(1, 2, 6)), "a", "b")
    other = _run(["svm"])
    other["data"]["train"] = "y.h5"
    with pytest.raises(ValueError, match="different train data"):
        page.combine_runs(run, other, "a", "b")
    # the page: one section per comparison run, the encoders side by side
    for name, result in (("astroclip_type", run), ("lamost_type", base)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(result))
    text = page.make_astroclip_page(tmp_path, tmp_path)
    assert page.ASTROCLIP["astroclip_type"][0] in text
    lines = text.splitlines()
    row = lines.index("   * - SpecFormer (AstroCLIP)")
    assert lines[row + 1 : row + 5] == ["     - test", "     - 0.850", "     - 0.830",
                                        "     - 0.840"]  # fmt: skip
    assert "``knn``, ``rf``, ``svm`` are those of the ``lamost_type`` run" in text


def test_tokenizer_page_combines_runs_and_tables_the_transfer(tmp_path):
    page = _page_module()
    run = _run(["tokenizer-knn", "tokenizer-mlp", "tokenizer-linear", "vit"])
    run["data"]["extra_tests"] = ["other.h5"]
    run["results"] += [dict(r, test_set="other.h5", accuracy=0.5 + 0.01 * k, n=7)
                       for k, r in enumerate(run["results"])]  # fmt: skip
    base = _run(["vit", "svm", "rf"], acc=0.6)
    base["data"]["extra_tests"] = ["elsewhere.h5"]
    base["results"].append(dict(base["results"][1], test_set="elsewhere.h5"))
    combined = page.combine_runs(run, base, "tokenizer_type", "lamost_type")
    taken = [(r["model"], r["test_set"]) for r in combined["results"][8:]]
    assert taken == [("svm", "test"), ("rf", "test")]  # not the set the run did not score
    for name, result in (("tokenizer_type", run), ("lamost_type", base)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(result))
    text = page.make_tokenizer_page(tmp_path, tmp_path)
    assert page.TOKENIZER["tokenizer_type"][0] in text and "Cross-survey transfer" in text
    lines = text.splitlines()
    row = lines.index("   * - Universal spectral tokenizer")
    assert lines[row + 1 : row + 6] == ["     - test", "     - -", "     - 0.800", "     - 0.810",
                                        "     - 0.820"]  # fmt: skip
    header = lines.index("   * - model")
    assert lines[header + 2] == "     - other.h5 (accuracy, n=7)"
    knn = lines.index("   * - tokenizer-knn", header)
    assert lines[knn + 1 : knn + 3] == ["     - 0.800", "     - 0.500"]
    assert "``rf``, ``svm`` are those of the ``lamost_type`` run" in text


def test_claim_page_means_seeds_votes_and_refuses_another_split(tmp_path, monkeypatch):
    page = _page_module()
    truth = ["A", "F", "G", "G"]
    assert page._vote([["A", "F", "G", "F"], ["A", "G", "F", "F"], ["F", "G", "A", "G"]]) == [
        "A", "G", "G", "F"]  # fmt: skip  # the last: a tie goes to the lowest seed

    def vit(seed, pred):
        rec = dict(_run(["vit"])["results"][0], truth=truth, prediction=pred, n_test=4,
                   accuracy=sum(p == t for p, t in zip(pred, truth)) / 4)  # fmt: skip
        rec["settings"] = {"random_state": seed}
        return {"results": [rec]}

    base = _run(["vit", "rf", "svm"], acc=0.7)
    for r in base["results"]:
        r.update(truth=truth, n_test=4)
    runs = {"base": base, "arm_seed0": vit(0, ["A", "F", "G", "F"]),
            "arm_seed1": vit(1, ["A", "G", "G", "F"]), "arm_seed2": vit(2, ["F", "G", "A", "G"])}
    for name, result in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(result))
    monkeypatch.setattr(page, "CLAIM", {"type": ("base", [("arm", "an arm", ["arm_seed*"])])})
    lines = page.make_claim_page(tmp_path, tmp_path).splitlines()
    row = lines.index("     - an arm") - 1
    # seeds 0.75, 0.5, 0.25 -> mean 0.5; vote A G G F -> 0.5; best baseline svm 0.72
    assert lines[row + 2 : row + 9] == ["     - 3", "     - 0: 0.750, 1: 0.500, 2: 0.250",
                                        "     - 0.500", "     - 0.250", "     - 0.500",
                                        "     - -0.220", "     - 2"]  # fmt: skip
    assert "vs SVM" in "\n".join(lines)
    # a SeedEnsemble run is one record that is already a vote: tabled as such
    ens = vit(0, ["A", "F", "G", "G"])
    ens["results"][0]["settings"].update(members=3, member_seeds=[0, 1, 2])
    (tmp_path / "vote_run").mkdir()
    (tmp_path / "vote_run" / "results.json").write_text(json.dumps(ens))
    monkeypatch.setattr(page, "CLAIM", {"type": ("base", [
        ("arm", "an arm", ["arm_seed*"]), ("ens", "one vote", ["vote_run"]),
        ("mixed", "both", ["vote_run", "arm_seed0"])])})  # fmt: skip
    with pytest.raises(SystemExit, match="'mixed': mixes SeedEnsemble runs and single"):
        page.make_claim_page(tmp_path, tmp_path)
    monkeypatch.setattr(page, "CLAIM", {"type": ("base", [("ens", "one vote", ["vote_run"])])})
    lines = page.make_claim_page(tmp_path, tmp_path).splitlines()
    row = lines.index("     - one vote") - 1
    assert lines[row + 2 : row + 9] == ["     - 3", "     - 1 run(s) voting over seeds 0, 1, 2",
                                        "     - ", "     - ", "     - 1.000", "     - +0.280",
                                        "     - 2"]  # fmt: skip
    # with its members' own predictions: each member's score, their mean and spread
    ens["results"][0]["member_predictions"] = [["A", "F", "G", "F"], ["A", "G", "G", "F"],
                                               ["A", "F", "G", "G"]]  # fmt: skip
    (tmp_path / "vote_run" / "results.json").write_text(json.dumps(ens))
    lines = page.make_claim_page(tmp_path, tmp_path).splitlines()
    assert lines[row + 2 : row + 7] == ["     - 3",
                                        "     - 0: 0.750, 1: 0.500, 2: 1.000 (members)",
                                        "     - 0.750", "     - 0.250", "     - 1.000"]
    monkeypatch.setattr(page, "CLAIM", {"type": ("base", [("arm", "an arm", ["arm_seed*"])])})
    runs["arm_seed2"]["results"][0]["truth"] = ["A", "A", "A", "A"]
    (tmp_path / "arm_seed2" / "results.json").write_text(json.dumps(runs["arm_seed2"]))
    with pytest.raises(SystemExit, match="not the test split"):
        page.make_claim_page(tmp_path, tmp_path)


def test_transformed_run_is_tabled_next_to_the_plain_runs(tmp_path, monkeypatch):
    page = _page_module()

    def z_run(models, r2, truth=(0.1, 0.5, 2.0)):
        result = _result("regression")
        result["data"].update(test="x.h5")
        result["data"]["split"].update(train_rows=[0, 4, 5], test_rows=[1, 2, 3])
        result["results"] = [dict(result["results"][0], model=m, r2=r2 + 0.01 * k,
                                  truth=list(truth)) for k, m in enumerate(models)]  # fmt: skip
        return result

    logged = z_run(["vit", "svm", "specformer-ft"], 0.9)
    logged["data"]["target_transform"] = "log1p"
    runs = {"logz": logged, "first": z_run(["specformer-ft"], 0.5),
            "base": z_run(["vit", "svm"], 0.6)}  # fmt: skip
    for name, result in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(result))
    monkeypatch.setattr(page, "TRANSFORMED", {"logz": ["first", "base"]})
    lines = page._transform_gain(tmp_path, "logz", logged)
    assert "on its ``log1p``" in lines[0]
    head = lines.index("   * - model")
    assert lines[head + 1 : head + 4] == ["     - test set", "     - r2 (z)", "     - r2 (log1p)"]
    row = lines.index("   * - vit")  # z from the base run, log(1 + z) from this one
    assert lines[row + 2 : row + 4] == ["     - 0.600", "     - 0.900"]
    row = lines.index("   * - specformer-ft")  # from the first plain run
    assert lines[row + 2 : row + 4] == ["     - 0.500", "     - 0.920"]
    # another data set under the same names is refused
    runs["base"]["results"][0]["truth"] = [0.1, 0.5, 2.5]
    (tmp_path / "base" / "results.json").write_text(json.dumps(runs["base"]))
    with pytest.raises(ValueError, match="other true values"):
        page._transform_gain(tmp_path, "logz", logged)
