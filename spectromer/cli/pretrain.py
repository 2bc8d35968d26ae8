"""``spectromer pretrain``: masked-image pretraining of a ViT on unlabelled spectra."""

from __future__ import annotations

import argparse

from .train import _option, add_hardware_arguments, add_image_arguments, render_options


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``pretrain`` sub-command."""
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
            "spectrum is seen."
        ),
    )
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="SpectraDataset .h5 files")
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="backbone .safetensors")
    p.add_argument("--split", metavar="NAME", help="use only this split's train rows of DATASET 1")
    g = p.add_argument_group("model")
    g.add_argument("--backbone", default="vit_tiny_patch16_224", help="timm ViT name")
    g.add_argument(
        "--backbone-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="timm constructor option, e.g. depth=6 or patch_size=8 (repeatable)",
    )  # fmt: skip
    g.add_argument("--mask-ratio", type=float, default=0.75, help="fraction of patches hidden")
    add_image_arguments(p, default_size=64)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    t.add_argument("--no-augment", action="store_true", help="no augmentations")
    t.add_argument("--seed", type=int, default=0)
    add_hardware_arguments(p, checkpoint_help="checkpoint every epoch there")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer pretrain``."""
    from pathlib import Path

    from spectromer.datasets import SpectraDataset
    from spectromer.models import MaskedImagePretrainer
    from spectromer.training import as_source

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out {out}: the backbone file must end in .safetensors")
    if args.resume and args.checkpoint_dir is None:
        raise ValueError("--resume needs --checkpoint-dir")
    parts = []
    for i, path in enumerate(args.datasets):
        ds = SpectraDataset(path)
        rows = None
        if args.split is not None and i == 0:
            rows = ds.load_split(args.split)["train"]
        parts.append(as_source(ds, indices=rows))
    pretrainer = MaskedImagePretrainer(
        backbone=args.backbone,
        representation=args.kind,
        image_size=args.image_size,
        render_options=render_options(args),
        backbone_options=dict(args.backbone_option) or None,
        mask_ratio=args.mask_ratio,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=not args.no_augment,
        device=args.device,
        precision=args.precision,
        num_workers=args.num_workers,
        checkpoint_dir=args.checkpoint_dir,
        random_state=args.seed,
        progress=not args.no_progress,
    )
    pretrainer.fit(parts, resume=args.resume)
    pretrainer.save_backbone(out)
    last = pretrainer.history_[-1]
    loss = last.get("val_loss", last["train_loss"])
    print(
        f"pretrained on {pretrainer.n_spectra_} spectra in {pretrainer.fit_seconds_:.0f} s "
        f"(best epoch {pretrainer.best_epoch_}, reconstruction loss {loss:.4f}); "
        f"saved the backbone to {out}"
    )
    return 0
