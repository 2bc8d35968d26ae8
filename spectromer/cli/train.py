"""``spectromer train``: fit a SpectromerModel on a dataset and save it."""

from __future__ import annotations

import argparse
import ast
import os
from typing import Any


def _option(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (the value as a Python literal when it is one)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def _pretrained(text: str) -> bool | str:
    low = text.lower()
    if low in ("none", "no", "false", "scratch"):
        return False
    if low in ("imagenet", "yes", "true"):
        return True
    return text


def add_image_arguments(p: argparse.ArgumentParser, default_size: int = 224) -> None:
    """The ``images`` argument group (shared by ``train`` and ``pretrain``)."""
    from spectromer.imaging import FILL_ORDERS, GRIDS, KINDS, NORMALIZATIONS

    r = p.add_argument_group("images")
    r.add_argument("--kind", choices=KINDS, default="map2dnormaldev")
    r.add_argument("--image-size", type=int, default=default_size)
    r.add_argument("--fill-order", choices=FILL_ORDERS, default=None)
    r.add_argument("--grid", choices=GRIDS, default=None)
    r.add_argument("--normalization", choices=NORMALIZATIONS, default=None)
    r.add_argument(
        "--render-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="any other RenderConfig field, e.g. block_size=2 (repeatable)",
    )  # fmt: skip


def add_hardware_arguments(p: argparse.ArgumentParser, checkpoint_help: str) -> None:
    """The ``hardware and checkpoints`` argument group (shared by ``train`` and ``pretrain``)."""
    h = p.add_argument_group("hardware and checkpoints")
    h.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    h.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    h.add_argument("--num-workers", type=int, default=0, help="data-loader processes")
    h.add_argument("--checkpoint-dir", default=None, help=checkpoint_help)
    h.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    h.add_argument("--no-progress", action="store_true", help="no progress bars")


def render_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """RenderConfig fields from the ``images`` arguments (None when all are defaults)."""
    options = dict(args.render_option)
    for key in ("fill_order", "grid", "normalization"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options or None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``train`` sub-command."""
    from spectromer.models.estimator import LOSSES, TASKS

    p = subparsers.add_parser(
        "train",
        help="fine-tune a vision transformer on a dataset and save the model",
        description=(
            "Train a SpectromerModel on the spectra of DATASET (a .h5 file written by "
            "`spectromer ingest`) with the metadata column --label as target, and save it to "
            "--out (model.safetensors + config.json). Spectra without a label are left out. "
            "With --split the saved split's 'train' rows are used for fitting and its 'test' "
            "rows are scored at the end. Run it under `torchrun --nproc_per_node=N -m spectromer "
            "train ...` for distributed data parallel training on N GPUs or processes."
        ),
    )
    p.add_argument("dataset", metavar="DATASET", help="a SpectraDataset .h5 file")
    p.add_argument("--label", required=True, help="metadata column to predict (e.g. subclass)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the model")
    p.add_argument("--task", choices=TASKS, default="classification")
    p.add_argument("--split", metavar="NAME", help="use a split saved in the dataset")
    g = p.add_argument_group("model")
    g.add_argument("--backbone", default="vit_tiny_patch16_224", help="timm model name")
    g.add_argument(
        "--pretrained",
        type=_pretrained,
        default=False,
        metavar="imagenet|none|PATH",
        help="initial weights: none (default), imagenet (needs network) or a local file",
    )
    g.add_argument(
        "--backbone-option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="timm constructor option, e.g. depth=6 or patch_size=8 (repeatable)",
    )
    g.add_argument("--loss", choices=LOSSES, default="auto")
    add_image_arguments(p)
    g.add_argument(
        "--standardize", choices=("append", "replace"), default=None,
        help="per-pixel (per-wavelength) z-scores fitted on the training images, as extra "
             "channels (append) or instead of the plain ones (replace)",
    )  # fmt: skip
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default auto)")
    t.add_argument("--weight-decay", type=float, default=0.05)
    t.add_argument("--warmup", type=float, default=1.0, help="warm-up epochs")
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--class-weight", choices=("balanced",), default=None)
    t.add_argument("--no-augment", action="store_true", help="no augmentations")
    t.add_argument("--validation-fraction", type=float, default=0.1)
    t.add_argument("--early-stopping", type=int, default=0, metavar="EPOCHS", help="patience")
    t.add_argument("--seed", type=int, default=0)
    add_hardware_arguments(p, checkpoint_help="default: OUT/checkpoints")
    p.set_defaults(func=run)
    return p


def _rows(ds: Any, label: str, split: str | None, task: str) -> tuple[Any, Any, int]:
    """Training rows, test rows (or None) and how many rows lack a label."""
    import numpy as np

    has = ds.has_label(label)
    if task == "regression" and ds.labels(label).dtype.kind not in "iuf":
        with np.errstate(invalid="ignore"):  # numbers stored as text
            num = np.array([float(v) if ok else np.nan for v, ok in zip(ds.labels(label), has)])
        has &= np.isfinite(num)
    if split is None:
        train, test = np.arange(len(ds)), None
    else:
        parts = ds.load_split(split)
        train, test = parts["train"], parts.get("test")
    dropped = int((~has[train]).sum())
    train = train[has[train]]
    if test is not None:
        test = test[has[test]]
    return train, test, dropped


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer train``."""
    from pathlib import Path

    import numpy as np

    from spectromer import SpectromerModel
    from spectromer.datasets import SpectraDataset

    ds = SpectraDataset(args.dataset)
    train, test, dropped = _rows(ds, args.label, args.split, args.task)
    main = int(os.environ.get("RANK", "0")) == 0
    if dropped and main:
        print(f"{dropped} spectra have no {args.label!r} and are left out")
    if train.size < 2:
        raise ValueError(f"{args.dataset}: fewer than 2 spectra with a {args.label!r} label")
    out = Path(args.out)
    model = SpectromerModel(
        task=args.task,
        backbone=args.backbone,
        pretrained=args.pretrained,
        representation=args.kind,
        image_size=args.image_size,
        render_options=render_options(args),
        backbone_options=dict(args.backbone_option) or None,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr="auto" if args.lr is None else args.lr,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        label_smoothing=args.label_smoothing,
        class_weight=args.class_weight,
        loss=args.loss,
        augment=not args.no_augment,
        validation_fraction=args.validation_fraction,
        early_stopping=args.early_stopping or False,
        device=args.device,
        precision=args.precision,
        num_workers=args.num_workers,
        checkpoint_dir=args.checkpoint_dir or str(out / "checkpoints"),
        random_state=args.seed,
        progress=not args.no_progress,
        standardize=args.standardize,
    )
    y = args.label if args.task == "classification" else ds.labels(args.label)[train].astype(float)
    model.fit(ds, y, indices=train, resume=args.resume)
    if not main:
        return 0
    model.save(out)
    best = model.history_[model.best_epoch_ - 1] if model.history_ else {}
    metric = "val_accuracy" if args.task == "classification" else "val_r2"
    line = f"trained on {model.n_train_} spectra ({model.n_validation_} for validation)"
    if metric in best:
        line += f"; best epoch {model.best_epoch_}: {metric} {best[metric]:.4f}"
    print(line)
    if test is not None and test.size:
        y_test = args.label if args.task == "classification" else ds.labels(args.label)[test]
        score = model.score(ds, np.asarray(y_test, float) if args.task == "regression" else y_test,
                            indices=test)  # fmt: skip
        name = "accuracy" if args.task == "classification" else "R^2"
        print(f"test {name} on split {args.split!r} ({test.size} spectra): {score:.4f}")
    print(f"saved the model to {out}")
    return 0
