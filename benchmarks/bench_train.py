"""Benchmark training and inference speed of SpectromerModel on this machine's CPU.

Usage::

    python benchmarks/bench_train.py [--models vit_tiny_patch16_224 vit_small_patch16_224]
                                     [--precisions fp32 bf16] [--steps 5] [--warmup-steps 2]
                                     [--batch-size 32] [--repeat 2] [--retries 3]
                                     [--num-workers 0] [--device cpu] [--quick] [--strict]
                                     [--out PATH] [--rst PATH]

Uses the bundled LAMOST sample (:func:`spectromer.datasets.load_sample`, label
``type``), so it runs anywhere without a download. For every backbone (full depth,
from scratch: ``pretrained=False``) and precision (``fp32``; ``bf16`` is CPU autocast
on a CPU), with ``map2dnormaldev`` images of 224 x 224 rendered on the fly from the
HDF5 dataset (default augmentations on) by the real training engine:

* **training**: one :meth:`SpectromerModel.fit <spectromer.SpectromerModel.fit>` of
  ``--warmup-steps`` batches to warm up (thread pools, oneDNN kernels, allocator),
  then a timed ``fit`` of ``--steps`` batches (``epochs=1``,
  ``validation_fraction=0``). Images per second and the fraction of the step time
  spent waiting for data (loading, augmenting and rendering: ``data_fraction``) come
  from the fit's ``history_``, as the engine measures them;
* **inference**: :func:`spectromer.training.predict_outputs` (what
  :meth:`~spectromer.SpectromerModel.predict` runs) over the same number of spectra
  with the fitted network, after one warm-up batch; images per second include the
  rendering;
* **rendering alone**: the training batches (augmented) rendered without a model,
  images per second in this process.

The timed fit and the inference run ``--repeat`` times per setting, round robin over
the settings (so that load from other processes on a shared machine hits all of them
alike), and the fastest run of each is reported; every run is kept in the JSON. The
CPU time other processes take during each timed fit is measured (from ``/proc/stat``):
a setting whose fastest run they disturbed (more than 10% of the CPUs) gets up to
``--retries`` more runs, and a warning says when even those were disturbed.

Prints a table, the bf16/fp32 speed ratios (from the same run), and PASS or FAIL
for the target of the issue: a data-loading fraction of the training step time
under 10% for every setting. Writes everything, with the machine (cores, threads,
torch version, CPU capability and whether the CPU has bf16 instructions), to
``benchmarks/results/train.json`` (atomically) and, with ``--rst``, a table for
the docs (``docs/_train_benchmark.rst``). ``--quick`` is a smoke run (2 steps of
8 after 1 warm-up step, no repeat) that writes no JSON unless ``--out`` is given. Exits 0, or
1 with ``--strict`` when the target fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = ("vit_tiny_patch16_224", "vit_small_patch16_224")
PRECISIONS = ("fp32", "bf16")
KIND = "map2dnormaldev"
SIZE = 224
LABEL = "type"
TARGET_DATA_FRACTION = 0.10
#: Share of the CPUs used by other processes above which a run counts as disturbed.
BUSY = 0.10


def _cpu_flags() -> set[str]:
    """The CPU feature flags from /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine(device) -> dict:
    import timm
    import torch

    flags = _cpu_flags()
    try:
        mkldnn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        mkldnn_bf16 = None
    info = {
        "cpu": _cpu_name(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # native bf16 arithmetic: AVX512-BF16 dot products or AMX tiles (Linux flags)
        "cpu_bf16_flags": sorted(f for f in flags if "bf16" in f),
        "cpu_has_bf16": bool({"avx512_bf16", "amx_bf16"} & flags) if flags else None,
        "cpu_has_amx": "amx_tile" in flags if flags else None,
        "onednn_bf16_supported": mkldnn_bf16,
        "device": str(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "numpy": np.__version__,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds used by the whole machine, by this process and its children) so far.

    From ``/proc/stat`` (Linux); None elsewhere. Their difference over a run is the CPU
    time other processes took from the benchmark.
    """
    import resource

    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]
    ours = sum(
        getattr(resource.getrusage(who), key)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for key in ("ru_utime", "ru_stime")
    )
    return busy / os.sysconf("SC_CLK_TCK"), ours


def _others_share(before, after, seconds: float) -> float | None:
    """Share of the machine's CPUs that other processes used between two _cpu_seconds()."""
    if before is None or after is None or seconds <= 0:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0.0, others / (seconds * cpus))


def _load() -> tuple[float, ...]:
    return tuple(round(x, 2) for x in os.getloadavg()) if hasattr(os, "getloadavg") else ()


def _rows(ds, n: int, seed: int) -> np.ndarray:
    """``n`` rows of the sample in a fixed random order (all classes in any prefix)."""
    order = np.random.default_rng(seed).permutation(len(ds))
    return np.resize(order, n)


def _estimator(backbone: str, precision: str, args, **extra):
    from spectromer import SpectromerModel

    return SpectromerModel(
        backbone=backbone,
        pretrained=False,
        representation=KIND,
        image_size=SIZE,
        epochs=1,
        batch_size=args.batch_size,
        validation_fraction=0.0,
        augment=True,
        device=args.device,
        precision=precision,
        num_workers=args.num_workers,
        random_state=0,
        progress=False,
        **extra,
    )


def _render_rate(ds, config, augment, rows: np.ndarray, batch_size: int) -> float:
    """Images/s of loading + augmenting + rendering the training batches, no model."""
    from spectromer.spectra import as_source
    from spectromer.training import RenderedBatches, as_augmentation

    data = RenderedBatches(
        as_source(ds, indices=rows),
        config,
        np.zeros(len(rows), np.int64),
        as_augmentation(augment),
        seed=0,
    )
    batches = np.array_split(np.arange(len(rows)), range(batch_size, len(rows), batch_size))
    data[batches[0]]  # warm-up
    t0 = time.perf_counter()
    for b in batches:
        data[b]
    return len(rows) / (time.perf_counter() - t0)


def _infer_rate(model, ds, rows: np.ndarray, args) -> float:
    """Images/s of predict_outputs (rendering included) with the fitted network."""
    from spectromer.training import (
        RenderedBatches,
        as_source,
        autocast_dtype,
        predict_outputs,
        select_device,
    )

    device = select_device(model.device)
    dtype = autocast_dtype(model.precision, device)

    def run(r):
        data = RenderedBatches(as_source(ds, indices=r), model.render_config_)
        out, rate = predict_outputs(
            model.model_, data, args.batch_size, device, dtype, args.num_workers
        )
        assert out.shape == (len(r), len(model.classes_)) and np.isfinite(out).all()
        return rate

    run(rows[: args.batch_size])  # warm-up
    return run(rows)


def _warm_up(ds, backbone: str, precision: str, args) -> None:
    """An untimed fit of ``--warmup-steps`` batches (kernels, thread pools, allocator)."""
    warm = _estimator(backbone, precision, args)
    warm.fit(ds, LABEL, indices=_rows(ds, args.warmup_steps * args.batch_size, seed=1))


def _measure(ds, backbone: str, precision: str, args) -> dict:
    """One timed fit of ``--steps`` batches, then inference over the same spectra."""
    from spectromer.models import model_info

    rows = _rows(ds, args.steps * args.batch_size, seed=0)
    model = _estimator(backbone, precision, args)
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    model.fit(ds, LABEL, indices=rows)
    fit_seconds = time.perf_counter() - t0
    others = _others_share(cpu0, _cpu_seconds(), fit_seconds)
    (record,) = model.history_
    return {
        "model": backbone,
        "params_m": round(model_info(model.model_)["n_params"] / 1e6, 2),
        "precision": precision,
        "train_images_per_s": record["images_per_s"],
        "step_seconds": record["seconds"] / args.steps,
        "data_fraction": record["data_fraction"],
        "train_loss": record["train_loss"],
        "fit_seconds": fit_seconds,
        "others_cpu_share": others,
        "inference_images_per_s": _infer_rate(model, ds, rows, args),
        "_model": model,
        "_render": (model.render_config_, model.augment, rows),
    }


def _best(runs: list[dict], ds, args) -> dict:
    """The fastest of the repeats of one setting (the least disturbed by other processes)."""
    train = max(runs, key=lambda r: r["train_images_per_s"])
    best = {
        "model": train["model"],
        "params_m": train["params_m"],
        "precision": train["precision"],
        "steps": args.steps,
        "batch_size": args.batch_size,
        "train_images_per_s": round(train["train_images_per_s"], 2),
        "step_seconds": round(train["step_seconds"], 3),
        "data_fraction": round(train["data_fraction"], 4),
        "data_fraction_pass": train["data_fraction"] < TARGET_DATA_FRACTION,
        "train_loss": round(train["train_loss"], 4),
        "fit_seconds": round(train["fit_seconds"], 2),
        "others_cpu_share": None
        if train["others_cpu_share"] is None
        else round(train["others_cpu_share"], 3),
        "inference_images_per_s": round(max(r["inference_images_per_s"] for r in runs), 2),
        "render_images_per_s": round(_render_rate(ds, *train["_render"], args.batch_size), 1),
        "repeats": {
            key: [None if r[key] is None else round(r[key], 4) for r in runs]
            for key in (
                "train_images_per_s",
                "data_fraction",
                "inference_images_per_s",
                "others_cpu_share",
            )
        },
    }
    return best


def _ratios(rows: list[dict]) -> list[dict]:
    """bf16/fp32 speed ratios per model (from this run)."""
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        by = {r["precision"]: r for r in rows if r["model"] == name}
        if "fp32" in by and "bf16" in by:
            out.append(
                {
                    "model": name,
                    "train_bf16_over_fp32": round(
                        by["bf16"]["train_images_per_s"] / by["fp32"]["train_images_per_s"], 2
                    ),
                    "inference_bf16_over_fp32": round(
                        by["bf16"]["inference_images_per_s"] / by["fp32"]["inference_images_per_s"],
                        2,
                    ),
                }
            )
    return out


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), metavar="BACKBONE")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 5)")
    parser.add_argument(
        "--warmup-steps", type=int, default=None, help="untimed steps first (default 2)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="spectra per step (32)")
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed runs per setting, best kept (default 2)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=None,
        help="extra runs for a setting whose fastest run other processes disturbed (default 3)",
    )
    parser.add_argument("--num-workers", type=int, default=0, help="data-loader processes")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 steps of 8, 1 warm-up step, 1 run"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target fails")
    parser.add_argument(
        "--out", default=None, help="results JSON (default benchmarks/results/train.json)"
    )
    parser.add_argument(
        "--rst", default=None, help="also write the table as reStructuredText (for the docs)"
    )
    args = parser.parse_args()
    quick = dict(steps=2, warmup_steps=1, batch_size=8, repeat=1, retries=0)
    full = dict(steps=5, warmup_steps=2, batch_size=32, repeat=2, retries=3)
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("steps", "batch_size", "repeat"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.warmup_steps < 1:
        parser.error("--warmup-steps must be >= 1 (the first step is always slow)")
    if args.num_workers < 0 or args.retries < 0:
        parser.error("--num-workers and --retries must be >= 0")
    out = args.out
    if out is None and not args.quick:
        out = str(HERE / "results" / "train.json")

    from spectromer.datasets import load_sample
    from spectromer.training import select_device

    try:
        device = select_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    machine = _machine(device)
    ds = load_sample()
    print(
        f"{machine['cpu']} ({machine['cpus_available']} CPUs, torch {machine['torch']} with "
        f"{machine['torch_threads']} threads, {machine['torch_cpu_capability']}, bf16 "
        f"instructions: {machine['cpu_has_bf16']}); device {device}; {len(ds)} bundled "
        f"spectra, {KIND} {SIZE}x{SIZE}, batch {args.batch_size}, {args.warmup_steps} warm-up "
        f"+ {args.steps} timed steps, {args.num_workers} data-loader workers",
        flush=True,
    )
    load_before = _load()
    if load_before and load_before[0] > 0.5:
        print(
            f"warning: load average {load_before[0]} before starting: if other processes keep "
            "using the CPU, the timings below are pessimistic",
            flush=True,
        )
    t_start = time.perf_counter()
    warnings.simplefilter("ignore", RuntimeWarning)  # blank-spectrum warnings etc.
    settings = [(b, p) for b in args.models for p in args.precisions]
    runs: dict[tuple[str, str], list[dict]] = {key: [] for key in settings}
    # round robin, so that a burst of load from other processes hits every setting alike
    for repeat in range(args.repeat):
        for backbone, precision in settings:
            if repeat == 0:
                _warm_up(ds, backbone, precision, args)
            run = _measure(ds, backbone, precision, args)
            runs[backbone, precision].append(run)
            print(
                f"  [{repeat + 1}/{args.repeat}] {backbone:24s} {precision}: train "
                f"{run['train_images_per_s']:7.1f} img/s (data "
                f"{100 * run['data_fraction']:.1f}% of the step time), inference "
                f"{run['inference_images_per_s']:7.1f} img/s"
                + (
                    ""
                    if run["others_cpu_share"] is None
                    else f"; other processes used {100 * run['others_cpu_share']:.0f}% of the CPU"
                ),
                flush=True,
            )
            del run["_model"]  # one network in memory at a time
    # a setting whose fastest run was slowed by other processes gets more runs
    for extra in range(args.retries):
        for backbone, precision in settings:
            best = max(runs[backbone, precision], key=lambda r: r["train_images_per_s"])
            if (best["others_cpu_share"] or 0.0) <= BUSY:
                continue
            run = _measure(ds, backbone, precision, args)
            runs[backbone, precision].append(run)
            print(
                f"  [extra {extra + 1}] {backbone:24s} {precision}: train "
                f"{run['train_images_per_s']:7.1f} img/s, inference "
                f"{run['inference_images_per_s']:7.1f} img/s; other processes used "
                f"{100 * (run['others_cpu_share'] or 0.0):.0f}% of the CPU",
                flush=True,
            )
            del run["_model"]
    rows = [_best(runs[key], ds, args) for key in settings]
    total_seconds = time.perf_counter() - t_start
    ratios = _ratios(rows)
    worst = max(rows, key=lambda r: r["data_fraction"])
    targets = {
        "data_fraction_target": TARGET_DATA_FRACTION,
        "data_fraction_max": worst["data_fraction"],
        "data_fraction_pass": all(r["data_fraction_pass"] for r in rows),
    }
    _print_table(rows)
    for r in ratios:
        print(
            f"bf16/fp32 {r['model']}: training x{r['train_bf16_over_fp32']:.2f}, inference "
            f"x{r['inference_bf16_over_fp32']:.2f}"
        )
    shares = [r["others_cpu_share"] for r in rows if r["others_cpu_share"] is not None]
    others_max = max(shares) if shares else None
    if others_max is not None and others_max > BUSY:
        print(
            f"\nwarning: other processes used up to {100 * others_max:.0f}% of the CPU during "
            "the kept runs: the speeds are too low and the ratios uncertain; rerun on a quiet "
            "machine (or with more --repeat)"
        )
    print(
        f"\n{'PASS' if targets['data_fraction_pass'] else 'FAIL'}: data loading takes at most "
        f"{100 * worst['data_fraction']:.1f}% of the training step time "
        f"({worst['model']} {worst['precision']}; target < {100 * TARGET_DATA_FRACTION:.0f}%)"
    )
    result = {
        "dataset": f"bundled LAMOST sample ({len(ds)} spectra), label {LABEL!r}",
        "representation": KIND,
        "size": SIZE,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "repeat": args.repeat,
        "retries": args.retries,
        "num_workers": args.num_workers,
        "augment": True,
        "pretrained": False,
        "machine": machine,
        "load_average_before": load_before,
        "load_average_after": _load(),
        "total_seconds": round(total_seconds, 1),
        "others_cpu_share_max": others_max,
        "results": rows,
        "ratios": ratios,
        "targets": targets,
    }
    if args.rst:
        path = Path(args.rst)
        _write_atomic(path, _rst(result))
        print(f"wrote {path}")
    if out:
        _write_atomic(Path(out), json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    return 1 if (args.strict and not targets["data_fraction_pass"]) else 0


def _rst(result: dict) -> str:
    """The results as a reStructuredText table (included by docs/training.rst)."""
    m = result["machine"]
    bf16 = {True: "with", False: "without", None: "unknown"}[m["cpu_has_bf16"]]
    lines = [
        f".. generated by benchmarks/bench_train.py on {m['cpu']} ({m['cpus_available']} CPUs), "
        f"Python {m['python']}, torch {m['torch']}, timm {m['timm']}",
        "",
        f"{m['cpu']}, {m['cpus_available']} cores ({m['torch_threads']} torch threads, "
        f"{m['torch_cpu_capability']}, {bf16} bf16 instructions"
        f"{', no AMX' if m['cpu_has_amx'] is False else ''}), torch {m['torch']}. Models from "
        f"scratch at full depth, {result['representation']} images of "
        f"{result['size']}x{result['size']} rendered on the fly from the bundled sample with "
        f"augmentations, batches of {result['batch_size']}, {result['warmup_steps']} warm-up "
        f"and {result['steps']} timed steps, {result['num_workers']} data-loader workers. "
        "*Data* is the share of the training step time spent loading, augmenting and "
        "rendering; inference includes the rendering.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - backbone",
        "     - parameters",
        "     - precision",
        "     - training (images/s)",
        "     - step (s)",
        "     - data",
        "     - inference (images/s)",
        "     - rendering alone (images/s)",
    ]
    for r in result["results"]:
        lines += [
            f"   * - {r['model']}",
            f"     - {r['params_m']:.1f} M",
            f"     - {r['precision']}",
            f"     - {r['train_images_per_s']:.1f}",
            f"     - {r['step_seconds']:.2f}",
            f"     - {100 * r['data_fraction']:.1f}%",
            f"     - {r['inference_images_per_s']:.1f}",
            f"     - {r['render_images_per_s']:,.0f}",
        ]
    if result["ratios"]:
        parts = [
            f"{r['model']} x{r['train_bf16_over_fp32']:.2f} training, "
            f"x{r['inference_bf16_over_fp32']:.2f} inference"
            for r in result["ratios"]
        ]
        lines += ["", "bf16 autocast over fp32 (same run): " + "; ".join(parts) + "."]
    if result.get("others_cpu_share_max") is not None:
        lines += [
            "",
            "Other processes used at most "
            f"{100 * result['others_cpu_share_max']:.0f}% of the CPUs during the kept runs "
            f"(the fastest of {result['repeat']} or more per setting).",
        ]
    t = result["targets"]
    lines += [
        "",
        f"Target: data loading under {100 * t['data_fraction_target']:.0f}% of the training "
        f"step time (measured at most {100 * t['data_fraction_max']:.1f}%: "
        f"{'met' if t['data_fraction_pass'] else 'not met'}).",
    ]
    return "\n".join(lines) + "\n"


def _print_table(rows: list[dict]) -> None:
    from astropy.table import Table

    keys = [
        "model",
        "precision",
        "train_images_per_s",
        "step_seconds",
        "data_fraction",
        "inference_images_per_s",
        "render_images_per_s",
    ]
    table = Table(rows=[{k: r[k] for k in keys} for r in rows], names=keys)
    table["train_images_per_s"].format = ".1f"
    table["inference_images_per_s"].format = ".1f"
    table["render_images_per_s"].format = ",.0f"
    table["data_fraction"].format = ".3f"
    print(
        f"\nimages per second ({KIND} {SIZE}x{SIZE} rendered on the fly; data_fraction: "
        "share of the training step time spent waiting for data)\n"
    )
    table.pprint_all()
    print()


if __name__ == "__main__":
    sys.exit(main())
