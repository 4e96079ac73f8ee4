"""`linecast migrate`: bring a database's schema to the newest revision, or show where it is."""

from __future__ import annotations

import argparse
import logging

from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.cli.database import database_url, one_line
from app.db import migrate
from app.errors import UsageError


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
    # The API keeps Alembic's INFO lines quiet (every /readyz reads the revision); here they are
    # the migration's steps, one line each.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.NOTSET)
    url = database_url(args.database_url)
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
        raise UsageError(f"{shown}: {one_line(error)}") from error
    print(f"{shown}: {before or 'no revision'} -> {after or 'no revision'}")
