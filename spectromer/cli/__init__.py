"""The ``spectromer`` command line.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers the sub-command and sets
``func`` (a callable taking the parsed :class:`argparse.Namespace` and
returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Sub-command modules, in the order ``--help`` lists them.
_COMMANDS = ("info", "ingest", "render", "pretrain", "train", "predict", "benchmark", "fetch")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``spectromer`` argument parser with every sub-command.

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
        module.add_parser(sub)
    return parser


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
    parser = build_parser()
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
