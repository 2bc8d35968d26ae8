"""benchmarks/eval_tta.py: a saved run's ViT (one or a SeedEnsemble) rescored with copies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _scripts import load_benchmark

pytest.importorskip("torch")


def test_ensemble_run_fitted_on_log1p_is_scored_in_z(tmp_path, capsys):
    from spectromer import SpectromerModel
    from spectromer.datasets import load_sample, sample_path
    from spectromer.evaluation import redshift_metrics
    from spectromer.models import SeedEnsemble

    ds = load_sample()
    train, test = np.arange(0, 600, 10), np.arange(5, 600, 40)
    z = np.asarray(ds.labels("z"), dtype=float)
    vit = SpectromerModel(task="regression", backbone="vit_tiny_patch16_224", pretrained=False,
                          image_size=32, backbone_options=dict(patch_size=8, depth=2),
                          standardize=None, epochs=1, batch_size=32, progress=False,
                          device="cpu")  # fmt: skip
    ens = SeedEnsemble(vit, n_members=2, random_state=0).fit(ds, np.log1p(z[train]),
                                                              indices=train)  # fmt: skip
    run = tmp_path / "run"
    ens.save(run / "models" / "vit")
    result = {"label": "z", "task": "regression",
              "data": {"split": {"test_rows": test.tolist()}, "target_transform": "log1p"}}
    (run / "results.json").write_text(json.dumps(result))
    assert load_benchmark("eval_tta").main([str(run), str(sample_path()), "--copies", "0"]) == 0
    record = json.loads((run / "tta.json").read_text())["records"][0]
    expected = redshift_metrics(z[test], np.expm1(ens.predict(ds, indices=test)))
    assert record["copies"] == 0
    assert record["sigma_nmad"] == pytest.approx(expected["sigma_nmad"], rel=1e-9)
    assert "copies   0" in capsys.readouterr().out
