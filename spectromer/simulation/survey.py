"""``simulate_survey``: write a dataset of simulated spectra of one survey."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..utils.atomic import atomic_path, stale_temporaries
from ..utils.locking import exclusive_lock
from .instruments import Instrument, Mixture, instrument
from .library import MK_LETTERS, PROVENANCE, library_path, load_library
from .objects import DRAWERS
from .observe import Observer

if TYPE_CHECKING:  # the datasets package imports this module: its names come at call time
    from ..datasets.dataset import SpectraDataset

__all__ = ["simulate_survey", "CLASSES", "META_COLUMNS", "FLUX_UNIT"]

#: Object classes the simulator makes (SDSS ``CLASS`` values).
CLASSES = ("STAR", "GALAXY", "QSO")
#: Flux unit of every simulated spectrum.
FLUX_UNIT = "1e-17 erg / (Angstrom s cm2)"
_FORMAT_VERSION = 1

#: Metadata columns of a simulated dataset and their value where they do not apply.
META_COLUMNS: dict[str, Any] = {
    "survey": "",
    "simulated": True,
    "class": "",
    "subclass": "",
    "type": "",
    "subtype": "",
    "z": float("nan"),
    "teff": float("nan"),
    "logg": float("nan"),
    "feh": float("nan"),
    "lumclass": "",
    "rv_kms": float("nan"),
    "abs_mag": float("nan"),
    "distance_pc": float("nan"),
    "vdisp": float("nan"),
    "ew_halpha": float("nan"),
    "coeff1": float("nan"),
    "coeff2": float("nan"),
    "coeff3": float("nan"),
    "slope": float("nan"),
    "snr": float("nan"),
    "mag_r": float("nan"),
    "ebv": float("nan"),
    "resolution_scale": float("nan"),
    "template": "",
    "object_id": "",
    "flux_unit": FLUX_UNIT,
}

# Rest ranges (Angstrom) of the galaxy and quasar eigenspectra, less a margin.
_REST_COVER = {"GALAXY": (1190.0, 10450.0), "QSO": (455.0, 10350.0)}


# --------------------------------------------------------------------------- arguments
def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return int(n)


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


def _check_fractions(classes: tuple[str, ...], fractions: Any) -> list[float]:
    if fractions is None:
        return [1.0 / len(classes)] * len(classes)
    if not isinstance(fractions, Mapping):
        raise TypeError(f"class_fractions must be a mapping class -> fraction, got {fractions!r}")
    unknown = {str(k).upper() for k in fractions} - set(classes)
    if unknown:
        raise ValueError(
            f"class_fractions: {sorted(unknown)} not among the simulated classes {classes}"
        )
    lookup = {str(k).upper(): float(v) for k, v in fractions.items()}
    w = np.array([lookup.get(c, 0.0) for c in classes])
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"class_fractions must be non-negative with a positive sum, got {fractions!r}"
        )
    return (w / w.sum()).tolist()


def _check_star_types(star_types: Any, inst: Instrument) -> tuple[str, ...]:
    if star_types is None:
        return tuple(t for t in MK_LETTERS if inst.star_types.get(t, 0) > 0)
    if isinstance(star_types, str):
        star_types = tuple(star_types.replace(",", ""))
    out = tuple(str(t).upper() for t in star_types)
    bad = [t for t in out if t not in MK_LETTERS]
    if not out or bad:
        raise ValueError(
            f"star_types must be MK letters from {tuple(MK_LETTERS)}, got {star_types!r}"
        )
    return tuple(dict.fromkeys(out))


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be finite with low <= high, got {value!r}")
    return lo, hi


def _z_limits(cls: str, inst: Instrument) -> tuple[float, float]:
    """Redshifts at which the class's templates cover the whole of the survey's grid."""
    lo_w, hi_w = inst.wavelength_range
    rlo, rhi = _REST_COVER[cls]
    return max(hi_w / rhi - 1.0, 0.0), lo_w / rlo - 1.0


def _z_mixtures(z_range: Any, classes: tuple[str, ...], inst: Instrument) -> dict[str, Mixture]:
    given: dict[str, tuple[float, float]] = {}
    if z_range is not None:
        if isinstance(z_range, Mapping):
            for key, value in z_range.items():
                cls = str(key).upper()
                if cls == "STAR":
                    raise ValueError(
                        "z_range: stars get radial velocities (the survey's velocity "
                        "distribution), not a redshift range; give GALAXY and QSO only"
                    )
                if cls not in _REST_COVER:
                    raise ValueError(f"z_range: unknown class {key!r}; choose from GALAXY, QSO")
                given[cls] = _pair(value, f"z_range[{key!r}]")
        else:
            pair = _pair(z_range, "z_range")
            given = {cls: pair for cls in _REST_COVER}
    out = {}
    for cls in ("GALAXY", "QSO"):
        if cls not in classes:
            continue
        zmin, zmax = _z_limits(cls, inst)
        if cls in given:
            lo, hi = given[cls]
            if lo < zmin or hi > zmax:
                raise ValueError(
                    f"z_range for {cls} is {(lo, hi)}, but the {cls} templates cover "
                    f"{_REST_COVER[cls][0]:.0f}-{_REST_COVER[cls][1]:.0f} A rest, so on the "
                    f"{inst.name} grid z must lie in [{zmin:.3f}, {zmax:.3f}]"
                )
            out[cls] = Mixture(((1.0, 0.5 * (lo + hi), np.inf, lo, hi),))
        else:
            out[cls] = inst.redshifts[cls].clipped(zmin, zmax)
    return out


def _check_snr(snr: Any) -> tuple[float, float] | None:
    if snr is None:
        return None
    if np.isscalar(snr):
        snr = (snr, snr)
    lo, hi = _pair(snr, "snr")
    if lo <= 0:
        raise ValueError(f"snr must be positive, got {snr!r}")
    return lo, hi


# --------------------------------------------------------------------------- one spectrum
@functools.lru_cache(maxsize=1)
def _library_digest() -> str:
    return hashlib.sha1(library_path().read_bytes()).hexdigest()[:16]


def _profiles(inst: Instrument) -> list[np.ndarray]:
    lib = load_library()
    if len(inst.arms) == 1:
        return [lib[f"ivar_{inst.ivar_profile}"]]
    return [lib[f"ivar_{inst.ivar_profile}_{a.name}"] for a in inst.arms]


@functools.lru_cache(maxsize=8)
def _context(config_json: str) -> dict[str, Any]:
    cfg = json.loads(config_json)
    inst = instrument(cfg["survey"])
    classes = tuple(cfg["classes"])
    z_range = cfg["z_range"]
    return {
        "cfg": cfg,
        "inst": inst,
        "observer": Observer(inst, _profiles(inst)),
        "classes": classes,
        "probs": np.asarray(cfg["fractions"]),
        "z": _z_mixtures(z_range, classes, inst),
        "star_types": tuple(cfg["star_types"]),
        "survey_code": zlib.crc32(cfg["survey"].encode()),
    }


def _snr_from_mag(inst: Instrument, mag: float, rng: np.random.Generator) -> float:
    m_ref, s_ref, sky = inst.snr_reference
    x = 10.0 ** (-0.4 * (mag - m_ref))
    snr = s_ref * x * np.sqrt((1.0 + sky) / (x + sky))
    return float(snr * 10.0 ** rng.normal(0.0, inst.snr_scatter_dex))


def _one(i: int, ctx: dict[str, Any]) -> tuple[Any, ...]:
    from ..datasets.labels import derive_labels

    cfg, inst = ctx["cfg"], ctx["inst"]
    seeds = np.random.SeedSequence([int(cfg["seed"]), ctx["survey_code"], int(i)]).spawn(2)
    rng, noise_rng = (np.random.default_rng(s) for s in seeds)
    cls = ctx["classes"][int(rng.choice(len(ctx["classes"]), p=ctx["probs"]))]
    rest = DRAWERS[cls](rng, inst, ctx["z"].get(cls), ctx["star_types"])
    mag = float(inst.magnitudes[cls].draw(rng)[0])
    if cfg["snr"] is None:
        snr = _snr_from_mag(inst, mag, rng)
    else:
        lo, hi = cfg["snr"]
        snr = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    distance = None
    if cls == "STAR":  # distance modulus from the type's absolute magnitude
        distance = float(10.0 ** ((mag - rest.labels["abs_mag"] + 5.0) / 5.0))
        rest.labels["distance_pc"] = distance
    obs = ctx["observer"].observe(
        rest, rng, mag=mag, snr=snr, noise=cfg["noise"], noise_rng=noise_rng,
        distance_pc=distance,
    )
    meta = dict(META_COLUMNS)
    meta.update(obs.labels)
    meta.update(
        survey=inst.name,
        simulated=True,
        object_id=f"sim-{cfg['survey']}-{cfg['seed']}-{i:08d}",
        z=float(rest.z),
        flux_unit=FLUX_UNIT,
        **{"class": cls},
    )
    meta["type"] = meta["subtype"] = ""
    if cls == "STAR":
        derive_labels(meta)
    return obs.wave, obs.flux, obs.ivar, obs.mask, meta


def _write_shard(config_json: str, key: str, start: int, stop: int, path: str) -> int:
    """Worker: simulate spectra ``start`` .. ``stop - 1`` into the shard file ``path``."""
    from ..datasets.dataset import DatasetWriter

    ctx = _context(config_json)
    cfg = ctx["cfg"]
    with atomic_path(path, suffix=".h5") as tmp:
        with DatasetWriter(tmp, encoding=cfg["encoding"]) as writer:
            for i in range(start, stop):
                wave, flux, ivar, mask, meta = _one(i, ctx)
                writer.add(wave, flux, ivar, mask, meta)
            writer.close(attrs={"simulation_key": key, "shard_start": start, "shard_stop": stop})
    return stop - start


def _shard_ok(path: Path, key: str, start: int, stop: int) -> bool:
    from ..datasets.dataset import SpectraDataset

    try:
        with SpectraDataset(path) as ds:
            attrs = ds._file().attrs
            return (
                attrs.get("simulation_key") == key
                and int(attrs.get("shard_start", -1)) == start
                and int(attrs.get("shard_stop", -1)) == stop
                and len(ds) == stop - start
            )
    except (OSError, ValueError, KeyError):
        return False


# --------------------------------------------------------------------------- public
def simulate_survey(
    n: int,
    out: str | os.PathLike,
    *,
    survey: str = "lamost",
    classes: Sequence[str] = CLASSES,
    seed: int = 0,
    class_fractions: Mapping[str, float] | None = None,
    star_types: Sequence[str] | str | None = None,
    z_range: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    snr: float | tuple[float, float] | None = None,
    noise: bool = True,
    encoding: str = "float32",
    chunk_size: int = 1000,
    n_jobs: int = 1,
    resume: bool = True,
    progress: bool = False,
) -> SpectraDataset:
    """Write a dataset of **simulated** spectra of stars, galaxies and quasars of one survey.

    Each spectrum is built from real templates (:mod:`spectromer.simulation.objects`)
    and observed with the survey's instrument
    (:mod:`spectromer.simulation.observe`): its own wavelength grid
    (LAMOST log-lambda 3700-9100 A; SDSS 3800-9200 A and BOSS 3600-10400 A,
    log-lambda 1e-4 dex; DESI b/r/z arms on 0.8 A linear grids, merged as the
    DESI reader merges them), resolution, flux-calibration errors, measured
    noise profile, sky-line residuals, bad pixels and (LAMOST) the dichroic
    join. The file has the layout :func:`~spectromer.datasets.ingest` writes.

    Spectrum ``i`` depends only on ``(survey, seed, i)`` and the arguments
    that shape the population (classes, fractions, star types, redshift and
    S/N ranges, noise): not on ``n``, ``chunk_size`` or ``n_jobs``, so a
    larger ``n`` extends a smaller one.

    Parameters
    ----------
    n : int
        Number of spectra (at least 1).
    out : str or path-like
        Dataset file to write; it appears, complete, only at the end (written
        atomically). Chunks are written to ``OUT.parts/`` as they finish, so an
        interrupted run resumes (``resume=True``) without redoing them.
    survey : {"lamost", "sdss", "boss", "desi"}
        The instrument (:data:`spectromer.simulation.INSTRUMENTS`).
    classes : sequence of {"STAR", "GALAXY", "QSO"}
        Classes to simulate.
    seed : int
        Seed of the random numbers; the same arguments and seed give the same file.
    class_fractions : mapping, optional
        Probability of each class (normalised); equal by default. Each
        spectrum's class is drawn with these probabilities.
    star_types : sequence of MK letters, optional
        Spectral types of the stars (for example ``"AFG"``), drawn with the
        survey's relative frequencies; all of O-M by default.
    z_range : (low, high) or mapping, optional
        Uniform redshift range for galaxies and quasars, or a mapping such as
        ``{"GALAXY": (0, 0.3)}``; by default each survey's own redshift
        distributions (:attr:`Instrument.redshifts`). Ranges the templates do
        not cover on the survey's grid are an error that says which are possible.
    snr : float or (low, high), optional
        Median per-pixel S/N, drawn log-uniformly in the range. By default it
        follows from each object's magnitude (:attr:`Instrument.snr_reference`).
    noise : bool
        Add the noise, sky residuals and cosmic-ray spikes. With ``False`` the
        flux is noiseless while every drawn parameter, the inverse variance
        and the mask stay as they would be with noise.
    encoding : {"float32", "float16"}
        Storage encoding (see :class:`~spectromer.datasets.DatasetWriter`).
    chunk_size : int
        Spectra per chunk: the memory a worker needs is O(chunk_size).
    n_jobs : int
        Worker processes (joblib); -1 for all cores.
    resume : bool
        Keep the chunks of an interrupted run with the same arguments, and
        return an existing complete ``out`` made with them. With ``False``
        both are replaced.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    SpectraDataset
        The dataset, opened read-only. Its ``meta`` columns are
        :data:`META_COLUMNS`: ``survey`` (as the readers name it),
        ``simulated`` (True), ``class``, ``subclass``, ``type``, ``subtype``,
        ``z``, ``teff`` (dwarfs, from the MK type), ``logg`` and ``feh`` (NaN:
        unknown for the templates), and the drawn parameters.

    Raises
    ------
    ValueError
        For ``n < 1``, an unknown survey, class or star type, bad
        ``class_fractions``, an uncovered ``z_range`` or a non-positive
        ``snr``; the message names the argument.
    FileExistsError
        When ``out`` exists, was made with other arguments, and ``resume`` is true.
    spectromer.utils.locking.FileLockedError
        When another process is writing ``out``.

    Examples
    --------
    >>> import os, tempfile
    >>> from spectromer.datasets import simulate_survey
    >>> path = os.path.join(tempfile.mkdtemp(), "desi.h5")
    >>> ds = simulate_survey(4, path, survey="desi", seed=1)
    >>> len(ds), ds.meta_row(0)["survey"], bool(ds.meta_row(0)["simulated"])
    (4, 'DESI', True)
    >>> w = ds.wavelength(0)
    >>> round(float(w[0])), round(float(w[-1])), w.size
    (3600, 9824, 7781)
    """
    n = _check_n(n)
    inst = instrument(survey)
    classes = _check_classes(classes)
    fractions = _check_fractions(classes, class_fractions)
    types = _check_star_types(star_types, inst)
    if "STAR" in classes and not any(inst.star_types.get(t, 0) > 0 for t in types):
        raise ValueError(f"star_types {types}: none is simulated for {inst.name}")
    _z_mixtures(z_range, classes, inst)  # errors now, not in a worker
    snr_range = _check_snr(snr)
    if encoding not in ("float32", "float16"):
        raise ValueError(f"encoding must be 'float32' or 'float16', got {encoding!r}")
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or (chunk_size < 1)
    ):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    if isinstance(z_range, Mapping):
        z_json: Any = {str(k).upper(): list(_pair(v, "z_range")) for k, v in z_range.items()}
    else:
        z_json = None if z_range is None else list(_pair(z_range, "z_range"))
    population = {
        "survey": str(survey).lower(),
        "classes": list(classes),
        "fractions": fractions,
        "star_types": list(types),
        "z_range": z_json,
        "snr": None if snr_range is None else list(snr_range),
        "noise": bool(noise),
        "seed": int(seed),
        "encoding": encoding,
        "library": _library_digest(),
        "format": _FORMAT_VERSION,
    }
    config_json = json.dumps(population, sort_keys=True)
    key = hashlib.sha1(config_json.encode()).hexdigest()[:20]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out, purpose="simulate"):
        return _simulate_locked(
            n, out, config_json, key, population, int(chunk_size), n_jobs, resume, progress
        )


def _simulate_locked(
    n: int,
    out: Path,
    config_json: str,
    key: str,
    population: dict[str, Any],
    chunk: int,
    n_jobs: int,
    resume: bool,
    progress: bool,
) -> SpectraDataset:
    from ..datasets._shards import merge_datasets
    from ..datasets.dataset import SpectraDataset

    for tmp in stale_temporaries(out, suffix=".h5"):
        tmp.unlink(missing_ok=True)
    if out.exists():
        with SpectraDataset(out) as ds:  # a clear error for a file that is not a dataset
            same = ds._file().attrs.get("simulation_key") == key and len(ds) == n
        if same and resume:
            return SpectraDataset(out)
        if resume:
            raise FileExistsError(
                f"{out}: exists and was not made by simulate_survey with these arguments "
                f"and n={n}; pass resume=False (--overwrite) to replace it, or choose another path"
            )
    parts_dir = out.with_name(out.name + ".parts")
    if not resume:
        shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True, exist_ok=True)
    for tmp in parts_dir.glob("*.tmp*"):
        tmp.unlink(missing_ok=True)
    ranges = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    shards = [parts_dir / f"shard-{k:06d}.h5" for k in range(len(ranges))]
    todo = [k for k, (a, b) in enumerate(ranges) if not _shard_ok(shards[k], key, a, b)]
    wanted = set(shards)
    for old in parts_dir.glob("shard-*.h5"):  # from a run with another n or chunk size
        if old not in wanted:
            old.unlink()

    from tqdm.auto import tqdm

    done = n - sum(ranges[k][1] - ranges[k][0] for k in todo)
    bar = tqdm(
        total=n,
        initial=done,
        desc=f"simulate {population['survey']}",
        unit="spec",
        disable=not progress,
    )
    if todo:
        jobs = [(config_json, key, ranges[k][0], ranges[k][1], str(shards[k])) for k in todo]
        if n_jobs == 1 or len(jobs) == 1:
            for job in jobs:
                bar.update(_write_shard(*job))
        else:
            from joblib import Parallel, delayed

            with Parallel(n_jobs=n_jobs, return_as="generator_unordered") as parallel:
                for count in parallel(delayed(_write_shard)(*job) for job in jobs):
                    bar.update(count)
    bar.close()
    attrs = {
        "simulated": True,
        "simulation": "spectromer.simulation.simulate_survey",
        "simulation_key": key,
        "simulation_config": config_json,
        "simulation_seed": population["seed"],
        "simulation_survey": population["survey"],
        "provenance": PROVENANCE,
    }
    merge_datasets(shards, out, population["encoding"], "lzf", attrs=attrs)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return SpectraDataset(out)
