"""``simulate_sdss``: the SDSS and BOSS simulator, a thin alias of the survey simulator.

Everything is in :mod:`spectromer.simulation`; this name is kept for scripts
written before :func:`spectromer.datasets.simulate_survey` existed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..simulation.library import PROVENANCE as SIMULATION_PROVENANCE
from ..simulation.survey import CLASSES, simulate_survey

if TYPE_CHECKING:
    from .dataset import SpectraDataset

__all__ = ["simulate_sdss", "simulate_survey", "SIMULATION_PROVENANCE"]

_GRIDS = ("sdss", "boss")


def simulate_sdss(
    n: int,
    out: str | os.PathLike,
    *,
    classes: Sequence[str] = CLASSES,
    z_range: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    snr: float | tuple[float, float] | None = None,
    class_fractions: Mapping[str, float] | None = None,
    grid: str = "sdss",
    seed: int = 0,
    noise: bool = True,
    encoding: str = "float32",
    progress: bool = False,
) -> SpectraDataset:
    """Simulated SDSS (``grid="sdss"``) or BOSS (``grid="boss"``) spectra.

    The same as :func:`~spectromer.datasets.simulate_survey` with
    ``survey=grid``; see it for the parameters.

    Examples
    --------
    >>> import os, tempfile
    >>> from spectromer.datasets import simulate_sdss
    >>> path = os.path.join(tempfile.mkdtemp(), "sim.h5")
    >>> ds = simulate_sdss(3, path, classes=["GALAXY"], seed=1)
    >>> len(ds), ds.meta_row(0)["survey"], ds.meta_row(0)["class"]
    (3, 'SDSS', 'GALAXY')
    """
    if grid not in _GRIDS:
        raise ValueError(f"grid must be one of {_GRIDS}, got {grid!r}")
    return simulate_survey(
        n,
        out,
        survey=grid,
        classes=classes,
        z_range=z_range,
        snr=snr,
        class_fractions=class_fractions,
        seed=seed,
        noise=noise,
        encoding=encoding,
        progress=progress,
    )
