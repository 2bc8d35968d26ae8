"""Tests of benchmarks/bench_simulator.py: its measurements and its rst, not the heavy run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_simulator")


def _gaussian_line(wave, centre, depth, sigma):
    return 1.0 - depth * np.exp(-0.5 * ((wave - centre) / sigma) ** 2)


@pytest.mark.parametrize("key", ["halpha", "hbeta", "cak"])
def test_equivalent_width_of_a_known_line(bench, key):
    idx = bench.LINES[key]
    wave = np.arange(3800.0, 7000.0, 0.05)
    continuum = 2.0 + 1e-4 * (wave - 5000.0)  # a tilted continuum, fitted exactly
    depth, sigma = 0.6, 1.5
    flux = continuum * _gaussian_line(wave, idx["centre"], depth, sigma)
    good = np.ones(wave.size, bool)
    exact = depth * sigma * np.sqrt(2 * np.pi)
    assert bench.equivalent_width(wave, flux, good, idx) == pytest.approx(exact, rel=1e-4)
    # an emission line of the same shape is negative
    emission = continuum * (2.0 - _gaussian_line(wave, idx["centre"], depth, sigma))
    assert bench.equivalent_width(wave, emission, good, idx) == pytest.approx(-exact, rel=1e-4)
    # no line: zero (to the sampling of the side bands by the pixels)
    assert bench.equivalent_width(wave, continuum, good, idx) == pytest.approx(0.0, abs=1e-4)


def test_equivalent_width_needs_coverage_and_good_pixels(bench):
    idx = bench.LINES["halpha"]
    wave = np.arange(6000.0, 7000.0, 1.0)
    flux = _gaussian_line(wave, idx["centre"], 0.5, 2.0)
    good = np.ones(wave.size, bool)
    assert np.isnan(bench.equivalent_width(wave[wave < 6600], flux[wave < 6600], good[:600], idx))
    bad = good.copy()
    bad[(wave > 6554) & (wave < 6570)] = False  # most of the line band masked
    assert np.isnan(bench.equivalent_width(wave, flux, bad, idx))
    # a few masked pixels are skipped: the EW barely changes
    some = good.copy()
    some[(wave > 6520) & (wave < 6523)] = False
    assert bench.equivalent_width(wave, flux, some, idx) == pytest.approx(
        bench.equivalent_width(wave, flux, good, idx), rel=1e-3
    )


def test_continuum_slope_of_a_power_law(bench):
    wave = np.arange(3700.0, 9100.0, 0.5)
    good = np.ones(wave.size, bool)
    for alpha in (-2.0, 0.0, 1.5):
        expected = alpha * np.log10(7250.0 / 4750.0)
        got = bench.continuum_slope(wave, wave**alpha, good)
        assert got == pytest.approx(expected, abs=1e-6)
    assert np.isnan(bench.continuum_slope(wave, -np.ones(wave.size), good))
    assert np.isnan(bench.continuum_slope(wave[wave < 6000], wave[wave < 6000], good[:4600]))


def test_median_snr_and_features_of_a_source(bench):
    wave = np.arange(3700.0, 9100.0, 1.0)
    flux = np.vstack([2.0 * _gaussian_line(wave, 6564.61, 0.4, 2.0), np.full(wave.size, 3.0)])
    ivar = np.full(flux.shape, 100.0)
    f = bench.spectrum_features({"wave": wave, "flux": flux, "ivar": ivar})
    assert f["snr"][1] == pytest.approx(30.0)
    assert f["ew_halpha"][0] == pytest.approx(0.4 * 2.0 * np.sqrt(2 * np.pi), rel=1e-3)
    assert f["ew_halpha"][1] == pytest.approx(0.0, abs=1e-9)
    assert f["slope"][1] == pytest.approx(0.0, abs=1e-12)


def test_compare_and_percentiles(bench):
    rng = np.random.default_rng(1)
    same = bench.compare_distributions(rng.normal(size=500), rng.normal(size=500))
    shifted = bench.compare_distributions(rng.normal(size=500), rng.normal(size=500) + 2)
    assert same["ks"] < 0.15 < 0.6 < shifted["ks"]
    assert same["real"]["q50"] == pytest.approx(0.0, abs=0.15)
    assert [same["sim"][f"q{q}"] for q in bench.QUANTILES] == sorted(
        same["sim"][f"q{q}"] for q in bench.QUANTILES
    )
    assert bench.percentile_in(np.arange(100.0), 49.5) == pytest.approx(50.0)
    assert bench.percentile_in([np.nan], 1.0) is None


def _small_result() -> dict:
    cm = {"accuracy": 0.9, "f1_macro": 0.88}
    return {
        "command": "python benchmarks/bench_simulator.py --quick",
        "mode": "quick",
        "date": "2025-01-01 00:00 UTC",
        "machine": {"processor": "test cpu", "usable_cpus": 2},
        "sim_to_real": {
            "test": "the sample (600 spectra)",
            "target_type_accuracy": 0.85,
            "target_met": {"svm": True, "rf": False},
            "type": {
                "n_train": 100,
                "n_test": 600,
                "svm": cm,
                "rf": {"accuracy": 0.8},
                "chance": {"predict": "A", "accuracy": 0.333, "within_one": None},
            },
            "subtype": {
                "n_train": 100,
                "n_test": 600,
                "svm": {"accuracy": 0.4, "within_one": 0.7},
                "rf": {"accuracy": 0.35, "within_one": 0.65},
                "chance": {"predict": "F5", "accuracy": 0.1, "within_one": 0.2},
            },
        },  # fmt: skip
        "stars": {
            "n_real": 600,
            "n_sim": 100,
            "features": {
                "snr": {
                    "real": {"n": 600, **{f"q{q}": float(q) for q in (5, 25, 50, 75, 95)}},
                    "sim": {"n": 100, **{f"q{q}": q + 1.0 for q in (5, 25, 50, 75, 95)}},
                    "ks": 0.123,
                    "ks_pvalue": 0.2,
                },
                "ew_halpha": {
                    "real": {"n": 0, **{f"q{q}": None for q in (5, 25, 50, 75, 95)}},
                    "sim": {"n": 3, **{f"q{q}": 1.0 for q in (5, 25, 50, 75, 95)}},
                    "ks": None,
                    "ks_pvalue": None,
                },
            },
        },  # fmt: skip
        "extragalactic": {
            "GALAXY": {
                "survey": "sdss",
                "n_sim": 50,
                "real": [
                    {
                        "file": "a.fits",
                        "class": "GALAXY",
                        "subclass": "",
                        "z": 0.1,
                        "snr": 10.0,
                        "snr_percentile": 40.0,
                        "slope": None,
                        "slope_percentile": None,
                        "ew_halpha": -5.0,
                        "ew_halpha_percentile": 30.0,
                    }
                ],
                "sim": {
                    k: {"n": 5, **{f"q{q}": 0.5 for q in (5, 25, 50, 75, 95)}}
                    for k in ("z", "snr", "slope", "ew_halpha")
                },
            },
        },  # fmt: skip
        "speed": {
            "n_jobs": 2,
            "chunk_size": 100,
            "target": "100000 spectra in under 10 minutes",
            "rows": [
                {
                    "survey": "lamost",
                    "n": n,
                    "seconds": 1.0,
                    "per_s": 100.0,
                    "per_s_per_core": 50.0,
                    "main_peak_mb": 200.0,
                    "worker_peak_mb": 250.0,
                    "bytes_per_spectrum": 25000,
                }
                for n in (2000, 200)
            ],
            "summary": {
                "lamost": {
                    "seconds_for_100k_on_2_cores": 500.0,
                    "measured_at_target": False,
                    "target_met": True,
                    "peak_memory_ratio_n_to_n10": 1.01,
                }
            },
        },  # fmt: skip
    }


def test_render_rst_is_valid_restructuredtext(bench):
    docutils_core = pytest.importorskip("docutils.core")
    result = _small_result()
    text = bench.render_rst(result)
    assert "0.900" in text and "0.333" in text and "(within one" not in text
    assert "a.fits (GALAXY)" in text and "-5.00 (30)" in text
    assert "projected" in text and "target met" in text
    assert "Type target met by: SVM." in text
    # no section titles (the fragment is included inside another page's section)
    assert not any(set(line) <= set("=-~^*#") and len(line) > 3 for line in text.splitlines())
    html = docutils_core.publish_string(
        text, writer="html", settings_overrides={"report_level": 2, "halt_level": 2}
    ).decode()
    assert html.count("<table") == 4
    partial = bench.render_rst({k: v for k, v in result.items() if k != "speed"})
    assert "Speed and memory" not in partial and "Sim-to-real" in partial


@pytest.mark.skipif(not (DATA / "sdss-spec").is_dir(), reason=f"{DATA} not found")
def test_tiny_run_writes_json_and_rst(bench, tmp_path):
    """The whole script at tiny sizes (galaxies and quasars need the shared data)."""
    js, rst = tmp_path / "sim.json", tmp_path / "sim.rst"
    argv = ["--quick", "--n-jobs", "1", "--out", str(tmp_path / "work"), "--json", str(js),
            "--rst", str(rst), "--data", str(DATA), "--n-stars", "60",
            "--n-galaxies", "20", "--n-quasars", "20", "--speed-n", "20",
            "--chunk-size", "10", "--surveys", "sdss",
            "--skip", "sim_to_real"]  # fmt: skip
    assert bench.main(argv) == 0
    result = json.loads(js.read_text())
    assert result["stars"]["n_sim"] == 60 and result["stars"]["n_real"] == 600
    assert {r["file"] for r in result["extragalactic"]["GALAXY"]["real"]} >= {
        "NGC3522_SDSS_DR18.fits"
    }
    assert len(result["extragalactic"]["QSO"]["real"]) == 2
    speed = result["speed"]["rows"]
    assert [r["n"] for r in speed] == [20, 2] and all(r["per_s"] > 0 for r in speed)
    assert not list((tmp_path / "work").glob("speed-*"))  # deleted after measuring
    assert rst.read_text() == bench.render_rst(result)
