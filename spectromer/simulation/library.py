"""The packaged template library the simulator builds spectra from.

``simulation/data/library.npz`` is made by ``benchmarks/make_simulation_library.py``
from the SDSS pipeline's template files and the real survey files of the
development data (see :data:`PROVENANCE`); the installed package reads only
that file. This module loads it once and gives the stellar library its MK
types.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "library_path",
    "load_library",
    "parse_mk",
    "StarLibrary",
    "star_library",
    "dwarf_teff",
    "absolute_magnitude",
    "MK_LETTERS",
    "PROVENANCE",
]

_FILE = "library.npz"

#: MK spectral letters in temperature order; a type's numeric code is
#: ``10 * index + subtype`` (O0 = 0, B0 = 10, ..., M9 = 69).
MK_LETTERS = "OBAFGKM"

PROVENANCE = """\
Simulated spectra, not observations. Templates: SDSS idlspec2d (github.com/sdss/idlspec2d,
BSD-3-Clause): spEigenGal-56436 (4 galaxy eigenspectra), spEigenQSO-55732 (4 quasar
eigenspectra), spEigenStar-55734 (the 117 MK-typed ELODIE stars; its 6 composite templates are
not used) and spEigenStar-53724 (the MK-typed SDSS subclass templates, extended beyond their
3800-9200 A range with the nearest ELODIE dwarf, scaled to match). Inverse-variance profiles:
medians of the normalised ivar of the real LAMOST DR10 (2269), SDSS (12), BOSS (2) and DESI (2)
files of the development data. Galaxy and quasar eigen-coefficient ratios fitted to the real
SDSS galaxies and BOSS quasars there. Rebuilt with benchmarks/make_simulation_library.py.
Acknowledge SDSS, LAMOST and DESI when you use it.
"""

# Dwarf effective temperatures (K) at MK codes (Pecaut & Mamajek 2013, ApJS 208, 9,
# updated table); linear in between.
_TEFF_CODES = np.array([5, 9, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 69], dtype=float)
_TEFF_K = np.array(
    [41400, 31500, 31400, 15700, 9700, 8100, 7220, 6510, 5920, 5660, 5280, 4450, 3850, 3060, 2400],
    dtype=float,
)

# Absolute V magnitudes of dwarfs at MK codes (Pecaut & Mamajek 2013), and typical ones
# of giants (III/II) and supergiants (I) (Straizys 1992, rounded); linear in between.
_MV_CODES = np.array([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 69], dtype=float)
_MV_DWARF = np.array([-5.7, -4.0, -1.1, 1.1, 1.9, 2.5, 3.4, 4.4, 5.1, 5.9, 7.4, 8.9, 12.3, 19.0])
_MV_GIANT = np.array([-5.5, -4.5, -2.0, 0.0, 0.7, 1.0, 1.0, 0.9, 0.8, 0.7, -0.2, -0.4, -0.5, -0.5])
_MV_SUPERGIANT = -5.5

_MK = re.compile(r"^(?:sd:?)?([OBAFGKM])(\d(?:\.\d)?)?")
_LUM = re.compile(r"(VI|V|IV|III|II|Ia|Iab|Ib|I)")


def library_path() -> Path:
    """Path of the packaged template library.

    Examples
    --------
    >>> from spectromer.simulation.library import library_path
    >>> library_path().name
    'library.npz'
    """
    return Path(__file__).with_name("data") / _FILE


@functools.lru_cache(maxsize=1)
def load_library() -> dict[str, np.ndarray]:
    """The packaged library as a dict of arrays (cached; templates as float32).

    Examples
    --------
    >>> from spectromer.simulation.library import load_library
    >>> lib = load_library()
    >>> lib["gal_eigen"].shape[0], lib["qso_eigen"].shape[0]
    (4, 4)
    """
    path = library_path()
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the simulator's template library is missing from this installation; "
            "reinstall spectromer or rebuild it with benchmarks/make_simulation_library.py"
        )
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    for key in ("gal_eigen", "qso_eigen", "star_templates"):
        data[key] = data[key].astype(np.float32)
    return data


def parse_mk(name: str) -> tuple[float, str] | None:
    """MK code and luminosity class of a template name, or None if it has no MK type.

    The code is ``10 * letter index + subtype`` (:data:`MK_LETTERS`); a type
    without a subtype (``"B5"`` has one, ``"K5"`` too, ``"Am"`` none) gives
    None. The luminosity class is ``"V"`` for dwarfs (and names without one),
    ``"IV"``, ``"III"``, ``"II"``, ``"I"`` (any supergiant) or ``"VI"`` (subdwarfs).

    Examples
    --------
    >>> from spectromer.simulation.library import parse_mk
    >>> parse_mk("F6V (16673)"), parse_mk("M4.5:III (123657)"), parse_mk("sdF3 (140283)")
    ((36.0, 'V'), (64.5, 'III'), (33.0, 'VI'))
    >>> parse_mk("G5/G6IVw (26297)"), parse_mk("Carbon") is None, parse_mk("A0")
    ((45.0, 'IV'), True, (20.0, 'V'))
    """
    label = name.split("(")[0].strip()
    m = _MK.match(label)
    if m is None or m.group(2) is None:
        return None
    code = 10.0 * MK_LETTERS.index(m.group(1)) + float(m.group(2))
    if label.startswith("sd"):
        return code, "VI"
    rest = label[m.end() :].split("/")[-1] if "/" in label else label[m.end() :]
    lum = _LUM.search(rest)
    cls = lum.group(1) if lum else "V"
    if cls.startswith("I") and cls not in ("IV", "III", "II"):
        cls = "I"
    return code, cls


def dwarf_teff(code: np.ndarray | float) -> np.ndarray:
    """Effective temperature (K) of a dwarf of MK code ``code`` (Pecaut & Mamajek 2013).

    Examples
    --------
    >>> from spectromer.simulation.library import dwarf_teff
    >>> [int(t) for t in dwarf_teff([20.0, 35.0, 42.0])]
    [9700, 6510, 5816]
    """
    return np.interp(np.asarray(code, dtype=float), _TEFF_CODES, _TEFF_K)


def absolute_magnitude(code: float, lumclass: str) -> float:
    """Typical absolute magnitude (V, used for r) of a star of MK code and luminosity class.

    Examples
    --------
    >>> from spectromer.simulation.library import absolute_magnitude
    >>> [absolute_magnitude(c, k) for c, k in ((20.0, "V"), (45.0, "III"), (30.0, "I"))]
    [1.1, 0.8, -5.5]
    """
    if lumclass == "I":
        return _MV_SUPERGIANT
    table = _MV_GIANT if lumclass in ("III", "II") else _MV_DWARF
    return round(float(np.interp(code, _MV_CODES, table)), 3)


@dataclass(frozen=True)
class StarLibrary:
    """The MK-typed stellar templates: flux rows, codes, luminosity classes, names.

    Examples
    --------
    >>> from spectromer.simulation.library import star_library
    >>> lib = star_library()
    >>> lo, hi, w = lib.neighbours(36.5, "V", "ELODIE")  # between F6 and F8 dwarfs
    >>> str(lib.names[lo]), str(lib.names[hi]), round(w, 2)
    ('F6V (16673)', 'F8V (30562)', 0.25)
    """

    loglam0: float
    flux: np.ndarray
    code: np.ndarray
    lumclass: np.ndarray
    names: np.ndarray
    source: np.ndarray

    def neighbours(self, code: float, lumclass: str, pool: str) -> tuple[int, int, float]:
        """Two templates bracketing ``code`` in ``pool`` and the weight of the upper one.

        Templates of the same luminosity group (dwarfs V/IV/VI, giants III/II,
        supergiants I) are preferred; the pool is ``"ELODIE"`` or ``"SDSS"``.
        """
        group = _GROUP[lumclass]
        cand = np.flatnonzero((self.source == pool) & (_groups(self.lumclass) == group))
        if cand.size < 2:
            cand = np.flatnonzero(self.source == pool)
        codes = self.code[cand]
        below = cand[codes <= code]
        above = cand[codes > code]
        if below.size == 0:
            i = int(above[np.argmin(self.code[above])])
            return i, i, 0.0
        if above.size == 0:
            i = int(below[np.argmax(self.code[below])])
            return i, i, 0.0
        lo_code = self.code[below].max()
        hi_code = self.code[above].min()
        # several templates can share a code (different stars): the first one in the
        # library is always taken, so the others of that code are not used
        lo = below[self.code[below] == lo_code]
        hi = above[self.code[above] == hi_code]
        w = (code - lo_code) / (hi_code - lo_code)
        return int(lo[0]), int(hi[0]), float(w)


_GROUP = {"V": 0, "IV": 0, "VI": 0, "III": 1, "II": 1, "I": 2}


def _groups(lumclass: np.ndarray) -> np.ndarray:
    return np.array([_GROUP[c] for c in lumclass])


@functools.lru_cache(maxsize=1)
def star_library() -> StarLibrary:
    """The packaged stellar templates with their MK codes (cached).

    Examples
    --------
    >>> from spectromer.simulation.library import star_library
    >>> lib = star_library()
    >>> sorted(set(lib.source.tolist())), int((lib.source == "ELODIE").sum())
    (['ELODIE', 'SDSS'], 116)
    """
    lib = load_library()
    names = lib["star_names"].astype(str)
    parsed = [parse_mk(n) for n in names]
    keep = np.array([p is not None for p in parsed])
    code = np.array([p[0] for p in parsed if p is not None])
    lum = np.array([p[1] for p in parsed if p is not None])
    return StarLibrary(
        loglam0=float(lib["star_loglam0"]),
        flux=lib["star_templates"][keep],
        code=code,
        lumclass=lum,
        names=names[keep],
        source=lib["star_source"].astype(str)[keep],
    )
