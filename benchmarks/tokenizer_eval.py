"""How well a trained SpectrumTokenizer reconstructs held-out real spectra of every layout.

Usage (from the folder holding the datasets; see ``docs/tokenizer.rst``)::

    python benchmarks/tokenizer_eval.py \\
        --model docs/benchmark_results/tokenizer_type/pretrained/tokenizer \\
        --run docs/benchmark_results/tokenizer_type/results.json --lamost lamost.h5 \\
        --heldout real_held.h5 lamost_dr1.h5 --simulated sim_sdss_stars.h5 sim_desi_stars.h5 \\
        --trained-on real_train.h5 --out docs/benchmark_results/tokenizer_recon \\
        --rst docs/_tokenizer_reconstruction.rst [--threads 2]

The tokenizer is the one a ``spectromer benchmark --models tokenizer`` run trained and
saved (``OUT/pretrained/tokenizer``): on the training split of ``--lamost`` (the run's
``train_rows``) and its ``--pretrain-data``. Held out, never seen by it: the run's test
rows of ``--lamost`` and every spectrum of ``--heldout`` (real files of other layouts) and
``--simulated``. ``--trained-on`` names the real datasets it was trained on: a held-out
spectrum whose ``source`` file is among theirs stops the script.

For each group of spectra (survey and layout: LAMOST DR10, LAMOST DR1, SDSS, BOSS, DESI,
and the simulated sets; an SDSS-reader spectrum reaching beyond 9500 Angstrom is the BOSS
spectrograph's) it reports:

* the reduced chi-square of the reconstruction on the spectrum's own grid
  (:meth:`~spectromer.models.SpectrumTokenizer.reduced_chi2`): median and 16th/84th
  percentiles;
* the same for a *boxcar of one patch* (each good pixel replaced by the mean of the good
  pixels within half a patch of it), a yardstick: a reconstruction that keeps only what
  varies slower than a patch;
* grid-conditioned decoding on real data: the decoder queried at the midpoints between
  consecutive pixels (a grid it was never trained on), compared with the mean of the two
  neighbouring pixels (variance a quarter of the sum of theirs): median reduced
  chi-square.

It writes ``OUT/reconstruction.json`` (atomically), the gallery figure
``OUT/reconstructions.png`` (one held-out spectrum per real layout: flux, reconstruction
on its own grid and on a uniform 2 Angstrom grid, residuals in sigma) and, with ``--rst``,
the table of the docs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

#: Order of the groups in the table and the figure.
GROUPS = ("LAMOST DR10", "LAMOST DR1", "SDSS", "BOSS", "DESI")


def layout(survey: str, release: str, wave_max: float) -> str:
    """The group of a real spectrum: survey and layout.

    Examples
    --------
    >>> layout("SDSS", "v5_13_0", 10350.0), layout("LAMOST", "", 9100.0)
    ('BOSS', 'LAMOST DR1')
    """
    survey = survey.upper()
    if survey == "LAMOST":
        return "LAMOST DR10" if "DR10" in release.upper() else "LAMOST DR1"
    if survey == "SDSS":
        return "BOSS" if wave_max > 9500 else "SDSS"
    return survey


def boxcar(batch: Any, width: int) -> np.ndarray:
    """Per spectrum, the reduced chi-square of a boxcar of ``width`` good pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.spectra import SpectrumBatch
    >>> b = SpectrumBatch.from_rows([{"wave": np.arange(100.0) + 4000, "flux": np.ones(100),
    ...                               "ivar": np.ones(100)}])
    >>> boxcar(b, 32).tolist()
    [0.0]
    """
    from scipy.ndimage import uniform_filter1d

    good = batch.good
    flux = np.where(good, batch.flux, 0.0).astype(np.float64)
    w = good.astype(np.float64)
    num = uniform_filter1d(flux, width, axis=1, mode="constant")
    den = uniform_filter1d(w, width, axis=1, mode="constant")
    smooth = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    chi2 = np.where(good, (smooth - flux) ** 2 * batch.ivar, 0.0).sum(axis=1)
    return chi2 / np.maximum(good.sum(axis=1), 1)


def midpoint_chi2(tok: Any, source: Any) -> np.ndarray:
    """Per spectrum, the reduced chi-square of the decoder at the pixel midpoints."""
    batch = source.batch(np.arange(len(source)))
    grids, keep = [], []
    for row in range(len(batch)):
        n = int(batch.length[row])
        wave = batch.wave[row, :n]
        good = batch.good[row, :n]
        pair = good[:-1] & good[1:]
        grids.append(0.5 * (wave[:-1] + wave[1:]))
        keep.append(pair)
    recon = tok.reconstruct(source, wavelength=grids)
    out = np.full(len(batch), np.nan)
    for row, (rec, pair) in enumerate(zip(recon, keep, strict=True)):
        n = int(batch.length[row])
        f, iv = batch.flux[row, :n].astype(float), batch.ivar[row, :n].astype(float)
        with np.errstate(divide="ignore"):
            var = 0.25 * (1 / iv[:-1] + 1 / iv[1:])
        mean = 0.5 * (f[:-1] + f[1:])
        if pair.any():
            out[row] = np.mean((rec[pair] - mean[pair]) ** 2 / var[pair])
    return out


def _groups(ds: Any, rows: np.ndarray, fixed: str | None) -> dict[str, np.ndarray]:
    """Rows of ``ds`` by group (``fixed``: one group of that name)."""
    if fixed is not None:
        return {fixed: rows}
    meta = ds.meta
    batch = ds.batch(rows)
    wave_max = np.array([np.nanmax(np.where(batch.good[i], batch.wave[i], np.nan))
                         for i in range(len(rows))])  # fmt: skip
    release = meta["data_release"] if "data_release" in meta.colnames else [""] * len(ds)
    names = [layout(str(meta["survey"][r]), str(release[r]), float(w))
             for r, w in zip(rows.tolist(), wave_max, strict=True)]  # fmt: skip
    out: dict[str, list[int]] = {}
    for r, name in zip(rows.tolist(), names, strict=True):
        out.setdefault(name, []).append(r)
    return {k: np.asarray(v, np.int64) for k, v in out.items()}


def _summary(values: np.ndarray) -> dict[str, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"median": float("nan"), "p16": float("nan"), "p84": float("nan")}
    p16, med, p84 = np.percentile(v, [16, 50, 84])
    return {"median": float(med), "p16": float(p16), "p84": float(p84)}


def evaluate(tok: Any, sets: list[tuple[str, Any, np.ndarray, str | None]],
             patch: int) -> tuple[list[dict], dict]:  # fmt: skip
    """Metrics per group, and one example spectrum per real group for the figure."""
    from spectromer.spectra import as_source

    rows_out: list[dict] = []
    examples: dict[str, tuple[Any, int]] = {}
    for name, ds, rows, fixed in sets:
        for group, g_rows in _groups(ds, rows, fixed).items():
            src = as_source(ds, indices=g_rows)
            chi2 = tok.reduced_chi2(src)
            box = boxcar(src.batch(np.arange(len(src))), patch)
            mid = midpoint_chi2(tok, src)
            rows_out.append({
                "group": group, "data": name, "n": int(len(g_rows)),
                "reduced_chi2": _summary(chi2), "boxcar_chi2": _summary(box),
                "midpoint_chi2": _summary(mid),
                "better_than_boxcar": float(np.mean(chi2 < box)),
                "per_spectrum": [None if not np.isfinite(c) else round(float(c), 4)
                                 for c in chi2],
            })  # fmt: skip
            if fixed is None and group not in examples:
                # the spectrum of median reconstruction quality
                order = np.argsort(np.where(np.isfinite(chi2), chi2, np.inf))
                examples[group] = (ds, int(g_rows[order[(np.isfinite(chi2).sum() - 1) // 2]]))
    return rows_out, examples


def gallery(tok: Any, examples: dict, path: Path) -> None:
    """One held-out real spectrum per layout: flux, reconstructions, residuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spectromer.evaluation import plot_reconstructions
    from spectromer.spectra import ConcatSource, as_source
    from spectromer.utils.atomic import atomic_path

    names = [g for g in GROUPS if g in examples]
    parts = [as_source(examples[g][0], indices=[examples[g][1]]) for g in names]
    source = ConcatSource(parts)
    titles = [f"{g}: {b}" for g, b in zip(names, source.batch(np.arange(len(source))).names,
                                          strict=True)]  # fmt: skip
    fig = plot_reconstructions(tok, source, titles=titles)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def rst_table(result: dict) -> str:
    """The docs' table of the reconstruction metrics."""
    from spectromer.evaluation.report import rst_list_table

    def cell(s: dict) -> str:
        return f"{s['median']:.2f} ({s['p16']:.2f} - {s['p84']:.2f})"

    rows = [[r["group"], r["data"], r["n"], cell(r["reduced_chi2"]), cell(r["boxcar_chi2"]),
             f"{r['better_than_boxcar']:.2f}", f"{r['midpoint_chi2']['median']:.2f}"]
            for r in result["groups"]]  # fmt: skip
    tok = result["tokenizer"]
    lines = [
        ".. This file is generated by benchmarks/tokenizer_eval.py; do not edit it by hand.",
        "",
        f"Tokenizer: ``{tok['path']}`` (width {tok['config']['width']}, "
        f"{tok['config']['depth']} + {tok['config']['decoder_depth']} layers, patches of "
        f"{tok['config']['patch_size']} pixels; trained on {tok['n_spectra']} spectra, "
        f"final validation chi2 {tok['final_val_loss']}). Reduced chi-square: median "
        "(16th - 84th percentile) over the held-out spectra of each group.",
        "",
    ]
    lines += rst_list_table(["group", "data", "n", "tokenizer, own grid", "boxcar of a patch",
                          "fraction better than boxcar", "decoded at pixel midpoints"],
                         rows)  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a saved SpectrumTokenizer folder")
    p.add_argument("--run", required=True, help="results.json of the run that trained it")
    p.add_argument("--lamost", required=True, help="the run's training dataset (its test rows)")
    p.add_argument("--heldout", nargs="*", default=[], help="real datasets never trained on")
    p.add_argument("--simulated", nargs="*", default=[], help="simulated datasets, held out")
    p.add_argument("--trained-on", nargs="*", default=[], help="real datasets trained on")
    p.add_argument("--out", required=True)
    p.add_argument("--rst", default=None)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch

    from spectromer.datasets import SpectraDataset
    from spectromer.models import SpectrumTokenizer
    from spectromer.utils.atomic import atomic_path

    torch.set_num_threads(args.threads)
    run = json.loads(Path(args.run).read_text())
    if Path(args.lamost).name != Path(run["data"]["train"]).name:
        raise SystemExit(f"--lamost {args.lamost} is not the run's training data "
                         f"{run['data']['train']!r}")  # fmt: skip
    tok = SpectrumTokenizer.load(args.model, device="cpu")
    tok.set_params(progress=False, batch_size=16)
    lamost = SpectraDataset(args.lamost)
    test_rows = np.asarray(run["data"]["split"]["test_rows"], np.int64)
    seen = set()
    for path in args.trained_on:
        seen |= {str(s) for s in SpectraDataset(path).meta["source"]}
    sets = [(Path(args.lamost).name, lamost, test_rows, None)]
    for path in args.heldout:
        ds = SpectraDataset(path)
        overlap = seen & {str(s) for s in ds.meta["source"]}
        if overlap:
            raise SystemExit(f"{path}: {len(overlap)} spectra were trained on "
                             f"({sorted(overlap)[:3]}); they are not held out")  # fmt: skip
        sets.append((Path(path).name, ds, np.arange(len(ds)), None))
    for path in args.simulated:
        ds = SpectraDataset(path)
        survey = str(ds.meta["survey"][0])
        sets.append((Path(path).name, ds, np.arange(len(ds)), f"simulated {survey}"))
    groups, examples = evaluate(tok, sets, tok.tokenizer_config_.patch_size)
    order = {g: i for i, g in enumerate(GROUPS)}
    groups.sort(key=lambda r: (order.get(r["group"], len(order)), r["group"]))
    result = {
        "tokenizer": {"path": os.path.relpath(args.model, ROOT) if Path(args.model).is_absolute()
                      else args.model, "config": tok.tokenizer_config_.to_dict(),
                      "n_spectra": tok.n_spectra_,
                      "final_val_loss": round(float(tok.history_[-1].get("val_loss", np.nan)), 3),
                      "epochs": len(tok.history_)},
        "run": args.run,
        "groups": groups,
    }  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "reconstruction.json") as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    gallery(tok, examples, out / "reconstructions.png")
    print(rst_table(result))
    if args.rst:
        with atomic_path(Path(args.rst)) as tmp:
            tmp.write_text(rst_table(result))
        print(f"wrote {args.rst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
