"""benchmarks/vit_ablation.py: the variants' settings and what they refuse before any fit."""

from __future__ import annotations

import pytest
from _scripts import load_benchmark


def _module():
    return load_benchmark("vit_ablation")


def test_vits14_variants_differ_only_in_the_start():
    abl = _module()
    dino, _ = abl.VARIANTS["vits14_dinov2"]
    rand, _ = abl.VARIANTS["vits14_random"]
    assert dino["pretrained"] == abl.WEIGHTS and rand["pretrained"] is False
    assert {k: v for k, v in dino.items() if k != "pretrained"} == {
        k: v for k, v in rand.items() if k != "pretrained"
    }
    assert dino["backbone"] == "vit_small_patch14_dinov2" and dino["image_size"] % 14 == 0


@pytest.mark.parametrize(
    "variant, extra, message",
    [
        ("vits14_dinov2", [], "need --weights FILE"),
        ("vits14_dinov2", ["--weights", "no_such.safetensors"], "no_such.safetensors: no such"),
        ("sim_supervised", [], "need --sim-data DATA"),
    ],
)
def test_refuses_missing_inputs_before_reading_data(variant, extra, message, capsys, tmp_path):
    abl = _module()
    with pytest.raises(SystemExit):
        abl.main(["missing.h5", "--variants", variant, "--out", str(tmp_path), *extra])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("given, members, threads", [
    ([], 1, None), (["--vit-option", "members=3", "--threads", "2"], 3, 2),
])  # fmt: skip
def test_every_variant_is_one_vit_unless_asked(given, members, threads, monkeypatch, tmp_path):
    from spectromer.datasets import sample_path
    from spectromer.evaluation import benchmark

    calls = []

    def fake(*args, **kwargs):
        calls.append(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(benchmark, "run_benchmark", fake)
    with pytest.raises(RuntimeError, match="stop here"):
        _module().main([str(sample_path()), "--variants", "plain", "--out", str(tmp_path),
                        *given])  # fmt: skip
    assert calls[0]["vit_options"]["members"] == members  # the benchmark's default: 3
    assert calls[0]["threads"] == threads
