"""The ``spectromer`` command line.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers the sub-command and sets
``func`` (a callable taking the parsed :class:`argparse.Namespace` and
returning an exit code).

Building a sub-command's parser may import what its options need (the
estimator's defaults, the image kinds...), so :func:`main` builds only the
parser of the sub-command given; ``spectromer --help`` lists the sub-commands
from their modules' docstrings and imports none of specutils, PyTorch,
scikit-learn, astroquery or matplotlib.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Sub-command modules, in the order ``--help`` lists them.
_COMMANDS = (
    "info",
    "ingest",
    "simulate",
    "render",
    "pretrain",
    "train",
    "predict",
    "benchmark",
    "fetch",
)


def _summary(module) -> str:
    """The one-line help of a sub-command: its module docstring's first line."""
    first = (module.__doc__ or "").strip().splitlines()[0]
    return first.split(":", 1)[-1].strip().rstrip(".")


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the ``spectromer`` argument parser.

    Parameters
    ----------
    commands : sequence of str, optional
        The sub-commands to build in full (default: all); the others are
        listed by name and one-line help only, and cannot parse arguments.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser.

    Examples
    --------
    >>> from spectromer.cli import build_parser
    >>> args = build_parser().parse_args(["info"])
    >>> args.command
    'info'
    >>> build_parser(["info"]).parse_args(["info"]).command
    'info'
    """
    from spectromer import __version__

    parser = argparse.ArgumentParser(
        prog="spectromer",
        description="Vision transformers for astronomical spectra.",
    )
    parser.add_argument("--version", action="version", version=f"spectromer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        module = importlib.import_module(f"spectromer.cli.{name}")
        if commands is None or name in commands:
            module.add_parser(sub)
        else:
            sub.add_parser(name, help=_summary(module))
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (its first argument not an option), if any."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in _COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spectromer`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        The process exit status (0 on success).

    Examples
    --------
    >>> from spectromer.cli import main
    >>> main(["info"])  # doctest: +ELLIPSIS
    spectromer ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    parser = build_parser([command] if command is not None else [])
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"spectromer {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
