"""``spectromer render``: spectra to PNG images."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``render`` sub-command."""
    from spectromer.imaging import FILL_ORDERS, GRIDS, KINDS, NORMALIZATIONS

    p = subparsers.add_parser(
        "render",
        help="render spectra (a dataset or spectrum files) to PNG images",
        description=(
            "Render spectra to images and write one PNG file each. Training does not need "
            "image files (models render on the fly); this is for looking at them or for other "
            "tools. SOURCE is a SpectraDataset .h5 file or spectrum files/folders/globs."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="dataset .h5, sample, files")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--kind", choices=KINDS, default="map2dnormaldev")
    p.add_argument("--size", type=int, default=224, help="image size in pixels (default 224)")
    p.add_argument("--block-size", type=int, default=None, help="block size (default: auto)")
    p.add_argument("--fill-order", choices=FILL_ORDERS, default="standard")
    p.add_argument("--grid", choices=GRIDS, default="log", help="value grid (default log)")
    p.add_argument(
        "--wave-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=None,
        help="wavelength range of the log/linear grid in Angstrom",
    )
    p.add_argument("--frame", choices=("observed", "rest"), default="observed")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None)
    p.add_argument("--mask-policy", choices=("interpolate", "zero"), default="interpolate")
    p.add_argument("--limit", type=int, default=None, help="render only the first N spectra")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer render``."""
    import numpy as np

    from spectromer.imaging import save_images

    options = {
        "kind": args.kind,
        "size": args.size,
        "block_size": args.block_size,
        "fill_order": args.fill_order,
        "grid": args.grid,
        "frame": args.frame,
        "normalization": args.normalization,
        "mask_policy": args.mask_policy,
    }
    if args.wave_range is not None:
        options["wave_range"] = tuple(args.wave_range)
    from ._common import is_dataset_argument, open_dataset

    if len(args.sources) == 1 and is_dataset_argument(args.sources[0]):
        spectra = open_dataset(args.sources[0])
        n = len(spectra)
        indices = np.arange(n if args.limit is None else min(args.limit, n))
    else:
        from spectromer.datasets import find_spectrum_files
        from spectromer.io import read_spectra

        spectra = []
        for path in find_spectrum_files(args.sources):
            spectra.extend(read_spectra(path))
            if args.limit is not None and len(spectra) >= args.limit:
                break
        spectra = spectra[: args.limit] if args.limit is not None else spectra
        indices = None
    paths = save_images(
        spectra, args.out, indices=indices, progress=not args.no_progress, **options
    )
    print(f"wrote {len(paths)} {args.kind} image(s) of {args.size}x{args.size} to {args.out}")
    return 0
