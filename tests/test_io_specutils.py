"""spectromer as a specutils citizen: one format per file, supersets, specutils' own views kept."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.io import registry as io_registry
from astropy.io.registry import IORegistryError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specutils import Spectrum, SpectrumList
from specutils.io.registers import identify_spectrum_format

import spectromer  # noqa: F401  (registers the readers)
from spectromer.io import DESI_MERGED, SDSS_SPEC, SpectrumReadError, formats, read_spectra
from spectromer.io._unreadable import UNREADABLE, unreadable_problem

FIXTURES = {
    "spec-59517-EG025613N082253M02_sp08-200.fits.gz": "LAMOST-LRS",
    "spec-59522-EG224840N075042B03_sp01-119.fits.gz": "LAMOST-LRS",
    "spec-55862-B6212_sp06-003.fits": "LAMOST-LRS-DR1-7",
    "spec-55862-B6212_sp06-005.fits": "LAMOST-LRS-DR1-7",
    "spec-0385-51783-0396.fits": SDSS_SPEC,
    "spec-3655-55240-0002.fits": SDSS_SPEC,
    "coadd-4-80613-thru20210324.fits": DESI_MERGED,
    "redrock-4-80613-thru20210324.fits": "tabular-fits",  # not a spectrum: specutils' guess
}
SDSS = [name for name, fmt in FIXTURES.items() if fmt == SDSS_SPEC]
DESI = "coadd-4-80613-thru20210324.fits"


def test_fixtures_cover_tests_data(data_dir):
    assert sorted(p.name for p in data_dir.glob("*.fits*")) == sorted(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_exactly_one_format_per_file(data_dir, name):
    assert identify_spectrum_format(data_dir / name) == FIXTURES[name]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_spectrum_list_identification_adds_no_second_format(data_dir, name):
    found = identify_spectrum_format(str(data_dir / name), SpectrumList)
    found = [found] if isinstance(found, str) else found
    ours = [fmt for fmt in found if fmt in formats()]
    if name == DESI:
        assert ours == [] and "DESI coadd" in found  # specutils' per-arm loader keeps it
    else:
        assert len(ours) <= 1 and (not ours or found == ours)


def _same_spectrum(ours: Spectrum, theirs: Spectrum) -> None:
    assert ours.shape == theirs.shape
    assert ours.flux.unit == theirs.flux.unit
    np.testing.assert_array_equal(ours.flux.value, theirs.flux.value)
    np.testing.assert_array_equal(ours.spectral_axis, theirs.spectral_axis)
    assert type(ours.uncertainty) is type(theirs.uncertainty)
    np.testing.assert_array_equal(ours.uncertainty.array, theirs.uncertainty.array)
    np.testing.assert_array_equal(ours.mask, theirs.mask)
    for key, value in theirs.meta.items():  # a superset of specutils' meta
        assert ours.meta[key] is value or ours.meta[key] == value, key


@pytest.mark.filterwarnings("ignore:.*multiple slashes")
@pytest.mark.parametrize("name", SDSS)
def test_sdss_is_specutils_reader_plus_labels(data_dir, name):
    path = data_dir / name
    theirs = Spectrum.read(path, format="SDSS-III/IV spec")
    ours = Spectrum.read(path)
    _same_spectrum(ours, theirs)
    assert ours.meta["survey"] == "SDSS" and ours.meta["source"] == name
    assert "survey" not in theirs.meta  # specutils' own reader is left as it is
    # the same with a file object, an HDUList, hdu= and through SpectrumList
    with open(path, "rb") as fh:
        _same_spectrum(Spectrum.read(fh), theirs)
    with fits.open(path) as hdulist:
        _same_spectrum(Spectrum.read(hdulist), theirs)
    specutils_hdu1 = Spectrum.read(path, format="SDSS-III/IV spec", hdu=1)
    _same_spectrum(Spectrum.read(path, hdu=1), specutils_hdu1)
    [listed] = SpectrumList.read(path)
    _same_spectrum(listed, theirs)
    assert listed.meta["class"] == ours.meta["class"]


def test_desi_spectrum_list_keeps_specutils_arms(data_dir):
    path = data_dir / DESI
    arms = SpectrumList.read(path)
    assert [s.meta["band"] for s in arms] == ["b", "r", "z"]
    [merged] = SpectrumList.read(path, format=DESI_MERGED)
    assert merged.meta["survey"] == "DESI" and merged.flux.ndim == 1
    [friendly] = read_spectra(path)
    np.testing.assert_array_equal(friendly.flux, merged.flux)
    np.testing.assert_array_equal(Spectrum.read(path).flux, merged.flux)
    # the merged grid covers every arm
    assert merged.spectral_axis[0] == arms[0].spectral_axis[0]
    assert merged.spectral_axis[-1] == arms[-1].spectral_axis[-1]


def test_tabular_fits_still_identifies_its_own_files(tmp_path):
    import astropy.units as u

    spec = Spectrum(flux=np.arange(1.0, 6.0) * u.Jy, spectral_axis=(4000 + np.arange(5.0)) * u.AA)
    path = tmp_path / "plain.fits"
    spec.write(path, format="tabular-fits")
    assert identify_spectrum_format(path) == "tabular-fits"
    np.testing.assert_array_equal(Spectrum.read(path).flux, spec.flux)
    assert io_registry.identify_format("write", Spectrum, str(path), None, [str(path)], {}) == [
        "tabular-fits"
    ]


# ---------------------------------------------------------------------------
# SDSS spec files of either generation: which loader gets them


def _spec_file(version: str, n_exposures: int, upper: bool, blank_subclass: bool) -> fits.HDUList:
    """An SDSS-III/IV (v5) or SDSS-V (v6) spec file: coadd, SPECOBJ/SPALL, exposures."""
    rng = np.random.default_rng(n_exposures)
    n = 40
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "SDSS 2.5-M"
    primary.header["VERS2D"] = version
    primary.header["FIBERID"] = 12
    primary.header["PLATEID"] = 3655
    primary.header["MJD"] = 55240

    def table(name: str, n_pix: int = n) -> fits.BinTableHDU:
        def col(c: str) -> str:
            return c.upper() if upper else c

        return fits.BinTableHDU.from_columns(
            [
                fits.Column(col("flux"), "E", array=rng.normal(5, 1, n_pix)),
                fits.Column(col("loglam"), "E", array=3.58 + 1e-4 * np.arange(n_pix)),
                fits.Column(col("ivar"), "E", array=rng.uniform(0, 2, n_pix)),
                fits.Column(col("and_mask"), "J", array=rng.integers(0, 2, n_pix) * 16),
                fits.Column(col("or_mask"), "J", array=np.zeros(n_pix, np.int32)),
            ],
            name=name,
        )

    specobj = fits.BinTableHDU.from_columns(
        [
            fits.Column("CLASS", "6A", array=["QSO"]),
            fits.Column("SUBCLASS", "9A", array=["   " if blank_subclass else "BROADLINE"]),
            fits.Column("Z", "E", array=[2.3]),
            fits.Column("PLATE", "J", array=[3655]),
        ],
        name="SPECOBJ" if version.startswith("v5") else "SPALL",
    )
    hdus = [primary, table("COADD"), specobj]
    if version.startswith("v6"):
        hdus += [table("ZALL"), table("ZLINE")]
    hdus += [table(f"EXP{k}") for k in range(n_exposures)]
    return fits.HDUList(hdus)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    version=st.sampled_from(["v5_7_0", "v5_13_0", "v6_0_4", "v6_1_2"]),
    n_exposures=st.integers(0, 3),
    upper=st.booleans(),
    blank_subclass=st.booleans(),
)
@pytest.mark.filterwarnings("ignore:.*multiple slashes")
def test_sdss_generations(tmp_path_factory, version, n_exposures, upper, blank_subclass):
    path = tmp_path_factory.mktemp("sdss") / "spec-3655-55240-0012.fits"
    _spec_file(version, n_exposures, upper, blank_subclass).writeto(path)
    # the friendly path reads both generations alike, every label present
    [friendly] = read_spectra(path)
    assert friendly.meta["survey"] == "SDSS" and friendly.meta["plate"] == 3655
    if version.startswith("v5"):
        assert friendly.meta["class"] == "QSO"
        assert friendly.meta["subclass"] == ("" if blank_subclass else "BROADLINE")
        assert identify_spectrum_format(path) == SDSS_SPEC
        _same_spectrum(Spectrum.read(path), Spectrum.read(path, format="SDSS-III/IV spec"))
        assert Spectrum.read(path).meta["subclass"] == friendly.meta["subclass"]
        return
    # SDSS-V keeps specutils' reader: per-exposure HDUs and hdu= included
    assert identify_spectrum_format(path) == "SDSS-V spec"
    spectra = SpectrumList.read(path)
    assert len(spectra) == 1 + n_exposures
    for hdu in [1, *range(5, 5 + n_exposures)]:
        ours = Spectrum.read(path, hdu=hdu)
        _same_spectrum(ours, Spectrum.read(path, format="SDSS-V spec", hdu=hdu))
        assert "survey" not in ours.meta
    with pytest.raises(ValueError):
        Spectrum.read(path, hdu=2)


def test_bytes_of_a_claimed_file_are_read_once_identified(data_dir):
    """A BytesIO is identified and read without being consumed by the identifiers."""
    raw = (data_dir / SDSS[0]).read_bytes()
    spec = Spectrum.read(io.BytesIO(raw))
    assert spec.meta["survey"] == "SDSS" and spec.meta["source"] == "<BytesIO>"
    assert Path(spec.meta["header"].get("FILENAME", "x")).name  # the header came along


# -- unreadable files: Spectrum.read names the file and says what is wrong ------------------

_HTML = b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n"
_BROKEN = {
    "spec-0266-51602-0001.fits": (
        _HTML,
        r"not a FITS file \(starts with '<!DOCTYPE html>'\); an HTML",
    ),
    "coadd-4-80613-thru20210324.fits": (b"", r"empty file \(0 bytes\)"),
    "spec-59517-EG025613N082253M02_sp08-200.fits.gz": (
        gzip.compress(_HTML),
        r"not a FITS file \(starts with '<!DOCTYPE html>'\)",
    ),
    "spec-3655-55240-0002.fits.gz": (
        gzip.compress(b"SIMPLE  =" + b" " * 3000)[:30],
        "truncated gzip",
    ),
}


@pytest.mark.parametrize("cls", [Spectrum, SpectrumList])
@pytest.mark.parametrize("name", sorted(_BROKEN))
def test_read_of_a_broken_survey_file_names_it_and_says_why(tmp_path, cls, name):
    content, reason = _BROKEN[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SpectrumReadError, match=re.escape(str(path)) + ": " + reason) as info:
        cls.read(path)
    assert "could not be identified" not in str(info.value)
    assert isinstance(info.value, IORegistryError)  # what astropy raised for it before
    with open(path, "rb") as fh, pytest.raises(SpectrumReadError, match=reason):
        cls.read(fh)  # the same from a file object (named by its .name)
    assert identify_spectrum_format(str(path), cls) == UNREADABLE  # the one format, no ambiguity


def test_spectrum_read_of_a_directory_names_it(tmp_path):
    folder = tmp_path / "spec-0266-51602-0001.fits"
    folder.mkdir()
    with pytest.raises(SpectrumReadError, match=re.escape(f"{folder}: is a directory")):
        Spectrum.read(folder)
    # SpectrumList.read of a directory is specutils' (JWST MIRI MRS): left as it is
    # (the arguments astropy's read gives the identifiers for a directory)
    found = io_registry.identify_format("read", SpectrumList, None, None, [str(folder)], {})
    assert UNREADABLE not in found and found
    found = io_registry.identify_format("read", Spectrum, None, None, [str(folder)], {})
    assert found == [UNREADABLE]


@pytest.mark.parametrize("name", ["page.html", "notes.txt", "readme"])
def test_broken_files_not_named_fits_keep_astropys_message(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(_HTML)
    assert unreadable_problem(Spectrum, "read", str(path), None, str(path)) is None
    with pytest.raises(Exception) as info:  # whatever specutils/astropy say, not ours
        Spectrum.read(path)
    assert not isinstance(info.value, SpectrumReadError)


def test_unreadable_is_no_reading_format(data_dir):
    assert UNREADABLE not in formats()
    with pytest.raises(SpectrumReadError, match="only reports unreadable files"):
        Spectrum.read(data_dir / SDSS[0], format=UNREADABLE)
