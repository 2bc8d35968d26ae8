"""Read every real spectrum in ../shared/data (skipped where that folder is absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import spectromer  # noqa: F401  (registers the readers)
from spectromer.io import read_spectra
from spectromer.io._labels import LABEL_TABLES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
N_LAMOST_DR10 = 200

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"real survey data not available: {SHARED} does not exist"
)


def _check(spectra, path: Path, survey: str, required: tuple[str, ...]) -> None:
    assert spectra, path
    for spec in spectra:
        assert spec.flux.ndim == 1
        assert np.all(np.diff(spec.spectral_axis.value) > 0)
        assert not spec.mask.all(), path.name
        meta = spec.meta
        assert meta["survey"] == survey and meta["source"] == path.name
        missing = [key for key in required if key not in meta]
        assert not missing, f"{path.name}: missing {missing}"
        # stable keys: every key of the survey's label table, for every file
        absent = [key for key in LABEL_TABLES[survey].keys() if key not in meta]
        assert not absent, f"{path.name}: no {absent}"
        assert meta["class"] == meta["class"].strip().upper()


@pytest.mark.parametrize("folder", ["sdss-spec", "boss-sample"])
def test_every_sdss_file(folder):
    files = sorted((SHARED / folder).glob("*.fits"))
    assert files
    keys = (
        "object_id",
        "class",
        "z",
        "z_err",
        "z_warning",
        "snr",
        "ra",
        "dec",
        "plate",
        "mjd",
        "fiberid",
        "data_release",
    )
    for path in files:
        _check(read_spectra(path), path, "SDSS", keys)


def test_sdss_file_with_another_name():
    # NGC3073 is a dwarf galaxy the SDSS pipeline labelled STAR A0 (see the data README).
    meta = read_spectra(SHARED / "sdss-spec" / "NGC3073_SDSS_DR18.fits")[0].meta
    assert (meta["class"], meta["subclass"], meta["plate"]) == ("STAR", "A0", 945)


def test_every_lamost_dr1_file():
    files = sorted((SHARED / "lamost-dr1-sample").glob("*.fits*"))
    assert files
    subclasses = set()
    for path in files:
        spectra = read_spectra(path)
        _check(spectra, path, "LAMOST", ("class", "subclass", "z", "z_err", "snr", "ra", "dec"))
        subclasses.add(spectra[0].meta["subclass"])
    assert {"F9", "K5", "M0"} <= subclasses


def test_every_desi_coadd():
    files = sorted((SHARED / "desi").glob("coadd-*.fits"))
    assert files
    for path in files:
        spectra = read_spectra(path)
        _check(spectra, path, "DESI", ("object_id", "targetid", "class", "z", "ra", "dec"))
        assert spectra[0].spectral_axis.value[0] < 3700 < 9700 < spectra[0].spectral_axis.value[-1]


def test_lamost_dr10_sample_matches_catalog():
    folder = SHARED / "lamost-dr10-afg"
    with open(folder / "catalog.csv", newline="") as fh:
        catalog = {row["file"]: row for row in csv.DictReader(fh)}
    files = sorted((folder / "spectra").glob("*.fits.gz"))
    assert len(files) >= N_LAMOST_DR10
    step = len(files) / N_LAMOST_DR10
    sample = [files[int(i * step)] for i in range(N_LAMOST_DR10)]
    # and every file whose r-band S/N is LAMOST's -9999 sentinel
    sample += [p for p in files if float(catalog[p.name]["snr_r"]) == -9999 and p not in sample]
    keys = (
        "object_id",
        "obsid",
        "class",
        "subclass",
        "z",
        "z_err",
        "ra",
        "dec",
        "mjd",
        "fiberid",
        "planid",
        "spid",
        "data_release",
    )
    for path in sample:
        [spec] = read_spectra(path)
        _check([spec], path, "LAMOST", keys)
        row = catalog[path.name]
        meta = spec.meta
        assert meta["obsid"] == int(row["obsid"])
        assert meta["class"] == row["cls"] and meta["subclass"] == row["subclass"]
        assert meta["z"] == pytest.approx(float(row["z"]))
        if float(row["snr_r"]) == -9999:  # LAMOST's "unknown": NaN, not copied
            assert np.isnan(meta["snr"]) and np.isnan(meta["snr_r"])
        else:
            assert meta["snr"] == meta["snr_r"] == pytest.approx(float(row["snr_r"]))
        assert meta["planid"] == row["planid"] and meta["fiberid"] == int(row["fiberid"])
        assert meta["data_release"].startswith("LAMOST DR")
