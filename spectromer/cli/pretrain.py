"""``spectromer pretrain``: masked-image pretraining of a ViT on unlabelled spectra."""

from __future__ import annotations

import argparse

from .train import (
    ESTIMATOR_DEFAULT,
    _option,
    add_hardware_arguments,
    add_image_arguments,
    estimator_params,
    fit_from_command_line,
    render_options,
)

#: ``spectromer pretrain`` options (argparse names) and the MaskedImagePretrainer
#: parameters they set; an option not given sets nothing, so the parameter keeps its default.
PRETRAIN_OPTIONS = {
    "backbone": "backbone",
    "kind": "representation",
    "image_size": "image_size",
    "mask_ratio": "mask_ratio",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "seed": "random_state",
    "device": "device",
    "precision": "precision",
    "num_workers": "num_workers",
    "checkpoint_dir": "checkpoint_dir",
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``pretrain`` sub-command."""
    d = ESTIMATOR_DEFAULT  # every estimator option: MaskedImagePretrainer's default unless given
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a vision transformer on unlabelled spectra (masked autoencoder)",
        description=(
            "Self-supervised masked-image pretraining: render the spectra of every DATASET "
            "(.h5 files written by `spectromer ingest` or simulate_sdss), hide most patches of "
            "each image and train the ViT to rebuild them. Labels are not used. The ViT is "
            "saved to --out (a .safetensors file) for `spectromer train --pretrained FILE`, "
            "which must use the same image and backbone options. With --split, only the "
            "saved split's training rows of the first DATASET are used, so that no test "
            "spectrum is seen. Options not given keep the defaults of MaskedImagePretrainer "
            "(see its documentation)."
        ),
    )
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset .h5 files or sample")
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="backbone .safetensors")
    p.add_argument("--split", metavar="NAME", help="use only this split's train rows of DATASET 1")
    g = p.add_argument_group("model")
    g.add_argument("--backbone", default=d, help="timm ViT name (default: MaskedImagePretrainer's)")
    g.add_argument(
        "--backbone-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="timm constructor option, e.g. depth=6 or patch_size=8 (repeatable)",
    )  # fmt: skip
    g.add_argument("--mask-ratio", type=float, default=d,
                   help="fraction of patches hidden")  # fmt: skip
    add_image_arguments(p, "MaskedImagePretrainer")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=d)
    t.add_argument("--batch-size", type=int, default=d)
    t.add_argument("--lr", type=float, default=d, help="peak learning rate")
    t.add_argument("--no-augment", action="store_true", default=d, help="no augmentations")
    t.add_argument("--seed", type=int, default=d,
                   help="random seed (default: a fresh one)")  # fmt: skip
    add_hardware_arguments(p, checkpoint_help="checkpoint every epoch there",
                           estimator="MaskedImagePretrainer")  # fmt: skip
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer pretrain``."""
    from pathlib import Path

    from spectromer.models import MaskedImagePretrainer
    from spectromer.spectra import as_source

    from ._common import open_dataset

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out {out}: the backbone file must end in .safetensors")
    if args.resume and args.checkpoint_dir is None:
        raise ValueError("--resume needs --checkpoint-dir")
    parts = []
    for i, path in enumerate(args.datasets):
        ds = open_dataset(path)
        rows = None
        if args.split is not None and i == 0:
            rows = ds.load_split(args.split)["train"]
        parts.append(as_source(ds, indices=rows))
    pretrainer = MaskedImagePretrainer(
        **estimator_params(args, PRETRAIN_OPTIONS),
        render_options=render_options(args),
        backbone_options=dict(args.backbone_option) or None,
    )
    fit_from_command_line(pretrainer, parts, resume=args.resume, overwrite=args.overwrite)
    pretrainer.save_backbone(out)
    last = pretrainer.history_[-1]
    loss = last.get("val_loss", last["train_loss"])
    print(
        f"pretrained on {pretrainer.n_spectra_} spectra in {pretrainer.fit_seconds_:.0f} s "
        f"(best epoch {pretrainer.best_epoch_}, reconstruction loss {loss:.4f}); "
        f"saved the backbone to {out}"
    )
    return 0
