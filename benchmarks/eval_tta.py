"""Test-time augmentation: a saved ViT's test score with 0, 4, 8... augmented copies.

Usage::

    python benchmarks/eval_tta.py RUN_DIR DATA [--copies 0 4 8] [--out RUN_DIR/tta.json]

RUN_DIR is the output folder of ``spectromer benchmark ... --models vit --save-models``
(it holds ``results.json`` with the split and ``models/vit``, one ViT or the
:class:`~spectromer.models.SeedEnsemble` of the default preset, whose every member then
averages the copies); DATA is the dataset the run used. The saved model predicts the
run's test rows with ``test_time_augmentation=k`` for every ``k`` of ``--copies``; the
metrics (accuracy, F1, within one/two subtypes for classification; R^2, sigma_NMAD...
for regression) and the prediction seconds are printed and written to ``tta.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main(argv=None) -> int:
    import numpy as np

    from spectromer import SpectromerModel
    from spectromer.datasets import SpectraDataset
    from spectromer.evaluation import classification_metrics, redshift_metrics
    from spectromer.evaluation.targets import target_transform
    from spectromer.models import SeedEnsemble
    from spectromer.utils.atomic import atomic_path

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="folder written by spectromer benchmark --save-models")
    p.add_argument("data", help="the dataset .h5 the run used")
    p.add_argument("--copies", type=int, nargs="+", default=[0, 4, 8])
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    run = Path(args.run)
    result = json.loads((run / "results.json").read_text())
    split = result["data"]["split"]
    if "test_rows" not in split:
        raise SystemExit(f"{run}/results.json: the run used a given test set; no split rows")
    rows = np.asarray(split["test_rows"])
    ds = SpectraDataset(args.data)
    truth = ds.labels(result["label"])[rows]
    folder = run / "models" / "vit"
    if (folder / "ensemble.json").is_file():  # the default: a vote of several seeds
        model = SeedEnsemble.load(folder)
    else:
        model = SpectromerModel.load(folder)
    members = getattr(model, "estimators_", [model])
    for member in members:
        member.set_params(progress=False)
    # a run fitted on a transform of the label (--target-transform) predicts that transform
    transform = target_transform(result["data"].get("target_transform"))
    records = []
    for k in args.copies:
        for member in members:  # every member averages k augmented copies
            member.set_params(test_time_augmentation=k)
        t0 = time.perf_counter()
        pred = model.predict(ds, indices=rows)
        seconds = time.perf_counter() - t0
        if transform is not None:
            pred = transform.inverse(np.asarray(pred, dtype=float))
        if result["task"] == "classification":
            m = classification_metrics(truth, pred)
            headline = f"accuracy {m['accuracy']:.4f}"
        else:
            m = redshift_metrics(truth.astype(float), pred)
            headline = f"r2 {m['r2']:.4f} sigma_nmad {m['sigma_nmad']:.4f}"
        m.pop("confusion_matrix", None)
        records.append({"copies": k, "predict_seconds": round(seconds, 2), **m})
        print(f"copies {k:3d}: {headline}  ({seconds:.1f} s)", flush=True)
    out = Path(args.out) if args.out else run / "tta.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"run": run.name, "label": result["label"],
                                   "records": records}, indent=1) + "\n")  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
