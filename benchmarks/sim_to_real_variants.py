"""Sim-to-real type accuracy of LAMOST-like stars under variants of the instrument.

Usage::

    python benchmarks/sim_to_real_variants.py [--n 2000] [--data ../shared/data]
        [--out benchmarks/results/sim2real-variants.json]

Each variant changes fields of the LAMOST :class:`~spectromer.simulation.Instrument`
(``dataclasses.replace``), simulates ``--n`` A/F/G stars, fits the random forest and
SVM baselines (``run_benchmark(quick=True)``) on their ``type`` and tests them on all
real LAMOST DR10 spectra of the shared data (ingested once into the work folder).
Printed per variant: the accuracies, the median continuum slope (``bench_simulator``'s)
of real and simulated stars per type, and the random forest's confusion matrix. It
measures how the reddening and calibration choices of :mod:`spectromer.simulation`
move the transfer (``docs/simulation.rst``, "Realism, measured"). Skips (status 0)
when the shared data are absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_simulator as bs  # noqa: E402

#: name -> fields of the LAMOST instrument to replace ({} = the packaged one).
VARIANTS: dict[str, dict] = {
    "packaged": {},
    "no extinction, no calibration error": {
        "ebv_mean": 0.0,
        "calibration_sigma": 0.0,
        "join": None,
    },
    "extinction of the whole column for every star": {"dust_distance_pc": 1.0},
    "half the sight-line extinction": {"ebv_mean": 0.15},
    "calibration error 0.03": {"calibration_sigma": 0.03},
}


def main(argv: list[str] | None = None) -> int:
    """Run every variant; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="simulated stars per variant")
    parser.add_argument("--data", default=str(bs.DEFAULT_DATA))
    parser.add_argument("--work", default=str(HERE / "results" / "simulator-work"))
    parser.add_argument("--out", default=str(HERE / "results" / "sim2real-variants.json"))
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "lamost-dr10-afg" / "spectra").is_dir():
        print(f"skipped: {data / 'lamost-dr10-afg' / 'spectra'} not found")
        return 0
    from spectromer.datasets import simulate_survey
    from spectromer.evaluation import run_benchmark
    from spectromer.simulation import INSTRUMENTS
    from spectromer.simulation import survey as survey_module

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    real, _ = bs.real_lamost(data, work, 2)
    feats_real = bs.spectrum_features(real, "STAR")
    types_real = np.asarray(real.labels("type")).astype(str)
    packaged = INSTRUMENTS["lamost"]
    results = {}
    try:
        for k, (name, changes) in enumerate(VARIANTS.items()):
            INSTRUMENTS["lamost"] = dataclasses.replace(packaged, **changes)
            survey_module._context.cache_clear()
            t0 = time.perf_counter()
            sim = simulate_survey(
                args.n, work / f"variant-{k}.h5", classes=["STAR"], star_types="AFG",
                resume=False, n_jobs=1,
            )  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = run_benchmark(
                    sim, "type", test=real, models=("rf", "svm"), out=work / f"variant-{k}",
                    quick=True, plots=False, progress=False, threads=2,
                )  # fmt: skip
            feats_sim = bs.spectrum_features(sim, "STAR")
            types_sim = np.asarray(sim.labels("type")).astype(str)
            slope = {
                t: {
                    "real": float(np.nanmedian(np.asarray(feats_real["slope"])[types_real == t])),
                    "sim": float(np.nanmedian(np.asarray(feats_sim["slope"])[types_sim == t])),
                }
                for t in "AFG"
            }
            entry = {
                "changes": changes,
                "accuracy": {x["model"]: x["accuracy"] for x in r["results"]},
                "slope_by_type": slope,
                "rf_confusion": next(
                    x["confusion_matrix"] for x in r["results"] if x["model"] == "rf"
                ),
                "labels": next(x["labels"] for x in r["results"] if x["model"] == "rf"),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            results[name] = entry
            print(name, json.dumps(entry["accuracy"]), json.dumps(slope), flush=True)
            (work / f"variant-{k}.h5").unlink(missing_ok=True)
    finally:
        INSTRUMENTS["lamost"] = packaged
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n": args.n, "variants": results}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
