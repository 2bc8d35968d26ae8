"""Self-supervised training and embedding throughput of the native-grid encoders here.

Usage::

    python benchmarks/bench_specformer.py [--n 256] [--threads 2] [--device auto]
        [--settings small-native small-desi astroclip-desi] [--repeat 2]
        [--out benchmarks/results/specformer_speed.json] [--rst docs/_specformer_speed.rst]
    python benchmarks/bench_specformer.py --settings tokenizer-default tokenizer-paper \
        --out benchmarks/results/tokenizer_speed.json --rst docs/_tokenizer_speed.rst

Spectra: the bundled LAMOST sample (:func:`spectromer.datasets.load_sample`, 3909
pixels, 390 tokens), so it runs anywhere. Settings (``config``-``grid``):

* ``small-native``: the ``small`` configuration (width 128, 2 blocks) on the native
  LAMOST pixels: what ``spectromer benchmark --models specformer`` trains here;
* ``small-desi``: the same model on the spectra resampled to DESI's 7781-pixel grid
  (778 tokens; :func:`spectromer.models.specformer_learner.to_desi_grid`);
* ``astroclip-desi``: the published configuration (width 768, 6 blocks, 43 M
  parameters) on the DESI grid, as the published weights expect;
* ``tokenizer-default``: :class:`~spectromer.models.SpectrumTokenizer` in the benchmark's
  CPU configuration (width 128, 4 + 2 layers, patches of 32);
* ``tokenizer-paper``: the tokenizer in the paper's architecture (width 512, 6 + 6
  layers, 8 heads).

For each: ``fit`` of its learner (:class:`~spectromer.models.SpecFormerEncoder`'s
masked-token pretraining, or the tokenizer's chi-square reconstruction; one epoch of
``--n`` spectra, no validation split) after a one-epoch warm-up fit on 16 spectra, and
``transform`` (the mean-pooled embedding) of the same ``--n``; spectra per second from
wall time, the fastest of ``--repeat`` runs (every run kept in the JSON). With a GPU
(``--device auto`` picks it) the precision is the learner's ``auto`` (bf16 autocast on
CUDA). Writes the JSON atomically and, with ``--rst``, the table of the docs
(``docs/astroclip.rst``, ``docs/tokenizer.rst``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SETTINGS = {
    "small-native": {"config": "small", "grid": "native"},
    "small-desi": {"config": "small", "grid": "desi"},
    "astroclip-desi": {"config": "astroclip", "grid": "desi"},
    "tokenizer-default": {"width": 128, "depth": 4, "decoder_depth": 2, "heads": 4},
    "tokenizer-paper": {"width": 512, "depth": 6, "decoder_depth": 6, "heads": 8},
}


def _learner(name: str) -> Any:
    from spectromer.models import SpecFormerEncoder, SpectrumTokenizer

    return SpectrumTokenizer if name.startswith("tokenizer") else SpecFormerEncoder


def _shape(enc: Any, one: Any) -> tuple[int, int, int, Any]:
    """Tokens of one spectrum, width, layers and the network of a fitted encoder."""
    if hasattr(enc, "tokenizer_config_"):
        cfg = enc.tokenizer_config_
        tokens = int(enc.encode(one)[0].tokens.shape[0])
        return tokens, cfg.width, cfg.depth + cfg.decoder_depth, enc.model_
    cfg = enc.specformer_config_
    tokens = int(enc.embed(one)[0].shape[0])
    return tokens, cfg.embed_dim, cfg.num_layers, enc.model_.specformer


def measure(name: str, n: int, device: str, repeat: int) -> dict[str, Any]:
    """Time one setting of :data:`SETTINGS`: pretraining and embedding spectra/s.

    Examples
    --------
    >>> r = measure("small-native", 8, "cpu", 1)  # doctest: +SKIP
    """
    import numpy as np

    from spectromer.datasets import load_sample
    from spectromer.spectra import as_source

    ds = load_sample()
    rows = np.arange(n) % len(ds)
    data = as_source(ds, indices=rows)
    warm = as_source(ds, indices=rows[:16])
    params = dict(SETTINGS[name], epochs=1, batch_size=32, validation_fraction=0.0,
                  warmup=0.0, device=device, progress=False, random_state=0)  # fmt: skip
    learner = _learner(name)
    enc = learner(**params).fit(warm)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        enc = learner(**params).fit(data)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        emb = enc.transform(data)
        embed_s = time.perf_counter() - t0
        runs.append({"fit_seconds": round(fit_s, 3), "embed_seconds": round(embed_s, 3)})
    best_fit = min(r["fit_seconds"] for r in runs)
    best_embed = min(r["embed_seconds"] for r in runs)
    tokens, width, layers, network = _shape(enc, as_source(ds, indices=rows[:1]))
    n_params = sum(p.numel() for p in network.parameters())
    return {
        "setting": name,
        **SETTINGS[name],
        "n": n,
        "embedding_tokens": tokens,
        "embed_dim": int(width),
        "num_layers": int(layers),
        "parameters": int(n_params),
        "embedding_shape": list(emb.shape),
        "device": enc.device_,
        "precision": enc.precision_,
        "pretrain_per_s": round(n / best_fit, 2),
        "embed_per_s": round(n / best_embed, 2),
        "runs": runs,
    }


def render_rst(result: dict[str, Any]) -> str:
    """The docs table.

    Examples
    --------
    >>> text = render_rst({"command": "c", "date": "d", "machine": {"cpus": 2},
    ...                    "rows": []})
    >>> text.splitlines()[0]
    '.. generated by benchmarks/bench_specformer.py on d; do not edit.'
    """
    from spectromer.evaluation.report import rst_list_table

    lines = [
        f".. generated by benchmarks/bench_specformer.py on {result['date']}; do not edit.",
        "",
        f"Measured with ``{result['command']}`` ({result['machine'].get('cpus')} usable "
        f"CPU cores, {result['machine'].get('threads')} PyTorch threads, "
        f"{result['machine'].get('gpu') or 'no GPU'}), {result['date']}: one epoch of "
        "self-supervised training (SpecFormer's masked-token pretraining, the tokenizer's "
        "chi-square reconstruction) and the embedding of the same spectra (the bundled "
        "LAMOST sample), the fastest of the runs.",
        "",
    ]
    header = ["setting", "tokens", "parameters", "device / precision",
              "training [spectra/s]", "embedding [spectra/s]"]  # fmt: skip
    rows = [[f"``{r['setting']}``", r["embedding_tokens"], f"{r['parameters'] / 1e6:.2f} M",
             f"{r['device']} / {r['precision']}", f"{r['pretrain_per_s']:.1f}",
             f"{r['embed_per_s']:.1f}"] for r in result["rows"]]  # fmt: skip
    return "\n".join(lines + rst_list_table(header, rows))


def _atomic(path: Path, text: str) -> None:
    from spectromer.utils.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; return the exit status."""
    import shlex
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="spectra per timed run")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--out", default=str(HERE / "results" / "specformer_speed.json"))
    parser.add_argument("--rst", default=None, help="also write the docs table here")
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeat < 1 or args.threads < 1:
        parser.error("--n, --repeat and --threads must be at least 1")
    import torch

    torch.set_num_threads(args.threads)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    rows = []
    for name in args.settings:
        row = measure(name, args.n, args.device, args.repeat)
        rows.append(row)
        print(f"{name:16s} {row['device']}/{row['precision']}: pretraining "
              f"{row['pretrain_per_s']:.1f}/s, embedding {row['embed_per_s']:.1f}/s",
              flush=True)  # fmt: skip
    result = {
        "command": shlex.join(["python", "benchmarks/bench_specformer.py",
                               *(argv if argv is not None else sys.argv[1:])]),  # fmt: skip
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "threads": args.threads,
                    "processor": platform.processor() or platform.machine(), "gpu": gpu,
                    "torch": torch.__version__},  # fmt: skip
        "rows": rows,
    }
    _atomic(Path(args.out), json.dumps(result, indent=1) + "\n")
    if args.rst:
        _atomic(Path(args.rst), render_rst(result))
    print(f"wrote {args.out}" + (f" and {args.rst}" if args.rst else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
