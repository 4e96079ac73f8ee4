"""Liveness and readiness probes, for a load balancer or an orchestrator; no key needed.

`/healthz` says only that the process answers (restart it if not); `/readyz` says whether it
can do its work (send it traffic if so): the database answers and has every migration, since
a schema behind the code fails requests in ways no restart fixes.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.api.schemas import ErrorBody
from app.db.migrate import head_revision, revision_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive; touches nothing else."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"model": ErrorBody, "description": "database unreachable or not migrated"}},
)
def readyz(request: Request) -> dict[str, str]:
    """The database is reachable and migrated to the newest revision; 503 names what is not.

    It borrows a connection from the service's own pool: a probe that opened an engine of its
    own on every call held 28 connections for 30 concurrent callers.
    """
    try:
        with request.app.state.engine.connect() as connection:
            current = revision_of(connection)
    except SQLAlchemyError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"database unreachable: {_first_line(error)}",
            headers={"Retry-After": "5"},
        ) from None
    if current != head_revision():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"database schema is at {current or 'no revision'}, the code needs "
            f"{head_revision()}: run `linecast migrate`",
        )
    return {"status": "ready"}


def _first_line(error: SQLAlchemyError) -> str:
    # The driver's first line says what failed; SQLAlchemy appends the SQL and a link.
    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
