"""Augmentations that respect the physics of a spectrum.

They act on padded array batches (before rendering), so every image a model sees is a
spectrum that could have been observed: extra noise drawn from the pipeline's own
inverse variance, an overall flux scaling (calibration), a small radial-velocity shift
(wavelength times ``1 + v/c``) and masked runs of pixels (cosmic rays, bad columns,
sky residuals). Random numbers come from a generator the caller seeds, so an epoch's
augmentations are reproducible whatever the number of data-loader workers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..spectra import SpectrumBatch

__all__ = ["Augmentation", "as_augmentation", "SPEED_OF_LIGHT_KMS"]

SPEED_OF_LIGHT_KMS = 299_792.458


@dataclass(frozen=True)
class Augmentation:
    """Random, physically plausible perturbations of spectra.

    Parameters
    ----------
    noise : float
        Add Gaussian noise of ``noise / sqrt(ivar)`` to each pixel (0 turns it off;
        pixels with ``ivar = 0`` get none). 1 doubles the variance of the spectrum.
    scale : (float, float)
        Multiply each spectrum's flux by a factor drawn log-uniformly from this range.
    shift_kms : float
        Shift each spectrum by a radial velocity drawn uniformly from
        ``[-shift_kms, shift_kms]`` km/s (wavelengths times ``1 + v/c``).
    mask_runs : int
        At most this many runs of pixels per spectrum are masked (a random number from 0
        to ``mask_runs``); the renderer then treats them as bad pixels.
    mask_width : float
        Width of each masked run, as a fraction of the spectrum's pixels.
    p : float
        Probability that a spectrum is augmented at all.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.training import Augmentation
    >>> aug = Augmentation(noise=1.0, shift_kms=30.0)
    >>> from spectromer.spectra import as_source
    >>> src = as_source(np.ones((2, 50)), wavelength=np.linspace(4000, 8000, 50),
    ...                 ivar=np.full((2, 50), 4.0))
    >>> batch = src.batch([0, 1])
    >>> out = aug(batch, np.random.default_rng(0))
    >>> bool(np.all(out.flux != 1.0)), bool(np.any(out.wave != batch.wave))
    (True, True)
    """

    noise: float = 0.5
    scale: tuple[float, float] = (0.8, 1.25)
    shift_kms: float = 50.0
    mask_runs: int = 2
    mask_width: float = 0.01
    p: float = 0.8

    def __post_init__(self) -> None:
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {self.scale}")
        object.__setattr__(self, "scale", (float(lo), float(hi)))
        if self.shift_kms < 0:
            raise ValueError(f"shift_kms must be >= 0, got {self.shift_kms}")
        if self.mask_runs < 0 or not 0 <= self.mask_width < 1:
            raise ValueError("mask_runs must be >= 0 and mask_width in [0, 1)")
        if not 0 <= self.p <= 1:
            raise ValueError(f"p must be in [0, 1], got {self.p}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        d = asdict(self)
        d["scale"] = list(d["scale"])
        return d

    def __call__(self, batch: SpectrumBatch, rng: np.random.Generator) -> SpectrumBatch:
        """Return an augmented copy of a :class:`~spectromer.spectra.SpectrumBatch`
        (the input is not modified)."""
        if not isinstance(batch, SpectrumBatch):
            raise TypeError(
                f"Augmentation takes a SpectrumBatch (a source's batch), got {type(batch).__name__}"
            )
        flux = np.array(batch.flux, dtype=np.float32)
        ivar = np.asarray(batch.ivar, dtype=np.float32)
        mask = np.array(batch.mask, dtype=bool)
        wave = batch.wave
        b, width = flux.shape
        chosen = rng.random(b) < self.p
        if self.noise > 0:
            with np.errstate(divide="ignore"):
                sigma = np.where(ivar > 0, 1.0 / np.sqrt(np.maximum(ivar, 1e-30)), 0.0)
            draw = rng.standard_normal(flux.shape).astype(np.float32)
            flux += np.where(chosen[:, None], self.noise * sigma * draw, 0).astype(np.float32)
            # the perturbed spectrum is noisier: its inverse variance drops accordingly
            ivar = np.where(chosen[:, None], ivar / (1.0 + self.noise**2), ivar).astype(np.float32)
        lo, hi = self.scale
        if hi > lo or lo != 1.0:
            factor = np.exp(rng.uniform(np.log(lo), np.log(hi), b)).astype(np.float32)
            factor = np.where(chosen, factor, 1.0).astype(np.float32)
            flux *= factor[:, None]
            ivar = ivar / (factor[:, None] ** 2)
        shifted = self.shift_kms > 0
        if shifted:
            v = rng.uniform(-self.shift_kms, self.shift_kms, b) * chosen
            wave = batch.wave * (1.0 + v[:, None] / SPEED_OF_LIGHT_KMS)
        if self.mask_runs > 0 and self.mask_width > 0:
            lengths = batch.length
            runs = rng.integers(0, self.mask_runs + 1, b) * chosen
            for i in np.flatnonzero(runs):
                w = max(1, int(round(self.mask_width * lengths[i])))
                starts = rng.integers(0, max(1, lengths[i] - w), runs[i])
                for s in starts:
                    mask[i, s : s + w] = True
        out = batch.replace(
            wave=wave, flux=flux, ivar=np.where(mask, 0, ivar).astype(np.float32), mask=mask
        )
        if shifted:  # the compact grid no longer describes the shifted wavelengths
            out.describe_grids()
        return out


def as_augmentation(value: Any) -> Augmentation | None:
    """Interpret an ``augment`` argument: True (defaults), False/None, a dict, or an Augmentation.

    Examples
    --------
    >>> from spectromer.training import as_augmentation
    >>> as_augmentation(False) is None, as_augmentation({"noise": 0.0}).noise
    (True, 0.0)
    """
    if value is None or value is False:
        return None
    if value is True:
        return Augmentation()
    if isinstance(value, Augmentation):
        return value
    if isinstance(value, dict):
        try:
            return Augmentation(**value)
        except TypeError as err:
            raise ValueError(f"augment: {err}") from None
    raise TypeError(f"augment must be a bool, a dict or an Augmentation, got {value!r}")
