"""The `linecast` command line: one module per sub-command, each with `register(subparsers)`.

Errors a user can fix (missing file, unknown column, too little data) are raised as `UsageError`
and end the program with a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app.cli import (
    analyze,
    demo,
    diagnose,
    drift,
    forecast,
    keys,
    migrate,
    prune,
    quickstart,
    retrain,
    serve,
    simulate,
    train,
    train_global,
    worker,
)
from app.errors import UsageError

_COMMANDS = (
    simulate,
    analyze,
    train,
    train_global,
    forecast,
    diagnose,
    demo,
    migrate,
    keys,
    serve,
    worker,
    retrain,
    quickstart,
    drift,
    prune,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linecast", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in _COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args.handler(args)
    except UsageError as error:
        print(f"linecast {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
