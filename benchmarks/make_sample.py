"""Rebuild the bundled LAMOST sample (``spectromer/datasets/data/lamost_dr10_afg_sample.h5``).

Usage::

    python benchmarks/make_sample.py ../shared/data/lamost-dr10-afg/spectra [--per-type 200]

Ingests the LAMOST DR10 folder, draws ``--per-type`` spectra of each coarse
type A, F and G with a fixed seed, and writes them with the compact float16
encoding and gzip compression, plus a stratified split by ``subtype`` saved as
``"default"``. The result must stay under 5 MB.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from spectromer.datasets import ingest, sample_path

LIMIT_BYTES = 5 * 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder of LAMOST DR10 spec-*.fits.gz files")
    parser.add_argument("--per-type", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(sample_path()))
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        full = ingest(args.source, Path(tmp) / "all.h5", n_jobs=args.jobs)
        types = full.labels("type")
        rng = np.random.default_rng(args.seed)
        chosen = []
        for letter in ("A", "F", "G"):
            idx = np.flatnonzero(types == letter)
            if idx.size < args.per_type:
                raise SystemExit(f"only {idx.size} spectra of type {letter}, need {args.per_type}")
            chosen.append(np.sort(rng.choice(idx, args.per_type, replace=False)))
        order = np.concatenate(chosen)
        sample = full.subset(order, args.out, encoding="float16", compression="gzip")
    sample.split("subtype", fractions=(0.7, 0.15, 0.15), seed=args.seed, save="default")
    size = Path(args.out).stat().st_size
    print(sample.summary("subtype"))
    print(f"wrote {args.out}: {size / 1e6:.2f} MB")
    if size > LIMIT_BYTES:
        raise SystemExit(f"sample is {size} bytes, over the {LIMIT_BYTES}-byte limit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
