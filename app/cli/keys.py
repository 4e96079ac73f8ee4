"""`linecast keys list|create|revoke`: the API keys' lifecycle, from the database alone.

`create` prints the key alone to stdout, so `KEY=$(linecast keys create ...)` captures it; the
reminder that it cannot be shown again goes to stderr. Only its hash is stored. `revoke` may
revoke the last admin key (the API refuses): whoever can run this can always mint another.
`create-api-key` is kept as the older name of `keys create`, for existing scripts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.cli.database import database_url, one_line
from app.db.engine import make_engine, session_factory
from app.db.models import ROLES, ApiKey, utcnow
from app.errors import UsageError
from app.services.keys import (
    UnknownKey,
    create_api_key,
    key_status,
    list_api_keys,
    revoke_api_key,
)
from app.stamps import checked_stamp

_COLUMNS = ("id", "name", "role", "status", "prefix", "created", "expires", "last used")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys", help="list, create or revoke API keys", description=__doc__.splitlines()[0]
    )
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every key with its status, expiry and last use")
    _add_database(listing)
    listing.set_defaults(handler=_list)
    _add_create_arguments(actions.add_parser("create", help="create a key and print it, once"))
    revoking = actions.add_parser("revoke", help="revoke a key at once, by name or id")
    revoking.add_argument("key", help="the key's name, or its id as listed")
    _add_database(revoking)
    revoking.set_defaults(handler=_revoke)
    _add_create_arguments(
        subparsers.add_parser(
            "create-api-key", help="create an API key (the older name of `keys create`)"
        )
    )


def _add_create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="unique name, e.g. the client's")
    parser.add_argument("--role", required=True, choices=ROLES, help="read < write < admin")
    expiry = parser.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-at", metavar="STAMP", help="when it stops working, e.g. 2027-06-30T00:00:00Z"
    )
    expiry.add_argument(
        "--expires-in", metavar="DURATION", help="how long it works from now, e.g. '90 days'"
    )
    _add_database(parser)
    parser.set_defaults(handler=_create)


def _add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", metavar="URL", help="database to use (default LINECAST_DATABASE_URL)"
    )


def _create(args: argparse.Namespace) -> None:
    expires_at = _expiry(args.expires_at, args.expires_in)
    with _session(args.database_url) as session, _usage_errors():
        row, key = create_api_key(
            session=session, name=args.name, role=args.role, expires_at=expires_at
        )
    print(key)
    until = f", expiring {row.expires_at.isoformat()}" if row.expires_at else ""
    print(
        f"created API key {row.name!r} with role {row.role}{until}; store it now, it cannot "
        "be shown again",
        file=sys.stderr,
    )


def _list(args: argparse.Namespace) -> None:
    with _session(args.database_url) as session:
        rows = [_row(key) for key in list_api_keys(session=session)]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(_COLUMNS)]
    for line in [_COLUMNS, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def _revoke(args: argparse.Namespace) -> None:
    name_or_id: str | int = int(args.key) if args.key.isdigit() else args.key
    with _session(args.database_url) as session:
        with _usage_errors():
            row = revoke_api_key(session=session, name_or_id=name_or_id)
        print(f"revoked API key {row.name!r} (id {row.id}, role {row.role})", file=sys.stderr)


def _expiry(at: str | None, within: str | None) -> datetime | None:
    try:
        if at is not None:
            return checked_stamp(at)
        if within is not None:
            duration = pd.Timedelta(within)
            if duration <= pd.Timedelta(0):
                raise ValueError(f"{within!r} is not a positive duration")
            return utcnow() + duration.to_pytimedelta()
    except ValueError as error:
        raise UsageError(f"--expires-{'at' if at else 'in'}: {error}") from error
    return None


def _row(key: ApiKey) -> tuple[str, ...]:
    def shown(stamp: datetime | None) -> str:
        return stamp.strftime("%Y-%m-%d %H:%M") if stamp else "-"

    return (
        str(key.id),
        key.name,
        key.role,
        key_status(key),
        key.prefix,
        shown(key.created_at),
        shown(key.expires_at),
        shown(key.last_used_at),
    )


@contextmanager
def _session(given_url: str | None) -> Iterator[Session]:
    url = database_url(given_url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            try:
                yield session
            except SQLAlchemyError as error:
                shown = make_url(url).render_as_string(hide_password=True)
                raise UsageError(
                    f"{shown}: {one_line(error)} (has `linecast migrate` been run?)"
                ) from error
    finally:
        engine.dispose()


@contextmanager
def _usage_errors() -> Iterator[None]:
    """The errors a user can fix (a taken name, an unknown key) as usage errors."""
    try:
        yield
    except (ValueError, UnknownKey) as error:
        raise UsageError(str(error.args[0])) from error
