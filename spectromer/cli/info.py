"""``spectromer info``: versions, readers, and a look at a dataset or the bundled sample."""

from __future__ import annotations

import argparse
import platform


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``info`` sub-command."""
    p = subparsers.add_parser(
        "info",
        help="show versions, supported formats and a summary of a dataset",
        description=(
            "Print Spectromer's version, its dependencies, the spectrum formats it reads, and a "
            "summary of a dataset file (or of the bundled LAMOST sample: `spectromer info "
            "sample` or --sample)."
        ),
    )
    p.add_argument(
        "dataset", nargs="?", help="a SpectraDataset .h5 file to describe, or sample"
    )
    p.add_argument("--sample", action="store_true", help="describe the bundled LAMOST sample")
    p.add_argument("--label", help="metadata column whose counts are listed")
    p.set_defaults(func=run)
    return p


def _versions() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    from spectromer import __version__

    lines = [f"spectromer {__version__} (Python {platform.python_version()})"]
    deps = []
    for name in ("numpy", "astropy", "specutils", "h5py", "astroquery", "scikit-learn", "torch"):
        try:
            deps.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            deps.append(f"{name} (not installed)")
    lines.append("  " + ", ".join(deps))
    return lines


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer info``."""
    from spectromer import io

    for line in _versions():
        print(line)
    formats = getattr(io, "formats", None)
    if callable(formats):
        print("  readers: " + ", ".join(formats()))
    from ._common import SAMPLE_NAME, open_dataset

    name = args.dataset or (SAMPLE_NAME if args.sample else None)
    if name is None:
        return 0
    ds = open_dataset(name)
    if name == SAMPLE_NAME:
        from spectromer.datasets import SAMPLE_PROVENANCE

        print()
        print(SAMPLE_PROVENANCE.rstrip())
    print()
    print(ds.summary(args.label))
    if "default" in ds.split_names:
        parts = ds.load_split("default")
        print("  default split: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(parts.items())))
    return 0
