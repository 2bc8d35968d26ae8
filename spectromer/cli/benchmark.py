"""``spectromer benchmark``: the ViT against SVM, random forest and kNN on one split."""

from __future__ import annotations

import argparse

from .train import _option


def _models(text: str) -> list[str]:
    from spectromer.evaluation.benchmark import MODELS

    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model(s) {unknown or text!r}; choose from {','.join(MODELS)}"
        )
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``benchmark`` sub-command."""
    p = subparsers.add_parser(
        "benchmark",
        help="compare the ViT with SVM, random forest and kNN on the same split",
        description=(
            "Train and test every model of --models on exactly the same spectra and write "
            "OUT/results.json (one record per model: every metric, fit and predict seconds, "
            "the chosen settings), the plots, and print a table. DATA is a dataset .h5 file "
            "or spectrum files, folders or globs (ingested into OUT first). Without --test a "
            "stratified split of --train is made with --seed. Without --train the bundled "
            "LAMOST sample is used; --quick runs small settings in a few minutes on 2 CPU cores."
        ),
    )
    p.add_argument("--train", nargs="+", default=None, metavar="DATA", help="training data")
    p.add_argument("--test", nargs="+", default=None, metavar="DATA", help="test data")
    p.add_argument(
        "--extra-test", nargs="+", action="append", default=[], metavar="DATA",
        help="another test set scored with the same fitted models (repeatable)",
    )  # fmt: skip
    p.add_argument("--label", default="type", help="metadata column to predict (default: type)")
    p.add_argument(
        "--models", type=_models, default=None, metavar="LIST",
        help="comma-separated subset of vit,svm,rf,knn (default: all)",
    )  # fmt: skip
    p.add_argument("--out", "-o", default="benchmark", metavar="DIR", help="output folder")
    p.add_argument("--quick", action="store_true", help="small models and grids (smoke run)")
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--vit-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="SpectromerModel parameter overriding the preset, e.g. epochs=40 (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--pretrain", action="store_true",
        help="pretrain the ViT by masked-image modelling on the training spectra (no labels) "
             "and --pretrain-data before fine-tuning",
    )  # fmt: skip
    p.add_argument(
        "--pretrain-data", nargs="+", action="append", default=[], metavar="DATA",
        help="more unlabelled spectra for --pretrain, e.g. simulated ones (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--pretrain-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="MaskedImagePretrainer parameter for --pretrain, e.g. epochs=40 (repeatable)",
    )  # fmt: skip
    p.add_argument("--save-models", action="store_true", help="save models in OUT/models")
    p.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.set_defaults(func=run)
    return p


def _data(values: list[str] | None):
    if values is None:
        return None
    return values[0] if len(values) == 1 else values


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer benchmark``."""
    from spectromer.evaluation.benchmark import MODELS, results_table, run_benchmark

    if (args.pretrain_data or args.pretrain_option) and not args.pretrain:
        raise ValueError("--pretrain-data and --pretrain-option need --pretrain")
    if not 0 < args.test_fraction < 1:
        raise ValueError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    result = run_benchmark(
        _data(args.train),
        args.label,
        test=_data(args.test),
        models=args.models or MODELS,
        out=args.out,
        quick=args.quick,
        task=args.task,
        test_fraction=args.test_fraction,
        seed=args.seed,
        vit_options=dict(args.vit_option) or None,
        extra_tests=[_data(v) for v in args.extra_test],
        save_models=args.save_models,
        plots=not args.no_plots,
        progress=not args.no_progress,
        pretrain=dict(args.pretrain_option) if args.pretrain else None,
        pretrain_data=[_data(v) for v in args.pretrain_data],
    )
    if args.no_progress:
        print(results_table(result))
    print(f"wrote {args.out}/results.json")
    return 0
