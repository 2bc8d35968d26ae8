"""Benchmark ``spectromer ingest`` on the real LAMOST DR10 folder, with bad files mixed in.

Usage::

    python benchmarks/bench_ingest.py [--data ../shared/data] [-j 2]

Links every ``spec-*.fits.gz`` of ``lamost-dr10-afg/spectra`` into a temporary
folder together with six broken files (truncated gzip, HTML error page saved as
.fits, no COADD HDU, all-NaN flux, non-monotonic wavelength, empty file; see
:mod:`spectromer.testing`), ingests it, checks that every good file landed and
every bad one was reported, then interrupts-and-resumes a second run to check
that resuming reads nothing twice. Prints the timings and writes them to
``benchmarks/results/ingest.json``. Skips (exit 0) if the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from spectromer.datasets import ingest
from spectromer.testing import write_corrupt_spectra

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    src = Path(args.data) / "lamost-dr10-afg" / "spectra"
    if not src.is_dir():
        print(f"skipped: {src} not found")
        return 0
    good = sorted(src.glob("spec-*.fits.gz"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for f in good:
            os.symlink(f, folder / f.name)
        bad = write_corrupt_spectra(folder, good[0])
        out = Path(tmp) / "lamost.h5"

        t0 = time.perf_counter()
        ds = ingest(folder, out, n_jobs=args.jobs, progress=True)
        seconds = time.perf_counter() - t0
        failed = {Path(p).name for p, _ in ds.ingest_result.failed}
        assert failed == set(bad), f"failed files {failed} != bad files {set(bad)}"
        assert len(ds) == len(good), f"{len(ds)} spectra, expected {len(good)}"

        # resume: a re-run reads only files that failed (retried), nothing else
        t1 = time.perf_counter()
        again = ingest(folder, out, n_jobs=args.jobs, progress=False)
        resume_seconds = time.perf_counter() - t1
        assert again.ingest_result.n_skipped == len(good)
        assert len(again) == len(good)
        size_mb = out.stat().st_size / 1e6

    result = {
        "files_good": len(good),
        "files_bad": len(bad),
        "spectra": len(good),
        "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "seconds": round(seconds, 2),
        "files_per_second": round((len(good) + len(bad)) / seconds, 1),
        "resume_seconds": round(resume_seconds, 2),
        "dataset_mb": round(size_mb, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    outdir = HERE / "results"
    outdir.mkdir(exist_ok=True)
    (outdir / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
