"""``spectromer ingest``: spectrum files to a dataset."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``ingest`` sub-command."""
    p = subparsers.add_parser(
        "ingest",
        help="read spectrum files (LAMOST, SDSS/BOSS, DESI) into one HDF5 dataset",
        description=(
            "Read every spectrum file in the given folders, glob patterns or files into one "
            "SpectraDataset (HDF5). Runs in parallel, shows progress, skips bad files with "
            "their reason recorded, and resumes: re-running skips files already ingested."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="DIR_OR_GLOB", help="folders, globs or files")
    p.add_argument("--out", "-o", required=True, metavar="DATASET", help="output .h5 file")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    p.add_argument(
        "--no-resume", action="store_true", help="start afresh, replacing an existing DATASET"
    )
    p.add_argument(
        "--keep-failed", action="store_true", help="on resume, do not retry files that failed"
    )
    p.add_argument(
        "--encoding",
        choices=("float32", "float16"),
        default="float32",
        help="storage encoding of flux and ivar (default float32)",
    )
    p.add_argument("--shard-size", type=int, default=500, help="files per saved shard")
    p.add_argument("--no-recursive", action="store_true", help="do not search folders recursively")
    p.add_argument("--split", metavar="LABEL", help="also save a stratified split by this column")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer ingest``."""
    from spectromer.datasets import ingest

    progress = not args.no_progress
    ds = ingest(
        args.sources,
        args.out,
        n_jobs=args.jobs,
        resume=not args.no_resume,
        retry_failed=not args.keep_failed,
        recursive=not args.no_recursive,
        shard_size=args.shard_size,
        encoding=args.encoding,
        progress=progress,
    )
    if not progress:
        print(ds.ingest_result.report())
    if args.split:
        parts = ds.split(args.split, seed=args.seed, save=args.split)
        sizes = ", ".join(f"{k} {len(v)}" for k, v in parts.items())
        print(f"saved split {args.split!r} (seed {args.seed}): {sizes}")
    print(ds.summary())
    return 0
