"""The astrophysics: rest-frame spectra of stars, galaxies and quasars.

Each ``draw_*`` function takes a random generator and returns a
:class:`RestSpectrum`: the object's flux on a rest-frame log-lambda grid
(1e-4 dex, the templates' own) with its velocity dispersion applied, its
redshift, any absorption applied in the observed frame (the Lyman-alpha
forest), and its labels; the instrument's line-spread function is applied when
it is observed (:mod:`spectromer.simulation.observe`). What is and is not
modelled is listed in ``docs/simulation.rst``; the distributions are module
constants so that they are documented in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .instruments import C_KMS, Instrument
from .library import MK_LETTERS, absolute_magnitude, dwarf_teff, load_library, star_library

__all__ = ["RestSpectrum", "draw_star", "draw_galaxy", "draw_quasar", "DRAWERS", "EMISSION_LINES"]

DLOGLAM = 1e-4
#: Velocity dispersion of one 1e-4 dex pixel, km/s.
PIXEL_KMS = C_KMS * np.log(10) * DLOGLAM

#: Luminosity groups of simulated stars: (classes, probability).
LUMINOSITY = (("V", 0.80), ("III", 0.17), ("I", 0.03))
#: Probability that a dwarf is built from the SDSS subclass templates rather than ELODIE stars.
SDSS_POOL_FRACTION = 0.3

#: Galaxy emission lines (vacuum rest wavelength, name) and their strength
#: relative to H-beta or H-alpha (see :func:`draw_galaxy`).
EMISSION_LINES = {
    "OII_3727": 3727.09,
    "OII_3730": 3729.88,
    "Hdelta": 4102.89,
    "Hgamma": 4341.69,
    "Hbeta": 4862.68,
    "OIII_4960": 4960.30,
    "OIII_5008": 5008.24,
    "OI_6302": 6302.05,
    "NII_6550": 6549.86,
    "Halpha": 6564.61,
    "NII_6585": 6585.27,
    "SII_6718": 6718.29,
    "SII_6733": 6732.67,
}
#: Fraction of galaxies that are star-forming (strong lines).
STAR_FORMING_FRACTION = 0.6
#: log10 EW(H-alpha) in Angstrom: (median, sd) for star-forming and passive galaxies.
EW_HALPHA_DEX = {"star_forming": (1.4, 0.35), "passive": (0.0, 0.3)}
#: Stellar velocity dispersion: log10 km/s (median, sd), clipped to 30-400 km/s.
VDISP_DEX = (2.08, 0.2)


@dataclass
class RestSpectrum:
    """One object's rest-frame spectrum and labels, ready to be observed.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.simulation.objects import RestSpectrum
    >>> rest = RestSpectrum(loglam0=3.6, flux=np.ones(3), z=0.1, labels={})
    >>> (10 ** rest.loglam).round(1).tolist()
    [3981.1, 3982.0, 3982.9]
    """

    loglam0: float
    flux: np.ndarray
    z: float
    labels: dict[str, Any]
    observed_factor: Callable[[np.ndarray], np.ndarray] | None = field(default=None)

    @property
    def loglam(self) -> np.ndarray:
        """log10 rest wavelengths of ``flux``."""
        return self.loglam0 + DLOGLAM * np.arange(self.flux.size)


def _velocity_to_z(v_kms: float) -> float:
    beta = v_kms / C_KMS
    return float(np.sqrt((1 + beta) / (1 - beta)) - 1)


def draw_star(
    rng: np.random.Generator, inst: Instrument, z_mix: Any, star_types: tuple[str, ...]
) -> RestSpectrum:
    """A star: two neighbouring MK templates mixed, at a radial velocity.

    The MK letter is drawn with the survey's frequencies
    (:attr:`Instrument.star_types`, restricted to ``star_types``), the subtype
    uniformly in [0, 10), the luminosity group from :data:`LUMINOSITY`; the
    spectrum interpolates linearly between the two templates of that group
    whose codes bracket the drawn one, from the ELODIE stars or (dwarfs,
    :data:`SDSS_POOL_FRACTION`) the SDSS subclass templates. ``subclass`` is
    the letter and integer subtype (``"F6"``); ``teff`` follows from the code
    for dwarfs (:func:`~spectromer.simulation.library.dwarf_teff`) and is NaN
    for giants; ``logg`` and ``feh`` are unknown (NaN) because the templates
    do not carry them.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.simulation import INSTRUMENTS, Mixture
    >>> from spectromer.simulation.objects import draw_star
    >>> rng = np.random.default_rng(0)
    >>> rest = draw_star(rng, INSTRUMENTS["sdss"], None, tuple("AFG"))
    >>> bool(rest.labels["subclass"][0] in "AFG"), bool(np.all(np.isfinite(rest.flux)))
    (True, True)
    """
    lib = star_library()
    weights = np.array([inst.star_types.get(t, 0.0) for t in star_types])
    letter = star_types[rng.choice(len(star_types), p=weights / weights.sum())]
    u = rng.uniform(0.0, 10.0)
    code = 10.0 * MK_LETTERS.index(letter) + u
    groups, probs = zip(*LUMINOSITY)
    lum = groups[rng.choice(len(groups), p=np.array(probs) / sum(probs))]
    pool = "SDSS" if lum == "V" and rng.uniform() < SDSS_POOL_FRACTION else "ELODIE"
    lo, hi, w = lib.neighbours(code, lum, pool)
    flux = (1.0 - w) * lib.flux[lo] + w * lib.flux[hi]
    v = float(inst.velocity.draw(rng)[0])
    names = lib.names[lo] if lo == hi else f"{lib.names[lo]} + {lib.names[hi]} ({w:.2f})"
    teff = float(dwarf_teff(code)) if lum == "V" else float("nan")
    return RestSpectrum(
        loglam0=lib.loglam0,
        flux=flux,
        z=_velocity_to_z(v),
        labels={
            "subclass": f"{letter}{int(u)}",
            "lumclass": lum,
            "teff": teff,
            "logg": float("nan"),
            "feh": float("nan"),
            "rv_kms": v,
            "abs_mag": absolute_magnitude(code, lum),
            "template": names,
        },
    )


def _ratios(
    rng: np.random.Generator,
    fits: np.ndarray,
    widen: float,
    n_redraw: int,
    eigen: np.ndarray,
    rest_slice: slice,
    accept: Callable[[np.ndarray], bool] | None = None,
) -> np.ndarray:
    """Eigen-coefficient ratios ~ N(mean, widen^2 cov) of the fits.

    Redrawn until the spectrum is positive over ``rest_slice`` and, if given,
    ``accept(full_spectrum)`` is true.
    """
    mean = fits.mean(axis=0)
    if fits.shape[0] > fits.shape[1]:
        cov = np.cov(fits, rowvar=False)
    else:  # too few fits for a covariance: their spread per component
        cov = np.diag(np.ptp(fits, axis=0) ** 2)
    e = eigen[:, rest_slice]
    for _ in range(n_redraw):
        r = rng.multivariate_normal(mean, widen**2 * cov)
        if np.min(e[0] + r @ e[1:]) > 0 and (accept is None or accept(eigen[0] + r @ eigen[1:])):
            return r
    return mean  # the mean of positive fits is positive where they were fitted


def _rest_slice(loglam0: float, npix: int, wave_range: tuple[float, float], z: float) -> slice:
    a = int(np.floor((np.log10(wave_range[0] / (1 + z)) - loglam0) / DLOGLAM)) - 5
    b = int(np.ceil((np.log10(wave_range[1] / (1 + z)) - loglam0) / DLOGLAM)) + 6
    return slice(max(a, 0), min(b, npix))


def _gauss_lines(
    loglam: np.ndarray, centres: np.ndarray, fluxes: np.ndarray, sigma_kms: float
) -> np.ndarray:
    """Gaussian emission lines (flux in flux-density x Angstrom) on a log-lambda grid."""
    wave = 10.0**loglam
    out = np.zeros_like(wave)
    for c, f in zip(centres, fluxes):
        s = c * sigma_kms / C_KMS
        near = np.abs(wave - c) < 6 * s
        out[near] += f / (np.sqrt(2 * np.pi) * s) * np.exp(-0.5 * ((wave[near] - c) / s) ** 2)
    return out


def _continuum(loglam: np.ndarray, flux: np.ndarray, centre: float) -> float:
    wave = 10.0**loglam
    side = ((wave > centre - 80) & (wave < centre - 30)) | (
        (wave > centre + 30) & (wave < centre + 80)
    )
    return float(np.median(flux[side])) if side.any() else float(np.median(flux))


def draw_galaxy(
    rng: np.random.Generator, inst: Instrument, z_mix: Any, star_types: Any = None
) -> RestSpectrum:
    """A galaxy: eigenspectrum continuum, velocity dispersion and emission lines.

    * redshift from the survey's distribution (``z_mix``);
    * continuum ``E0 + r . (E1, E2, E3)`` of ``spEigenGal-56436``, ``r`` drawn
      from a Gaussian with the mean and twice the spread of the ratios fitted
      to the real SDSS galaxies (redrawn until positive over the observed range);
    * stellar velocity dispersion log-normal (:data:`VDISP_DEX`);
    * emission lines on top of the eigenspectra's own: a fraction
      :data:`STAR_FORMING_FRACTION` are star-forming; EW(H-alpha) log-normal
      per kind (:data:`EW_HALPHA_DEX`); H-alpha / H-beta = 2.86 (case B)
      reddened by a gas E(B-V) ~ Exp(0.25) (Calzetti k(Hb) - k(Ha) = 1.27);
      [N II] 6585 / H-alpha log-normal (median 0.35, 0.2 dex), [O III] 5008 /
      H-beta (median 0.8, 0.4 dex, a quarter of that for passive galaxies),
      [O II] 3727+3730 / H-beta (median 2.5, 0.3 dex), [S II] 0.15 H-alpha each,
      [O I] 0.05 H-alpha, H-gamma and H-delta at case-B 0.468 and 0.259 H-beta,
      the doublets' fixed ratios ([O III] 2.98, [N II] 2.94); gas velocity
      dispersion 0.6 of the stellar one (at least 40 km/s).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.simulation import INSTRUMENTS, Mixture
    >>> from spectromer.simulation.objects import draw_galaxy
    >>> rng = np.random.default_rng(0)
    >>> rest = draw_galaxy(rng, INSTRUMENTS["sdss"], Mixture(((1.0, 0.1, 0.1, 0.0, 0.3),)))
    >>> bool(0.0 <= rest.z <= 0.3), bool(np.all(np.isfinite(rest.flux)))
    (True, True)
    """
    lib = load_library()
    z = float(z_mix.draw(rng)[0])
    eigen = lib["gal_eigen"]
    loglam0 = float(lib["gal_loglam0"])
    sl = _rest_slice(loglam0, eigen.shape[1], inst.wavelength_range, z)
    r = _ratios(rng, lib["gal_fit_ratios"], 2.0, 100, eigen, sl)
    e = eigen[:, sl]
    flux = (e[0] + r @ e[1:]).astype(np.float64)
    loglam = loglam0 + DLOGLAM * np.arange(sl.start, sl.stop)
    vdisp = float(np.clip(10 ** rng.normal(*VDISP_DEX), 30.0, 400.0))

    sf = rng.uniform() < STAR_FORMING_FRACTION
    kind = "star_forming" if sf else "passive"
    ew_ha = float(10 ** rng.normal(*EW_HALPHA_DEX[kind]))
    # continuum level at H-alpha from the full eigen combination (H-alpha may be unobserved)
    full = (eigen[0] + r @ eigen[1:]).astype(np.float64)
    full_ll = loglam0 + DLOGLAM * np.arange(eigen.shape[1])
    f_ha = ew_ha * max(_continuum(full_ll, full, EMISSION_LINES["Halpha"]), 1e-6 * np.median(full))
    ebv_gas = float(rng.exponential(0.25))
    f_hb = f_ha / (2.86 * 10 ** (0.4 * 1.27 * ebv_gas))
    n2 = 10 ** rng.normal(np.log10(0.35), 0.2)
    o3 = 10 ** rng.normal(np.log10(0.8 if sf else 0.2), 0.4)
    o2 = 10 ** rng.normal(np.log10(2.5), 0.3)
    strengths = {
        "Halpha": f_ha,
        "Hbeta": f_hb,
        "Hgamma": 0.468 * f_hb,
        "Hdelta": 0.259 * f_hb,
        "NII_6585": n2 * f_ha,
        "NII_6550": n2 * f_ha / 2.94,
        "OIII_5008": o3 * f_hb,
        "OIII_4960": o3 * f_hb / 2.98,
        "OII_3727": o2 * f_hb * 0.45,
        "OII_3730": o2 * f_hb * 0.55,
        "SII_6718": 0.15 * f_ha,
        "SII_6733": 0.15 * f_ha,
        "OI_6302": 0.05 * f_ha,
    }
    names = list(strengths)
    centres = np.array([EMISSION_LINES[k] for k in names])
    sigma_gas = max(0.6 * vdisp, 40.0)
    lines = _gauss_lines(loglam, centres, np.array([strengths[k] for k in names]), sigma_gas)
    from scipy.ndimage import gaussian_filter1d

    # the continuum gets the stellar dispersion, the lines their gas dispersion
    flux = gaussian_filter1d(flux, vdisp / PIXEL_KMS, mode="nearest") + lines
    return RestSpectrum(
        loglam0=float(loglam[0]),
        flux=flux,
        z=z,
        labels={
            "subclass": "STARFORMING" if sf else "",
            "vdisp": vdisp,
            "ew_halpha": ew_ha,
            "coeff1": float(r[0]),
            "coeff2": float(r[1]),
            "coeff3": float(r[2]),
            "template": str(lib["gal_name"]),
        },
    )


#: Lyman-alpha forest effective optical depth tau(z) = A (1 + z)^B (Faucher-Giguere et al.
#: 2008, ApJ 681, 831, to within their errors), and the log-normal fluctuation scale.
LYA_TAU = (0.0018, 3.92)
LYA_FLUCTUATION = 0.8
LYA = 1215.67
#: Smallest ratio of the Lyman-alpha peak to the continuum at 1270-1350 A.
LYA_MIN_CONTRAST = 1.5
LYMAN_LIMIT = 911.75


#: Log-lambda grid (1e-4 dex, 3000-11000 A) on which a quasar's forest fluctuations are
#: drawn, so that every arm of an instrument sees the same forest.
_FOREST_LOGLAM = np.arange(np.log10(3000.0), np.log10(11000.0), DLOGLAM)


def _forest(z: float, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    from scipy.ndimage import gaussian_filter1d

    g = gaussian_filter1d(rng.standard_normal(_FOREST_LOGLAM.size), 2.0)
    g /= g.std() or 1.0

    def factor(wave: np.ndarray) -> np.ndarray:
        out = np.ones_like(wave, dtype=np.float64)
        zabs = wave / LYA - 1
        sel = zabs < z
        if not sel.any():
            return out
        field = np.interp(np.log10(wave[sel]), _FOREST_LOGLAM, g)
        tau = LYA_TAU[0] * (1 + zabs[sel]) ** LYA_TAU[1]
        tau = tau * np.exp(LYA_FLUCTUATION * field - 0.5 * LYA_FLUCTUATION**2)
        out[sel] = np.exp(-tau)
        out[wave < LYMAN_LIMIT * (1 + z)] *= 0.05
        return out

    return factor


def draw_quasar(
    rng: np.random.Generator, inst: Instrument, z_mix: Any, star_types: Any = None
) -> RestSpectrum:
    """A quasar: eigenspectra, a power-law tilt and the Lyman-alpha forest.

    * redshift from the survey's distribution;
    * ``E0 + r . (E1, E2, E3)`` of ``spEigenQSO-55732``, ``r`` Gaussian around
      the mean of the two fitted real BOSS quasars with their difference per
      component as standard deviation, redrawn until the spectrum is positive
      and its Lyman-alpha line peaks at least :data:`LYA_MIN_CONTRAST` times
      above the continuum at 1270-1350 A (as in every quasar);
    * the continuum tilted by ``(lambda / 3000 A)^d``, d ~ N(0, 0.3);
    * blueward of Lyman-alpha, the forest: transmission ``exp(-tau)`` with the
      mean optical depth :data:`LYA_TAU` and log-normal fluctuations
      correlated over a few pixels; below the Lyman limit 5% of the flux is left.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.simulation import INSTRUMENTS, Mixture
    >>> from spectromer.simulation.objects import draw_quasar
    >>> rng = np.random.default_rng(0)
    >>> rest = draw_quasar(rng, INSTRUMENTS["sdss"], Mixture(((1.0, 2.0, 0.5, 1.0, 3.0),)))
    >>> bool(1.0 <= rest.z <= 3.0), bool(np.all(np.isfinite(rest.flux)))
    (True, True)
    """
    lib = load_library()
    z = float(z_mix.draw(rng)[0])
    eigen = lib["qso_eigen"]
    loglam0 = float(lib["qso_loglam0"])
    sl = _rest_slice(loglam0, eigen.shape[1], inst.wavelength_range, z)
    full_wave = 10.0 ** (loglam0 + DLOGLAM * np.arange(eigen.shape[1]))
    peak = np.abs(full_wave - LYA) < 15
    side = (full_wave > 1270) & (full_wave < 1350)

    def strong_lya(spectrum: np.ndarray) -> bool:
        return bool(np.median(spectrum[peak]) > LYA_MIN_CONTRAST * np.median(spectrum[side]))

    r = _ratios(rng, lib["qso_fit_ratios"], 1.0, 200, eigen, sl, strong_lya)
    e = eigen[:, sl]
    flux = (e[0] + r @ e[1:]).astype(np.float64)
    loglam = loglam0 + DLOGLAM * np.arange(sl.start, sl.stop)
    tilt = float(rng.normal(0.0, 0.3))
    flux *= (10.0**loglam / 3000.0) ** tilt
    return RestSpectrum(
        loglam0=float(loglam[0]),
        flux=np.clip(flux, 0.0, None),
        z=z,
        labels={
            "subclass": "",
            "coeff1": float(r[0]),
            "coeff2": float(r[1]),
            "coeff3": float(r[2]),
            "slope": tilt,
            "template": str(lib["qso_name"]),
        },
        observed_factor=_forest(z, rng),
    )


#: The object classes and the function that draws each.
DRAWERS = {"STAR": draw_star, "GALAXY": draw_galaxy, "QSO": draw_quasar}
