"""Worker of the DDP tests (run by torchrun): ``_ddp_worker.py OUT [vit|tokenizer]``.

Each of the processes fits the same tiny learner under DistributedDataParallel (gloo
backend on the CPU): a SpectromerModel (tests/test_estimator.py) or a SpectrumTokenizer
on spectra of two lengths (tests/test_tokenizer.py). It writes a digest of its final
weights and its validation history to ``OUT/rank<k>.json``; rank 0 also saves the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np

from spectromer import SpectromerModel
from spectromer.datasets import load_sample


def _tokenizer(ds, rows):
    from spectromer.models import SpectrumTokenizer
    from spectromer.spectra import SpectrumBatch, as_source

    batch = ds.batch(rows)
    short = SpectrumBatch.from_rows([{"wave": batch.wave[i, :2000], "flux": batch.flux[i, :2000],
                                      "ivar": batch.ivar[i, :2000]} for i in range(16)])
    return SpectrumTokenizer(
        patch_size=32, width=16, depth=1, decoder_depth=1, heads=2, epochs=2, batch_size=8,
        validation_fraction=0.25, device="cpu", random_state=0, progress=False,
    ).fit([as_source(ds, indices=rows), as_source(short)])


def main(out: str, kind: str = "vit") -> None:
    rank = int(os.environ["RANK"])
    ds = load_sample()
    rows = ds.load_split("default")["train"][::6]
    if kind == "tokenizer":
        model = _tokenizer(ds, rows)
    else:
        model = _vit(ds, rows)
    state = model.model_.state_dict()
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().numpy().tobytes())
    first = next(iter(state.values()))
    record = {
        "rank": rank,
        "world_size": int(os.environ["WORLD_SIZE"]),
        "weights_sha256": digest.hexdigest(),
        "history": model.history_,
        "n_train": model.n_train_,
        "finite": bool(np.isfinite(first.detach().numpy()).all()),
    }
    with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
        json.dump(record, fh)
    if rank == 0:
        model.save(os.path.join(out, "model"))


def _vit(ds, rows):
    return SpectromerModel(
        backbone="vit_tiny_patch16_224",
        pretrained=False,
        image_size=32,
        backbone_options=dict(patch_size=8, depth=2),
        epochs=2,
        batch_size=8,
        validation_fraction=0.25,
        device="cpu",
        random_state=0,
        progress=False,
    ).fit(ds, "type", indices=rows)


if __name__ == "__main__":
    main(*sys.argv[1:])
