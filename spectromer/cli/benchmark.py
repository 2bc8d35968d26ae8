"""``spectromer benchmark``: the ViT, SpecFormer, SVM, random forest and kNN on one split."""

from __future__ import annotations

import argparse

from .train import _option


def _models(text: str) -> list[str]:
    from spectromer.evaluation.benchmark import MODELS

    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model(s) {', '.join(unknown) if unknown else repr(text)}; choose from "
            f"{','.join(MODELS)}"
        )
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``benchmark`` sub-command."""
    p = subparsers.add_parser(
        "benchmark",
        help="compare the ViT and SpecFormer with SVM, random forest and kNN on the same split",
        description=(
            "Train and test every model of --models on exactly the same spectra and write "
            "OUT/results.json (one record per model: every metric, fit and predict seconds, "
            "the chosen settings), the plots, and print a table. DATA is a dataset .h5 file "
            "or spectrum files, folders or globs (ingested into OUT first). Without --test a "
            "stratified split of --train is made with --seed. Without --train the bundled "
            "LAMOST sample is used. --quick runs small settings: about 60 s on an idle 2-core "
            "machine; when other jobs share the cores it uses only the free ones (measured "
            "under load: 67 s with 1 thread, 3 min 43 s with 2)."
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
        help="comma-separated subset of vit,vit-mae,specformer,tokenizer,svm,rf,knn "
             "(default: vit,svm,rf,knn); every encoder family records the kNN, MLP and "
             "linear probes of its frozen embeddings (NAME-knn, NAME-mlp, NAME-linear): vit "
             "with the fine-tuned ViT; vit-mae pretrains the ViT by masked-image modelling on "
             "the training spectra (--pretrain-option sets it); specformer pretrains a "
             "SpecFormer on the training spectra and also records its fine-tuned model "
             "(specformer-ft); tokenizer trains the universal spectral tokenizer on the "
             "training spectra and --pretrain-data, each on its own grid "
             "(--tokenizer-option sets it)",
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
        "--specformer-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="SpecFormer setting overriding its preset: KEY for the encoder and the "
             "fine-tuner, encoder.KEY or finetune.KEY for one, e.g. encoder.epochs=20 "
             "(repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--tokenizer-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="SpectrumTokenizer parameter overriding its preset, e.g. width=512 (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--pretrain", action="store_true",
        help="pretrain the ViT by masked-image modelling on the training spectra (no labels) "
             "and --pretrain-data before fine-tuning",
    )  # fmt: skip
    p.add_argument(
        "--pretrain-data", nargs="+", action="append", default=[], metavar="DATA",
        help="more unlabelled spectra for --pretrain and for the pretraining of vit-mae, "
             "specformer and tokenizer, e.g. simulated ones or other surveys (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--pretrain-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="MaskedImagePretrainer parameter for --pretrain and for vit-mae in --models, "
             "e.g. epochs=40 (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=_positive_int, default=None, metavar="N",
        help="CPU threads for PyTorch, the BLAS libraries and the baselines' parallel search "
             "(default: the CPUs this process may use less those the load average says "
             "are busy, at least 1)",
    )  # fmt: skip
    p.add_argument(
        "--target-transform", default=None, metavar="NAME",
        help="regression: fit every model on this transform of the label (log1p: log(1+z)) "
             "and score the predictions turned back",
    )  # fmt: skip
    p.add_argument("--save-models", action="store_true", help="save models in OUT/models")
    p.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.set_defaults(func=run)
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _data(values: list[str] | None):
    from ._common import SAMPLE_NAME, open_dataset

    if values is None:
        return None
    if len(values) == 1 and values[0] == SAMPLE_NAME:
        return open_dataset(values[0])
    return values[0] if len(values) == 1 else values


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer benchmark``."""
    from spectromer.evaluation.benchmark import (
        DEFAULT_MODELS,
        PRETRAINED_FAMILIES,
        run_benchmark,
    )
    from spectromer.evaluation.report import results_text

    models = args.models or list(DEFAULT_MODELS)
    if args.pretrain_option and not (args.pretrain or "vit-mae" in models):
        raise ValueError("--pretrain-option needs --pretrain or vit-mae in --models")
    if args.pretrain_data and not (args.pretrain or set(PRETRAINED_FAMILIES) & set(models)):
        raise ValueError(f"--pretrain-data needs --pretrain, or one of "
                         f"{','.join(PRETRAINED_FAMILIES)} in --models")  # fmt: skip
    if args.specformer_option and "specformer" not in models:
        raise ValueError("--specformer-option needs specformer in --models")
    if args.tokenizer_option and "tokenizer" not in models:
        raise ValueError("--tokenizer-option needs tokenizer in --models")
    if not 0 < args.test_fraction < 1:
        raise ValueError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    result = run_benchmark(
        _data(args.train),
        args.label,
        test=_data(args.test),
        models=models,
        out=args.out,
        quick=args.quick,
        task=args.task,
        test_fraction=args.test_fraction,
        seed=args.seed,
        vit_options=dict(args.vit_option) or None,
        specformer_options=dict(args.specformer_option) or None,
        extra_tests=[_data(v) for v in args.extra_test],
        save_models=args.save_models,
        plots=not args.no_plots,
        progress=not args.no_progress,
        pretrain=dict(args.pretrain_option) if args.pretrain else None,
        mae_options=dict(args.pretrain_option) if "vit-mae" in models else None,
        tokenizer_options=dict(args.tokenizer_option) or None,
        pretrain_data=[_data(v) for v in args.pretrain_data],
        threads=args.threads,
        target_transform=args.target_transform,
    )
    if args.no_progress:
        print(results_text(result))
    print(f"wrote {args.out}/results.json")
    return 0
