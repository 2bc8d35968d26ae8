"""Tests of spectromer.spectra: the one batch type and the source protocol."""

from __future__ import annotations

import pickle

import astropy.units as u
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from specutils import Spectrum

from spectromer.datasets import SpectraDataset, load_sample
from spectromer.imaging import RenderConfig, render
from spectromer.spectra import (
    ConcatSource,
    SpectrumBatch,
    SpectrumCollection,
    SpectrumSource,
    SubsetSource,
    as_source,
    pad_arrays,
)
from spectromer.utils.grid import LINEAR, LOGLINEAR


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _spec(wave, flux, **meta):
    return Spectrum(flux=np.asarray(flux) * u.Jy, spectral_axis=np.asarray(wave) * u.AA,
                    meta=meta)


# -- the batch type ----------------------------------------------------------------------------
def test_every_input_kind_gives_the_same_batch(sample):
    """A dataset, its Spectrum objects, a flux array and a dict give one batch type with
    the same values, and render the same images."""
    rows = [3, 10, 7]
    a = as_source(sample, indices=rows).batch([0, 1, 2])
    b = as_source([sample[i] for i in rows]).batch([0, 1, 2])
    assert type(a) is type(b) is SpectrumBatch
    for key in ("flux", "ivar", "mask", "length"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    np.testing.assert_allclose(a.wave, b.wave, rtol=1e-12)
    np.testing.assert_array_equal(a.index, [0, 1, 2])
    cfg = RenderConfig(size=32)
    np.testing.assert_array_equal(render(a, config=cfg), render(b, config=cfg))
    # the dataset's metadata travels: redshifts and names for messages
    z = sample.labels("z")[rows]
    np.testing.assert_array_equal(a.z, z)
    assert all(str(sample.meta["source"][r]) in n for r, n in zip(rows, a.names, strict=True))


def test_batch_invariants_for_flux_arrays():
    wave = np.linspace(4000, 8000, 50)
    flux = np.ones((4, 50))
    flux[1, 3] = np.nan
    ivar = np.ones((4, 50))
    ivar[2, 5] = 0
    b = as_source(flux, wavelength=wave, ivar=ivar).batch([1, 2])
    assert b.mask[0, 3] and b.ivar[0, 3] == 0 and b.flux[0, 3] == 0  # non-finite flux
    assert b.mask[1, 5] and not b.good[1, 5]  # ivar <= 0 is a bad pixel
    assert b.grid_kind.tolist() == [LINEAR, LINEAR]
    assert b.has_wavelength


def test_padding_and_grids_of_ragged_spectra():
    b = SpectrumBatch.from_rows([
        {"wave": np.geomspace(4000, 8000, 20), "flux": np.ones(20)},
        {"wave": np.linspace(5000, 6000, 10), "flux": np.ones(10)},
        {"wave": np.array([4000.0, 4001.0, 4010.0, 4100.0]), "flux": np.ones(4)},
    ])
    assert b.flux.shape == (3, 20) and b.length.tolist() == [20, 10, 4]
    assert b.mask[1, 10:].all() and np.isnan(b.wave[1, 10:]).all() and (b.ivar[1, 10:] == 0).all()
    assert b.grid_kind.tolist()[:2] == [LOGLINEAR, LINEAR] and b.grid_kind[2] == 0
    assert np.isnan(b.z).all() and b.names == ["spectrum 0", "spectrum 1", "spectrum 2"]


def test_pad_arrays_is_from_rows():
    b = pad_arrays([{"wave": np.arange(2.0) + 1, "flux": np.ones(2)}], np.array([7]))
    assert isinstance(b, SpectrumBatch)
    assert b.ivar.tolist() == [[1.0, 1.0]] and not b.mask.any() and b.index.tolist() == [7]


def test_mapping_view_and_selection():
    b = as_source(np.arange(12.0).reshape(4, 3), wavelength=[4000, 5000, 6000]).batch(range(4))
    assert b["flux"] is b.flux and "grid_kind" in b and set(dict(b)) >= {"wave", "mask", "z"}
    with pytest.raises(KeyError, match="fields"):
        b["nope"]
    part = b.take([3, 1])
    assert part.index.tolist() == [3, 1] and part.flux[0].tolist() == [9.0, 10.0, 11.0]
    assert part.grid_kind.tolist() == b.grid_kind[[3, 1]].tolist()
    assert len(b.rows(1, 3)) == 2
    assert b.replace(z=np.zeros(4)).z.tolist() == [0.0] * 4 and np.isnan(b.z).all()


@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    nan_frac=st.floats(0, 1),
    seed=st.integers(0, 2**16),
)
def test_from_rows_invariants_hold_for_any_input(lengths, nan_frac, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for n in lengths:
        flux = rng.normal(size=n)
        flux[rng.random(n) < nan_frac] = np.nan
        ivar = rng.choice([0.0, 1.0, 4.0], n)
        rows.append({"wave": 4000 + np.cumsum(rng.uniform(0.5, 2, n)), "flux": flux,
                     "ivar": ivar, "mask": rng.random(n) < 0.1})
    b = SpectrumBatch.from_rows(rows)
    assert b.flux.dtype == np.float32 and b.wave.dtype == np.float64 and b.mask.dtype == bool
    assert np.isfinite(b.flux).all()
    assert (b.ivar[b.mask] == 0).all() and (b.ivar[~b.mask] > 0).all()
    for i, r in enumerate(rows):
        n = len(r["flux"])
        bad = r["mask"] | ~np.isfinite(r["flux"]) | ~(r["ivar"] > 0)
        np.testing.assert_array_equal(b.mask[i, :n], bad)
        assert b.mask[i, n:].all() and np.isnan(b.wave[i, n:]).all()
        np.testing.assert_array_equal(b.good[i, :n], ~bad)


# -- sources -----------------------------------------------------------------------------------
def test_dataset_is_a_collection_and_sources_index_like_arrays(sample):
    assert isinstance(sample, SpectrumCollection) and not isinstance(sample, SpectrumSource)
    src = as_source(sample, indices=[5, 2, 9])
    assert isinstance(src, SubsetSource) and len(src) == 3 and src.shape == (3,)
    assert src[[0, 2]].batch([1]).flux.tolist() == sample.batch([9]).flux.tolist()
    assert len(src[np.array([True, False, True])]) == 2
    assert as_source(src) is src  # a source passes through untouched
    assert len(pickle.loads(pickle.dumps(src))) == 3  # picklable for loader workers


def test_a_user_collection_works_everywhere():
    """Anything with len() and batch() is usable through as_source (the protocol)."""

    class Mine:
        def __init__(self):
            self.wave = np.linspace(4000, 8000, 30)

        def __len__(self):
            return 5

        def batch(self, indices):
            idx = np.asarray(indices)
            return SpectrumBatch.from_rows(
                [{"wave": self.wave, "flux": np.full(30, float(i) + 1)} for i in idx], idx)

    src = as_source(Mine(), indices=[4, 0])
    assert src.batch([0]).flux[0, 0] == 5.0
    assert render(Mine(), size=16).shape == (5, 16, 16, 3)


def test_list_of_collections_is_joined(sample):
    a = as_source(np.ones((2, 3)), wavelength=[4000, 5000, 6000])
    both = as_source([a, sample])
    assert isinstance(both, ConcatSource) and len(both) == 2 + len(sample)
    b = both.batch([1, 2])
    assert b.length.tolist() == [3, int(sample.lengths[0])]
    assert np.isnan(b.z[0]) and b.z[1] == sample.labels("z")[0]
    with pytest.raises(TypeError, match="collection"):
        as_source([sample, sample[0]])


def test_spectrum_objects_carry_z_and_names():
    s = [_spec(np.linspace(4000, 5000, 10), np.ones(10), z=0.5, source="a.fits"),
         _spec(np.linspace(4000, 5000, 10), np.ones(10))]
    b = as_source(s).batch([0, 1])
    assert b.z[0] == 0.5 and np.isnan(b.z[1])
    assert b.names == ["spectrum 0 (a.fits)", "spectrum 1"]


def test_flux_array_without_wavelength_is_on_pixel_index():
    src = as_source(np.ones((3, 12)))
    assert not src.has_wavelength and not src[[0]].has_wavelength
    b = src.batch([0])
    assert b.wave[0].tolist() == list(range(12)) and not b.has_wavelength
    assert render(src, size=8, grid="index").shape == (3, 8, 8, 3)
    with pytest.raises(ValueError, match="without wavelength"):
        render(src, size=8)  # the default grid is wavelength-true


@pytest.mark.parametrize(
    ("X", "kwargs", "error", "match"),
    [
        (np.ones((2, 5)), {"wavelength": np.arange(4.0)}, ValueError, r"wavelength has shape"),
        (np.ones((2, 5)) + 1j, {}, ValueError, "Complex data not supported"),
        (np.ones((0, 5)), {}, ValueError, "no pixels"),
        (np.ones((3, 0)), {}, ValueError, "no pixels"),
        (np.ones((2, 2, 2)), {}, ValueError, "1-D or 2-D"),
        (np.array(["a", "b"]), {}, TypeError, "numbers"),
        (42, {}, TypeError, "SpectraDataset"),
        ("spec.fits", {}, TypeError, "read files first"),
        ({"flux": [1.0]}, {}, ValueError, "'wave' and 'flux'"),
        (np.ones((2, 5)), {"indices": [0]}, TypeError, "indices="),
        (np.ones((2, 5)), {"mask": np.ones(3, bool)}, ValueError, "mask has shape"),
    ],
)
def test_source_errors_name_the_argument(X, kwargs, error, match):
    with pytest.raises(error, match=match):
        as_source(X, **kwargs)


def test_source_index_errors(sample):
    with pytest.raises(TypeError, match=r"X\[1\]"):
        as_source([sample[0], "not a spectrum"])
    with pytest.raises(IndexError, match="out of range"):
        as_source(sample, indices=[len(sample)])
    with pytest.raises(IndexError, match="out of range"):
        as_source(sample, indices=[0, 1]).batch([2])
    with pytest.raises(ValueError, match="at least one"):
        sample.read_batch([])
    assert len(sample.batch([])) == 0


def test_dataset_batch_reads_any_order(sample, tmp_path):
    b = sample.batch([9, 0, 4])
    for j, i in enumerate([9, 0, 4]):
        a = sample.arrays(i)
        n = len(a["flux"])
        np.testing.assert_array_equal(b.flux[j, :n], a["flux"])
        np.testing.assert_array_equal(b.wave[j, :n], a["wave"])
    assert isinstance(SpectraDataset(sample.path), SpectrumCollection)
