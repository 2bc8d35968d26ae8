"""Rebuild the packaged SDSS templates (``spectromer/datasets/data/sdss_templates.npz``).

Usage::

    python benchmarks/make_sdss_templates.py [DATA_DIR] [--out PATH]

``DATA_DIR`` defaults to ``../shared/data`` (relative to the repository root)
and must hold ``sdss-templates/`` (the SDSS idlspec2d template files),
``sdss-spec/`` (real SDSS spectra) and ``boss-sample/`` (real BOSS spectra).
When they are absent the script says so and exits with status 0 (nothing to do).

What it writes (see :data:`spectromer.datasets.simulate.SIMULATION_PROVENANCE`):

* the 4 galaxy eigenspectra of ``spEigenGal-56436`` and the 4 quasar
  eigenspectra of ``spEigenQSO-55732`` (float32, their full rest ranges);
* the 123 stellar templates of ``spEigenStar-55734`` cropped to 3550-10450 A
  rest (enough for both simulation grids at any plausible stellar velocity)
  as float16, with their names (SDSS ``SUBCLASS`` values);
* eigen-coefficient ratios ``c_k / c_0`` (k = 1..3) fitted by weighted least
  squares, at the catalogue redshift and with no extra polynomial, to every
  real SDSS galaxy spectrum in ``sdss-spec/`` (the GALAXY ones and NGC 3073, a
  dwarf galaxy the pipeline called STAR) and to the BOSS quasars of
  ``boss-sample/``, with the kernel covariance the simulation samples with:
  Scott's factor squared times the fitted ratios' covariance for galaxies
  (a Gaussian kernel density estimate); for the two quasars, a diagonal
  covariance with the squared difference of the two fits around their mean;
* the median normalised inverse variance of the real SDSS legacy spectra on the
  ``"sdss"`` grid and of the BOSS spectra on the ``"boss"`` grid.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import InverseVariance

from spectromer.datasets.simulate import GRIDS, grid_loglam, templates_path
from spectromer.io import read_spectra

LIMIT_BYTES = 1_500_000
STAR_REST = (3550.0, 10450.0)
ROOT = Path(__file__).resolve().parents[1]


def _template(path: Path) -> tuple[float, np.ndarray, fits.Header]:
    with fits.open(path) as hdul:
        header = hdul[0].header
        data = np.asarray(hdul[0].data, dtype=np.float64)
    if abs(header["COEFF1"] - 1e-4) > 1e-9:
        raise SystemExit(f"{path}: expected a 1e-4 dex grid, COEFF1 = {header['COEFF1']}")
    return float(header["COEFF0"]), data, header


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = read_spectra(path)[0]
        ivar = spec.uncertainty.represent_as(InverseVariance).array
    wave = spec.spectral_axis.to_value("Angstrom")
    flux = spec.flux.value
    good = (ivar > 0) & np.isfinite(flux)
    if spec.mask is not None:
        good &= ~np.asarray(spec.mask, dtype=bool)
    return wave, flux, np.where(good, ivar, 0.0), dict(spec.meta)


def _fit_ratios(paths: list[Path], loglam0: float, eigen: np.ndarray) -> np.ndarray:
    """Weighted least-squares eigen coefficients of each spectrum, as ratios c_k / c_0."""
    grid = loglam0 + 1e-4 * np.arange(eigen.shape[1])
    ratios = []
    for path in paths:
        wave, flux, ivar, meta = _read(path)
        rest = np.log10(wave / (1 + float(meta["z"])))
        use = (ivar > 0) & (rest > grid[0]) & (rest < grid[-1])
        basis = np.array([np.interp(rest[use], grid, e) for e in eigen]).T
        w = np.sqrt(ivar[use])
        coeff, *_ = np.linalg.lstsq(basis * w[:, None], flux[use] * w, rcond=None)
        chi2 = float(np.sum((flux[use] - basis @ coeff) ** 2 * ivar[use]) / use.sum())
        if coeff[0] <= 0:
            raise SystemExit(f"{path}: first eigen coefficient is not positive ({coeff[0]})")
        print(
            f"  {path.name}: z={float(meta['z']):.4f} chi2/pixel={chi2:.2f} "
            f"ratios={np.round(coeff[1:] / coeff[0], 3).tolist()}"
        )
        ratios.append(coeff[1:] / coeff[0])
    return np.array(ratios)


def _ivar_shape(paths: list[Path], loglam: np.ndarray) -> np.ndarray:
    """Median over files of ivar / median(ivar), on the grid ``loglam`` (edges: nearest)."""
    rows = []
    for path in paths:
        wave, _, ivar, _ = _read(path)
        good = ivar > 0
        ll = np.log10(wave)
        row = np.interp(loglam, ll[good], ivar[good] / np.median(ivar[good]))
        row[(loglam < ll[good][0]) | (loglam > ll[good][-1])] = np.nan
        rows.append(row)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns beyond every file
        shape = np.nanmedian(np.array(rows), axis=0)
    valid = np.flatnonzero(np.isfinite(shape))
    shape = np.interp(np.arange(loglam.size), valid, shape[valid])
    return (shape / np.median(shape)).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(templates_path()))
    args = parser.parse_args()
    data = Path(args.data)
    needed = [data / "sdss-templates", data / "sdss-spec", data / "boss-sample"]
    missing = [str(p) for p in needed if not p.is_dir()]
    if missing:
        print(f"skipping: {', '.join(missing)} not found; the packaged file is left as it is")
        return 0

    tdir = data / "sdss-templates"
    gal0, gal, _ = _template(tdir / "spEigenGal-56436.fits")
    qso0, qso, _ = _template(tdir / "spEigenQSO-55732.fits")
    star0, stars, star_header = _template(tdir / "spEigenStar-55734.fits")
    names = np.array([str(star_header[f"NAME{i}"]).strip() for i in range(stars.shape[0])])
    i0 = int(np.floor((np.log10(STAR_REST[0]) - star0) / 1e-4))
    i1 = int(np.ceil((np.log10(STAR_REST[1]) - star0) / 1e-4)) + 1
    stars = stars[:, i0:i1]
    star0 = round(star0 + i0 * 1e-4, 6)

    sdss_files = sorted((data / "sdss-spec").glob("*.fits"))
    galaxies = []
    for path in sdss_files:
        meta = _read(path)[3]
        cls = str(meta.get("class", "")).strip().upper()
        # NGC 3073 is a dwarf galaxy that the SDSS pipeline labelled STAR A0
        if cls == "GALAXY" or path.name.startswith("NGC3073"):
            galaxies.append(path)
    boss_files = sorted((data / "boss-sample").glob("*.fits*"))
    quasars = [p for p in boss_files if str(_read(p)[3].get("class", "")).upper() == "QSO"]
    if len(galaxies) < 5 or len(quasars) < 2:
        raise SystemExit(
            f"need >= 5 galaxies and >= 2 quasars, found {len(galaxies)}, {len(quasars)}"
        )

    print(f"fitting spEigenGal-56436 to {len(galaxies)} real SDSS galaxies")
    gal_ratios = _fit_ratios(galaxies, gal0, gal)
    scott = len(gal_ratios) ** (-1.0 / (gal_ratios.shape[1] + 4))
    gal_cov = scott**2 * np.cov(gal_ratios, rowvar=False)
    print(f"fitting spEigenQSO-55732 to {len(quasars)} real BOSS quasars")
    qso_ratios = _fit_ratios(quasars, qso0, qso)
    qso_centre = qso_ratios.mean(axis=0, keepdims=True)
    qso_cov = np.diag((qso_ratios.max(axis=0) - qso_ratios.min(axis=0)) ** 2)

    arrays = {
        "gal_name": np.array("spEigenGal-56436"),
        "gal_loglam0": np.array(gal0),
        "gal_eigen": gal.astype(np.float32),
        "gal_ratio_centres": gal_ratios,
        "gal_ratio_cov": gal_cov,
        "gal_fit_files": np.array([p.name for p in galaxies]),
        "qso_name": np.array("spEigenQSO-55732"),
        "qso_loglam0": np.array(qso0),
        "qso_eigen": qso.astype(np.float32),
        "qso_ratio_centres": qso_centre,
        "qso_ratio_cov": qso_cov,
        "qso_fit_ratios": qso_ratios,
        "qso_fit_files": np.array([p.name for p in quasars]),
        "star_name": np.array("spEigenStar-55734"),
        "star_loglam0": np.array(star0),
        "star_templates": stars.astype(np.float16),
        "star_names": names,
        "ivar_shape_sdss": _ivar_shape(sdss_files, grid_loglam("sdss")),
        "ivar_shape_boss": _ivar_shape(boss_files, grid_loglam("boss")),
        "ivar_shape_sdss_files": np.array([p.name for p in sdss_files]),
        "ivar_shape_boss_files": np.array([p.name for p in boss_files]),
    }
    assert set(GRIDS) == {"sdss", "boss"}
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    size = out.stat().st_size
    print(f"wrote {out}: {size / 1e6:.2f} MB")
    if size > LIMIT_BYTES:
        print(f"{out} is {size} bytes, over the {LIMIT_BYTES}-byte limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
