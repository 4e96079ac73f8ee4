"""`linecast migrate`: bring a database's schema to the newest revision, or show where it is."""

from __future__ import annotations

import argparse

from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.db import migrate
from app.errors import UsageError
from app.settings import get_settings, normalise_database_url


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "migrate", help="migrate the database schema", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--database-url", metavar="URL", help="database to migrate (default LINECAST_DATABASE_URL)"
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--revision", default="head", help="revision to upgrade to (default head)")
    target.add_argument("--downgrade", metavar="REV", help="revision to downgrade to, e.g. base")
    target.add_argument("--show", action="store_true", help="print the revisions, change nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    url = _database_url(args.database_url)
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        before = migrate.current_revision(url)
        if args.show:
            print(f"{shown}: at {before or 'no revision'}; newest is {migrate.head_revision()}")
            return
        if args.downgrade is not None:
            migrate.downgrade(url, args.downgrade)
        else:
            migrate.upgrade(url, args.revision)
        after = migrate.current_revision(url)
    except (CommandError, SQLAlchemyError) as error:
        raise UsageError(f"{shown}: {_one_line(error)}") from error
    print(f"{shown}: {before or 'no revision'} -> {after or 'no revision'}")


def _database_url(given: str | None) -> str:
    if given is not None:
        try:
            make_url(given)
        except SQLAlchemyError as error:
            raise UsageError(f"--database-url: {_one_line(error)}") from error
        return normalise_database_url(given)
    try:
        return get_settings().database_url
    except ValidationError as error:
        raise UsageError("; ".join(detail["msg"] for detail in error.errors())) from error


def _one_line(error: Exception) -> str:
    # Driver errors carry the SQL and a documentation link after the first line; only the
    # driver's own first line says what went wrong.
    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
