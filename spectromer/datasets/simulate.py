"""Simulated SDSS spectra built from the SDSS pipeline's own templates.

Everything this module writes is **simulated**: every row of the metadata
table says ``survey = "SDSS (simulated)"`` and ``simulated = True``, and the
file's attributes say so too. The ingredients are real, the spectra are not:

* **Templates** - the SDSS idlspec2d redshift templates shipped with the
  package in ``data/sdss_templates.npz`` (see :data:`SIMULATION_PROVENANCE`):
  the 4 galaxy eigenspectra of ``spEigenGal-56436``, the 4 quasar
  eigenspectra of ``spEigenQSO-55732`` and the 123 stellar templates of
  ``spEigenStar-55734`` (one per SDSS stellar ``SUBCLASS``).
* **Galaxy spectra** are combinations ``c0 * (E0 + r1 E1 + r2 E2 + r3 E3)`` of
  the galaxy eigenspectra. The ratios ``r`` come from a Gaussian kernel
  density estimate over the ratios fitted (weighted least squares, at the
  catalogue redshift) to the 12 real SDSS spectra of galaxies that were used
  to build the package data (11 SDSS GALAXY spectra plus the dwarf galaxy
  NGC 3073, which the SDSS pipeline labelled STAR): a random fitted galaxy is
  drawn and Gaussian scatter with the fitted ratios' covariance times Scott's
  bandwidth factor squared is added. Draws whose rest-frame spectrum is
  negative anywhere in the wavelengths they will be observed at are redrawn.
  Emission lines come only from the eigenspectra, which contain them.
* **Quasar spectra** are combinations of the quasar eigenspectra in the same
  way; only two real quasar spectra (BOSS, z = 2.29 and 2.36) were available,
  so the ratios are drawn from a Gaussian centred on their mean with, per
  component, a standard deviation equal to the difference between the two
  fits (a deliberately wide, diagonal spread), again redrawn when negative.
* **Stars** are the stellar templates, each drawn with equal probability, at a
  radial velocity drawn from N(0, 100 km/s); ``subclass`` is the template name
  (as in SDSS SpecObj) and ``type``/``subtype`` follow from it
  (:func:`~spectromer.datasets.labels.derive_labels`).
* **Redshift** is drawn uniformly in ``z_range`` (defaults in
  :data:`DEFAULT_Z_RANGE`) and applied by shifting the log-lambda templates
  onto the observed grid (linear interpolation in log-lambda).
* **Flux** is in SDSS units (1e-17 erg/s/cm^2/A). The amplitude is set by a
  fibre magnitude drawn uniformly in :data:`MAG_RANGE`: the median flux over
  5600-6800 A equals the AB flux density of that magnitude at the SDSS r band
  (6231 A).
* **Noise**: the inverse variance has the wavelength dependence of real SDSS
  inverse variance (the median of the normalised ``ivar`` of real SDSS
  spectra, packaged as a vector per grid) and is scaled so that the median
  per-pixel S/N of the noiseless spectrum, ``median(flux * sqrt(ivar))``,
  equals a value drawn log-uniformly in ``snr``. Gaussian noise with that
  variance is added; pixels whose inverse variance is 0 are masked. S/N and
  flux amplitude are drawn independently, so the absolute ``ivar`` level does
  not correspond to one exposure time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.atomic import atomic_path
from .dataset import DatasetWriter, SpectraDataset
from .labels import derive_labels

__all__ = [
    "simulate_sdss",
    "grid_loglam",
    "templates_path",
    "CLASSES",
    "DEFAULT_Z_RANGE",
    "GRIDS",
    "MAG_RANGE",
    "STAR_VELOCITY_SIGMA",
    "SIMULATION_PROVENANCE",
]

_TEMPLATE_FILE = "sdss_templates.npz"

#: Object classes that can be simulated (SDSS ``CLASS`` values).
CLASSES = ("GALAXY", "QSO", "STAR")

#: Default redshift ranges. Galaxies start at 0 so that nearby galaxies such as
#: real nearby SDSS galaxies (the development spectra have z = 0.003-0.063) are
#: inside the simulated range; 0.6 is about the limit of SDSS galaxy spectra.
#: Quasars span 0.3-3.5, where the quasar eigenspectra (450-10400 A rest) cover
#: the whole observed grid; Lyman-alpha enters the SDSS grid at z = 2.1.
DEFAULT_Z_RANGE: dict[str, tuple[float, float]] = {"GALAXY": (0.0, 0.6), "QSO": (0.3, 3.5)}

#: Dispersion of the stellar radial velocities, km/s.
STAR_VELOCITY_SIGMA = 100.0

#: Observed wavelength ranges (Angstrom, vacuum) of the simulation grids; both
#: are log-linear with a step of 1e-4 dex, as SDSS and BOSS spectra.
GRIDS: dict[str, tuple[float, float]] = {"sdss": (3800.0, 9200.0), "boss": (3600.0, 10400.0)}

#: Ranges of the fibre r magnitude (AB) that sets each class's flux amplitude.
MAG_RANGE: dict[str, tuple[float, float]] = {
    "GALAXY": (15.0, 20.0),
    "QSO": (17.0, 21.0),
    "STAR": (14.0, 20.0),
}

_DLOGLAM = 1e-4
_C_KMS = 299792.458
_RBAND = (5600.0, 6800.0)  # observed window whose median flux carries the magnitude
_R_EFF = 6231.0  # SDSS r effective wavelength, Angstrom
_FLUX_UNIT = "1e-17 erg / (Angstrom s cm2)"
_MAX_REDRAWS = 200

SIMULATION_PROVENANCE = """\
Simulated spectra, not observations. Templates: SDSS idlspec2d (the SDSS
pipeline, github.com/sdss/idlspec2d, BSD-3-Clause) files spEigenGal-56436 (4
galaxy eigenspectra, 1183-10500 A rest), spEigenQSO-55732 (4 quasar
eigenspectra, 450-10400 A rest) and spEigenStar-55734 (123 stellar templates,
cropped to 3550-10450 A and stored as half floats, relative precision 5e-4).
Eigen-coefficient ratios were fitted to 12 real SDSS galaxy spectra (SDSS DR12
to DR18: spec-0266-51602-{0001,0162,0166,0526,0614},
spec-0266-51630-{0174,0461,0525}, spec-0385-51783-0396, NGC3073, NGC3522,
NGC4636) and 2 BOSS quasar spectra (spec-3655-55240-0002,
spec-10656-58163-0366). The inverse-variance shapes are medians of the
normalised ivar of those SDSS legacy spectra (grid "sdss") and of the two BOSS
spectra (grid "boss"). Rebuilt with ``python benchmarks/make_sdss_templates.py``.
Acknowledge SDSS when you use it.
"""


def templates_path() -> Path:
    """Path of the packaged SDSS template file.

    Examples
    --------
    >>> from spectromer.datasets.simulate import templates_path
    >>> templates_path().name
    'sdss_templates.npz'
    """
    return Path(__file__).with_name("data") / _TEMPLATE_FILE


@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, np.ndarray]:
    path = templates_path()
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the packaged SDSS templates are missing from this installation; "
            "reinstall spectromer or rebuild them with benchmarks/make_sdss_templates.py"
        )
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    for key in ("gal_eigen", "qso_eigen", "star_templates"):
        data[key] = data[key].astype(np.float32)
    return data


def grid_loglam(grid: str) -> np.ndarray:
    """Log10 wavelengths of a simulation grid (step 1e-4 dex).

    Parameters
    ----------
    grid : {"sdss", "boss"}
        ``"sdss"``: the SDSS legacy spectrograph range 3800-9200 A;
        ``"boss"``: the BOSS range 3600-10400 A.

    Returns
    -------
    ndarray
        log10 of the vacuum wavelengths in Angstrom; the first is the first
        multiple of 1e-4 at or above the lower end of the range.

    Examples
    --------
    >>> from spectromer.datasets.simulate import grid_loglam
    >>> ll = grid_loglam("sdss")
    >>> round(float(10 ** ll[0]), 1), round(float(10 ** ll[-1]), 1), ll.size
    (3800.1, 9198.1, 3840)
    """
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {tuple(GRIDS)}, got {grid!r}")
    lo, hi = GRIDS[grid]
    start = np.ceil(np.log10(lo) / _DLOGLAM - 1e-6) * _DLOGLAM
    n = int(np.floor((np.log10(hi) - start) / _DLOGLAM + 1e-6)) + 1
    return np.round(start / _DLOGLAM + np.arange(n)) * _DLOGLAM


# --------------------------------------------------------------------------- arguments
def _check_classes(classes: Any) -> tuple[str, ...]:
    if isinstance(classes, str):
        classes = (classes,)
    try:
        out = tuple(str(c).upper() for c in classes)
    except TypeError:
        raise TypeError(f"classes must be a sequence of class names, got {classes!r}") from None
    if not out:
        raise ValueError("classes must name at least one class")
    for c in out:
        if c not in CLASSES:
            raise ValueError(f"classes: unknown class {c!r}; choose from {CLASSES}")
    if len(set(out)) != len(out):
        raise ValueError(f"classes: repeated class in {out}")
    return out


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be finite with low <= high, got {value!r}")
    return lo, hi


def _rest_limits(loglam0: float, npix: int) -> tuple[float, float]:
    """log10 rest wavelengths a template covers, keeping one pixel for interpolation."""
    return loglam0, loglam0 + (npix - 2) * _DLOGLAM


def _check_z_ranges(
    z_range: Any, classes: tuple[str, ...], obs: np.ndarray, tpl: dict[str, np.ndarray]
) -> dict[str, tuple[float, float]]:
    ranges = dict(DEFAULT_Z_RANGE)
    if z_range is not None:
        if isinstance(z_range, Mapping):
            for key, value in z_range.items():
                cls = str(key).upper()
                if cls == "STAR":
                    raise ValueError(
                        "z_range: stars are simulated at z ~ N(0, "
                        f"{STAR_VELOCITY_SIGMA:g} km/s / c); give ranges for GALAXY and QSO only"
                    )
                if cls not in DEFAULT_Z_RANGE:
                    raise ValueError(f"z_range: unknown class {key!r}; choose from GALAXY, QSO")
                ranges[cls] = _pair(value, f"z_range[{key!r}]")
        else:
            pair = _pair(z_range, "z_range")
            ranges = {cls: pair for cls in DEFAULT_Z_RANGE}
    for cls, (lo, hi) in ranges.items():
        if cls not in classes:
            continue
        if lo <= -1:
            raise ValueError(f"z_range for {cls} must be > -1, got {(lo, hi)}")
        prefix = "gal" if cls == "GALAXY" else "qso"
        rlo, rhi = _rest_limits(float(tpl[f"{prefix}_loglam0"]), tpl[f"{prefix}_eigen"].shape[1])
        zmax = 10 ** (obs[0] - rlo) - 1
        zmin = 10 ** (obs[-1] - rhi) - 1
        if hi > zmax or lo < zmin:
            raise ValueError(
                f"z_range for {cls} is {(lo, hi)}, but the {cls} templates cover "
                f"{10**rlo:.0f}-{10**rhi:.0f} A rest, so on this grid z must lie in "
                f"[{max(zmin, 0.0):.3f}, {zmax:.3f}]"
            )
    return ranges


def _check_snr(snr: Any) -> tuple[float, float]:
    if np.isscalar(snr):
        snr = (snr, snr)
    lo, hi = _pair(snr, "snr")
    if lo <= 0:
        raise ValueError(f"snr must be positive, got {snr!r}")
    return lo, hi


def _class_counts(
    n: int, classes: tuple[str, ...], class_fractions: Mapping[str, float] | None
) -> dict[str, int]:
    if class_fractions is None:
        weights = np.ones(len(classes))
    else:
        if not isinstance(class_fractions, Mapping):
            raise TypeError(
                f"class_fractions must be a mapping class -> fraction, got {class_fractions!r}"
            )
        unknown = {str(k).upper() for k in class_fractions} - set(classes)
        if unknown:
            raise ValueError(
                f"class_fractions: {sorted(unknown)} not among the simulated classes {classes}"
            )
        lookup = {str(k).upper(): float(v) for k, v in class_fractions.items()}
        weights = np.array([lookup.get(c, 0.0) for c in classes])
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(
                f"class_fractions must be non-negative with a positive sum, got {class_fractions!r}"
            )
    share = n * weights / weights.sum()
    counts = np.floor(share).astype(int)
    # largest remainder: the counts sum to n and are as close to the shares as possible
    for i in np.argsort(-(share - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return dict(zip(classes, counts.tolist()))


# --------------------------------------------------------------------------- drawing
def _interp_rows(basis: np.ndarray, loglam0: float, pos_loglam: np.ndarray) -> np.ndarray:
    """Linear interpolation of template rows at log-lambda positions.

    ``basis`` (K, M); ``pos_loglam`` (N, L) rest log-lambda -> (K, N, L).
    """
    pos = (pos_loglam - loglam0) / _DLOGLAM
    j = np.floor(pos).astype(np.int64)
    f = (pos - j).astype(np.float32)
    return basis[:, j] * (1 - f) + basis[:, j + 1] * f


def _draw_ratios(
    rng: np.random.Generator,
    n: int,
    centres: np.ndarray,
    cov: np.ndarray,
    eigen: np.ndarray,
    loglam0: float,
    rest_range: tuple[float, float],
    name: str,
) -> np.ndarray:
    """Draw eigen-coefficient ratios from centres + N(0, cov); redraw non-positive spectra."""
    i0 = int(np.floor((rest_range[0] - loglam0) / _DLOGLAM))
    i1 = int(np.ceil((rest_range[1] - loglam0) / _DLOGLAM)) + 2
    e0 = eigen[0, max(i0, 0) : i1].astype(np.float64)
    rest = eigen[1:, max(i0, 0) : i1].astype(np.float64)
    out = np.empty((n, centres.shape[1]))
    todo = np.arange(n)
    for _ in range(_MAX_REDRAWS):
        if todo.size == 0:
            return out
        pick = rng.integers(0, centres.shape[0], size=todo.size)
        draw = centres[pick] + rng.multivariate_normal(np.zeros(cov.shape[0]), cov, todo.size)
        ok = np.empty(todo.size, dtype=bool)
        for a in range(0, todo.size, 512):
            model = e0 + draw[a : a + 512] @ rest
            ok[a : a + 512] = model.min(axis=1) > 0
        out[todo[ok]] = draw[ok]
        todo = todo[~ok]
    raise RuntimeError(  # pragma: no cover - the packaged distributions accept most draws
        f"could not draw positive {name} spectra after {_MAX_REDRAWS} rounds"
    )


def _mag_to_flambda(mag: np.ndarray) -> np.ndarray:
    """AB magnitude -> f_lambda at the r band in 1e-17 erg/s/cm^2/A."""
    f_nu = 3631e-23 * 10 ** (-0.4 * mag)  # erg/s/cm^2/Hz
    return f_nu * 2.99792458e18 / _R_EFF**2 / 1e-17


def _draw_parameters(
    rng: np.random.Generator,
    counts: dict[str, int],
    z_ranges: dict[str, tuple[float, float]],
    snr: tuple[float, float],
    obs: np.ndarray,
    tpl: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    n = sum(counts.values())
    labels = np.concatenate([np.full(k, c, dtype="U6") for c, k in counts.items()])
    labels = labels[rng.permutation(n)]
    z = np.zeros(n)
    ratios = np.full((n, 3), np.nan)
    star = np.full(n, -1, dtype=np.int64)
    mag = np.empty(n)
    for cls in CLASSES:
        sel = np.flatnonzero(labels == cls)
        if sel.size == 0:
            continue
        lo, hi = MAG_RANGE[cls]
        mag[sel] = rng.uniform(lo, hi, sel.size)
        if cls == "STAR":
            v = rng.normal(0.0, STAR_VELOCITY_SIGMA, sel.size)
            z[sel] = np.sqrt((1 + v / _C_KMS) / (1 - v / _C_KMS)) - 1
            star[sel] = rng.integers(0, tpl["star_templates"].shape[0], sel.size)
            continue
        zlo, zhi = z_ranges[cls]
        z[sel] = rng.uniform(zlo, zhi, sel.size)
        prefix = "gal" if cls == "GALAXY" else "qso"
        rest_range = (obs[0] - np.log10(1 + zhi), obs[-1] - np.log10(1 + zlo))
        ratios[sel] = _draw_ratios(
            rng,
            sel.size,
            tpl[f"{prefix}_ratio_centres"],
            tpl[f"{prefix}_ratio_cov"],
            tpl[f"{prefix}_eigen"],
            float(tpl[f"{prefix}_loglam0"]),
            rest_range,
            cls,
        )
    lo, hi = snr
    target = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    return {"class": labels, "z": z, "ratios": ratios, "star": star, "mag": mag, "snr": target}


def _models(
    p: dict[str, np.ndarray], rows: np.ndarray, obs: np.ndarray, tpl: dict[str, np.ndarray]
) -> np.ndarray:
    """Noiseless spectra (unit amplitude) of ``rows`` on the observed grid."""
    out = np.empty((rows.size, obs.size), dtype=np.float32)
    rest = obs[None, :] - np.log10(1 + p["z"][rows])[:, None]
    cls = p["class"][rows]
    for name, prefix in (("GALAXY", "gal"), ("QSO", "qso")):
        sel = np.flatnonzero(cls == name)
        if sel.size:
            basis = _interp_rows(tpl[f"{prefix}_eigen"], float(tpl[f"{prefix}_loglam0"]), rest[sel])
            coeff = p["ratios"][rows[sel]].astype(np.float32)
            out[sel] = basis[0] + np.einsum("nk,knl->nl", coeff, basis[1:])
    sel = np.flatnonzero(cls == "STAR")
    if sel.size:
        pos = (rest[sel] - float(tpl["star_loglam0"])) / _DLOGLAM
        j = np.floor(pos).astype(np.int64)
        f = (pos - j).astype(np.float32)
        t = p["star"][rows[sel]][:, None]
        stars = tpl["star_templates"]
        out[sel] = stars[t, j] * (1 - f) + stars[t, j + 1] * f
    return out


# --------------------------------------------------------------------------- public
def simulate_sdss(
    n: int,
    out: str | os.PathLike,
    *,
    classes: Sequence[str] = CLASSES,
    z_range: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    snr: float | tuple[float, float] = (3.0, 60.0),
    class_fractions: Mapping[str, float] | None = None,
    grid: str = "sdss",
    seed: int = 0,
    noise: bool = True,
    encoding: str = "float32",
    progress: bool = False,
) -> SpectraDataset:
    """Write a dataset of **simulated** SDSS spectra of galaxies, quasars and stars.

    The spectra are built from the SDSS pipeline's templates as described in
    :mod:`spectromer.datasets.simulate` (eigenspectrum combinations with
    coefficient spreads fitted to real SDSS spectra, redshifted onto the SDSS
    log-lambda grid, SDSS-like inverse variance and Gaussian noise). Every row
    is labelled ``survey = "SDSS (simulated)"``, ``simulated = True``.

    Parameters
    ----------
    n : int
        Number of spectra (at least 1).
    out : str or path-like
        Dataset file to write (atomically: it appears only when complete).
    classes : sequence of {"GALAXY", "QSO", "STAR"}
        Classes to simulate.
    z_range : (low, high) or mapping, optional
        Uniform redshift range for galaxies and quasars; a mapping such as
        ``{"GALAXY": (0, 0.3)}`` sets one class and keeps the others'
        defaults (:data:`DEFAULT_Z_RANGE`: GALAXY 0-0.6, QSO 0.3-3.5). The
        templates must cover the grid at both ends of the range (an error
        says which redshifts are possible). Stars always have z ~ N(0,
        100 km/s / c).
    snr : float or (low, high)
        Median per-pixel S/N of each spectrum, drawn log-uniformly in the range.
        The default 3-60 spans typical SDSS spectra (median S/N about 13) up to
        bright nearby galaxies such as the real ones in ``sdss-spec`` (S/N 4-53).
    class_fractions : mapping, optional
        Relative share of each class (normalised); equal shares by default.
        The counts are exact (largest-remainder rounding) and the classes come
        in random order.
    grid : {"sdss", "boss"}
        Observed grid: SDSS legacy 3800-9200 A or BOSS 3600-10400 A, both
        log-linear with step 1e-4 dex.
    seed : int
        Seed of the random numbers; the same arguments and seed give the same file.
    noise : bool
        Add the noise. With ``False`` the flux is the noiseless spectrum, while
        every drawn parameter and the inverse variance stay as they would be
        with noise (handy for tests and for looking at the templates).
    encoding : {"float32", "float16"}
        Storage encoding (see :class:`~spectromer.datasets.DatasetWriter`).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    SpectraDataset
        The new dataset, opened read-only. ``meta`` columns: ``survey``,
        ``simulated``, ``class``, ``subclass`` (stellar template name, ``""``
        for galaxies and quasars), ``z``, ``snr``, ``mag_r`` (fibre r AB
        magnitude that set the amplitude), ``coeff1``-``coeff3`` (eigenspectrum
        coefficient ratios; masked for stars), ``template``, ``object_id``,
        ``flux_unit`` and, for stars with an MK subclass, ``type`` and
        ``subtype``.

    Raises
    ------
    ValueError
        For ``n < 1``, an unknown class, a bad or uncovered ``z_range``, a
        non-positive ``snr``, bad ``class_fractions`` or an unknown ``grid``;
        the message names the argument.

    Examples
    --------
    >>> import os, tempfile
    >>> from spectromer.datasets import simulate_sdss
    >>> path = os.path.join(tempfile.mkdtemp(), "sim.h5")
    >>> ds = simulate_sdss(6, path, seed=1)
    >>> len(ds), sorted(ds.labels("class").tolist())
    (6, ['GALAXY', 'GALAXY', 'QSO', 'QSO', 'STAR', 'STAR'])
    >>> ds.meta_row(0)["survey"], bool(ds.meta_row(0)["simulated"])
    ('SDSS (simulated)', True)
    >>> ds.spectrum(0).flux.unit
    Unit("1e-17 erg / (Angstrom s cm2)")
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    classes = _check_classes(classes)
    obs = grid_loglam(grid)
    tpl = _templates()
    z_ranges = _check_z_ranges(z_range, classes, obs, tpl)
    snr_range = _check_snr(snr)
    counts = _class_counts(int(n), classes, class_fractions)

    params_seq, noise_seq = np.random.SeedSequence(seed).spawn(2)
    p = _draw_parameters(np.random.default_rng(params_seq), counts, z_ranges, snr_range, obs, tpl)
    noise_rng = np.random.default_rng(noise_seq)
    shape = tpl[f"ivar_shape_{grid}"].astype(np.float64)
    sqrt_shape = np.sqrt(shape)
    wave = 10.0**obs
    rband = (wave >= _RBAND[0]) & (wave <= _RBAND[1])
    template_name = {
        "GALAXY": str(tpl["gal_name"]),
        "QSO": str(tpl["qso_name"]),
        "STAR": str(tpl["star_name"]),
    }
    star_names = tpl["star_names"]

    from tqdm.auto import tqdm

    chunk = 1000
    with atomic_path(out, suffix=".h5") as tmp:
        with DatasetWriter(tmp, encoding=encoding) as writer:
            with tqdm(total=int(n), desc="simulate_sdss", unit="spec", disable=not progress) as bar:
                for a in range(0, int(n), chunk):
                    rows = np.arange(a, min(a + chunk, int(n)))
                    model = _models(p, rows, obs, tpl).astype(np.float64)
                    amplitude = _mag_to_flambda(p["mag"][rows])
                    model *= (amplitude / np.median(model[:, rband], axis=1))[:, None]
                    level = np.median(model * sqrt_shape, axis=1)
                    ivar = (p["snr"][rows] / level)[:, None] ** 2 * shape
                    flux = model
                    if noise:
                        sigma = np.where(ivar > 0, 1 / np.sqrt(np.where(ivar > 0, ivar, 1)), 0)
                        flux = model + noise_rng.standard_normal(model.shape) * sigma
                    for k, i in enumerate(rows):
                        cls = str(p["class"][i])
                        meta: dict[str, Any] = {
                            "survey": "SDSS (simulated)",
                            "simulated": True,
                            "class": cls,
                            "subclass": str(star_names[p["star"][i]]) if cls == "STAR" else "",
                            "z": float(p["z"][i]),
                            "snr": float(p["snr"][i]),
                            "mag_r": float(p["mag"][i]),
                        }
                        for j in range(3):
                            c = p["ratios"][i, j]
                            meta[f"coeff{j + 1}"] = None if np.isnan(c) else float(c)
                        meta.update(
                            template=template_name[cls],
                            object_id=f"sim-sdss-{seed}-{i:07d}",
                            flux_unit=_FLUX_UNIT,
                        )
                        if cls == "STAR":
                            derive_labels(meta)
                        writer.add(wave, flux[k], ivar[k], ivar[k] <= 0, meta)
                    bar.update(rows.size)
            writer.close(
                attrs={
                    "simulated": True,
                    "simulation": "spectromer.datasets.simulate_sdss",
                    "simulation_seed": int(seed),
                    "simulation_grid": grid,
                    "provenance": SIMULATION_PROVENANCE,
                }
            )
    return SpectraDataset(out)
