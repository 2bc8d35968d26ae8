"""Observe a rest-frame spectrum with a survey's instrument.

:class:`Observer` turns a :class:`~spectromer.simulation.objects.RestSpectrum`
into what the survey's reader gives for a real file: flux, inverse variance
and mask on the survey's native pixels. In order, per arm:

1. the line-spread function: a Gaussian in velocity with the arm's resolving
   power (jittered by 5% per spectrum, fibre to fibre), less the templates'
   own resolution (:data:`TEMPLATE_SIGMA_KMS`, added in quadrature; where the
   arm resolves better than the templates, as DESI's red arms do, nothing is
   added and the spectrum keeps the templates' resolution);
2. redshift onto the arm's pixels (linear interpolation in log-lambda), then
   any observed-frame absorption (the Lyman-alpha forest);
3. Milky Way extinction: the Gordon et al. (2023) R_V = 3.1 law
   (``dust_extinction``); E(B-V) of the whole sight line ~
   Exp(:attr:`Instrument.ebv_mean`), of which a star gets the part in front of it
   (:attr:`Instrument.dust_distance_pc`);
4. the amplitude: the median flux over 5600-6800 A equals the AB flux density
   of the drawn r magnitude at 6231 A (1e-17 erg/s/cm^2/A);
5. a smooth multiplicative flux-calibration error ``exp(sum_k c_k P_k)``
   (Legendre orders 1-3 over the survey's range) and, where the instrument has
   one, a step across the dichroic join;
6. noise: the survey's measured inverse-variance profile (per arm), tilted
   by a random smooth factor, scaled so that the median per-pixel S/N of the
   noiseless spectrum is the S/N drawn from the magnitude; Gaussian noise with
   that variance, sky-line residuals at the sky lines' vacuum wavelengths
   (a random fraction of the local noise, shaped by the line-spread function);
7. bad pixels: runs of masked pixels (ivar 0, a cosmic-ray-like spike in the
   flux) and, for LAMOST, zero-padded ends;
8. several arms are merged as the survey's reader merges them
   (:func:`spectromer.io.desi.merge_arms`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.polynomial import legendre

from .instruments import C_KMS, SKY_LINES_AIR, Instrument
from .objects import PIXEL_KMS, RestSpectrum

__all__ = ["Observer", "Observation", "TEMPLATE_SIGMA_KMS", "mag_to_flambda"]

#: Resolution of the SDSS templates (Gaussian sigma, km/s): they were built at
#: about the SDSS spectrographs' resolution, one 69 km/s pixel.
TEMPLATE_SIGMA_KMS = 69.0
_RBAND = (5600.0, 6800.0)
_R_EFF = 6231.0
_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


def mag_to_flambda(mag: float | np.ndarray) -> np.ndarray:
    """AB magnitude -> f_lambda at 6231 A (the r band), in 1e-17 erg/s/cm^2/A.

    Examples
    --------
    >>> from spectromer.simulation.observe import mag_to_flambda
    >>> round(float(mag_to_flambda(20.0)), 2)
    2.8
    """
    f_nu = 3631e-23 * 10 ** (-0.4 * np.asarray(mag, dtype=float))
    return f_nu * 2.99792458e18 / _R_EFF**2 / 1e-17


@dataclass
class Observation:
    """A simulated observation on the survey's native pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.simulation.observe import Observation
    >>> obs = Observation(np.arange(3.0), np.ones(3), np.ones(3), np.zeros(3, bool), {})
    >>> obs.flux.size == obs.wave.size
    True
    """

    wave: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    labels: dict[str, Any]


def _air_to_vac(wave_air: np.ndarray) -> np.ndarray:
    from astropy import units as u
    from specutils.utils.wcs_utils import air_to_vac

    return air_to_vac(wave_air * u.AA, scheme="inversion", method="Morton2000").to_value(u.AA)


@functools.lru_cache(maxsize=64)
def _extinction_curve(key: tuple[float, float, int, str]) -> np.ndarray:
    """A(lambda) / A(V) of the G23 law on an arm's pixels (cached per arm)."""
    import astropy.units as u
    from dust_extinction.parameter_averages import G23

    start, step, n, kind = key
    k = np.arange(n)
    wave = 10.0 ** (np.round(start / step + k) * step) if kind == "log" else start + step * k
    return np.asarray(G23(Rv=3.1)(wave * u.AA), dtype=np.float64)


class Observer:
    """Observe rest-frame spectra with one survey's instrument.

    Parameters
    ----------
    inst : Instrument
        The survey (see :data:`spectromer.simulation.INSTRUMENTS`).
    profiles : list of ndarray
        Inverse-variance profile of each arm, in arm order.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.simulation import INSTRUMENTS, Mixture
    >>> from spectromer.simulation.objects import draw_galaxy
    >>> from spectromer.simulation.observe import Observer
    >>> inst = INSTRUMENTS["boss"]
    >>> observer = Observer(inst, [np.ones(inst.arms[0].n_pix)])
    >>> rng = np.random.default_rng(1)
    >>> rest = draw_galaxy(rng, inst, Mixture(((1.0, 0.5, 0.1, 0.3, 0.7),)))
    >>> obs = observer.observe(rest, rng, mag=19.0, snr=10.0)
    >>> obs.wave.size, bool(np.all(obs.ivar[~obs.mask] > 0)), round(obs.labels["snr"])
    (4607, True, 10)
    """

    def __init__(self, inst: Instrument, profiles: list[np.ndarray]) -> None:
        self.inst = inst
        self.waves = [a.wavelength() for a in inst.arms]
        self.loglams = [np.log10(w) for w in self.waves]
        self.profiles = [np.asarray(p, dtype=np.float64) for p in profiles]
        self.extinction = [_extinction_curve((a.start, a.step, a.n_pix, a.kind)) for a in inst.arms]
        lo, hi = inst.wavelength_range
        self._x = [2.0 * (w - lo) / (hi - lo) - 1.0 for w in self.waves]
        self._legendre = [
            np.stack([legendre.legval(x, np.eye(4)[k]) for k in (1, 2, 3)]) for x in self._x
        ]
        sky = _air_to_vac(SKY_LINES_AIR)
        self.sky = [sky[(sky > w[0]) & (sky < w[-1])] for w in self.waves]
        self.rband = [(w >= _RBAND[0]) & (w <= _RBAND[1]) for w in self.waves]
        if not any(r.any() for r in self.rband):
            raise ValueError(f"{inst.name}: no pixel in the r window {_RBAND}")

    def observe(
        self,
        rest: RestSpectrum,
        rng: np.random.Generator,
        *,
        mag: float,
        snr: float,
        noise: bool = True,
        noise_rng: np.random.Generator | None = None,
        distance_pc: float | None = None,
    ) -> Observation:
        """One spectrum on the survey's pixels; ``rest.labels`` plus what was drawn here.

        ``rng`` draws the observing conditions (extinction, calibration, noise
        profile, bad pixels); ``noise_rng`` (default: ``rng``) the noise, sky
        residuals and spikes, so that ``noise=False`` changes nothing else.
        """
        noise_rng = rng if noise_rng is None else noise_rng
        from scipy.ndimage import gaussian_filter1d

        inst = self.inst
        ebv = float(rng.exponential(inst.ebv_mean)) if inst.ebv_mean > 0 else 0.0
        if distance_pc is not None:
            ebv *= min(distance_pc / inst.dust_distance_pc, 1.0)
        jitter = float(np.clip(rng.normal(1.0, 0.05), 0.8, 1.2))
        coeff = rng.normal(0.0, inst.calibration_sigma, 3)
        tilt = rng.normal(0.0, 0.1, 2)
        models = []
        rest_ll = rest.loglam
        shift = np.log10(1.0 + rest.z)
        for k, arm in enumerate(inst.arms):
            r_mean = float(np.mean(arm.resolution)) * jitter
            sigma_lsf = C_KMS / (r_mean * _FWHM)
            extra = np.sqrt(max(sigma_lsf**2 - TEMPLATE_SIGMA_KMS**2, 0.0))
            src = rest.flux
            if extra > 1.0:
                src = gaussian_filter1d(src, extra / PIXEL_KMS, mode="nearest")
            model = np.interp(self.loglams[k] - shift, rest_ll, src)
            if rest.observed_factor is not None:
                model = model * rest.observed_factor(self.waves[k])
            model *= 10.0 ** (-0.4 * 3.1 * ebv * self.extinction[k])
            models.append(model)
        in_r = np.concatenate([m[r] for m, r in zip(models, self.rband)])
        level = np.median(in_r)
        if not np.isfinite(level) or level <= 0:
            level = np.median(np.abs(np.concatenate(models))) or 1.0
        amp = float(mag_to_flambda(mag)) / level
        for k in range(len(models)):
            calib = np.exp(coeff @ self._legendre[k])
            if inst.join is not None:
                where, width, sigma = inst.join
                step = rng.normal(0.0, sigma) if k == 0 else 0.0
                calib = calib * (1.0 + step / (1.0 + np.exp(-(self.waves[k] - where) / width)))
            models[k] = models[k] * amp * calib
        shapes = [
            p * np.exp(tilt[0] * x + tilt[1] * (1.5 * x**2 - 0.5))
            for p, x in zip(self.profiles, self._x)
        ]
        s_n = np.concatenate([np.abs(m) * np.sqrt(s) for m, s in zip(models, shapes)])
        med = np.median(s_n[s_n > 0]) if (s_n > 0).any() else 1.0
        scale = (snr / med) ** 2
        waves, fluxes, ivars, masks = [], [], [], []
        for k, arm in enumerate(inst.arms):
            ivar = shapes[k] * scale
            sigma = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 0.0)
            flux = models[k].copy()
            mask = ivar <= 0
            if noise:
                flux += noise_rng.standard_normal(flux.size) * sigma
                w = self.waves[k]
                for line in self.sky[k]:
                    s = line / (float(np.mean(arm.resolution)) * _FWHM)
                    near = np.abs(w - line) < 4 * s
                    amp_sky = noise_rng.normal(0.0, 1.5)
                    j = np.argmin(np.abs(w - line))
                    flux[near] += amp_sky * sigma[j] * np.exp(-0.5 * ((w[near] - line) / s) ** 2)
            waves.append(self.waves[k])
            fluxes.append(flux)
            ivars.append(ivar)
            masks.append(mask)
        self._bad_pixels(rng, noise_rng, fluxes, ivars, masks, noise)
        if len(waves) == 1:
            wave, flux, ivar, mask = waves[0], fluxes[0], ivars[0], masks[0]
        else:
            from spectromer.io.desi import merge_arms

            wave, f, iv, m = merge_arms(
                waves,
                [x[None, :] for x in fluxes],
                [x[None, :] for x in ivars],
                [x[None, :].astype(np.uint8) for x in masks],
            )
            flux, ivar, mask = f[0], iv[0], m[0]
            flux = np.where(np.isfinite(flux), flux, 0.0)
        labels = dict(rest.labels)
        labels.update(ebv=ebv, mag_r=float(mag), snr=float(snr), resolution_scale=jitter)
        return Observation(wave, flux, ivar, mask, labels)

    def _bad_pixels(self, rng, noise_rng, fluxes, ivars, masks, noise: bool) -> None:
        inst = self.inst
        for _ in range(int(rng.poisson(inst.mask_runs))):
            k = int(rng.integers(0, len(fluxes)))
            n = fluxes[k].size
            length = int(min(1 + rng.geometric(0.15), n))
            a = int(rng.integers(0, n - length + 1))
            sl = slice(a, a + length)
            if noise:
                level = np.median(np.abs(fluxes[k])) + 1e-12
                fluxes[k][sl] += np.abs(noise_rng.normal(0.0, 5.0 * level, length))
            ivars[k][sl] = 0.0
            masks[k][sl] = True
        if inst.edge_padding > 0 and rng.uniform() < inst.edge_padding:
            first = int(rng.integers(1, 16))
            last = int(rng.integers(1, 61))
            for k, sl in ((0, slice(0, first)), (len(fluxes) - 1, slice(-last, None))):
                fluxes[k][sl] = 0.0
                ivars[k][sl] = 0.0
                masks[k][sl] = True
