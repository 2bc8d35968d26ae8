"""``spectromer simulate``: write a dataset of simulated survey spectra.

``spectromer simulate N OUT --survey desi`` writes ``N`` **simulated** spectra of
stars, galaxies and quasars, observed with one survey's instrument, into the
HDF5 dataset ``OUT`` (see :func:`spectromer.datasets.simulate_survey` and
:doc:`/simulation`). Re-running the same command resumes an interrupted run, or
returns the finished file unchanged.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .fetch import _non_negative_int, _positive_int

_EXAMPLES = """\
examples:
  spectromer simulate 10000 lamost_stars.h5 --survey lamost --classes STAR --star-types AFG
  spectromer simulate 2000 boss_qso.h5 --survey boss --classes QSO --z-range 2.0,3.5 -j 2
  spectromer simulate 500 desi.h5 --survey desi --snr 5,50 --seed 3

Spectrum i depends only on the survey, the seed, i and the options that shape the
population (not on N, --chunk-size or --n-jobs). Chunks are kept in OUT.parts/ as they
finish, so re-running an interrupted command resumes it; a finished OUT made with the
same options is returned unchanged, one made with other options is refused unless
--overwrite is given. Exit status: 0 on success, 1 on errors (the message names the
argument at fault), 2 on unparseable options.
"""


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names, upper-cased (``"star,qso"`` -> ``("STAR", "QSO")``)."""
    names = tuple(part.strip().upper() for part in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return names


def _floats(text: str, count: tuple[int, ...]) -> tuple[float, ...]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) not in count or len(parts) != len(values):
        shape = "LO,HI" if count == (2,) else "X or LO,HI"
        raise argparse.ArgumentTypeError(f"expected {shape} (numbers), got {text!r}")
    return values


def _range(text: str) -> tuple[float, float]:
    """``"LO,HI"`` -> ``(LO, HI)``; the range itself is checked by ``simulate_survey``."""
    lo, hi = _floats(text, (2,))
    return lo, hi


def _snr(text: str) -> float | tuple[float, float]:
    """``"X"`` (one S/N) or ``"LO,HI"`` (drawn log-uniformly between them)."""
    values = _floats(text, (1, 2))
    return values[0] if len(values) == 1 else (values[0], values[1])


def _n_jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``simulate`` sub-command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-parsers of the ``spectromer`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``simulate`` parser.

    Examples
    --------
    >>> import argparse
    >>> from spectromer.cli import simulate
    >>> parser = argparse.ArgumentParser(prog="spectromer")
    >>> _ = simulate.add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["simulate", "10", "s.h5", "--classes", "star,qso",
    ...                           "--z-range", "2.3,2.4", "--snr", "10"])
    >>> args.n, args.survey, args.classes, args.z_range, args.snr, args.overwrite
    (10, 'lamost', ('STAR', 'QSO'), (2.3, 2.4), 10.0, False)
    """
    from spectromer.simulation import CLASSES, SURVEYS

    p = subparsers.add_parser(
        "simulate",
        help="write simulated LAMOST, SDSS, BOSS or DESI spectra into a dataset",
        description=(
            "Simulate spectra of stars, galaxies and quasars observed with one survey's "
            "instrument (its wavelength grid, resolution, flux calibration, noise, sky "
            "residuals and bad pixels) and write them into one HDF5 dataset. Every row is "
            "labelled simulated. In chunks, in parallel, resumable."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("n", type=_positive_int, metavar="N", help="number of spectra")
    p.add_argument("out", type=Path, metavar="OUT", help="output dataset (.h5)")
    p.add_argument(
        "--survey",
        type=str.lower,
        choices=SURVEYS,
        default=SURVEYS[0],
        help=f"the instrument (default {SURVEYS[0]})",
    )
    p.add_argument(
        "--classes",
        type=_names,
        default=CLASSES,
        metavar="LIST",
        help=f"object classes, comma-separated, from {','.join(CLASSES)} (default: all)",
    )
    p.add_argument(
        "--star-types",
        metavar="LETTERS",
        help="MK letters of the stars, e.g. AFG (default: all the survey simulates)",
    )
    p.add_argument(
        "--seed", type=_non_negative_int, default=0, help="seed of the random numbers (default 0)"
    )
    p.add_argument(
        "--snr",
        type=_snr,
        metavar="LO,HI",
        help="median per-pixel S/N, drawn log-uniformly in LO-HI, or one value "
        "(default: from each object's magnitude)",
    )
    p.add_argument(
        "--z-range",
        type=_range,
        metavar="LO,HI",
        help="uniform redshift range of galaxies and quasars (default: the survey's own "
        "distributions)",
    )
    p.add_argument(
        "--no-noise",
        action="store_true",
        help="noiseless flux (the inverse variance and mask stay as with noise)",
    )
    p.add_argument(
        "--encoding",
        choices=("float32", "float16"),
        default="float32",
        help="storage encoding of flux and ivar (default float32)",
    )
    p.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="spectra per chunk written (default 1000; memory grows with it)",
    )
    p.add_argument(
        "-j",
        "--n-jobs",
        type=_n_jobs,
        default=1,
        metavar="N",
        help="worker processes (-1: all cores; default 1)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT and any chunks of an earlier run instead of resuming",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer simulate``: simulate, then print a one-line summary.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of the ``simulate`` parser.

    Returns
    -------
    int
        Exit status (0).

    Examples
    --------
    >>> import os, tempfile
    >>> from spectromer.cli import main
    >>> out = os.path.join(tempfile.mkdtemp(), "sim.h5")
    >>> main(["simulate", "3", out, "--survey", "sdss", "--classes", "GALAXY", "--no-progress"])
    ... # doctest: +ELLIPSIS
    simulated 3 SDSS spectra (GALAXY 3) -> ...sim.h5 (... KiB)
    0
    """
    from spectromer.datasets import simulate_survey
    from spectromer.imaging.config import _format_bytes

    out = Path(args.out)
    before = out.stat().st_mtime_ns if out.is_file() else None
    ds = simulate_survey(
        args.n,
        out,
        survey=args.survey,
        classes=args.classes,
        seed=args.seed,
        star_types=args.star_types,
        z_range=args.z_range,
        snr=args.snr,
        noise=not args.no_noise,
        encoding=args.encoding,
        chunk_size=args.chunk_size,
        n_jobs=args.n_jobs,
        resume=not args.overwrite,
        progress=not args.no_progress,
    )
    with ds:
        labels = ds.labels("class").tolist()
        survey = str(ds.meta_row(0)["survey"])
    counts = ", ".join(f"{c} {labels.count(c)}" for c in args.classes if c in labels)
    reused = before is not None and out.stat().st_mtime_ns == before
    verb = "already complete:" if reused else "simulated"
    size = _format_bytes(os.path.getsize(out))
    print(f"{verb} {len(labels)} {survey} spectra ({counts}) -> {out} ({size})")
    return 0
