"""DESI coadd reading: arm merging, redrock labels, multi-target files."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from specutils import Spectrum, SpectrumList

import spectromer  # noqa: F401  (registers the readers)
from spectromer.io import DESI_COADD, DESI_MERGED, SpectrumReadError, read_spectra
from spectromer.io.desi import merge_arms, redrock_path

COADD = "coadd-4-80613-thru20210324.fits"
REDROCK = "redrock-4-80613-thru20210324.fits"


def _arms(path):
    with fits.open(path) as hdul:
        return {
            arm: {
                "wave": hdul[f"{arm}_WAVELENGTH"].data.astype(float),
                "flux": hdul[f"{arm}_FLUX"].data.astype(float),
                "ivar": hdul[f"{arm}_IVAR"].data.astype(float),
                "mask": hdul[f"{arm}_MASK"].data.astype(int),
            }
            for arm in "BRZ"
        }


def _index(grid, wave):
    idx = np.searchsorted(grid, wave - 1e-3)
    assert np.allclose(grid[idx], wave, atol=1e-3)
    return idx


def test_merged_grid_covers_all_arms(data_dir):
    spec = Spectrum.read(data_dir / COADD)
    arms = _arms(data_dir / COADD)
    grid = spec.spectral_axis.value
    assert np.all(np.diff(grid) > 0)
    assert grid[0] == pytest.approx(arms["B"]["wave"][0])
    assert grid[-1] == pytest.approx(arms["Z"]["wave"][-1])
    union = np.unique(np.round(np.concatenate([a["wave"] for a in arms.values()]), 3))
    assert grid.size == union.size
    np.testing.assert_allclose(np.diff(grid), 0.8, atol=1e-6)  # DESI's shared linear grid


def test_overlap_is_inverse_variance_weighted(data_dir):
    spec = Spectrum.read(data_dir / COADD)
    arms = _arms(data_dir / COADD)
    grid = spec.spectral_axis.value
    ivar = spec.uncertainty.array
    flux = spec.flux.value
    b, r, z = arms["B"], arms["R"], arms["Z"]
    ib, ir, iz = _index(grid, b["wave"]), _index(grid, r["wave"]), _index(grid, z["wave"])
    overlap = np.intersect1d(ib, ir)
    assert overlap.size > 10
    in_b = np.isin(ib, overlap)
    in_r = np.isin(ir, overlap)
    good = (b["ivar"][0, in_b] > 0) & (r["ivar"][0, in_r] > 0)
    assert good.any()
    np.testing.assert_allclose(
        ivar[overlap][good], b["ivar"][0, in_b][good] + r["ivar"][0, in_r][good], rtol=1e-6
    )
    weighted = (
        b["ivar"][0, in_b] * b["flux"][0, in_b] + r["ivar"][0, in_r] * r["flux"][0, in_r]
    ) / (b["ivar"][0, in_b] + r["ivar"][0, in_r])
    np.testing.assert_allclose(flux[overlap][good], weighted[good], rtol=1e-6)
    # Outside the overlaps each pixel is the arm's own value.
    only_z = ~np.isin(iz, ir)
    np.testing.assert_allclose(flux[iz[only_z]], z["flux"][0, only_z], rtol=1e-7)
    np.testing.assert_allclose(ivar[iz[only_z]], z["ivar"][0, only_z], rtol=1e-7)


def test_merge_arms_masks():
    wb, wr = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])
    fb, fr = np.array([[1.0, 2.0, 3.0]]), np.array([[20.0, 30.0, 40.0]])
    vb, vr = np.ones((1, 3)), np.full((1, 3), 3.0)
    mb = np.array([[0, 1, 4]])  # pixels 2 and 3 (wave 2, 3) masked in b
    mr = np.array([[0, 0, 0]])
    mr_all = np.array([[0, 8, 0]])  # wave 3 masked in r too
    grid, flux, ivar, mask = merge_arms([wb, wr], [fb, fr], [vb, vr], [mb, mr])
    np.testing.assert_array_equal(grid, [1, 2, 3, 4])
    np.testing.assert_array_equal(flux, [[1, 20, 30, 40]])  # masked b pixels: zero weight
    np.testing.assert_array_equal(ivar, [[1, 3, 3, 3]])
    assert not mask.any()
    grid, flux, ivar, mask = merge_arms([wb, wr], [fb, fr], [vb, vr], [mb, mr_all])
    np.testing.assert_array_equal(mask, [[False, False, True, False]])  # masked in every arm
    assert ivar[0, 2] == 0 and flux[0, 2] == pytest.approx((3 + 30) / 2)


def test_merge_arms_tolerance_and_close_pixels():
    wb = np.array([1.0, 1.0002, 2.0])  # first two within the tolerance: one merged pixel
    grid, flux, ivar, mask = merge_arms(
        [wb], [np.array([[1.0, 3.0, 5.0]])], [np.array([[1.0, 1.0, 2.0]])], [None]
    )
    assert grid.size == 2
    np.testing.assert_allclose(flux, [[2.0, 5.0]])
    np.testing.assert_allclose(ivar, [[2.0, 2.0]])


def test_redrock_path(data_dir, tmp_path):
    assert redrock_path(str(data_dir / COADD)) == str(data_dir / REDROCK)
    assert redrock_path(str(tmp_path / COADD)) is None
    assert redrock_path(str(data_dir / "spec-3655-55240-0002.fits")) is None


def _multi_target_file(data_dir, tmp_path, n=3, redrock_rows=(0, 2)):
    """Copy the fixture coadd with ``n`` targets (row 1 all NaN) and a partial redrock."""
    targetids = np.array([1001, 1002, 1003, 1004][:n], np.int64)
    with fits.open(data_dir / COADD) as hdul:
        out = [hdul[0].copy()]
        for hdu in hdul:
            if hdu.name == "FIBERMAP":
                table = Table(hdu.data)
                table = Table(np.repeat(table.as_array(), n))
                table["TARGETID"] = targetids
                table["TARGET_RA"] = 10.0 + np.arange(n)
                out.append(fits.table_to_hdu(table))
                out[-1].name = "FIBERMAP"
            elif hdu.name.split("_")[-1] in ("FLUX", "IVAR", "MASK"):
                data = np.repeat(hdu.data, n, axis=0)
                if hdu.name.endswith("FLUX"):
                    data = data * (1 + np.arange(n))[:, None]
                    data[1] = np.nan
                out.append(fits.ImageHDU(data, header=hdu.header, name=hdu.name))
            elif hdu.name.endswith("WAVELENGTH"):
                out.append(hdu.copy())
    coadd = tmp_path / "coadd-sv1-dark-123.fits"
    fits.HDUList(out).writeto(coadd)
    with fits.open(data_dir / REDROCK) as hdul:
        row = Table(hdul["REDSHIFTS"].data)
    rows = Table(np.repeat(row.as_array(), len(redrock_rows)))
    rows["TARGETID"] = targetids[list(redrock_rows)]
    rows["Z"] = [0.5 + 0.1 * i for i in redrock_rows]
    rows["SPECTYPE"] = ["QSO", "STAR"][: len(redrock_rows)]
    rows["SUBTYPE"] = ["", "K"][: len(redrock_rows)]
    redshifts = fits.table_to_hdu(rows)
    redshifts.name = "REDSHIFTS"
    fits.HDUList([fits.PrimaryHDU(), redshifts]).writeto(tmp_path / "redrock-sv1-dark-123.fits")
    return coadd, targetids


def test_multi_target_is_2d_with_target_table(data_dir, tmp_path):
    coadd, targetids = _multi_target_file(data_dir, tmp_path)
    spec = Spectrum.read(coadd)
    assert spec.flux.shape[0] == 3 and spec.flux.ndim == 2
    targets = spec.meta["targets"]
    assert isinstance(targets, Table) and len(targets) == 3
    assert list(targets["targetid"]) == list(targetids)
    assert list(targets["object_id"]) == [str(t) for t in targetids]
    # stable columns: a target missing from the redrock file has NaN/"" labels
    assert targets["z"][0] == pytest.approx(0.5) and np.isnan(targets["z"][1])
    assert list(targets["class"]) == ["QSO", "", "STAR"]
    assert spec.mask[1].all()  # the all-NaN target is kept, fully masked


def test_read_spectra_splits_targets(data_dir, tmp_path):
    coadd, targetids = _multi_target_file(data_dir, tmp_path)
    spectra = read_spectra(coadd)
    assert len(spectra) == 3
    assert [s.meta["targetid"] for s in spectra] == list(targetids)
    assert all(s.flux.ndim == 1 and "targets" not in s.meta for s in spectra)
    first, second, third = (s.meta for s in spectra)
    assert first["z"] == pytest.approx(0.5) and first["class"] == "QSO"
    assert first["subclass"] == ""
    assert np.isnan(second["z"]) and second["class"] == ""  # not in the redrock file
    assert set(first) == set(second) == set(third)
    assert third["class"] == "STAR" and third["subclass"] == "K"
    assert third["ra"] == pytest.approx(12.0)
    assert all(m["survey"] == "DESI" and m["source"] == coadd.name for m in (first, third))
    one = Spectrum.read(coadd)
    np.testing.assert_array_equal(spectra[2].flux.value, one.flux.value[2])
    np.testing.assert_array_equal(spectra[2].uncertainty.array, one.uncertainty.array[2])
    merged = SpectrumList.read(coadd, format=DESI_MERGED)
    assert [s.meta["targetid"] for s in merged] == list(targetids)
    # without format=, SpectrumList.read keeps specutils' own per-arm reader
    assert [s.meta["band"] for s in SpectrumList.read(coadd)] == ["b", "r", "z"]


def test_redrock_option(data_dir, tmp_path):
    plain = Spectrum.read(data_dir / COADD, redrock=False)
    assert np.isnan(plain.meta["z"]) and "redrock_file" not in plain.meta
    assert plain.meta["targetid"] == 39633345008634465
    # An explicit redrock file; here one whose TARGETIDs do not match.
    coadd, _ = _multi_target_file(data_dir, tmp_path)
    other = Spectrum.read(
        data_dir / COADD, format=DESI_COADD, redrock=tmp_path / "redrock-sv1-dark-123.fits"
    )
    assert np.isnan(other.meta["z"]) and other.meta["redrock_file"] == "redrock-sv1-dark-123.fits"


def test_coadd_without_redrock_sibling(data_dir, tmp_path):
    copy = tmp_path / COADD
    copy.write_bytes((data_dir / COADD).read_bytes())
    [spec] = read_spectra(copy)
    assert np.isnan(spec.meta["z"]) and spec.meta["class"] == ""
    assert spec.meta["object_id"] == "39633345008634465"


def test_corrupt_redrock_is_named(data_dir, tmp_path):
    (tmp_path / COADD).write_bytes((data_dir / COADD).read_bytes())
    (tmp_path / REDROCK).write_text("<html>not here</html>")
    with pytest.raises(SpectrumReadError, match=f"{REDROCK}: not a FITS file"):
        read_spectra(tmp_path / COADD)


def test_arm_with_wrong_length_is_rejected(data_dir, tmp_path):
    with fits.open(data_dir / COADD) as hdul:
        hdus = [hdu.copy() for hdu in hdul]
    for i, hdu in enumerate(hdus):
        if hdu.name == "R_WAVELENGTH":
            hdus[i] = fits.ImageHDU(hdu.data[:-1], name="R_WAVELENGTH")
    path = tmp_path / "coadd-bad.fits"
    fits.HDUList(hdus).writeto(path)
    with pytest.raises(SpectrumReadError, match=r"coadd-bad.fits \[R arm\]: length mismatch"):
        read_spectra(path)
