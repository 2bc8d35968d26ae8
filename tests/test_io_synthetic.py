"""Synthetic LAMOST/SDSS files: hypothesis round trips, bad inputs, fast table decoding."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specutils import Spectrum

import spectromer  # noqa: F401  (registers the readers)
from spectromer.io import LAMOST_LRS, SpectrumReadError, read_spectra
from spectromer.io._build import check_spectrum_arrays, make_spectrum, split_spectrum
from spectromer.io._fits import table_columns
from spectromer.io._labels import SDSS_LABELS

# ---------------------------------------------------------------------------
# Builders


def lamost_dr8_hdulist(
    wavelength, flux, ivar, andmask=None, header=None, coadd_name="COADD"
) -> fits.HDUList:
    """A LAMOST DR8+-layout file: labels in the primary header, one-row COADD table."""
    n = len(flux)
    andmask = np.zeros(n, np.float32) if andmask is None else andmask
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "LAMOST"
    primary.header["OBSID"] = 123456789
    primary.header["CLASS"] = "STAR    "
    primary.header["SUBCLASS"] = "G5"
    primary.header["Z"] = -0.0001
    primary.header["Z_ERR"] = 2e-5
    primary.header["SNRR"] = 42.5
    primary.header["DATA_V"] = "LAMOST DR10"
    for key, value in (header or {}).items():
        primary.header[key] = value
    columns = [
        fits.Column(name, f"{n}E", array=np.asarray(values, np.float32)[None, :])
        for name, values in (
            ("FLUX", flux),
            ("IVAR", ivar),
            ("WAVELENGTH", wavelength),
            ("ANDMASK", andmask),
            ("ORMASK", andmask),
        )
    ]
    table = fits.BinTableHDU.from_columns(columns, name=coadd_name)
    return fits.HDUList([primary, table])


def sdss_hdulist(loglam, flux, ivar, and_mask, specobj, *, upper=False, unnamed=False):
    """An SDSS/BOSS spec-layout file: coadd table (HDU 1) and SPECOBJ row (HDU 2)."""
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "SDSS 2.5-M"
    primary.header["PLATEID"] = 1234
    primary.header["MJD"] = 56789
    primary.header["FIBERID"] = 42

    def col(name):
        return name.upper() if upper else name

    coadd = fits.BinTableHDU.from_columns(
        [
            fits.Column(col("flux"), "E", array=np.asarray(flux, np.float32)),
            fits.Column(col("loglam"), "E", array=np.asarray(loglam, np.float32)),
            fits.Column(col("ivar"), "E", array=np.asarray(ivar, np.float32)),
            fits.Column(col("and_mask"), "J", array=np.asarray(and_mask, np.int32)),
            fits.Column(col("or_mask"), "J", array=np.asarray(and_mask, np.int32)),
        ],
        name=None if unnamed else "COADD",
    )
    spec_columns = []
    for key, value in specobj.items():
        if isinstance(value, str):
            spec_columns.append(fits.Column(key, f"{max(len(value), 1)}A", array=[value]))
        elif isinstance(value, int):
            spec_columns.append(fits.Column(key, "K", array=[value]))
        else:
            spec_columns.append(fits.Column(key, "E", array=[value]))
    spec = fits.BinTableHDU.from_columns(spec_columns, name=None if unnamed else "SPECOBJ")
    return fits.HDUList([primary, coadd, spec])


def write(hdulist: fits.HDUList, path: Path, compress: bool = False) -> Path:
    """Write ``hdulist`` to ``path`` (``path.gz``, gzip-compressed, if ``compress``)."""
    raw = io.BytesIO()
    hdulist.writeto(raw)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw.getvalue()))
    else:
        path.write_bytes(raw.getvalue())
    return path


def expected_mask(flux, ivar, andmask):
    flux = np.asarray(flux, np.float32)
    ivar = np.asarray(ivar, np.float32)
    return (np.asarray(andmask) != 0) | ~(ivar > 0) | ~np.isfinite(flux)


# ---------------------------------------------------------------------------
# Hypothesis strategies


@st.composite
def spectra_arrays(draw, max_pixels=400):
    n = draw(st.integers(min_value=2, max_value=max_pixels))
    coeff0 = draw(st.floats(min_value=3.55, max_value=3.6))
    coeff1 = draw(st.floats(min_value=1e-4, max_value=5e-4))
    loglam = (coeff0 + coeff1 * np.arange(n)).astype(np.float32)
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    flux = rng.normal(100.0, 30.0, n).astype(np.float32)
    ivar = rng.uniform(0.0, 2.0, n).astype(np.float32)
    pattern = draw(st.sampled_from(["clean", "some-nan", "nan-run", "all-nan", "zero-ivar"]))
    if pattern == "some-nan":
        flux[rng.random(n) < 0.2] = np.nan
        ivar[rng.random(n) < 0.1] = np.nan
    elif pattern == "nan-run":
        start = int(rng.integers(0, n))
        flux[start : start + int(rng.integers(1, n + 1))] = np.nan
    elif pattern == "all-nan":
        flux[:] = np.nan
    elif pattern == "zero-ivar":
        ivar[:] = 0.0
    ivar[rng.random(n) < 0.1] = 0.0
    andmask = np.where(rng.random(n) < 0.05, 16, 0).astype(np.int32)
    return loglam, flux, ivar, andmask


def _usable(flux, ivar):
    return bool((np.isfinite(flux) & (np.asarray(ivar) > 0)).any())


# ---------------------------------------------------------------------------
# Round trips


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arrays=spectra_arrays(),
    compress=st.booleans(),
    subclass=st.sampled_from(["A0", "F5 (81937)", "K"]),
)
def test_lamost_dr8_round_trip(tmp_path_factory, arrays, compress, subclass):
    loglam, flux, ivar, andmask = arrays
    wavelength = (10.0 ** loglam.astype(np.float64)).astype(np.float32)
    hdul = lamost_dr8_hdulist(
        wavelength, flux, ivar, andmask.astype(np.float32), header={"SUBCLASS": subclass}
    )
    path = write(hdul, tmp_path_factory.mktemp("lamost") / "spec-1-x_sp01-001.fits", compress)
    if not np.isfinite(flux).any():
        with pytest.raises(SpectrumReadError, match="flux is all NaN") as info:
            read_spectra(path)
        assert path.name in str(info.value)
        return
    if not _usable(flux, ivar):
        with pytest.raises(SpectrumReadError, match="inverse variance is zero"):
            read_spectra(path)
        return
    [spec] = read_spectra(path)
    np.testing.assert_array_equal(spec.spectral_axis.value, wavelength.astype(np.float64))
    np.testing.assert_array_equal(spec.flux.value, flux.astype(np.float64))
    good_ivar = np.where(np.isfinite(ivar) & (ivar > 0), ivar, 0).astype(np.float64)
    np.testing.assert_array_equal(spec.uncertainty.array, good_ivar)
    np.testing.assert_array_equal(spec.mask, expected_mask(flux, ivar, andmask))
    assert spec.meta["subclass"] == subclass
    assert spec.meta["class"] == "STAR"
    assert spec.meta["obsid"] == 123456789 and spec.meta["object_id"] == "123456789"
    assert spec.meta["snr"] == 42.5
    assert spec.meta["source"] == path.name


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arrays=spectra_arrays(),
    compress=st.booleans(),
    upper=st.booleans(),
    unnamed=st.booleans(),
    cls=st.sampled_from(["GALAXY", "QSO  ", "star"]),
    subclass=st.sampled_from(["", "   ", "BROADLINE", "AGN BROADLINE"]),
)
def test_sdss_round_trip(tmp_path_factory, arrays, compress, upper, unnamed, cls, subclass):
    loglam, flux, ivar, and_mask = arrays
    specobj = {
        "SPECOBJID": "   299489676975171584",
        "CLASS": cls,
        "SUBCLASS": subclass,
        "Z": 0.125,
        "Z_ERR": 1e-4,
        "ZWARNING": 4,
        "SN_MEDIAN_ALL": 12.5,
        "PLUG_RA": 150.25,
        "PLUG_DEC": -1.5,
        "PLATE": 1234,
        "MJD": 56789,
        "FIBERID": 42,
        "RUN2D": "v5_13_0",
    }
    hdul = sdss_hdulist(loglam, flux, ivar, and_mask, specobj, upper=upper, unnamed=unnamed)
    path = write(hdul, tmp_path_factory.mktemp("sdss") / "renamed_by_user.fits", compress)
    if not np.isfinite(flux).any():
        with pytest.raises(SpectrumReadError, match="flux is all NaN"):
            Spectrum.read(path)
        return
    if not _usable(flux, ivar):
        with pytest.raises(SpectrumReadError, match="inverse variance is zero"):
            Spectrum.read(path)
        return
    spec = Spectrum.read(path)
    np.testing.assert_allclose(
        spec.spectral_axis.value, 10.0 ** loglam.astype(np.float64), rtol=1e-12
    )
    np.testing.assert_array_equal(spec.flux.value, flux.astype(np.float64))
    np.testing.assert_array_equal(spec.mask, expected_mask(flux, ivar, and_mask))
    meta = spec.meta
    assert meta["survey"] == "SDSS"
    assert meta["object_id"] == "299489676975171584"
    assert meta["class"] == cls.strip().upper()
    assert meta["subclass"] == subclass.strip()  # "" for a blank SUBCLASS: never absent
    assert set(meta) >= set(SDSS_LABELS.keys())
    assert meta["z"] == pytest.approx(0.125) and meta["z_warning"] == 4
    assert (meta["plate"], meta["mjd"], meta["fiberid"]) == (1234, 56789, 42)
    assert (meta["ra"], meta["dec"]) == (pytest.approx(150.25), pytest.approx(-1.5))
    assert meta["data_release"] == "v5_13_0"


def test_sdss_without_specobj_takes_header_labels(tmp_path):
    n = 50
    loglam = (3.6 + 1e-4 * np.arange(n)).astype(np.float32)
    hdul = sdss_hdulist(loglam, np.ones(n), np.ones(n), np.zeros(n), {"Z": 0.1})
    hdul = fits.HDUList([hdul[0], hdul[1]])
    hdul[0].header["PLUG_RA"] = 10.5
    path = write(hdul, tmp_path / "spec-1234-56789-0042.fits")
    [spec] = read_spectra(path)
    assert (spec.meta["plate"], spec.meta["mjd"], spec.meta["fiberid"]) == (1234, 56789, 42)
    assert spec.meta["ra"] == 10.5
    assert np.isnan(spec.meta["z"]) and spec.meta["class"] == "" and "specobj" not in spec.meta


def test_lamost_sentinels_are_dropped(tmp_path):
    n = 20
    wave = np.linspace(4000, 5000, n)
    hdul = lamost_dr8_hdulist(
        wave, np.ones(n), np.ones(n), header={"Z": -9999.0, "Z_ERR": -9999.0, "SUBCLASS": "  "}
    )
    [spec] = read_spectra(write(hdul, tmp_path / "spec.fits"))
    assert np.isnan(spec.meta["z"]) and np.isnan(spec.meta["z_err"])
    assert spec.meta["subclass"] == ""


# ---------------------------------------------------------------------------
# Bad inputs: each raises SpectrumReadError naming the file


def _good_lamost(n=30):
    wave = np.linspace(4000.0, 5000.0, n)
    return wave, np.ones(n), np.ones(n)


def _assert_read_error(path: Path, match: str) -> SpectrumReadError:
    with pytest.raises(SpectrumReadError, match=match) as info:
        read_spectra(path)
    err = info.value
    assert str(err).startswith(str(path))
    assert path.name in str(err)
    return err


def test_html_page_saved_as_fits(tmp_path):
    path = tmp_path / "spec-x.fits"
    path.write_text("<!DOCTYPE html>\n<html><body>Service unavailable</body></html>\n")
    _assert_read_error(path, r"not a FITS file \(starts with '<!DOCTYPE html>'\)")


def test_html_page_saved_as_fits_gz(tmp_path):
    path = tmp_path / "spec-x.fits.gz"
    path.write_bytes(gzip.compress(b"<html><body>404</body></html>"))
    _assert_read_error(path, "not a FITS file")


def test_truncated_gzip(tmp_path, data_dir):
    raw = (data_dir / "spec-59517-EG025613N082253M02_sp08-200.fits.gz").read_bytes()
    path = tmp_path / "spec-trunc.fits.gz"
    path.write_bytes(raw[: len(raw) // 2])
    err = _assert_read_error(path, "truncated gzip stream")
    assert isinstance(err.__cause__, EOFError)
    # Also through specutils' registry, which identifies the file from its headers.
    with pytest.raises(SpectrumReadError, match="truncated gzip stream"):
        Spectrum.read(path)


def test_truncated_plain_fits(tmp_path, data_dir):
    raw = (data_dir / "spec-55862-B6212_sp06-003.fits").read_bytes()
    path = tmp_path / "spec-trunc.fits"
    path.write_bytes(raw[: len(raw) - 10000])
    _assert_read_error(path, "truncated FITS file")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "spec-bad.fits.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 100)
    _assert_read_error(path, "gzip stream")


def test_missing_coadd_hdu(tmp_path):
    hdul = lamost_dr8_hdulist(*_good_lamost(), coadd_name="SOMETHING")
    _assert_read_error(write(hdul, tmp_path / "spec-nocoadd.fits"), "no COADD HDU")


def test_lamost_header_only(tmp_path):
    hdul = lamost_dr8_hdulist(*_good_lamost())
    path = write(fits.HDUList([hdul[0]]), tmp_path / "spec-header-only.fits")
    _assert_read_error(path, "no COADD HDU")


def test_missing_column(tmp_path):
    hdul = lamost_dr8_hdulist(*_good_lamost())
    hdul[1].columns.del_col("IVAR")
    hdul[1] = fits.BinTableHDU.from_columns(hdul[1].columns, name="COADD")
    _assert_read_error(write(hdul, tmp_path / "spec-noivar.fits"), "lacks column.*IVAR")


def test_all_nan_flux(tmp_path):
    wave, flux, ivar = _good_lamost()
    hdul = lamost_dr8_hdulist(wave, np.full_like(flux, np.nan), ivar)
    _assert_read_error(write(hdul, tmp_path / "spec-nan.fits"), "flux is all NaN")


def test_all_zero_ivar(tmp_path):
    wave, flux, ivar = _good_lamost()
    hdul = lamost_dr8_hdulist(wave, flux, np.zeros_like(ivar))
    _assert_read_error(write(hdul, tmp_path / "spec-ivar0.fits"), "inverse variance is zero")


def test_non_monotonic_wavelength(tmp_path):
    wave, flux, ivar = _good_lamost()
    wave = wave.copy()
    wave[10], wave[11] = wave[11], wave[10]
    hdul = lamost_dr8_hdulist(wave, flux, ivar)
    _assert_read_error(
        write(hdul, tmp_path / "spec-swap.fits"), "wavelength is not strictly increasing"
    )


def test_length_mismatch(tmp_path):
    hdul = lamost_dr8_hdulist(*_good_lamost())
    columns = [
        fits.Column("FLUX", "30E", array=np.ones((1, 30), np.float32)),
        fits.Column("IVAR", "30E", array=np.ones((1, 30), np.float32)),
        fits.Column("WAVELENGTH", "29E", array=np.linspace(4000, 5000, 29)[None, :]),
    ]
    hdul[1] = fits.BinTableHDU.from_columns(columns, name="COADD")
    _assert_read_error(
        write(hdul, tmp_path / "spec-short.fits"),
        "length mismatch: flux has 30 pixels, wavelength has 29",
    )


def test_dr1_layout_without_wavelength_solution(tmp_path):
    primary = fits.PrimaryHDU(np.ones((5, 40), np.float32))
    primary.header["TELESCOP"] = "LAMOST"
    path = tmp_path / "spec-nocoeff.fits"
    primary.writeto(path)
    _assert_read_error(path, "no COEFF0/COEFF1")


def test_empty_file(tmp_path):
    path = tmp_path / "spec-empty.fits"
    path.write_bytes(b"")
    _assert_read_error(path, r"empty file \(0 bytes\)")


def test_missing_file(tmp_path):
    err = _assert_read_error(tmp_path / "spec-missing.fits", "no such file")
    assert isinstance(err.__cause__, FileNotFoundError)


def test_directory(tmp_path):
    _assert_read_error(tmp_path, "directory")


def test_unrecognised_format(tmp_path):
    hdu = fits.PrimaryHDU(np.zeros((4, 4)))
    hdu.header["TELESCOP"] = "HST"
    path = tmp_path / "image.fits"
    hdu.writeto(path)
    _assert_read_error(
        path, r"format not recognised \(TELESCOP='HST'; LAMOST, SDSS/BOSS, DESI coadd supported\)"
    )


def test_wrong_explicit_format(tmp_path, data_dir):
    with pytest.raises(SpectrumReadError, match="no COADD HDU"):
        read_spectra(data_dir / "spec-3655-55240-0002.fits", format=LAMOST_LRS)
    with pytest.raises(SpectrumReadError, match="unknown format 'nope'"):
        read_spectra(data_dir / "spec-3655-55240-0002.fits", format="nope")


def test_error_pickles_and_is_a_value_error():
    err = SpectrumReadError("spec-x.fits", "flux is all NaN")
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, ValueError)
    assert str(again) == "spec-x.fits: flux is all NaN"
    assert (again.source, again.reason) == ("spec-x.fits", "flux is all NaN")


# ---------------------------------------------------------------------------
# Validation helper


def test_check_spectrum_arrays_rejects():
    w = np.arange(5.0) + 4000
    with pytest.raises(SpectrumReadError, match="length mismatch: flux has 4 pixels"):
        check_spectrum_arrays("a.fits", w, np.ones(4))
    with pytest.raises(SpectrumReadError, match="length mismatch: ivar"):
        check_spectrum_arrays("a.fits", w, np.ones(5), np.ones(4))
    with pytest.raises(SpectrumReadError, match="not finite at pixel 2"):
        check_spectrum_arrays("a.fits", np.array([1.0, 2, np.nan, 4, 5]), np.ones(5))
    with pytest.raises(SpectrumReadError, match="no pixels"):
        check_spectrum_arrays("a.fits", np.array([]), np.ones(0))
    with pytest.raises(SpectrumReadError, match="every object"):
        check_spectrum_arrays("a.fits", w, np.full((2, 5), np.nan))
    # One unusable object among several is allowed (returned fully masked).
    flux = np.ones((2, 5))
    flux[0] = np.nan
    check_spectrum_arrays("a.fits", w, flux, np.ones((2, 5)))


@pytest.mark.parametrize("n_object", [2, 3])
def test_make_spectrum_when_object_count_looks_like_pixels(n_object):
    """n_object == n_pixel (or n_pixel - 1) must not confuse specutils' axis guess."""
    wave = np.array([4000.0, 4001.0, 4002.0])
    flux = np.arange(3.0 * n_object).reshape(n_object, 3)
    spec = make_spectrum(
        wave, flux, np.ones_like(flux), np.zeros(flux.shape, bool), u.Jy, {"survey": "DESI"}
    )
    assert spec.flux.shape == (n_object, 3)
    parts = split_spectrum(spec)
    assert len(parts) == n_object
    np.testing.assert_array_equal(parts[-1].flux.value, flux[-1])
    assert parts[0].meta["survey"] == "DESI"


# ---------------------------------------------------------------------------
# Fast binary-table decoding agrees with astropy


def _table_file(tmp_path, columns, **header):
    hdu = fits.BinTableHDU.from_columns(columns)
    for key, value in header.items():
        hdu.header[key] = value
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def test_table_columns_matches_astropy(tmp_path):
    rng = np.random.default_rng(1)
    columns = [
        fits.Column("f", "3E", array=rng.normal(size=(4, 3)).astype(np.float32)),
        fits.Column("d", "D", array=rng.normal(size=4)),
        fits.Column("i", "I", array=np.arange(4, dtype=np.int16)),
        fits.Column("j", "J", array=np.arange(4, dtype=np.int32) * -7),
        fits.Column("k", "K", array=np.arange(4, dtype=np.int64) * 2**40),
        fits.Column("u", "K", bzero=2**63, array=np.array([0, 1, 2**63, 2**64 - 1], np.uint64)),
        fits.Column("uj", "J", bzero=2**31, array=np.array([0, 1, 2**31, 2**32 - 1], np.uint32)),
        fits.Column("b", "B", array=np.arange(4, dtype=np.uint8)),
        fits.Column("l", "2L", array=np.array([[True, False]] * 4)),
        fits.Column("s", "6A", array=["ab", "cdef  ", "", "QSO"]),
        fits.Column("m", "6E", dim="(3,2)", array=rng.normal(size=(4, 2, 3)).astype(np.float32)),
    ]
    path = _table_file(tmp_path, columns)
    with fits.open(path, memmap=False) as hdul:
        fast = table_columns(hdul[1])
    with fits.open(path, memmap=False) as hdul:
        ref = hdul[1].data
        for name in ref.columns.names:
            expected = np.asarray(ref[name])
            got = fast[name.upper()]
            if expected.dtype.kind == "U":
                expected = np.char.rstrip(expected)
            assert got.shape == expected.shape, name
            assert got.dtype.kind == expected.dtype.kind, name
            np.testing.assert_array_equal(got, expected, err_msg=name)


def test_table_columns_falls_back_for_scaled_columns(tmp_path):
    column = fits.Column("x", "J", array=np.array([0, 2, 4], np.int32))
    path = _table_file(tmp_path, [column], TSCAL1=0.5, TZERO1=1.0)
    with fits.open(path, memmap=False) as hdul:
        np.testing.assert_allclose(table_columns(hdul[1])["X"], [1.0, 2.0, 3.0])


def test_table_columns_in_memory_and_selection():
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column("a", "E", array=[1.0]), fits.Column("b", "E", array=[2.0])]
    )
    assert list(table_columns(hdu, ["B", "missing"])) == ["B"]
