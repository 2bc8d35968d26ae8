"""Rebuild the simulator's template library (``spectromer/simulation/data/library.npz``).

Usage::

    python benchmarks/make_simulation_library.py [DATA_DIR] [--out PATH]

``DATA_DIR`` defaults to ``../shared/data`` (relative to the repository root)
and must hold ``sdss-templates/`` (the SDSS idlspec2d template files),
``sdss-spec/``, ``boss-sample/``, ``desi/`` and ``lamost-dr10-afg/spectra/``
(real spectra). When they are absent the script says so and exits with status
0 (nothing to do). The installed package reads only the file this writes.

What it writes (see :data:`spectromer.simulation.library.PROVENANCE`):

* the 4 galaxy eigenspectra of ``spEigenGal-56436`` and the 4 quasar
  eigenspectra of ``spEigenQSO-55732`` (float32, their full rest ranges), with
  the eigen-coefficient ratios ``c_k / c_0`` (k = 1..3) fitted by weighted
  least squares at the catalogue redshift to every real SDSS galaxy spectrum in
  ``sdss-spec/`` (the GALAXY ones and NGC 3073, a dwarf galaxy the pipeline
  called STAR) and to the BOSS quasars of ``boss-sample/``;
* the stellar templates on one rest grid 3550-10450 A (1e-4 dex, float16, each
  scaled to median 1 over 5000-6500 A): the ``spEigenStar-55734`` rows (the
  ELODIE stars; the simulator keeps those with an MK type) and the
  ``spEigenStar-53724`` SDSS subclass templates, whose 3800-9200 A range is
  extended with the nearest-type ELODIE dwarf scaled to match over 100 pixels
  at each end; negative values (noise in a few M templates) set to 0;
* per survey, the median normalised inverse variance of the real files on the
  simulator's grid of that survey (:data:`spectromer.simulation.INSTRUMENTS`):
  LAMOST DR10, SDSS legacy, BOSS, and the DESI b/r/z arms (normalised by one
  median over the three arms, so that their relative depth is kept).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import InverseVariance

from spectromer.io import read_spectra
from spectromer.simulation.instruments import INSTRUMENTS
from spectromer.simulation.library import library_path, parse_mk

LIMIT_BYTES = 3_000_000
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


def _profile(paths: list[Path], wave_out: np.ndarray) -> np.ndarray:
    """Median over files of ivar / median(ivar), on ``wave_out`` (edges: nearest)."""
    loglam = np.log10(wave_out)
    rows = []
    for path in paths:
        try:
            wave, _, ivar, _ = _read(path)
        except Exception as exc:  # noqa: BLE001 - a bad real file is reported and skipped
            print(f"  skipping {path.name}: {exc}")
            continue
        good = ivar > 0
        if good.sum() < 100:
            continue
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


def _desi_profiles(paths: list[Path]) -> dict[str, np.ndarray]:
    """Per-arm ivar of real DESI coadds, each file normalised by its median over all arms."""
    arms = {a.name: a for a in INSTRUMENTS["desi"].arms}
    per_arm: dict[str, list[np.ndarray]] = {k: [] for k in arms}
    for path in paths:
        with fits.open(path) as hdul:
            for t in range(hdul["B_IVAR"].data.shape[0]):
                values = {}
                for k, arm in arms.items():
                    w = np.asarray(hdul[f"{k.upper()}_WAVELENGTH"].data, dtype=float)
                    iv = np.asarray(hdul[f"{k.upper()}_IVAR"].data[t], dtype=float)
                    bad = np.asarray(hdul[f"{k.upper()}_MASK"].data[t]) != 0
                    iv = np.where(bad | ~np.isfinite(iv), 0.0, iv)
                    values[k] = np.interp(arm.wavelength(), w, iv)
                level = np.median(np.concatenate([v[v > 0] for v in values.values()]))
                for k in arms:
                    per_arm[k].append(values[k] / level)
    out = {}
    for k in arms:
        prof = np.median(np.array(per_arm[k]), axis=0)
        out[f"ivar_desi_{k}"] = np.clip(prof, 0, None).astype(np.float32)
    return out


def _stars(tdir: Path) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    star0, elodie, header = _template(tdir / "spEigenStar-55734.fits")
    names = [str(header[f"NAME{i}"]).strip() for i in range(elodie.shape[0])]
    i0 = int(np.floor((np.log10(STAR_REST[0]) - star0) / 1e-4))
    i1 = int(np.ceil((np.log10(STAR_REST[1]) - star0) / 1e-4)) + 1
    elodie = elodie[:, i0:i1]
    star0 = round(star0 + i0 * 1e-4, 6)
    npix = elodie.shape[1]
    rest = 10 ** (star0 + 1e-4 * np.arange(npix))
    norm = (rest > 5000) & (rest < 6500)

    sdss0, sdss, sheader = _template(tdir / "spEigenStar-53724.fits")
    shift = int(round((sdss0 - star0) / 1e-4))
    if abs(shift * 1e-4 - (sdss0 - star0)) > 1e-7:
        raise SystemExit("spEigenStar-53724 is not on the spEigenStar-55734 pixel grid")
    dwarfs = [
        (i, p[0])
        for i, n in enumerate(names)
        if (p := parse_mk(n)) is not None and p[1] in ("V", "IV")
    ]
    rows, out_names, source = [], [], []
    for i, n in enumerate(names):
        rows.append(elodie[i])
        out_names.append(n)
        source.append("ELODIE")
    for j in range(sdss.shape[0]):
        name = str(sheader[f"NAME{j}"]).strip()
        parsed = parse_mk(name)
        if parsed is None:
            continue
        row = np.zeros(npix)
        lo, hi = max(shift, 0), min(shift + sdss.shape[1], npix)
        row[lo:hi] = sdss[j, lo - shift : hi - shift]
        good = np.flatnonzero(row > 0)
        a, b = good[0] + 5, good[-1] - 5  # the templates taper at their very ends
        nearest = min(dwarfs, key=lambda d: abs(d[1] - parsed[0]))[0]
        e = elodie[nearest]
        left = np.median(row[a : a + 100]) / np.median(e[a : a + 100])
        right = np.median(row[b - 100 : b]) / np.median(e[b - 100 : b])
        row[:a] = e[:a] * left
        row[b:] = e[b:] * right
        rows.append(row)
        out_names.append(name)
        source.append("SDSS")
    flux = np.array(rows)
    flux /= np.median(flux[:, norm], axis=1, keepdims=True)
    # a few SDSS M-star templates dip below zero where they are noisy (blue end, Na D)
    flux = np.clip(flux, 0.0, None)
    return star0, flux, np.array(out_names), np.array(source)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(library_path()))
    args = parser.parse_args()
    data = Path(args.data)
    needed = [data / d for d in ("sdss-templates", "sdss-spec", "boss-sample", "desi")]
    needed.append(data / "lamost-dr10-afg" / "spectra")
    missing = [str(p) for p in needed if not p.is_dir()]
    if missing:
        print(f"skipping: {', '.join(missing)} not found; the packaged file is left as it is")
        return 0

    tdir = data / "sdss-templates"
    gal0, gal, _ = _template(tdir / "spEigenGal-56436.fits")
    qso0, qso, _ = _template(tdir / "spEigenQSO-55732.fits")
    star0, stars, names, source = _stars(tdir)

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
    print(f"fitting spEigenQSO-55732 to {len(quasars)} real BOSS quasars")
    qso_ratios = _fit_ratios(quasars, qso0, qso)

    lamost_files = sorted((data / "lamost-dr10-afg" / "spectra").glob("*.fits*"))
    print(
        f"inverse-variance profiles: {len(lamost_files)} LAMOST, {len(sdss_files)} SDSS, "
        f"{len(boss_files)} BOSS files, DESI coadds"
    )
    desi_files = sorted((data / "desi").glob("coadd-*.fits"))
    arrays = {
        "gal_name": np.array("spEigenGal-56436"),
        "gal_loglam0": np.array(gal0),
        "gal_eigen": gal.astype(np.float32),
        "gal_fit_ratios": gal_ratios,
        "gal_fit_files": np.array([p.name for p in galaxies]),
        "qso_name": np.array("spEigenQSO-55732"),
        "qso_loglam0": np.array(qso0),
        "qso_eigen": qso.astype(np.float32),
        "qso_fit_ratios": qso_ratios,
        "qso_fit_files": np.array([p.name for p in quasars]),
        "star_loglam0": np.array(star0),
        "star_templates": stars.astype(np.float16),
        "star_names": names,
        "star_source": source,
        "ivar_lamost": _profile(lamost_files, INSTRUMENTS["lamost"].arms[0].wavelength()),
        "ivar_sdss": _profile(sdss_files, INSTRUMENTS["sdss"].arms[0].wavelength()),
        "ivar_boss": _profile(boss_files, INSTRUMENTS["boss"].arms[0].wavelength()),
        **_desi_profiles(desi_files),
        "profile_counts": np.array(
            [len(lamost_files), len(sdss_files), len(boss_files), len(desi_files)]
        ),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    size = out.stat().st_size
    print(f"wrote {out}: {size / 1e6:.2f} MB, {len(names)} stellar templates")
    if size > LIMIT_BYTES:
        print(f"{out} is {size} bytes, over the {LIMIT_BYTES}-byte limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
