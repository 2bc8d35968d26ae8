"""``spectromer predict``: apply a saved model to spectrum files or a dataset."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``predict`` sub-command."""
    p = subparsers.add_parser(
        "predict",
        help="predict labels or values for spectra with a saved model",
        description=(
            "Load a model saved by `spectromer train` (or SpectromerModel.save) and predict "
            "for every spectrum of SOURCE: spectrum files, folders or globs, or one dataset "
            ".h5 file. Files that cannot be read are reported and skipped. Writes a table "
            "(one row per spectrum: source file, object id, prediction, class probabilities "
            "or predictive std) to --out (.csv, .ecsv or .fits), or prints it. Spectra unlike "
            "those the model was trained on (another survey, wavelengths beyond the trained "
            "range) are counted in a warning."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="folder written by `spectromer train`")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="files, globs, .h5 or sample")
    p.add_argument("--out", "-o", default=None, help="output table (.csv, .ecsv, .fits)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the model's")
    p.add_argument("--device", default=None, help="default: the model's (auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def _read_all(sources: list[str], progress: bool):
    """Spectra, their (file, index-in-file, object id) and the files that failed."""
    from tqdm.auto import tqdm

    from spectromer.datasets import find_spectrum_files
    from spectromer.io import SpectrumReadError, read_spectra

    spectra, where, failed = [], [], []
    files = find_spectrum_files(sources)
    if not files:
        raise ValueError(f"no spectrum files found in {' '.join(sources)}")
    for path in tqdm(files, desc="read", unit="file", disable=not progress):
        try:
            got = read_spectra(path)
        except SpectrumReadError as err:  # its message starts with the file: keep the reason
            failed.append((str(path), err.reason))
            continue
        except (OSError, ValueError) as err:
            reason = str(err)
            for name in (str(path), path.name):  # the file once, in the "skipped" line
                if reason.startswith(name + ": "):
                    reason = reason[len(name) + 2 :]
                    break
            failed.append((str(path), reason))
            continue
        for k, spec in enumerate(got):
            spectra.append(spec)
            where.append((path.name, k, str(spec.meta.get("object_id", ""))))
    return spectra, where, failed


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer predict``."""
    import sys
    import warnings
    from pathlib import Path

    import numpy as np
    from astropy.table import Table

    from spectromer import SpectromerModel
    from spectromer.utils.atomic import atomic_path

    model = SpectromerModel.load(args.model, device=args.device)
    model.progress = not args.no_progress
    if args.batch_size is not None:
        model.batch_size = args.batch_size
    failed: list[tuple[str, str]] = []
    from ._common import is_dataset_argument, open_dataset

    if len(args.sources) == 1 and is_dataset_argument(args.sources[0]):
        X = open_dataset(args.sources[0])
        meta = X.meta
        n = len(X)
        table = Table(
            {
                "source": meta["source"] if "source" in meta.colnames else [X.path.name] * n,
                "index": np.arange(n),
                "object_id": meta["object_id"] if "object_id" in meta.colnames else [""] * n,
            }
        )
    else:
        X, where, failed = _read_all(args.sources, not args.no_progress)
        for path, reason in failed:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        if not X:
            raise ValueError("none of the files could be read")
        table = Table(rows=where, names=("source", "index", "object_id"))
    with warnings.catch_warnings(record=True) as caught:  # e.g. spectra unlike the training ones
        warnings.simplefilter("always")
        if model.task == "classification":
            proba = model.predict_proba(X)
            table["prediction"] = model.classes_[proba.argmax(axis=1)]
            table["probability"] = proba.max(axis=1)
            for j, name in enumerate(model.classes_.tolist()):
                table[f"p_{name}"] = proba[:, j]
        elif model.loss == "gaussian_nll":
            mean, std = model.predict(X, return_std=True)
            table["prediction"], table["std"] = mean, std
        else:
            table["prediction"] = model.predict(X)
    for w in caught:  # one line each, without the source location
        print(f"warning: {w.message}", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        fmt = {".csv": "ascii.csv", ".ecsv": "ascii.ecsv", ".fits": "fits"}.get(out.suffix)
        if fmt is None:
            raise ValueError(f"--out {out}: use a .csv, .ecsv or .fits file name")
        with atomic_path(out) as tmp:
            table.write(tmp, format=fmt, overwrite=True)
        print(f"wrote {len(table)} predictions to {out}")
    else:
        table.pprint_all() if len(table) <= 200 else table.pprint(max_lines=60, max_width=-1)
    if failed:
        print(f"{len(failed)} file(s) could not be read (listed above)", file=sys.stderr)
    return 0
