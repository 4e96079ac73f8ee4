"""What the commands that open the service's database share: which URL, and short errors."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.errors import UsageError
from app.settings import Settings, get_settings, normalise_database_url


def settings() -> Settings:
    """The environment's settings; settings it refuses are a usage error, said in one line."""
    try:
        return get_settings()
    except ValidationError as error:
        raise UsageError("; ".join(detail["msg"] for detail in error.errors())) from error


def database_url(given: str | None) -> str:
    """`--database-url` if given (checked), else the settings' URL; usage errors otherwise."""
    if given is not None:
        try:
            make_url(given)
        except SQLAlchemyError as error:
            raise UsageError(f"--database-url: {one_line(error)}") from error
        return normalise_database_url(given)
    return settings().database_url


def one_line(error: Exception) -> str:
    """The first line of a (driver) error, for a one-line usage error."""
    # Driver errors carry the SQL and a documentation link after the first line; only the
    # driver's own first line says what went wrong.
    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
