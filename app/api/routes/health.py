"""Liveness and readiness probes, for a load balancer or an orchestrator; no key needed.

`/healthz` says only that the process answers (restart it if not); `/readyz` says whether it
can do its work (send it traffic if so): the database answers and has every migration, since
a schema behind the code fails requests in ways no restart fixes.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.api.deps import SettingsDep
from app.db.migrate import current_revision, head_revision, is_at_head

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive; touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or not migrated"}})
def readyz(settings: SettingsDep) -> dict[str, str]:
    """The database is reachable and migrated to the newest revision; 503 names what is not."""
    try:
        if not is_at_head(settings.database_url):
            current = current_revision(settings.database_url) or "no revision"
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"database schema is at {current}, the code needs {head_revision()}: "
                "run `linecast migrate`",
            )
    except SQLAlchemyError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"database unreachable: {_first_line(error)}"
        ) from None
    return {"status": "ready"}


def _first_line(error: SQLAlchemyError) -> str:
    # The driver's first line says what failed; SQLAlchemy appends the SQL and a link.
    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
