"""Ablation of ViT settings on one fixed split: which change helps, measured one by one.

Usage::

    python benchmarks/vit_ablation.py DATA --label type [--variants plain rows ...]
                                      [--out benchmarks/results/ablation_type]
                                      [--vit-option KEY=VALUE ...] [--seed 0]

DATA is a dataset ``.h5`` file (for example ``spectromer ingest
../shared/data/lamost-dr10-afg/spectra -o lamost.h5``). Every variant is the
``default`` ViT preset of :mod:`spectromer.evaluation.benchmark` with a few settings
changed (the table :data:`VARIANTS` below, configs as data), trained from scratch and
scored by :func:`spectromer.evaluation.benchmark.run_benchmark` on exactly the same
stratified split (``--seed``, 20% held out) as the baselines of ``spectromer benchmark``.
Each variant writes ``OUT/<variant>/results.json``; the summary (one row per variant:
accuracy, macro F1, within one/two subtypes, best epoch, fit seconds, device) is printed
and written to ``OUT/ablation.json`` and ``OUT/ablation.rst`` (a table for the docs).
``--vit-option`` applies to every variant (e.g. ``device=cuda num_workers=8`` on a GPU
machine, or ``standardize=None`` for the earlier preset without z-score channels) unless
the variant itself changes that setting; the device is recorded with the results. A
variant whose change has a ``pretrain`` entry is pretrained first by masked-image
modelling on the training split's spectra and the ``--pretrain-data`` datasets
(``run_benchmark(pretrain=...)``).
Re-running with the same ``--out`` continues an interrupted ablation: a variant whose
``OUT/<variant>/results.json`` exists is read back, not trained again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

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
        "--pretrain-data",
        nargs="+",
        default=[],
        metavar="DATA",
        help="unlabelled datasets added to the pretraining of 'pretrain' variants",
    )
    args = p.parse_args(argv)
    out = Path(args.out or HERE / "results" / f"ablation_{args.label}")
    out.mkdir(parents=True, exist_ok=True)
    ds = SpectraDataset(args.data)
    common = dict(args.vit_option)
    rows = []
    for name in args.variants:
        change, description = VARIANTS[name]
        options = {**common, **change}  # the variant's own change wins
        pretrain = options.pop("pretrain", None)
        t0 = time.perf_counter()
        done = out / name / "results.json"
        if done.is_file():  # finished before an interruption: read it back
            result = json.loads(done.read_text())
        else:
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
        rows.append(row)
        _write(out, args, common, rows)
        took = time.perf_counter() - t0
        print(f"{name:15s} acc {row['accuracy']:.4f}  f1 {row['f1_macro']:.4f}  "
              f"best epoch {row['best_epoch']}  {took:.0f} s", flush=True)  # fmt: skip
    return 0


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
