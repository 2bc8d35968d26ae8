"""The instruments of the simulated surveys, as data.

Each survey is one :class:`Instrument`: its spectrograph arms (wavelength grid
and resolving power), how well it calibrates flux, how many bad-pixel runs a
spectrum has, how its S/N follows from a magnitude, and, per object class,
the magnitude and redshift distributions of its targets. Everything a survey
differs in is a field here, so adding a survey is adding an entry to
:data:`INSTRUMENTS`; the code that observes a spectrum
(:mod:`spectromer.simulation.observe`) has no ``if survey == ...``.

The numbers are documented assumptions taken from the surveys' instrument
papers (cited in each entry) or measured on the real files in the
development data (the inverse-variance profiles, packaged in
``simulation/data/library.npz``); ``docs/simulation.rst`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Arm",
    "Instrument",
    "Mixture",
    "INSTRUMENTS",
    "SURVEYS",
    "SKY_LINES_AIR",
    "instrument",
]

C_KMS = 299792.458


@dataclass(frozen=True)
class Mixture:
    """A mixture of truncated normal distributions, ``(weight, mean, sd, low, high)`` each.

    A part with an infinite ``sd`` is uniform in ``[low, high]``.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.simulation.instruments import Mixture
    >>> m = Mixture(((1.0, 0.5, 0.1, 0.3, 0.7),))
    >>> x = m.draw(np.random.default_rng(0), 1000)
    >>> bool(x.min() >= 0.3 and x.max() <= 0.7), round(float(x.mean()), 1)
    (True, 0.5)
    """

    parts: tuple[tuple[float, float, float, float, float], ...]

    @property
    def low(self) -> float:
        """Smallest value any part can give."""
        return min(p[3] for p in self.parts)

    @property
    def high(self) -> float:
        """Largest value any part can give."""
        return max(p[4] for p in self.parts)

    def clipped(self, low: float, high: float) -> Mixture:
        """The same mixture restricted to ``[low, high]`` (parts outside it dropped)."""
        parts = tuple(
            (w, m, s, max(lo, low), min(hi, high))
            for w, m, s, lo, hi in self.parts
            if min(hi, high) > max(lo, low)
        )
        if not parts:
            raise ValueError(f"no part of {self.parts} lies in [{low}, {high}]")
        return Mixture(parts)

    def draw(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """Draw values (rejection sampling of the chosen part)."""
        n = 1 if size is None else int(size)
        w = np.array([p[0] for p in self.parts], dtype=float)
        pick = rng.choice(len(self.parts), size=n, p=w / w.sum())
        out = np.empty(n)
        for k in range(n):
            _, mean, sd, lo, hi = self.parts[pick[k]]
            if np.isinf(sd) or lo == hi:
                out[k] = rng.uniform(lo, hi)
                continue
            for _ in range(1000):
                x = rng.normal(mean, sd) if sd > 0 else mean
                if lo <= x <= hi:
                    break
            else:  # the part's mass inside [lo, hi] is tiny: fall back to uniform
                x = rng.uniform(lo, hi)
            out[k] = x
        return out if size is not None else out[:1]


@dataclass(frozen=True)
class Arm:
    """One spectrograph arm: its pixel grid and resolving power.

    ``kind`` is ``"log"`` (``start`` and ``step`` in log10 Angstrom) or
    ``"linear"`` (Angstrom). ``resolution`` is R = lambda / FWHM at the arm's
    two ends; the simulated line-spread function uses their mean.

    Examples
    --------
    >>> from spectromer.simulation.instruments import Arm
    >>> arm = Arm("b", "linear", 3600.0, 0.8, 5, (2000.0, 3200.0))
    >>> arm.wavelength().round(1).tolist()
    [3600.0, 3600.8, 3601.6, 3602.4, 3603.2]
    """

    name: str
    kind: str
    start: float
    step: float
    n_pix: int
    resolution: tuple[float, float]

    def wavelength(self) -> np.ndarray:
        """Vacuum wavelengths of the arm's pixels, Angstrom."""
        k = np.arange(self.n_pix)
        if self.kind == "log":
            return 10.0 ** (np.round(self.start / self.step + k) * self.step)
        return self.start + self.step * k


@dataclass(frozen=True)
class Instrument:
    """What a survey's spectra are like (see the module docstring).

    Attributes
    ----------
    name : str
        Survey name written to ``meta["survey"]``: as the readers give it for
        LAMOST, SDSS and DESI; ``"BOSS"`` for the BOSS spectrograph, whose
        real files the SDSS reader labels ``"SDSS"``.
    arms : tuple of Arm
        Spectrograph arms; more than one are merged as the survey's reader
        merges them (:func:`spectromer.io.desi.merge_arms`).
    calibration_sigma : float
        Standard deviation of each coefficient of the smooth multiplicative
        flux-calibration error (Legendre orders 1-3 in ``log`` of the flux).
    join : tuple or None
        ``(wavelength, width, sigma)``: a relative flux step of N(0, sigma)
        across a dichroic join at ``wavelength`` (logistic, ``width`` Angstrom).
    mask_runs : float
        Mean number of runs of bad pixels (bad columns, cosmic rays) per spectrum.
    edge_padding : float
        Probability that a spectrum's ends are zero-padded (flux and ivar 0),
        as some LAMOST spectra are.
    snr_reference : tuple
        ``(magnitude, snr, sky)``: median per-pixel S/N at that r magnitude,
        and the sky-to-source ratio there; S/N = snr * x * sqrt((1 + sky) /
        (x + sky)) with x the source flux relative to the reference.
    snr_scatter_dex : float
        Log-normal scatter of the S/N (observing conditions).
    ebv_mean : float
        Mean of the exponential distribution of the Milky Way E(B-V) of the
        whole sight line (what galaxies and quasars get).
    dust_distance_pc : float
        Distance over which a star's sight line crosses that whole column: a
        star at distance d gets ``min(d / dust_distance_pc, 1)`` of it, so that
        luminous stars, seen further away at the same magnitude, are more
        reddened (about the dust layer's scale height over the sine of the
        fields' typical latitude).
    magnitudes, redshifts : dict
        Per class, the r-magnitude and redshift :class:`Mixture`.
    velocity : Mixture
        Stellar radial velocities, km/s.
    star_types : dict
        Relative frequency of the MK letters among simulated stars.
    ivar_profile : str
        Key of the packaged inverse-variance profile(s) (one per arm).

    Examples
    --------
    >>> import dataclasses
    >>> from spectromer.simulation import INSTRUMENTS
    >>> lamost = INSTRUMENTS["lamost"]
    >>> lamost.name, lamost.join, lamost.arms[0].n_pix
    ('LAMOST', (5900.0, 25.0, 0.03), 3909)
    >>> dataclasses.replace(lamost, calibration_sigma=0.0).calibration_sigma  # a variant
    0.0
    """

    name: str
    arms: tuple[Arm, ...]
    calibration_sigma: float
    join: tuple[float, float, float] | None
    mask_runs: float
    edge_padding: float
    snr_reference: tuple[float, float, float]
    snr_scatter_dex: float
    ebv_mean: float
    dust_distance_pc: float
    magnitudes: dict[str, Mixture]
    redshifts: dict[str, Mixture]
    velocity: Mixture
    star_types: dict[str, float]
    ivar_profile: str
    reference: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def wavelength_range(self) -> tuple[float, float]:
        """First and last wavelength over all arms, Angstrom."""
        waves = [a.wavelength() for a in self.arms]
        return float(min(w[0] for w in waves)), float(max(w[-1] for w in waves))


#: Strong night-sky emission lines (air wavelengths, Angstrom): [O I], Na D,
#: Hg (street lights) and the brightest OH Meinel bands (Osterbrock et al. 1996,
#: PASP 108, 277). Converted to vacuum where they are used.
SKY_LINES_AIR = np.array(
    [
        4046.56, 4358.34, 5460.74, 5577.34, 5889.95, 5895.92, 6300.30, 6363.78,
        6863.96, 7276.41, 7316.28, 7340.89, 7750.64, 7794.11, 7821.50, 7913.71,
        7993.33, 8344.60, 8399.17, 8430.17, 8465.21, 8493.39, 8504.63, 8791.19,
        8827.10, 8885.85, 8919.53, 8943.40, 8988.37, 9001.12, 9375.98, 9419.74,
        9439.66, 9476.91, 9502.36, 9521.63, 9568.60, 9793.27,
    ]
)  # fmt: skip

_DISK_HALO = Mixture(((0.9, -10.0, 40.0, -400.0, 400.0), (0.1, 0.0, 150.0, -500.0, 500.0)))
# Galactic stellar populations: LAMOST's A/F/G/K-dominated mix, and fainter fields elsewhere.
_LAMOST_TYPES = {"O": 0.005, "B": 0.03, "A": 0.15, "F": 0.30, "G": 0.32, "K": 0.17, "M": 0.025}
_SDSS_TYPES = {"O": 0.005, "B": 0.02, "A": 0.10, "F": 0.25, "G": 0.25, "K": 0.20, "M": 0.175}

#: The simulated surveys.
INSTRUMENTS: dict[str, Instrument] = {
    "lamost": Instrument(
        name="LAMOST",
        arms=(Arm("lamost", "log", 3.5682, 1e-4, 3909, (1800.0, 1800.0)),),
        calibration_sigma=0.10,
        join=(5900.0, 25.0, 0.03),
        mask_runs=0.5,
        edge_padding=0.3,
        snr_reference=(17.0, 10.0, 1.0),
        snr_scatter_dex=0.12,
        ebv_mean=0.3,
        dust_distance_pc=4000.0,
        magnitudes={
            "STAR": Mixture(((1.0, 13.8, 1.6, 10.5, 17.0),)),
            "GALAXY": Mixture(((1.0, 16.5, 0.6, 14.0, 17.8),)),
            "QSO": Mixture(((1.0, 17.0, 0.6, 15.0, 18.5),)),
        },
        redshifts={
            "GALAXY": Mixture(((1.0, 0.09, 0.06, 0.0, 0.4),)),
            "QSO": Mixture(((1.0, 1.2, 0.7, 0.1, 4.0),)),
        },
        velocity=_DISK_HALO,
        star_types=_LAMOST_TYPES,
        ivar_profile="lamost",
        reference="Cui et al. 2012, RAA 12, 1197; Luo et al. 2015, RAA 15, 1095 (R ~ 1800)",
    ),
    "sdss": Instrument(
        name="SDSS",
        arms=(Arm("sdss", "log", 3.5798, 1e-4, 3840, (1850.0, 2200.0)),),
        calibration_sigma=0.03,
        join=None,
        mask_runs=0.4,
        edge_padding=0.0,
        snr_reference=(20.2, 3.9, 1.0),
        snr_scatter_dex=0.1,
        ebv_mean=0.03,
        dust_distance_pc=300.0,
        magnitudes={
            "STAR": Mixture(((1.0, 18.0, 1.5, 14.0, 20.5),)),
            "GALAXY": Mixture(((1.0, 17.2, 0.5, 14.0, 17.77),)),
            "QSO": Mixture(((1.0, 19.0, 0.7, 16.0, 20.5),)),
        },
        redshifts={
            "GALAXY": Mixture(((0.85, 0.10, 0.05, 0.0, 0.3), (0.15, 0.30, 0.10, 0.1, 0.6))),
            "QSO": Mixture(((0.8, 1.4, 0.6, 0.1, 2.3), (0.2, 3.0, 0.4, 2.3, 4.5))),
        },
        velocity=_DISK_HALO,
        star_types=_SDSS_TYPES,
        ivar_profile="sdss",
        reference="York et al. 2000, AJ 120, 1579; Strauss et al. 2002, AJ 124, 1810",
    ),
    "boss": Instrument(
        name="BOSS",
        arms=(Arm("boss", "log", 3.5564, 1e-4, 4607, (1560.0, 2650.0)),),
        calibration_sigma=0.05,
        join=None,
        mask_runs=0.5,
        edge_padding=0.0,
        snr_reference=(21.0, 4.7, 1.0),
        snr_scatter_dex=0.1,
        ebv_mean=0.04,
        dust_distance_pc=300.0,
        magnitudes={
            "STAR": Mixture(((1.0, 19.0, 1.5, 15.0, 21.5),)),
            "GALAXY": Mixture(((1.0, 19.5, 0.6, 17.0, 20.5),)),
            "QSO": Mixture(((1.0, 20.5, 0.8, 17.5, 22.0),)),
        },
        redshifts={
            "GALAXY": Mixture(
                (
                    (0.35, 0.30, 0.08, 0.05, 0.45),
                    (0.60, 0.55, 0.07, 0.40, 0.80),
                    (0.05, 0.10, 0.05, 0.0, 0.2),
                )
            ),
            "QSO": Mixture(((0.75, 2.5, 0.35, 2.0, 3.5), (0.25, 1.3, 0.5, 0.3, 2.0))),
        },
        velocity=_DISK_HALO,
        star_types=_SDSS_TYPES,
        ivar_profile="boss",
        reference="Dawson et al. 2013, AJ 145, 10; Smee et al. 2013, AJ 146, 32",
    ),
    "desi": Instrument(
        name="DESI",
        arms=(
            Arm("b", "linear", 3600.0, 0.8, 2751, (2000.0, 3200.0)),
            Arm("r", "linear", 5760.0, 0.8, 2326, (3200.0, 4100.0)),
            Arm("z", "linear", 7520.0, 0.8, 2881, (4100.0, 5100.0)),
        ),
        calibration_sigma=0.02,
        join=None,
        mask_runs=0.4,
        edge_padding=0.0,
        snr_reference=(21.0, 2.5, 1.0),
        snr_scatter_dex=0.1,
        ebv_mean=0.04,
        dust_distance_pc=300.0,
        magnitudes={
            "STAR": Mixture(((1.0, 17.5, 1.0, 16.0, 19.0),)),
            "GALAXY": Mixture(((0.3, 18.8, 0.5, 16.0, 19.5), (0.7, 21.5, 0.8, 19.5, 23.0))),
            "QSO": Mixture(((1.0, 21.0, 0.9, 17.5, 22.7),)),
        },
        redshifts={
            "GALAXY": Mixture(
                (
                    (0.3, 0.20, 0.10, 0.0, 0.6),
                    (0.3, 0.75, 0.15, 0.4, 1.1),
                    (0.4, 1.10, 0.25, 0.6, 1.6),
                )
            ),
            "QSO": Mixture(((1.0, 1.8, 0.7, 0.5, 3.8),)),
        },
        velocity=_DISK_HALO,
        star_types=_SDSS_TYPES,
        ivar_profile="desi",
        reference="DESI Collaboration 2022, AJ 164, 207 (R 2000-5500 across b/r/z)",
    ),
}

#: Names of the simulated surveys.
SURVEYS = tuple(INSTRUMENTS)


def instrument(survey: str) -> Instrument:
    """The :class:`Instrument` of a survey, with a clear error for an unknown name.

    Examples
    --------
    >>> from spectromer.simulation.instruments import instrument
    >>> inst = instrument("desi")
    >>> [a.name for a in inst.arms], [round(w) for w in inst.wavelength_range]
    (['b', 'r', 'z'], [3600, 9824])
    """
    key = str(survey).lower()
    if key not in INSTRUMENTS:
        raise ValueError(f"survey must be one of {SURVEYS}, got {survey!r}")
    return INSTRUMENTS[key]
