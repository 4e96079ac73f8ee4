"""`linecast create-api-key`: mint an API key and print it, once.

The key alone goes to stdout, so `KEY=$(linecast create-api-key ...)` captures it; the
reminder that it cannot be shown again goes to stderr. Only its hash is stored.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.cli.database import database_url, one_line
from app.db.engine import make_engine, session_factory
from app.db.models import ROLES
from app.errors import UsageError
from app.services.keys import create_api_key


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "create-api-key", help="create an API key", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--name", required=True, help="unique name, e.g. the client's")
    parser.add_argument("--role", required=True, choices=ROLES, help="read < write < admin")
    parser.add_argument(
        "--database-url", metavar="URL", help="database to use (default LINECAST_DATABASE_URL)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    url = database_url(args.database_url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            row, key = create_api_key(session=session, name=args.name, role=args.role)
    except ValueError as error:
        raise UsageError(str(error)) from error
    except SQLAlchemyError as error:
        shown = make_url(url).render_as_string(hide_password=True)
        raise UsageError(
            f"{shown}: {one_line(error)} (has `linecast migrate` been run?)"
        ) from error
    finally:
        engine.dispose()
    print(key)
    print(
        f"created API key {row.name!r} with role {row.role}; store it now, it cannot be "
        "shown again",
        file=sys.stderr,
    )
