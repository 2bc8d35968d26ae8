"""Survey simulator: LAMOST-, SDSS-, BOSS- and DESI-like spectra of stars, galaxies and quasars.

* :func:`simulate_survey` - write a dataset of simulated spectra of one survey
  (also :func:`spectromer.datasets.simulate_survey` and ``spectromer simulate``);
* :mod:`~spectromer.simulation.instruments` - each survey's instrument as data
  (:data:`INSTRUMENTS`);
* :mod:`~spectromer.simulation.objects` - the astrophysics (stars from MK-typed
  templates, galaxies and quasars from eigenspectra);
* :mod:`~spectromer.simulation.observe` - what the instrument does to a spectrum;
* :mod:`~spectromer.simulation.library` - the packaged templates and profiles.

Everything it writes is simulated: ``meta["simulated"]`` is True for every row
and the file says so in its attributes. ``docs/simulation.rst`` says what is
and is not modelled, and how the spectra compare with real ones.
"""

from .instruments import INSTRUMENTS, SURVEYS, Arm, Instrument, Mixture, instrument
from .library import PROVENANCE
from .survey import CLASSES, META_COLUMNS, simulate_survey

__all__ = [
    "simulate_survey",
    "instrument",
    "INSTRUMENTS",
    "SURVEYS",
    "CLASSES",
    "META_COLUMNS",
    "PROVENANCE",
    "Arm",
    "Instrument",
    "Mixture",
]
