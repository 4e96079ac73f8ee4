"""The `linecast` command line: one module per sub-command, each with `register(subparsers)`.

Errors a user can fix (missing file, unknown column, too little data) are raised as `UsageError`
and end the program with a one-line message and exit code 2, never a traceback.

The commands that run as services (`serve`, `worker`, `migrate`) log as the API does: JSON lines
on stderr at `LINECAST_LOG_LEVEL`, which a log collector reads without a parser per command;
what they print on stdout (a worker's start and stop, a migration's revisions) stays plain text.
The other commands are for a person at a terminal: warnings, in plain text.
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
from app.cli.database import settings
from app.errors import UsageError
from app.logging import configure_logging
from app.version import distribution_version

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

_SERVICES = frozenset({"serve", "worker", "migrate"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linecast", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {distribution_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in _COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _configure_logging(args)
        args.handler(args)
    except UsageError as error:
        print(f"linecast {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


def _configure_logging(args: argparse.Namespace) -> None:
    """JSON lines at the settings' level for the services, plain warnings otherwise; `-v`
    lowers either to debug."""
    if args.command in _SERVICES:
        configure_logging("DEBUG" if args.verbose else settings().log_level)
        return
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    sys.exit(main())
