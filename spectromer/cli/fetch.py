"""``spectromer fetch``: download survey spectra into a dataset.

``spectromer fetch sdss`` selects spectra from the SDSS SkyServer ``SpecObj``
view, downloads their ``spec-*.fits`` files into a cache and ingests them into
an HDF5 :class:`~spectromer.datasets.SpectraDataset` (see
:func:`spectromer.datasets.fetch_sdss`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

#: Exit status when the dataset was written but some spectra could not be downloaded.
EXIT_PARTIAL = 2

_SDSS_EXAMPLES = """\
examples:
  spectromer fetch sdss --class GALAXY --z-min 0.05 --z-max 0.3 --snr-min 5 \\
      --limit 200 --out galaxies.h5
  spectromer fetch sdss --class STAR --subclass 'K%' --limit 50 --dr 17 --out kstars.h5
  spectromer fetch sdss --sql-file my_query.sql --out mine.h5 -j 8

A custom query (--sql/--sql-file) must return the columns plate, mjd, fiberID
and run2d. Downloaded files are kept in the cache (--cache-dir, default
$SPECTROMER_CACHE/sdss or the astropy cache), so re-running a command resumes
it. Exit status: 0 on success, 2 if the dataset was written but some spectra
could not be downloaded, 1 on errors (including no network).
"""


def _int_at_least(minimum: int):
    """An argparse ``type`` accepting integers >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _spec_class(text: str) -> str:
    from spectromer.datasets.sdss import SPEC_CLASSES

    value = text.strip().upper()
    if value not in SPEC_CLASSES:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(SPEC_CLASSES)} (any case), got {text!r}"
        )
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``fetch`` sub-command and its ``sdss`` sub-command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-parsers of the ``spectromer`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``fetch`` parser.

    Examples
    --------
    >>> import argparse
    >>> from spectromer.cli import fetch
    >>> parser = argparse.ArgumentParser(prog="spectromer")
    >>> _ = fetch.add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["fetch", "sdss", "--class", "galaxy", "--out", "g.h5"])
    >>> args.survey, args.spec_class, args.limit, args.data_release, args.n_jobs
    ('sdss', 'GALAXY', None, 18, 4)
    """
    fetch = subparsers.add_parser(
        "fetch",
        help="download survey spectra into a dataset (SDSS)",
        description="Download survey spectra and ingest them into one HDF5 dataset.",
    )
    surveys = fetch.add_subparsers(dest="survey", metavar="SURVEY")
    surveys.required = True

    p = surveys.add_parser(
        "sdss",
        help="query SDSS SpecObj and download the spectra (needs network)",
        description=(
            "Select spectra from the SDSS SkyServer SpecObj view (with astroquery), download "
            "their spec-*.fits files in parallel into a local cache, and ingest them into an "
            "HDF5 dataset. Files already in the cache are not downloaded again."
        ),
        epilog=_SDSS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", "-o", required=True, metavar="DATASET", help="output .h5 file")
    sel = p.add_argument_group("selection (ignored with --sql/--sql-file)")
    sel.add_argument(
        "--class",
        dest="spec_class",
        type=_spec_class,
        metavar="CLASS",
        help="pipeline class: STAR, GALAXY or QSO (default: all)",
    )
    sel.add_argument(
        "--subclass", help="subClass value or SQL LIKE pattern, e.g. 'STARFORMING%%' or 'K%%'"
    )
    sel.add_argument("--z-min", type=float, metavar="Z", help="minimum redshift (inclusive)")
    sel.add_argument("--z-max", type=float, metavar="Z", help="maximum redshift (inclusive)")
    sel.add_argument("--snr-min", type=float, metavar="SNR", help="minimum snMedian")
    sel.add_argument(
        "--allow-zwarning",
        action="store_true",
        help="also keep spectra with redshift warnings (default: zWarning = 0 only)",
    )
    sel.add_argument(
        "--limit", type=_positive_int, metavar="N", help="maximum number of spectra (default 100)"
    )
    query = p.add_mutually_exclusive_group()
    query.add_argument(
        "--sql", help="your own SkyServer SQL (must return plate, mjd, fiberID, run2d)"
    )
    query.add_argument("--sql-file", type=Path, metavar="FILE", help="read the SQL from FILE")
    p.add_argument(
        "--dr",
        dest="data_release",
        type=int,
        default=18,
        metavar="N",
        help="SDSS data release (default 18)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        dest="n_jobs",
        type=_positive_int,
        default=4,
        metavar="N",
        help="simultaneous downloads (default 4)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="download cache (default $SPECTROMER_CACHE/sdss or <astropy cache>/spectromer/sdss)",
    )
    p.add_argument(
        "--retries",
        type=_non_negative_int,
        default=4,
        metavar="N",
        help="retries per request after network errors (default 4)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="network timeout in seconds (default 60)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run)
    return fetch


def run(args: argparse.Namespace) -> int:
    """Run ``spectromer fetch sdss``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (see :func:`add_parser`).

    Returns
    -------
    int
        0 on success, 2 if the dataset was written but some spectra could not be
        downloaded, 1 on errors (no network, bad arguments, a rejected query).

    Examples
    --------
    >>> import argparse
    >>> from spectromer.cli import fetch
    >>> parser = argparse.ArgumentParser(prog="spectromer")
    >>> _ = fetch.add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["fetch", "sdss", "--out", "x.h5", "--sql", "SELECT 1",
    ...                           "--class", "STAR"])
    >>> fetch.run(args)  # rejected before any network access
    1
    """
    from spectromer.datasets import SDSSFetchError, SDSSFetchWarning, fetch_sdss

    prefix = "spectromer fetch sdss: error:"
    sql = args.sql
    if args.sql_file is not None:
        try:
            sql = args.sql_file.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"{prefix} cannot read --sql-file {args.sql_file}: {exc}", file=sys.stderr)
            return 1
    if sql is not None and args.limit is not None:
        print(
            f"{prefix} --limit cannot be combined with --sql/--sql-file; "
            "use SELECT TOP N in the SQL",
            file=sys.stderr,
        )
        return 1
    kwargs = dict(
        spec_class=args.spec_class,
        subclass=args.subclass,
        z_min=args.z_min,
        z_max=args.z_max,
        snr_min=args.snr_min,
        zwarning_zero=not args.allow_zwarning,
        data_release=args.data_release,
        sql=sql,
        cache_dir=args.cache_dir,
        n_jobs=args.n_jobs,
        retries=args.retries,
        timeout=args.timeout,
        progress=args.progress,
    )
    if args.limit is not None:
        kwargs["limit"] = args.limit
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SDSSFetchWarning)
            ds = fetch_sdss(args.out, **kwargs)
    except ConnectionError as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return 1
    except SDSSFetchError as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return 1
    except (TypeError, ValueError, OSError) as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return 1
    failures = []
    for w in caught:
        if isinstance(w.message, SDSSFetchWarning):
            failures.extend(w.message.failures)
            print(str(w.message), file=sys.stderr)
        else:  # pass other warnings on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    try:
        print(f"wrote {len(ds)} spectra to {args.out}")
        print(ds.summary())
    finally:
        ds.close()
    return EXIT_PARTIAL if failures else 0
