"""The universal spectral tokenizer: inputs, patches, attention masking, grid-conditioned
decoding, the chi-square loss, variable lengths, real files of every layout, save/load,
determinism, and its benchmark family."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from spectromer.models import ModelFileError, SpectrumTokenizer  # noqa: E402
from spectromer.models.tokenizer import (  # noqa: E402
    SpectrumTokenizerNet,
    TokenizerConfig,
    patch_validity,
    pixel_inputs,
    wavelength_encoding,
)
from spectromer.spectra import SpectrumBatch, as_source  # noqa: E402

TINY = dict(patch_size=8, width=16, depth=1, decoder_depth=1, heads=2, batch_size=8,
            validation_fraction=0.0, device="cpu", precision="fp32", random_state=0,
            progress=False)  # fmt: skip


@pytest.fixture(autouse=True)
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    yield
    torch.set_num_threads(threads)


def _rows(lengths, seed=0, start=4000.0, step=2.0):
    rng = np.random.default_rng(seed)
    rows = []
    for n in lengths:
        wave = start + step * np.arange(n)
        flux = 10 * (1 + 0.1 * rng.standard_normal(n))
        rows.append({"wave": wave, "flux": flux, "ivar": np.full(n, 100.0)})
    return rows


def _net(**kw):
    cfg = TokenizerConfig(**{"patch_size": 8, "width": 16, "depth": 2, "decoder_depth": 1,
                             "heads": 2, **kw})  # fmt: skip
    torch.manual_seed(0)
    return SpectrumTokenizerNet(cfg).eval()


# -- inputs and patches -------------------------------------------------------------------


def test_pixel_inputs_normalise_by_the_median_and_mark_bad_pixels():
    rows = _rows([20, 13])
    rows[0]["flux"][:] = np.arange(1.0, 21.0)  # median 10.5
    rows[0]["ivar"][3] = 0.0  # a bad pixel
    rows[0]["flux"][5] = np.nan  # another
    x, scale = pixel_inputs(SpectrumBatch.from_rows(rows), 8)
    assert x.shape == (2, 24, 4)  # 20 pixels -> 3 patches of 8
    good = np.ones(20, bool)
    good[[3, 5]] = False
    expected_median = np.median(np.arange(1.0, 21.0)[good])
    assert scale[0] == pytest.approx(expected_median)
    np.testing.assert_allclose(x[0, :20, 0][good], np.arange(1.0, 21.0)[good] / scale[0],
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(x[0, :20, 1][good], 0.1 / scale[0], rtol=1e-6)
    assert x[0, 3].tolist()[:2] == [0.0, 0.0] and x[0, 3, 3] == 0 and x[0, 5, 3] == 0
    assert x[0, 3, 2] == pytest.approx(4006.0)  # a bad pixel keeps its wavelength
    assert float(x[1, 13:, 2].abs().sum()) == 0.0 and float(x[1, 13:, 3].sum()) == 0.0
    assert float(x[0, 20:, 3].sum()) == 0.0  # padding is not good


def test_pixel_inputs_scale_falls_back_for_zero_median_and_no_good_pixel():
    rows = _rows([16, 16])
    rows[0]["flux"][:] = np.r_[np.full(8, -3.0), np.full(8, 3.0)]  # median 0 -> median |f|
    rows[1]["ivar"][:] = 0.0  # no good pixel at all
    _, scale = pixel_inputs(SpectrumBatch.from_rows(rows), 8)
    assert scale.tolist() == [3.0, 1.0]


def test_pixel_inputs_need_wavelengths():
    batch = as_source(np.ones((2, 16))).batch([0, 1])
    with pytest.raises(ValueError, match="own wavelength grids"):
        pixel_inputs(batch, 8)


def test_a_patch_with_more_than_half_its_pixels_bad_is_invalid():
    good = torch.ones(1, 16, dtype=torch.bool)
    good[0, :4] = False  # exactly half of the first patch: valid
    good[0, 8:13] = False  # 5 of 8: invalid
    assert patch_validity(good, 8).tolist() == [[True, False]]


def test_wavelength_encoding_is_sines_and_cosines_of_log_spaced_periods():
    wave = torch.tensor([4000.0, 6563.0])
    e = wavelength_encoding(wave, 3, (10.0, 1000.0))
    periods = np.array([10.0, 100.0, 1000.0])
    phase = 2 * np.pi * wave.numpy()[:, None].astype(float) / periods
    np.testing.assert_allclose(e.numpy(), np.c_[np.sin(phase), np.cos(phase)], atol=1e-5)


@pytest.mark.parametrize("bad", [dict(width=30, heads=4), dict(patch_size=0),
                                 dict(period_range=(10.0, 1.0))])  # fmt: skip
def test_config_refuses_bad_architectures(bad):
    with pytest.raises(ValueError):
        TokenizerConfig(**bad)


# -- attention masking and lengths --------------------------------------------------------


def test_invalid_patches_are_not_attended_to():
    net = _net()
    rows = _rows([32])
    x, _ = pixel_inputs(SpectrumBatch.from_rows(rows), 8)
    x[0, 8:13, 3] = 0.0  # 5 of the 8 pixels of patch 1 bad: patch 1 invalid
    x[0, 8:13, :2] = 0.0
    tokens, valid = net.encode(x)
    assert valid.tolist() == [[True, False, True, True]]
    changed = x.clone()
    changed[0, 13:16, 0] *= 7.0  # the good pixels left in the invalid patch
    tokens2, _ = net.encode(changed)
    keep = [0, 2, 3]
    torch.testing.assert_close(tokens2[0, keep], tokens[0, keep])  # no one attends to it
    assert not torch.allclose(tokens2[0, 1], tokens[0, 1])  # its own token does change
    emb = net.embed(x)
    torch.testing.assert_close(emb, tokens[:, keep].mean(dim=1))  # mean of the valid ones


def test_padding_does_not_change_a_spectrum_of_a_shorter_length():
    net = _net()
    rows = _rows([21, 70], seed=3)
    x_alone, _ = pixel_inputs(SpectrumBatch.from_rows(rows[:1]), 8)
    x_both, _ = pixel_inputs(SpectrumBatch.from_rows(rows), 8)
    assert x_alone.shape[1] == 24 and x_both.shape[1] == 72
    torch.testing.assert_close(net.embed(x_both)[0], net.embed(x_alone)[0], atol=1e-5,
                               rtol=1e-5)  # fmt: skip
    own = net(x_alone)
    both = net(x_both)
    torch.testing.assert_close(both[0], own[0], atol=1e-3, rtol=1e-5)
    assert both[:, 1].tolist() == [21.0, 70.0]  # chi-square over the real pixels only


def test_a_spectrum_without_valid_patches_gives_nan_and_no_nan_loss():
    net = _net()
    rows = _rows([16, 16])
    rows[1]["ivar"][:] = 0.0
    x, _ = pixel_inputs(SpectrumBatch.from_rows(rows), 8)
    out = net(x)
    assert torch.isfinite(out).all() and out[1].tolist() == [0.0, 0.0]
    emb = net.embed(x)
    assert torch.isfinite(emb[0]).all() and torch.isnan(emb[1]).all()


# -- the decoder, queried by wavelength ---------------------------------------------------


def test_decoding_depends_on_the_requested_wavelengths_only():
    net = _net()
    x, _ = pixel_inputs(SpectrumBatch.from_rows(_rows([32])), 8)
    tokens, valid = net.encode(x)
    grid = torch.linspace(4000, 4060, 16)[None]
    a = net.decode(tokens, valid, grid)
    b = net.decode(tokens, valid, grid + 10.0)
    assert a.shape == (1, 16) and not torch.allclose(a, b)
    padded = torch.cat([grid, torch.zeros(1, 8)], dim=1)  # zero wavelengths are padding
    torch.testing.assert_close(net.decode(tokens, valid, padded)[:, :16], a)


def test_chi_square_is_that_of_the_reconstruction(tmp_path):
    rows = _rows([40, 25], seed=1)
    rows[0]["ivar"][[2, 30]] = 0.0
    src = as_source(SpectrumBatch.from_rows(rows))
    tok = SpectrumTokenizer(epochs=2, **TINY).fit(src)
    rec = tok.reconstruct(src)
    assert [r.shape for r in rec] == [(40,), (25,)]
    chi2 = tok.reduced_chi2(src)
    for i, (row, r) in enumerate(zip(rows, rec, strict=True)):
        good = row["ivar"] > 0
        expected = np.sum((r - row["flux"])[good] ** 2 * row["ivar"][good]) / good.sum()
        assert chi2[i] == pytest.approx(expected, rel=1e-3)


def test_training_learns_a_line_and_decodes_it_on_other_grids():
    """Spectra with an emission line of varying strength at 5000 A, each on its own grid
    (offsets, steps and lengths differ); the reconstruction on a fine common grid puts the
    peak at 5000 A and the chi-square falls with training."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(48):
        step = rng.uniform(1.5, 2.5)
        wave = rng.uniform(4700, 4800) + step * np.arange(int(rng.integers(180, 240)))
        amp = rng.uniform(1, 3)
        flux = 1 + amp * np.exp(-0.5 * ((wave - 5000) / 8) ** 2)
        rows.append({"wave": wave, "flux": flux + 0.01 * rng.standard_normal(wave.size),
                     "ivar": np.full(wave.size, 1e4)})  # fmt: skip
    src = as_source(SpectrumBatch.from_rows(rows))
    params = {**TINY, "patch_size": 16, "width": 32, "heads": 4, "depth": 2, "lr": 3e-3,
              "warmup": 0.0, "epochs": 40}  # fmt: skip
    tok = SpectrumTokenizer(**params).fit(src)
    losses = [h["train_loss"] for h in tok.history_]
    assert losses[-1] < 0.05 * losses[0]
    fine = np.arange(4900.0, 5100.0, 0.5)
    rec = tok.reconstruct(src, wavelength=fine)
    peaks = np.array([fine[np.argmax(r)] for r in rec])
    assert np.median(np.abs(peaks - 5000)) < 10  # the line where it is, on a grid not seen
    from astropy import units as u

    in_nm = tok.reconstruct(src[:2], wavelength=(fine * u.AA).to(u.nm))
    np.testing.assert_allclose(in_nm[1], rec[1], rtol=1e-5)
    own = tok.reconstruct(src[:3])
    explicit = tok.reconstruct(src[:3], wavelength=[r["wave"] for r in rows[:3]])
    for a, b in zip(own, explicit, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_reconstruct_refuses_bad_grids():
    src = as_source(SpectrumBatch.from_rows(_rows([16, 16])))
    tok = SpectrumTokenizer(epochs=1, **TINY).fit(src)
    with pytest.raises(ValueError, match="2 grids for 2 spectra|grids for 2"):
        tok.reconstruct(src, wavelength=[np.arange(4000.0, 4010.0)] * 3)
    with pytest.raises(ValueError, match="finite and positive"):
        tok.reconstruct(src, wavelength=np.array([4000.0, -1.0]))
    from astropy import units as u

    with pytest.raises(ValueError, match="wavelength"):
        tok.reconstruct(src, wavelength=np.arange(3.0) * u.kg)


# -- the learner ----------------------------------------------------------------------------


def test_parameters_are_checked_before_any_spectrum_is_read():
    class Exploding:
        def __len__(self):
            raise AssertionError("the data was read")

    with pytest.raises(ValueError, match="heads=4 must divide width=30"):
        SpectrumTokenizer(width=30, heads=4).fit(Exploding())
    with pytest.raises(InvalidParameterError, match="patch_size"):
        SpectrumTokenizer(patch_size=0).fit(Exploding())
    assert clone(SpectrumTokenizer(width=64)).get_params()["width"] == 64


def test_fit_on_surveys_of_different_lengths_encode_and_transform():
    a = as_source(SpectrumBatch.from_rows(_rows([50] * 6, seed=1, start=3700.0)))
    b = as_source(SpectrumBatch.from_rows(_rows([90] * 5, seed=2, start=3600.0, step=1.0)))
    tok = SpectrumTokenizer(epochs=1, **TINY).fit([a, b])
    assert tok.n_spectra_ == 11 and tok.history_[0]["train_loss"] > 0
    enc = tok.encode([a, b])
    assert [e.tokens.shape for e in enc[5:7]] == [(7, 16), (12, 16)]  # ceil(50/8), ceil(90/8)
    assert enc[0].wavelength[0] == pytest.approx(3700 + 2 * 3.5)  # mean of the 8 pixels
    assert enc[0].valid.tolist() == [True] * 6 + [False]  # the last: 2 real pixels of 8
    emb = tok.transform([a, b])
    assert emb.shape == (11, 16) and emb.dtype == np.float32
    # the pooled embedding is the mean of the valid tokens, whatever the batch
    np.testing.assert_allclose(emb[6], enc[6].tokens[enc[6].valid].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(tok.transform(b)[0], emb[6], atol=1e-5)


def test_last_partial_patch_is_invalid_when_mostly_padding():
    src = as_source(SpectrumBatch.from_rows(_rows([19, 19])))
    tok = SpectrumTokenizer(epochs=1, **TINY).fit(src)
    (enc,) = tok.encode(src[:1])
    assert enc.valid.tolist() == [True, True, False]  # 3 real pixels of 8 in the last


def test_transform_warns_for_spectra_without_valid_patches():
    rows = _rows([16, 16, 16])
    rows[2]["ivar"][:] = 0.0
    src = as_source(SpectrumBatch.from_rows(rows))
    tok = SpectrumTokenizer(epochs=1, **TINY).fit(src)
    with pytest.warns(UserWarning, match="1 of 3 spectra have no valid patch"):
        emb = tok.transform(src)
    assert np.isnan(emb[2]).all() and np.isfinite(emb[:2]).all()


def test_fit_is_deterministic_and_seeded():
    src = as_source(SpectrumBatch.from_rows(_rows([40] * 8, seed=4)))
    one = SpectrumTokenizer(epochs=2, **TINY).fit(src)
    two = SpectrumTokenizer(epochs=2, **TINY).fit(src)
    other = SpectrumTokenizer(epochs=2, **{**TINY, "random_state": 1}).fit(src)
    for k, v in one.model_.state_dict().items():
        torch.testing.assert_close(v, two.model_.state_dict()[k], rtol=0, atol=0)
    assert not np.allclose(one.transform(src), other.transform(src))


def test_save_and_load_round_trip(tmp_path):
    src = as_source(SpectrumBatch.from_rows(_rows([40, 33, 27], seed=5)))
    tok = SpectrumTokenizer(epochs=2, **TINY).fit(src)
    folder = tok.save(tmp_path / "tok")
    again = SpectrumTokenizer.load(folder)
    assert again.tokenizer_config_ == tok.tokenizer_config_ and again.n_spectra_ == 3
    np.testing.assert_array_equal(again.transform(src), tok.transform(src))
    np.testing.assert_array_equal(again.reconstruct(src)[1], tok.reconstruct(src)[1])
    assert again.history_ == tok.history_
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "spectromer-spectrum-tokenizer"
    config["fitted"]["tokenizer_config"]["heads"] = 3  # does not divide the width
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="tokenizer architecture"):
        SpectrumTokenizer.load(folder)


def test_training_continues_from_a_saved_tokenizer(tmp_path):
    class Exploding:
        def __len__(self):
            raise AssertionError("the data was read")

    src = as_source(SpectrumBatch.from_rows(_rows([40] * 6, seed=7)))
    first = SpectrumTokenizer(epochs=2, **TINY).fit(src)
    folder = first.save(tmp_path / "first")
    start = SpectrumTokenizer(epochs=1, lr=1e-12, warmup=0.0, pretrained=folder,
                              **{k: v for k, v in TINY.items()})  # fmt: skip
    start.fit(src)
    np.testing.assert_allclose(start.transform(src), first.transform(src), atol=1e-4)
    with pytest.raises(ValueError, match="another architecture: width=32"):
        SpectrumTokenizer(pretrained=folder, **{**TINY, "width": 32}).fit(Exploding())
    with pytest.raises(FileNotFoundError, match="not a saved SpectrumTokenizer"):
        SpectrumTokenizer(pretrained=tmp_path / "none", **TINY).fit(Exploding())


def test_bf16_autocast_on_the_cpu():
    src = as_source(SpectrumBatch.from_rows(_rows([40] * 6, seed=6)))
    tok = SpectrumTokenizer(epochs=1, **{**TINY, "precision": "bf16"}).fit(src)
    assert tok.precision_ == "bfloat16"
    assert np.isfinite(tok.transform(src)).all()
    assert np.isfinite(tok.reduced_chi2(src)).all()


def test_ddp_two_processes_agree(tmp_path):
    """torchrun starts 2 CPU processes (gloo) that train one tokenizer on spectra of two
    lengths; DDP keeps their weights and histories identical."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("_ddp_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(worker), str(tmp_path), "tokenizer"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["weights_sha256"] == r1["weights_sha256"] and r0["finite"]
    assert r0["history"] == r1["history"] and len(r0["history"]) == 2
    loaded = SpectrumTokenizer.load(tmp_path / "model")
    assert loaded.n_spectra_ == r0["n_train"]


def test_real_files_of_every_layout(data_dir):
    """LAMOST DR10 and DR1, SDSS, BOSS and DESI fixtures in one fit; each reconstructed on
    its own grid (finite, its length) and on a common requested grid."""
    from spectromer.io import read_spectra

    names = ["spec-59517-EG025613N082253M02_sp08-200.fits.gz", "spec-55862-B6212_sp06-003.fits",
             "spec-0385-51783-0396.fits",
             "spec-3655-55240-0002.fits", "coadd-4-80613-thru20210324.fits"]  # fmt: skip
    spectra = []
    for name in names:
        spectra.extend(read_spectra(data_dir / name)[:2])
    src = as_source(spectra)
    lengths = [int(n) for n in src.batch(np.arange(len(src))).length]
    assert len(set(lengths)) >= 4  # different native grids
    tok = SpectrumTokenizer(epochs=1, **{**TINY, "patch_size": 32}).fit(src)
    own = tok.reconstruct(src)
    assert [r.size for r in own] == lengths and all(np.isfinite(r).all() for r in own)
    common = tok.reconstruct(src, wavelength=np.arange(4000.0, 9000.0, 5.0))
    assert {r.size for r in common} == {1000}
    assert np.isfinite(tok.reduced_chi2(src)).all()


# -- the benchmark family ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    from spectromer.datasets import load_sample

    return load_sample()


def test_tokenizer_family_in_the_benchmark(sample, tmp_path):
    from spectromer.evaluation import run_benchmark
    from spectromer.models import SpectrumTokenizer as Tok

    rows = np.arange(0, 600, 4)
    small = sample.subset(rows, tmp_path / "small.h5")
    extra = sample.subset(np.arange(1, 200, 8), tmp_path / "extra.h5")
    seen = []
    real_fit = Tok.fit

    def spy(self, X, *args, **kwargs):
        parts = X if isinstance(X, list) else [X]
        seen.append({"n": sum(len(p) for p in parts), "params": self.get_params()})
        return real_fit(self, X, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Tok, "fit", spy)
        result = run_benchmark(small, models=["tokenizer"], quick=True, out=tmp_path / "out",
                               plots=False, progress=False, threads=1, pretrain_data=[extra],
                               tokenizer_options={"epochs": 1, "device": "cpu"})  # fmt: skip
    records = result["results"]
    assert [r["model"] for r in records] == ["tokenizer-knn", "tokenizer-mlp",
                                             "tokenizer-linear"]  # fmt: skip
    assert result["data"]["pretrain_data"] == ["extra.h5"]  # recorded by name
    (call,) = seen  # one tokenizer for the three probes
    n_train = len(result["data"]["split"]["train_rows"])
    assert call["n"] == n_train + len(extra)  # the training split and the extras, no test
    assert call["params"]["epochs"] == 1 and call["params"]["width"] == 32  # option, preset
    for r in records:
        assert 0 <= r["accuracy"] <= 1 and r["settings"]["encoder"]["model"] == "tokenizer"
        assert r["settings"]["embedding_dim"] == 32
    assert (tmp_path / "out" / "pretrained" / "tokenizer" / "config.json").is_file()


def test_cli_tokenizer_option_needs_the_family(tmp_path, capsys):
    from spectromer.cli import main

    code = main(["benchmark", "--models", "knn", "--tokenizer-option", "width=64",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 1
    assert "--tokenizer-option needs tokenizer" in capsys.readouterr().err
