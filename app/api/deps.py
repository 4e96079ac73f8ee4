"""What API handlers ask for beyond a key and a session, as `Annotated` aliases: a series.

"Does this exist" is decided here, once, so a handler that declares `ActiveSeriesDep` can
only run for an existing, unarchived series; every other case has one answer, from one
place. Keys are checked in `app.auth`, sessions and settings come from `app.request_scope`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, status

from app.db.models import MAX_ID, Series
from app.request_scope import SessionDep


def get_series(session: SessionDep, series_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Series:
    """The series named by the path, archived or not; 404 if there is none."""
    series = session.get(Series, series_id)
    if series is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"series {series_id} not found")
    return series


def get_active_series(series: Annotated[Series, Depends(get_series)]) -> Series:
    """The series named by the path, for writing: 409 once it is archived."""
    if series.archived_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"series {series.id} is archived")
    return series


SeriesDep = Annotated[Series, Depends(get_series)]
ActiveSeriesDep = Annotated[Series, Depends(get_active_series)]
