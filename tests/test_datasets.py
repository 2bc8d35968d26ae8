"""Tests of the HDF5 SpectraDataset, its writer, grids and splits."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectromer.datasets import DatasetWriter, SpectraDataset, stratified_split
from spectromer.datasets.labels import derive_labels, stellar_type
from spectromer.utils import grid as _grid


def _toy(rng, n, kind="loglinear"):
    if kind == "loglinear":
        wave = 10 ** (3.57 + 1e-4 * np.arange(n))
    elif kind == "linear":
        wave = 3600.0 + 0.8 * np.arange(n)
    else:
        wave = np.sort(rng.uniform(3600, 9000, n))
        wave = np.unique(wave)
    flux = rng.normal(100, 5, wave.size).astype(np.float32)
    ivar = rng.uniform(0.01, 0.1, wave.size).astype(np.float32)
    mask = rng.random(wave.size) < 0.05
    return wave, flux, ivar, mask


def _write(path, specs, metas, encoding="float32"):
    with DatasetWriter(path, encoding=encoding, buffer_pixels=500) as w:
        for (wave, flux, ivar, mask), meta in zip(specs, metas, strict=True):
            w.add(wave, flux, ivar, mask, meta)
        w.add_report("/x/a.fits", "ok", "", len(specs))
        w.add_report("/x/b.fits", "failed", "flux is all NaN", 0)
    return SpectraDataset(path)


@pytest.mark.parametrize("kind", ["loglinear", "linear", "explicit"])
def test_roundtrip_native_grid(tmp_path, kind):
    rng = np.random.default_rng(1)
    specs = [_toy(rng, n, kind) for n in (50, 73, 120)]
    metas = [{"class": "STAR", "subclass": s, "z": 0.001 * i} for i, s in enumerate("ABC")]
    ds = _write(tmp_path / "d.h5", specs, metas)
    assert len(ds) == 3
    assert list(ds.lengths) == [s[0].size for s in specs]
    for i, (wave, flux, ivar, mask) in enumerate(specs):
        a = ds.arrays(i)
        np.testing.assert_allclose(a["wave"], wave, rtol=0, atol=1e-3 * np.min(np.diff(wave)))
        np.testing.assert_array_equal(a["flux"], flux)
        np.testing.assert_array_equal(a["ivar"], ivar)
        np.testing.assert_array_equal(a["mask"], mask)
    expected_kind = {"loglinear": _grid.LOGLINEAR, "linear": _grid.LINEAR}.get(kind, _grid.EXPLICIT)
    assert set(ds._kind) == {expected_kind}
    assert list(ds.meta["subclass"]) == ["A", "B", "C"]
    assert ds.meta_row(2)["z"] == pytest.approx(0.002)
    assert list(ds.ingest_report["status"]) == ["ok", "failed"]


def test_spectrum_access_and_units(tmp_path):
    import astropy.units as u
    from astropy.nddata import InverseVariance

    rng = np.random.default_rng(2)
    ds = _write(
        tmp_path / "d.h5",
        [_toy(rng, 40)],
        [{"class": "STAR", "flux_unit": "1e-17 erg / (Angstrom s cm2)"}],
    )
    s = ds[0]
    assert s.spectral_axis.unit == u.AA
    assert s.flux.unit == u.Unit("1e-17 erg / (Angstrom s cm2)")
    assert isinstance(s.uncertainty, InverseVariance)
    assert s.meta["class"] == "STAR"
    assert [x.flux.size for x in ds[0:1]] == [40]
    with pytest.raises(IndexError, match="out of range"):
        ds.arrays(5)


def test_float16_encoding_precision(tmp_path):
    rng = np.random.default_rng(3)
    specs = [_toy(rng, 200) for _ in range(4)]
    specs[1] = (specs[1][0], specs[1][1] * 1e6, specs[1][2] / 1e12, specs[1][3])  # huge flux
    ds = _write(tmp_path / "h.h5", specs, [{}] * 4, encoding="float16")
    assert ds.encoding == "float16"
    for i, (_, flux, ivar, _) in enumerate(specs):
        a = ds.arrays(i)
        np.testing.assert_allclose(a["flux"], flux, rtol=1e-3)
        np.testing.assert_allclose(a["ivar"], ivar, rtol=0.017)


def test_iter_batches_padding_and_order(tmp_path):
    rng = np.random.default_rng(4)
    specs = [_toy(rng, n) for n in (30, 60, 45, 10, 80)]
    ds = _write(tmp_path / "d.h5", specs, [{"i": i} for i in range(5)])
    seen = []
    for batch in ds.iter_batches(batch_size=2, shuffle=True, seed=7):
        for row, i in enumerate(batch["index"]):
            n = specs[i][0].size
            assert batch["length"][row] == n
            np.testing.assert_array_equal(batch["flux"][row, :n], specs[i][1])
            assert batch["mask"][row, n:].all() and (batch["ivar"][row, n:] == 0).all()
            assert np.isnan(batch["wave"][row, n:]).all()
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == list(range(5))
    again = [b["index"].tolist() for b in ds.iter_batches(batch_size=2, shuffle=True, seed=7)]
    assert sum(again, []) == seen
    sub = list(ds.iter_batches(batch_size=10, indices=[4, 0]))
    assert sub[0]["index"].tolist() == [4, 0]


def test_pickle_reopens(tmp_path):
    rng = np.random.default_rng(5)
    ds = _write(tmp_path / "d.h5", [_toy(rng, 20)], [{}])
    ds.arrays(0)
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.arrays(0)["flux"], ds.arrays(0)["flux"])


def test_not_a_dataset(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as h5:
        h5["x"] = 1
    with pytest.raises(ValueError, match="not a Spectromer dataset"):
        SpectraDataset(p)
    with pytest.raises(FileNotFoundError, match="no such dataset"):
        SpectraDataset(tmp_path / "missing.h5")


def test_writer_rejects_bad_shapes(tmp_path):
    with DatasetWriter(tmp_path / "d.h5") as w:
        with pytest.raises(ValueError, match="equal length"):
            w.add(np.arange(5.0), np.ones(4), np.ones(5), np.zeros(5, bool))


def test_saved_split_and_subset(tmp_path):
    rng = np.random.default_rng(6)
    labels = ["A"] * 10 + ["F"] * 10 + ["G"] * 10
    ds = _write(tmp_path / "d.h5", [_toy(rng, 20) for _ in labels], [{"t": x} for x in labels])
    parts = ds.split("t", fractions=(0.6, 0.2, 0.2), seed=3, save="by_t")
    reopened = SpectraDataset(tmp_path / "d.h5")
    assert reopened.split_names == ["by_t"]
    for key, value in reopened.load_split("by_t").items():
        np.testing.assert_array_equal(value, parts[key])
    with pytest.raises(KeyError, match="no saved split"):
        reopened.load_split("nope")
    with pytest.raises(KeyError, match="no metadata column"):
        reopened.labels("nope")
    sub = reopened.subset(parts["test"], tmp_path / "s.h5")
    assert len(sub) == len(parts["test"])
    np.testing.assert_array_equal(sub.arrays(0)["flux"], reopened.arrays(parts["test"][0])["flux"])


@settings(max_examples=30, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    seed=st.integers(0, 2**31 - 1),
    three=st.booleans(),
)
def test_stratified_split_properties(counts, seed, three):
    labels = np.concatenate([[f"c{i}"] * n for i, n in enumerate(counts)])
    fractions = (0.7, 0.15, 0.15) if three else (0.8, 0.2)
    parts = stratified_split(labels, fractions=fractions, seed=seed)
    allidx = np.concatenate(list(parts.values()))
    assert sorted(allidx.tolist()) == list(range(labels.size))  # a partition
    again = stratified_split(labels, fractions=fractions, seed=seed)
    for k in parts:
        np.testing.assert_array_equal(parts[k], again[k])
    # every class with at least 20 members is represented in every part
    for i, n in enumerate(counts):
        if n >= 20:
            for idx in parts.values():
                assert np.any(labels[idx] == f"c{i}")


def test_stratified_split_proportions():
    labels = np.array(["A"] * 500 + ["F"] * 300 + ["G"] * 200)
    parts = stratified_split(labels, fractions=(0.8, 0.1, 0.1), seed=0)
    assert len(parts["train"]) == 800 and len(parts["test"]) == 100
    for cls, n in (("A", 500), ("F", 300), ("G", 200)):
        assert np.sum(labels[parts["test"]] == cls) == pytest.approx(n / 10, abs=1)
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split(labels, fractions=(0.5, 0.2))


@pytest.mark.parametrize(
    "subclass,expected",
    [
        ("G3", ("G", "G3")),
        ("A1V", ("A", "A1")),
        ("F9IV", ("F", "F9")),
        ("K1 (108123)", ("K", "K1")),
        ("F5.5", ("F", "F5")),
        ("M", ("M", None)),
        ("Carbon", (None, None)),
        ("WD", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_stellar_type(subclass, expected):
    assert stellar_type(subclass) == expected


def test_derive_labels_only_for_stars():
    assert "type" not in derive_labels({"class": "GALAXY", "subclass": "STARFORMING"})
    assert "type" not in derive_labels({"class": "QSO", "subclass": "BROADLINE"})
    assert derive_labels({"class": "STAR", "subclass": "A7"})["subtype"] == "A7"


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 5000),
    start=st.floats(3000, 5000),
    step=st.floats(1e-5, 3e-4),
)
def test_grid_description_roundtrip(n, start, step):
    wave = 10 ** (np.log10(start) + step * np.arange(n))
    kind, a, b = _grid.describe_grid(wave.astype(np.float32).astype(np.float64))
    assert kind == _grid.LOGLINEAR
    rebuilt = _grid.expand_grid(kind, a, b, n)
    assert np.max(np.abs(rebuilt - wave)) < 0.01 * np.min(np.diff(wave)) + 1e-3


def test_save_split_waits_for_no_writer(tmp_path):
    """save_split rewrites the file: it takes the writer lock, so it refuses while an
    ingest (or another save_split) holds it, and leaves the file as it was."""
    import shutil

    from spectromer.datasets import load_sample
    from spectromer.utils.locking import FileLockedError, exclusive_lock

    path = tmp_path / "s.h5"
    shutil.copyfile(load_sample().path, path)
    ds = SpectraDataset(path)
    with exclusive_lock(path, purpose="ingest"):
        with pytest.raises(FileLockedError, match="s.h5"):
            ds.save_split("mine", {"train": np.arange(3)})
    assert "mine" not in SpectraDataset(path).split_names
    ds.save_split("mine", {"train": np.arange(3)})
    assert "mine" in SpectraDataset(path).split_names


def test_writer_streams_metadata_in_parts(tmp_path, monkeypatch):
    """Large writes keep at most one part of the metadata in memory; reads stack the parts."""
    from spectromer.datasets import dataset as dataset_module
    from spectromer.datasets import writer as writer_module

    monkeypatch.setattr(writer_module, "_META_PART_ROWS", 4)
    rng = np.random.default_rng(3)
    specs = [_toy(rng, 30 + i) for i in range(11)]
    metas = [{"class": "STAR", "z": 0.01 * i} if i != 5 else {} for i in range(11)]
    metas[7]["note"] = "late column"
    path = tmp_path / "parts.h5"
    with DatasetWriter(path, buffer_pixels=100) as w:
        for (wave, flux, ivar, mask), meta in zip(specs, metas, strict=True):
            w.add(wave, flux, ivar, mask, meta)
            assert len(w._rows) < 4  # rows reach the file four at a time
        other = _write(tmp_path / "other.h5", specs[:2], [{"class": "QSO", "z": 2.0}] * 2)
        w.append_dataset(other)
    with h5py.File(path) as h5:
        assert "meta" not in h5 and len([n for n in h5["meta_parts"] if "." not in n]) == 4
        assert h5.attrs["format_version"] == dataset_module.FORMAT_VERSION
    ds = SpectraDataset(path)
    assert len(ds) == len(ds.meta) == 13
    assert list(ds.lengths) == [s[0].size for s in specs + specs[:2]]
    np.testing.assert_array_equal(ds.arrays(12)["flux"], specs[1][1])
    z = ds.labels("z")
    assert z[3] == pytest.approx(0.03) and np.isnan(z[5]) and z[12] == pytest.approx(2.0)
    assert ds.meta_row(7)["note"] == "late column" and "note" not in ds.meta_row(6)
    assert list(ds.labels("class")[10:]) == ["STAR", "QSO", "QSO"]


def test_reads_version_1_files(tmp_path):
    """A file of format version 1 (one ``meta`` table) reads as before."""
    rng = np.random.default_rng(4)
    path = tmp_path / "v1.h5"
    _write(path, [_toy(rng, 40)], [{"class": "STAR", "subclass": "F5"}])
    with h5py.File(path, "a") as h5:
        assert "meta" in h5 and "meta_parts" not in h5
        h5.attrs["format_version"] = 1
    ds = SpectraDataset(path)
    assert ds.meta_row(0)["subclass"] == "F5" and len(ds) == 1
