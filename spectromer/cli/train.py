"""``spectromer train``: fit a SpectromerModel on a dataset and save it."""

from __future__ import annotations

import argparse
import ast
import importlib
import os
from collections.abc import Callable
from typing import Any

#: The default of every estimator option: not given, the option sets nothing, so the
#: estimator's own default applies (and ``--help`` need not import the estimator).
ESTIMATOR_DEFAULT = argparse.SUPPRESS

#: ``spectromer train`` options (argparse names) and the SpectromerModel parameters they
#: set; an option not given sets nothing, so the parameter keeps its default.
TRAIN_OPTIONS = {
    "task": "task",
    "backbone": "backbone",
    "pretrained": "pretrained",
    "loss": "loss",
    "standardize": "standardize",
    "kind": "representation",
    "image_size": "image_size",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "warmup": "warmup",
    "label_smoothing": "label_smoothing",
    "class_weight": "class_weight",
    "validation_fraction": "validation_fraction",
    "early_stopping": "early_stopping",
    "seed": "random_state",
    "device": "device",
    "precision": "precision",
    "num_workers": "num_workers",
}
#: ``--no-X`` flags and the boolean parameters they turn off (shared by train and pretrain).
NEGATED_FLAGS = {"no_augment": "augment", "no_progress": "progress"}


def lazy_choice(module: str, attribute: str) -> Callable[[str], str]:
    """An option ``type`` accepting the names in ``module.attribute``, imported when used.

    Use it instead of ``choices=`` for choices that live in a heavy module: argparse
    lists ``choices`` in ``--help`` (importing them); this imports the module only when
    a value is parsed, and a wrong value's error lists the choices.

    Examples
    --------
    >>> from spectromer.cli.train import lazy_choice
    >>> task = lazy_choice("spectromer.models.estimator", "TASKS")
    >>> task("regression")
    'regression'
    >>> task("colour")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: invalid choice: 'colour' (choose from classification, regression)
    """

    def parse(text: str) -> str:
        names = tuple(getattr(importlib.import_module(module), attribute))
        if text not in names:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {text!r} (choose from {', '.join(names)})"
            )
        return text

    parse.__name__ = attribute.lower().rstrip("s")  # argparse names the type in errors
    return parse


def estimator_params(args: argparse.Namespace, options: dict[str, str]) -> dict[str, Any]:
    """Estimator parameters from parsed arguments: ``options`` and the ``--no-X`` flags.

    Only the options given are set (their defaults are :data:`ESTIMATOR_DEFAULT`, which
    leaves them out of ``args``): the others keep the estimator's defaults.

    Examples
    --------
    >>> import argparse
    >>> from spectromer.cli.train import estimator_params
    >>> estimator_params(argparse.Namespace(seed=1, no_augment=True, no_progress=False),
    ...                  {"seed": "random_state", "epochs": "epochs"})
    {'random_state': 1, 'augment': False, 'progress': True}
    >>> estimator_params(argparse.Namespace(), {"seed": "random_state"})
    {}
    """
    given = vars(args)
    params = {param: given[dest] for dest, param in options.items() if dest in given}
    params.update({param: not given[flag] for flag, param in NEGATED_FLAGS.items()
                   if flag in given})  # fmt: skip
    return params


def _option(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (the value as a Python literal when it is one)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def _learning_rate(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _pretrained(text: str) -> bool | str:
    low = text.lower()
    if low == "auto":
        return "auto"
    if low in ("none", "no", "false", "scratch"):
        return False
    if low in ("imagenet", "yes", "true"):
        return True
    return text


def add_image_arguments(p: argparse.ArgumentParser, estimator: str) -> None:
    """The ``images`` argument group (shared by ``train`` and ``pretrain``).

    ``estimator`` names the estimator whose defaults apply, for the help.
    """
    from spectromer.imaging import FILL_ORDERS, GRIDS, KINDS, NORMALIZATIONS

    r = p.add_argument_group("images")
    r.add_argument("--kind", choices=KINDS, default=ESTIMATOR_DEFAULT,
                   help=f"image kind (default: {estimator}'s representation)")  # fmt: skip
    r.add_argument("--image-size", type=int, default=ESTIMATOR_DEFAULT,
                   help=f"image size in pixels (default: {estimator}'s)")  # fmt: skip
    r.add_argument("--fill-order", choices=FILL_ORDERS, default=None)
    r.add_argument("--grid", choices=GRIDS, default=None)
    r.add_argument("--normalization", choices=NORMALIZATIONS, default=None)
    r.add_argument(
        "--render-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="any other RenderConfig field, e.g. block_size=2 (repeatable)",
    )  # fmt: skip


def add_hardware_arguments(
    p: argparse.ArgumentParser, checkpoint_help: str, estimator: str
) -> None:
    """The ``hardware and checkpoints`` argument group (shared by ``train`` and ``pretrain``).

    ``estimator`` names the estimator whose defaults apply, for the help.
    """
    from spectromer.training.engine import PRECISIONS

    h = p.add_argument_group("hardware and checkpoints")
    h.add_argument("--device", default=ESTIMATOR_DEFAULT,
                   help=f"auto, cpu, cuda, cuda:1, mps (default: {estimator}'s)")  # fmt: skip
    h.add_argument("--precision", choices=PRECISIONS, default=ESTIMATOR_DEFAULT,
                   help=f"default: {estimator}'s")  # fmt: skip
    h.add_argument("--num-workers", type=int, default=ESTIMATOR_DEFAULT,
                   help=f"data-loader processes (default: {estimator}'s)")  # fmt: skip
    h.add_argument("--checkpoint-dir", default=None, help=checkpoint_help)
    h.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    h.add_argument("--overwrite", action="store_true",
                   help="start over, replacing the checkpoint of an earlier run (without "
                        "--resume or this, an existing checkpoint is refused)")  # fmt: skip
    h.add_argument("--no-progress", action="store_true", default=ESTIMATOR_DEFAULT,
                   help="no progress bars")  # fmt: skip


def fit_from_command_line(learner: Any, *args: Any, resume: bool, overwrite: bool,
                          **kwargs: Any) -> Any:  # fmt: skip
    """``learner.fit(*args, resume=, overwrite=, **kwargs)``, errors naming the options.

    A refused checkpoint (:class:`~spectromer.training.CheckpointExists`) names
    ``--resume`` and ``--overwrite`` instead of the keywords of ``fit``, and unavailable
    pretrained weights (:class:`~spectromer.models.PretrainedWeightsUnavailable`) name
    ``--pretrained FILE`` instead of the estimator's parameter.
    """
    from spectromer.models import PretrainedWeightsUnavailable
    from spectromer.training import CheckpointExists

    if resume and overwrite:
        raise ValueError("--resume continues a checkpoint, --overwrite replaces it: choose one")
    try:
        return learner.fit(*args, resume=resume, overwrite=overwrite, **kwargs)
    except CheckpointExists as err:
        raise err.reworded(resume="--resume", overwrite="--overwrite") from None
    except PretrainedWeightsUnavailable as err:  # an OSError for the command line's report
        raise OSError(str(err.naming("--backbone {backbone} --pretrained {file}"))) from None


def render_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """RenderConfig fields from the ``images`` arguments (None when all are defaults)."""
    options = dict(args.render_option)
    for key in ("fill_order", "grid", "normalization"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options or None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``train`` sub-command."""
    d = ESTIMATOR_DEFAULT  # every estimator option: SpectromerModel's default unless given
    p = subparsers.add_parser(
        "train",
        help="fine-tune a vision transformer on a dataset and save the model",
        description=(
            "Train a SpectromerModel on the spectra of DATASET (a .h5 file written by "
            "`spectromer ingest`) with the metadata column --label as target, and save it to "
            "--out (model.safetensors + config.json). Spectra without a label are left out. "
            "With --split the saved split's 'train' rows are used for fitting, its 'validation' "
            "rows (if any, instead of --validation-fraction) to pick the best epoch, and its "
            "'test' rows are scored at the end. Run it under `torchrun --nproc_per_node=N -m "
            "spectromer train ...` for distributed data parallel training on N GPUs or processes. "
            "Options not given keep the defaults of SpectromerModel (see its documentation)."
        ),
    )
    p.add_argument("dataset", metavar="DATASET", help="a SpectraDataset .h5 file, or sample")
    p.add_argument("--label", required=True, help="metadata column to predict (e.g. subclass)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the model")
    p.add_argument("--task", type=lazy_choice("spectromer.models.estimator", "TASKS"),
                   default=d, metavar="TASK",
                   help="classification or regression (default: SpectromerModel's)")  # fmt: skip
    p.add_argument("--split", metavar="NAME", help="use a split saved in the dataset")
    g = p.add_argument_group("model")
    g.add_argument("--backbone", default=d,
                   help="timm model name, or auto (the default: ViT-B/16 on a CUDA GPU, the "
                        "small measured CPU preset elsewhere)")  # fmt: skip
    g.add_argument(
        "--pretrained",
        type=_pretrained,
        default=d,
        metavar="auto|imagenet|none|PATH",
        help="initial weights: auto (the default: imagenet on a CUDA GPU, none elsewhere), "
        "imagenet (needs network or a hub cache), none (train from scratch) or a local file",
    )
    g.add_argument(
        "--backbone-option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="timm constructor option, e.g. depth=6 or patch_size=8 (repeatable)",
    )
    g.add_argument("--loss", type=lazy_choice("spectromer.models.estimator", "LOSSES"),
                   default=d, metavar="LOSS",
                   help="training loss (default: SpectromerModel's; a wrong name lists the "
                        "choices)")  # fmt: skip
    add_image_arguments(p, "SpectromerModel")
    g.add_argument(
        "--standardize", choices=("append", "replace", None, "auto"), default=d,
        type=lambda text: None if text == "none" else text, metavar="append|replace|none|auto",
        help="per-pixel (per-wavelength) z-scores fitted on the training images, as extra "
             "channels (append) or instead of the plain ones (replace); none; auto (the "
             "default): append with the CPU preset of --backbone auto, none otherwise",
    )  # fmt: skip
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=d)
    t.add_argument("--batch-size", type=int, default=d)
    t.add_argument("--lr", type=_learning_rate, default=d, help="peak learning rate or auto")
    t.add_argument("--weight-decay", type=float, default=d)
    t.add_argument("--warmup", type=float, default=d, help="warm-up epochs")
    t.add_argument("--label-smoothing", type=float, default=d)
    t.add_argument("--class-weight", choices=("balanced",), default=d)
    t.add_argument("--no-augment", action="store_true", default=d, help="no augmentations")
    t.add_argument("--validation-fraction", type=float, default=d)
    t.add_argument("--early-stopping", type=int, default=d, metavar="EPOCHS",
                   help="patience (default: no early stopping)")  # fmt: skip
    t.add_argument("--seed", type=int, default=d,
                   help="random seed (default: a fresh one)")  # fmt: skip
    add_hardware_arguments(p, checkpoint_help="default: OUT/checkpoints",
                           estimator="SpectromerModel")  # fmt: skip
    p.set_defaults(func=run)
    return p


def _rows(ds: Any, label: str, split: str | None, task: str) -> tuple[Any, Any, Any, int]:
    """Training, validation and test rows (None without a split or such rows) and how many
    training rows lack a label."""
    import numpy as np

    has = ds.has_label(label)
    if task == "regression" and ds.labels(label).dtype.kind not in "iuf":
        with np.errstate(invalid="ignore"):  # numbers stored as text
            num = np.array([float(v) if ok else np.nan for v, ok in zip(ds.labels(label), has)])
        has &= np.isfinite(num)
    if split is None:
        train, val, test = np.arange(len(ds)), None, None
    else:
        parts = ds.load_split(split)
        train, val, test = parts["train"], parts.get("validation"), parts.get("test")
    dropped = int((~has[train]).sum())
    train = train[has[train]]
    if val is not None:
        val = val[has[val]]
        val = val if val.size else None
    if test is not None:
        test = test[has[test]]
    return train, val, test, dropped


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer train``."""
    from pathlib import Path

    import numpy as np

    from spectromer import SpectromerModel

    from ._common import open_dataset

    out = Path(args.out)
    model = SpectromerModel(
        **estimator_params(args, TRAIN_OPTIONS),
        render_options=render_options(args),
        backbone_options=dict(args.backbone_option) or None,
        checkpoint_dir=args.checkpoint_dir or str(out / "checkpoints"),
    )
    task = model.task
    ds = open_dataset(args.dataset)
    train, val, test, dropped = _rows(ds, args.label, args.split, task)
    main = int(os.environ.get("RANK", "0")) == 0
    if dropped and main:
        print(f"{dropped} spectra have no {args.label!r} and are left out")
    if train.size < 2:
        raise ValueError(f"{args.dataset}: fewer than 2 spectra with a {args.label!r} label")

    def targets(rows: Any) -> Any:
        labels = ds.labels(args.label)[rows]
        return labels if task == "classification" else labels.astype(float)

    validation = None
    if val is not None:  # the split's validation rows, not a fraction of its training rows
        from spectromer.spectra import as_source

        validation = (as_source(ds, indices=val), targets(val))
        if main:
            print(f"validating on the {val.size} validation spectra of split {args.split!r}")
    fit_from_command_line(model, ds, targets(train), indices=train, validation=validation,
                          resume=args.resume, overwrite=args.overwrite)  # fmt: skip
    if not main:
        return 0
    model.save(out)
    best = model.history_[model.best_epoch_ - 1] if model.history_ else {}
    metric = "val_accuracy" if task == "classification" else "val_r2"
    weights = {True: "ImageNet weights", False: "from scratch"}.get(model.pretrained_,
                                                                   model.pretrained_)  # fmt: skip
    print(f"model: {model.backbone_} at {model.image_size_} px ({weights}), "
          f"options {model.backbone_options_ or {}}, standardize {model.standardize_}")
    line = f"trained on {model.n_train_} spectra ({model.n_validation_} for validation)"
    if metric in best:
        line += f"; best epoch {model.best_epoch_}: {metric} {best[metric]:.4f}"
    print(line)
    if test is not None and test.size:
        y_test = args.label if task == "classification" else ds.labels(args.label)[test]
        score = model.score(ds, np.asarray(y_test, float) if task == "regression" else y_test,
                            indices=test)  # fmt: skip
        name = "accuracy" if task == "classification" else "R^2"
        print(f"test {name} on split {args.split!r} ({test.size} spectra): {score:.4f}")
    print(f"saved the model to {out}")
    return 0
