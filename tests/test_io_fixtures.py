"""Reading the real survey files in tests/data through specutils and read_spectra."""

from __future__ import annotations

import gzip
import io
import shutil

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.io import registry as io_registry
from astropy.nddata import InverseVariance
from specutils import Spectrum, SpectrumList

import spectromer  # noqa: F401  (registers the readers)
from spectromer.io import (
    DESI_COADD,
    LAMOST_FLUX_UNIT,
    LAMOST_LRS,
    LAMOST_LRS_DR1_7,
    META_KEYS,
    SDSS_FLUX_UNIT,
    SDSS_SPEC,
    formats,
    identify_format,
    read_spectra,
)

LAMOST_DR10 = [
    "spec-59517-EG025613N082253M02_sp08-200.fits.gz",
    "spec-59522-EG224840N075042B03_sp01-119.fits.gz",
]
LAMOST_DR1 = ["spec-55862-B6212_sp06-003.fits", "spec-55862-B6212_sp06-005.fits"]
SDSS = ["spec-0385-51783-0396.fits", "spec-3655-55240-0002.fits"]  # the 2nd: unnamed HDUs
DESI = ["coadd-4-80613-thru20210324.fits"]
ALL = LAMOST_DR10 + LAMOST_DR1 + SDSS + DESI
FORMAT_OF = {
    **dict.fromkeys(LAMOST_DR10, LAMOST_LRS),
    **dict.fromkeys(LAMOST_DR1, LAMOST_LRS_DR1_7),
    **dict.fromkeys(SDSS, SDSS_SPEC),
    **dict.fromkeys(DESI, DESI_COADD),
}
SPECTRUM1D_WARNING = "ignore:The Spectrum1D class is deprecated"

SDSS_FLUX = u.Unit("1e-17 erg / (s cm2 Angstrom)")


def _expected_mask(flux, ivar, andmask, zero_padding=False):
    mask = (np.asarray(andmask) != 0) | ~(np.asarray(ivar) > 0) | ~np.isfinite(flux)
    if zero_padding:  # LAMOST: leading/trailing runs of flux == 0 are padding
        nonzero = np.flatnonzero(np.asarray(flux) != 0)
        edges = np.ones(mask.shape, bool)
        edges[nonzero[0] : nonzero[-1] + 1] = False
        mask |= edges
    return mask


def _check_common(spec: Spectrum, name: str) -> None:
    assert isinstance(spec, Spectrum)
    assert spec.flux.ndim == 1
    assert spec.spectral_axis.unit == u.AA
    assert np.all(np.diff(spec.spectral_axis.value) > 0)
    assert isinstance(spec.uncertainty, InverseVariance)
    assert spec.uncertainty.unit == spec.flux.unit**-2
    assert spec.mask.dtype == bool and spec.mask.shape == spec.flux.shape
    assert not spec.mask.all()
    assert spec.meta["source"] == name
    for key, value in spec.meta.items():
        if key in META_KEYS and key != "header":
            assert isinstance(value, str | int | float), (key, type(value))


def test_formats_are_registered():
    assert formats() == [LAMOST_LRS, LAMOST_LRS_DR1_7, SDSS_SPEC, DESI_COADD]
    for label in formats():
        for cls in (Spectrum, SpectrumList):
            assert io_registry.get_reader(label, cls) is not None


@pytest.mark.parametrize("name", ALL)
def test_identify_format(data_dir, name):
    assert identify_format(data_dir / name) == FORMAT_OF[name]


@pytest.mark.parametrize("name", LAMOST_DR10)
def test_lamost_dr10_labels_and_arrays(data_dir, name):
    path = data_dir / name
    spec = Spectrum.read(path)
    _check_common(spec, name)
    with fits.open(path) as hdul:
        header = hdul[0].header
        row = hdul["COADD"].data[0]
        flux, ivar, wave, andmask = (
            np.asarray(row[c], float) for c in ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK")
        )
    meta = spec.meta
    assert meta["survey"] == "LAMOST"
    assert meta["class"] == header["CLASS"].strip().upper()
    assert meta["subclass"] == header["SUBCLASS"].strip()
    assert meta["z"] == header["Z"]
    assert meta["z_err"] == header["Z_ERR"]
    assert meta["snr"] == meta["snr_r"] == header["SNRR"]
    for band in "ugriz":
        assert meta[f"snr_{band}"] == header[f"SNR{band.upper()}"]
    assert meta["obsid"] == header["OBSID"]
    assert meta["object_id"] == str(header["OBSID"])
    assert (meta["ra"], meta["dec"]) == (header["RA"], header["DEC"])
    assert (meta["mjd"], meta["fiberid"], meta["spid"]) == (
        header["MJD"],
        header["FIBERID"],
        header["SPID"],
    )
    assert meta["planid"] == header["PLANID"].strip()
    assert meta["data_release"] == "LAMOST DR10"
    assert meta["header"]["OBSID"] == header["OBSID"]
    assert spec.flux.unit == LAMOST_FLUX_UNIT == u.dimensionless_unscaled
    np.testing.assert_array_equal(spec.spectral_axis.value, wave)
    np.testing.assert_array_equal(spec.flux.value, flux)
    np.testing.assert_array_equal(spec.uncertainty.array, np.where(ivar > 0, ivar, 0))
    np.testing.assert_array_equal(spec.mask, _expected_mask(flux, ivar, andmask, True))


@pytest.mark.parametrize("name", LAMOST_DR1)
def test_lamost_dr1_labels_and_arrays(data_dir, name):
    path = data_dir / name
    spec = Spectrum.read(path)
    _check_common(spec, name)
    with fits.open(path) as hdul:
        header = hdul[0].header
        image = hdul[0].data.astype(float)
    npix = image.shape[1]
    wave = 10 ** (header["COEFF0"] + header["COEFF1"] * np.arange(npix))
    meta = spec.meta
    assert meta["survey"] == "LAMOST"
    assert meta["class"] == header["CLASS"].strip()
    assert meta["subclass"] == header["SUBCLASS"].strip()
    assert meta["z"] == header["Z"] and meta["z_err"] == header["Z_ERR"]
    assert meta["snr"] == meta["snr_r"] == header["SN_R"]
    assert meta["snr_g"] == header["SN_G"]
    assert meta["fiberid"] == header["FIBERID"]
    # DR1 files carry no OBSID or DATA_V: the keys are there, with the missing values.
    assert meta["object_id"] == "" and np.isnan(meta["obsid"]) and meta["data_release"] == ""
    np.testing.assert_allclose(spec.spectral_axis.value, wave, rtol=1e-12)
    np.testing.assert_array_equal(spec.flux.value, image[0])
    np.testing.assert_array_equal(spec.mask, _expected_mask(image[0], image[1], image[3], True))
    assert spec.flux.unit == u.dimensionless_unscaled


@pytest.mark.parametrize("name", SDSS)
def test_sdss_labels_and_arrays(data_dir, name):
    """read_spectra: spectromer's arrays; Spectrum.read: specutils' arrays, same labels."""
    path = data_dir / name
    [spec] = read_spectra(path)
    _check_common(spec, name)
    registry = Spectrum.read(path)
    stable = [k for k in META_KEYS if k != "header"]
    assert {k: registry.meta.get(k) for k in stable} == {k: spec.meta.get(k) for k in stable}
    with fits.open(path) as hdul:
        header = hdul[0].header
        coadd = hdul[1].data
        specobj = hdul[2].data[0]
        flux = np.asarray(coadd["flux"], float)
        ivar = np.asarray(coadd["ivar"], float)
        loglam = np.asarray(coadd["loglam"], float)
        and_mask = np.asarray(coadd["and_mask"])
        expected = {
            "object_id": str(int(str(specobj["SPECOBJID"]).strip())),
            "class": specobj["CLASS"].strip().upper(),
            "z": float(specobj["Z"]),
            "z_err": float(specobj["Z_ERR"]),
            "z_warning": int(specobj["ZWARNING"]),
            "snr": float(specobj["SN_MEDIAN_ALL"]),
            "ra": float(specobj["PLUG_RA"]),
            "dec": float(specobj["PLUG_DEC"]),
            "plate": int(specobj["PLATE"]),
            "mjd": int(specobj["MJD"]),
            "fiberid": int(specobj["FIBERID"]),
            "data_release": specobj["RUN2D"].strip(),
        }
        subclass = specobj["SUBCLASS"].strip()
    meta = spec.meta
    assert meta["survey"] == "SDSS"
    for key, value in expected.items():
        assert meta[key] == value, key
    assert meta["subclass"] == subclass  # "" when SUBCLASS is blank (spec-0385)
    assert meta["specobj"]["CLASS"] == expected["class"]
    assert (meta["plate"], meta["mjd"], meta["fiberid"]) == (
        header["PLATEID"],
        header["MJD"],
        header["FIBERID"],
    )
    assert spec.flux.unit == SDSS_FLUX == SDSS_FLUX_UNIT
    np.testing.assert_allclose(spec.spectral_axis.value, 10**loglam, rtol=1e-12)
    np.testing.assert_array_equal(spec.flux.value, flux)
    np.testing.assert_array_equal(spec.mask, _expected_mask(flux, ivar, and_mask))


def test_boss_file_without_hdu_names_is_read(data_dir):
    path = data_dir / "spec-3655-55240-0002.fits"
    with fits.open(path) as hdul:
        assert hdul[1].name == "" and hdul[2].name == ""
        assert "FLUX" in hdul[1].columns.names  # upper-case columns
    spec = Spectrum.read(path)
    assert spec.meta["class"] == "QSO"
    assert spec.meta["z"] == pytest.approx(2.3552384)
    assert spec.meta["object_id"] == "4115164797179547648"  # uint64 (TZERO) column


def test_desi_fixture_labels(data_dir):
    path = data_dir / DESI[0]
    spec = Spectrum.read(path)
    _check_common(spec, DESI[0])
    with fits.open(data_dir / "redrock-4-80613-thru20210324.fits") as hdul:
        zrow = hdul["REDSHIFTS"].data[0]
    with fits.open(path) as hdul:
        fibermap = hdul["FIBERMAP"].data[0]
        b_wave = hdul["B_WAVELENGTH"].data
        z_wave = hdul["Z_WAVELENGTH"].data
    meta = spec.meta
    assert meta["survey"] == "DESI"
    assert meta["targetid"] == int(fibermap["TARGETID"]) == int(zrow["TARGETID"])
    assert meta["object_id"] == str(meta["targetid"])
    assert meta["ra"] == fibermap["TARGET_RA"] and meta["dec"] == fibermap["TARGET_DEC"]
    assert meta["z"] == zrow["Z"] and meta["z_err"] == zrow["ZERR"]
    assert meta["z_warning"] == zrow["ZWARN"]
    assert meta["class"] == meta["spectype"] == zrow["SPECTYPE"].strip().upper()
    assert meta["subclass"] == ""  # SUBTYPE is empty for this galaxy
    assert meta["redrock_file"] == "redrock-4-80613-thru20210324.fits"
    assert spec.flux.unit == SDSS_FLUX
    assert spec.spectral_axis[0].value == pytest.approx(b_wave[0])
    assert spec.spectral_axis[-1].value == pytest.approx(z_wave[-1])


def test_one_registry_format_per_fixture(data_dir):
    """specutils' SDSS-III/IV and tabular-fits identifiers step aside for our files."""
    for name in ALL:
        path = str(data_dir / name)
        assert io_registry.identify_format("read", Spectrum, path, None, [path], {}) == [
            FORMAT_OF[name]
        ], name
    assert "survey" in Spectrum.read(data_dir / SDSS[0]).meta
    desi = str(data_dir / DESI[0])
    found = io_registry.identify_format("read", SpectrumList, desi, None, [desi], {})
    assert DESI_COADD not in found and "DESI coadd" in found
    spectra = SpectrumList.read(desi)
    assert [s.meta["band"] for s in spectra] == ["b", "r", "z"]  # specutils' arms
    [merged] = SpectrumList.read(desi, format=DESI_COADD)
    assert merged.meta["survey"] == "DESI"


@pytest.mark.filterwarnings(SPECTRUM1D_WARNING)
@pytest.mark.parametrize("name", ALL)
def test_deprecated_spectrum1d_alias(data_dir, name):
    from specutils import Spectrum1D

    spec = Spectrum1D.read(data_dir / name)
    assert isinstance(spec, Spectrum1D)
    assert spec.meta["source"] == name
    np.testing.assert_array_equal(spec.flux, Spectrum.read(data_dir / name).flux)


@pytest.mark.parametrize("name", ALL)
def test_read_spectra_one_per_file(data_dir, name):
    spectra = read_spectra(data_dir / name)
    assert isinstance(spectra, list) and len(spectra) == 1
    _check_common(spectra[0], name)
    direct = Spectrum.read(data_dir / name)
    np.testing.assert_array_equal(spectra[0].flux, direct.flux)
    stable = [k for k in META_KEYS if k != "header"]
    assert {k: spectra[0].meta.get(k) for k in stable} == {k: direct.meta.get(k) for k in stable}
    again = read_spectra(str(data_dir / name), format=FORMAT_OF[name])[0]
    assert {k: again.meta.get(k) for k in stable} == {k: direct.meta.get(k) for k in stable}


@pytest.mark.parametrize("name", LAMOST_DR1 + SDSS + DESI)
def test_gzip_copy_reads_the_same(data_dir, tmp_path, name):
    # DESI's redrock sibling is gzipped too, to exercise that lookup.
    for sibling in (name, name.replace("coadd-", "redrock-")):
        with open(data_dir / sibling, "rb") as src:
            (tmp_path / f"{sibling}.gz").write_bytes(gzip.compress(src.read()))
    plain = Spectrum.read(data_dir / name)
    packed = Spectrum.read(tmp_path / f"{name}.gz")
    assert packed.meta["source"] == f"{name}.gz"
    np.testing.assert_array_equal(packed.flux, plain.flux)
    np.testing.assert_array_equal(packed.mask, plain.mask)
    stable = [k for k in META_KEYS if k not in ("source", "header")]
    assert {k: packed.meta.get(k) for k in stable} == {k: plain.meta.get(k) for k in stable}
    assert len(read_spectra(tmp_path / f"{name}.gz")) == 1


@pytest.mark.parametrize("name", LAMOST_DR10)
def test_gunzipped_lamost_reads_the_same(data_dir, tmp_path, name):
    target = tmp_path / name[: -len(".gz")]
    with gzip.open(data_dir / name, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain = read_spectra(target)[0]
    packed = read_spectra(data_dir / name)[0]
    np.testing.assert_array_equal(plain.flux, packed.flux)
    np.testing.assert_array_equal(plain.spectral_axis, packed.spectral_axis)
    assert plain.meta["obsid"] == packed.meta["obsid"]


def test_file_object_hdulist_and_source(data_dir):
    name = LAMOST_DR10[0]
    with open(data_dir / name, "rb") as fh:
        from_file = Spectrum.read(fh)
    assert from_file.meta["source"] == name
    with fits.open(data_dir / name) as hdul:
        from_hdul = Spectrum.read(hdul, format=LAMOST_LRS, source="renamed.fits")
    assert from_hdul.meta["source"] == "renamed.fits"
    from_bytes = Spectrum.read(io.BytesIO((data_dir / name).read_bytes()), format=LAMOST_LRS)
    assert from_bytes.meta["source"] == "<BytesIO>"
    np.testing.assert_array_equal(from_file.flux, from_hdul.flux)
    np.testing.assert_array_equal(from_file.flux, from_bytes.flux)


@pytest.mark.filterwarnings("ignore::astropy.units.UnitsWarning")
def test_read_spectra_with_a_specutils_format(data_dir):
    spectra = read_spectra(data_dir / SDSS[0], format="SDSS-III/IV spec")
    assert len(spectra) == 1 and "survey" not in spectra[0].meta  # specutils' own reader


def test_read_spectra_rejects_non_paths():
    with pytest.raises(TypeError, match="expects a path"):
        read_spectra(123)  # type: ignore[arg-type]


def test_lamost_zero_padding_is_masked(data_dir):
    """LAMOST pads spectrum ends with flux = 0, positive ivar and a clear and-mask."""
    path = data_dir / "spec-59517-EG025613N082253M02_sp08-200.fits.gz"
    table = fits.getdata(path, 1)
    flux = table["FLUX"][0]
    nonzero = np.flatnonzero(flux != 0)
    assert nonzero[-1] < flux.size - 1, "fixture should end in zero padding"
    spec = Spectrum.read(path)
    assert spec.mask[nonzero[-1] + 1 :].all()
    interior = np.zeros(flux.size, bool)
    interior[nonzero[0] : nonzero[-1] + 1] = True
    assert not spec.mask[interior & (table["ANDMASK"][0] == 0) & (table["IVAR"][0] > 0)].any()
