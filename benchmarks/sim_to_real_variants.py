"""Sim-to-real type accuracy of LAMOST-like stars under variants of the instrument.

Usage::

    python benchmarks/sim_to_real_variants.py [--n 2000] [--data ../shared/data]
        [--out benchmarks/results/sim2real-variants.json]

Each variant changes fields of the LAMOST :class:`~spectromer.simulation.Instrument`
(``dataclasses.replace``) or constants of :mod:`spectromer.simulation.objects` (the
template pools, the luminosity mix), simulates ``--n`` A/F/G stars, fits the random forest and
SVM baselines (``run_benchmark(quick=True)``) on their ``type`` and tests them on all
real LAMOST DR10 spectra of the shared data (ingested once into the work folder).
Printed per variant: the accuracies, the median continuum slope (``bench_simulator``'s)
of real and simulated stars per type, and the random forest's confusion matrix. It
measures how the reddening and calibration choices of :mod:`spectromer.simulation`
move the transfer (``docs/simulation.rst``, "Realism, measured").

The last variant is a **diagnostic, not a simulator setting**: every simulated star's
continuum is tilted by a power law so that the median continuum slope of each subtype
matches the real spectra's (measured on the real spectra *with their labels*, against
the packaged variant). It bounds what any continuum or reddening change could gain.
Skips (status 0) when the shared data are absent.
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

#: name -> fields of the LAMOST instrument to replace ({} = the packaged one), and
#: under ``"objects"`` constants of :mod:`spectromer.simulation.objects` to replace.
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
    "ELODIE templates only": {"objects": {"SDSS_POOL_FRACTION": 0.0}},
    "SDSS subclass templates for every dwarf": {"objects": {"SDSS_POOL_FRACTION": 1.0}},
    "dwarfs only": {"objects": {"LUMINOSITY": (("V", 1.0),)}},
    "diagnostic: continuum slope per subtype set to the real one": {"tilt": True},
}


def _code(subclass: str) -> float:
    """The MK code of a subclass such as ``"F6"`` (the simulator's own parser)."""
    from spectromer.simulation.library import parse_mk

    return parse_mk(subclass)[0]


def _slope_offsets(feats_real, real, feats_sim, sim) -> tuple[np.ndarray, np.ndarray]:
    """Per subtype (MK code, at least 20 real spectra): median real minus simulated slope."""
    sub_r = np.asarray(real.labels("subclass")).astype(str)
    sub_s = np.asarray(sim.labels("subclass")).astype(str)
    sr, ss = np.asarray(feats_real["slope"]), np.asarray(feats_sim["slope"])
    codes, delta = [], []
    for sub in sorted(set(sub_r) & set(sub_s)):
        r, m = sr[sub_r == sub], ss[sub_s == sub]
        if np.isfinite(r).sum() >= 20 and np.isfinite(m).sum() >= 5:
            codes.append(_code(sub))
            delta.append(np.nanmedian(r) - np.nanmedian(m))
    order = np.argsort(codes)
    return np.asarray(codes)[order], np.asarray(delta)[order]


def _tilted_drawer(draw, codes: np.ndarray, delta: np.ndarray):
    """``draw_star`` with the continuum tilted by the slope offset of the star's subtype."""
    from spectromer.simulation.library import star_library

    lib = star_library()
    wave = 10 ** (lib.loglam0 + 1e-4 * np.arange(lib.flux.shape[1]))
    span = np.log10(bs.SLOPE_BANDS["STAR"][1][0] / bs.SLOPE_BANDS["STAR"][0][1])

    def tilted(rng, inst, z_mix, star_types):
        rest = draw(rng, inst, z_mix, star_types)
        d = float(np.interp(_code(rest.labels["subclass"]) + 0.5, codes, delta))
        rest.flux = rest.flux * (wave[: rest.flux.size] / 6000.0) ** (d / span)
        return rest

    return tilted


def main(argv: list[str] | None = None) -> int:
    """Run every variant; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="simulated stars per variant")
    parser.add_argument("--data", default=str(bs.DEFAULT_DATA))
    parser.add_argument("--work", default=str(HERE / "results" / "simulator-work"))
    parser.add_argument("--out", default=str(HERE / "results" / "sim2real-variants.json"))
    parser.add_argument("--rst", default=None, help="also write the docs table here")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "lamost-dr10-afg" / "spectra").is_dir():
        print(f"skipped: {data / 'lamost-dr10-afg' / 'spectra'} not found")
        return 0
    from spectromer.datasets import simulate_survey
    from spectromer.evaluation import run_benchmark
    from spectromer.simulation import INSTRUMENTS, objects
    from spectromer.simulation import survey as survey_module

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    real, _ = bs.real_lamost(data, work, 2)
    feats_real = bs.spectrum_features(real, "STAR")
    types_real = np.asarray(real.labels("type")).astype(str)
    packaged = INSTRUMENTS["lamost"]
    saved = {k: getattr(objects, k) for k in ("SDSS_POOL_FRACTION", "LUMINOSITY")}
    draw_star = objects.DRAWERS["STAR"]
    results = {}
    offsets = None
    try:
        for k, (name, variant) in enumerate(VARIANTS.items()):
            changes = {c: v for c, v in variant.items() if c not in ("objects", "tilt")}
            INSTRUMENTS["lamost"] = dataclasses.replace(packaged, **changes)
            for key, value in {**saved, **variant.get("objects", {})}.items():
                setattr(objects, key, value)
            objects.DRAWERS["STAR"] = (
                _tilted_drawer(draw_star, *offsets) if variant.get("tilt") else draw_star
            )
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
            if k == 0:  # the packaged simulator's offsets, for the diagnostic variant
                offsets = _slope_offsets(feats_real, real, feats_sim, sim)
            types_sim = np.asarray(sim.labels("type")).astype(str)
            slope = {
                t: {
                    "real": float(np.nanmedian(np.asarray(feats_real["slope"])[types_real == t])),
                    "sim": float(np.nanmedian(np.asarray(feats_sim["slope"])[types_sim == t])),
                }
                for t in "AFG"
            }
            entry = {
                "changes": {c: (list(v) if isinstance(v, tuple) else v)
                            for c, v in {**changes, **variant.get("objects", {})}.items()},
                "diagnostic": bool(variant.get("tilt")),
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
        for key, value in saved.items():
            setattr(objects, key, value)
        objects.DRAWERS["STAR"] = draw_star
    command = " ".join(["python", "benchmarks/sim_to_real_variants.py",
                        *(argv if argv is not None else sys.argv[1:])])  # fmt: skip
    summary = {"n": args.n, "command": command,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "variants": results}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bs._write_atomic(out, json.dumps(summary, indent=1) + "\n")
    if args.rst:
        bs._write_atomic(Path(args.rst), render_rst(summary))
    print(f"wrote {out}" + (f" and {args.rst}" if args.rst else ""))
    return 0


def render_rst(summary: dict) -> str:
    """The variants as a docs table: accuracies and median slopes per type.

    Examples
    --------
    >>> v = {"accuracy": {"rf": 0.8, "svm": 0.7}, "diagnostic": False,
    ...      "slope_by_type": {t: {"real": -0.2, "sim": -0.1} for t in "AFG"}}
    >>> text = render_rst({"n": 10, "command": "c", "date": "d", "variants": {"x": v}})
    >>> text.splitlines()[0]
    '.. generated by benchmarks/sim_to_real_variants.py on d; do not edit.'
    """
    lines = [
        f".. generated by benchmarks/sim_to_real_variants.py on {summary['date']}; do not edit.",
        "",
        f"Measured with ``{summary['command']}``: {summary['n']} simulated LAMOST A/F/G stars "
        "per variant, the random forest and SVM of ``run_benchmark(quick=True)`` trained on "
        "them and tested on all real LAMOST DR10 spectra; the median continuum slope "
        "(log10 red/blue, as in the tables above) of the real and simulated stars per type.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - variant",
        "     - RF type accuracy",
        "     - SVM type accuracy",
        *[f"     - slope {t} real / sim" for t in "AFG"],
    ]
    for name, v in summary["variants"].items():
        label = f"*{name}* (uses the real labels)" if v.get("diagnostic") else name
        lines += [f"   * - {label}", f"     - {v['accuracy']['rf']:.3f}",
                  f"     - {v['accuracy']['svm']:.3f}"]  # fmt: skip
        for t in "AFG":
            sl = v["slope_by_type"][t]
            lines.append(f"     - {sl['real']:.2f} / {sl['sim']:.2f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
