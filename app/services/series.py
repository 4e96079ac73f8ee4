"""Series: creating, listing and archiving them.

Archiving is the end of a series' life as far as the API goes: its data stays readable (old
forecasts must remain explainable), but nothing is written to it again. Series are never
deleted through the API; the cascade in the schema is for an operator's cleanup.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Series, utcnow


class SeriesNameTaken(ValueError):
    """Another series already has this name."""


def create_series(*, session: Session, name: str, **details: Any) -> Series:
    """Store a new series called `name` with `details` (its other columns, already
    validated by the caller); a taken name raises `SeriesNameTaken` and stores nothing."""
    series = Series(name=name, **details)
    session.add(series)
    try:
        session.commit()
    except IntegrityError as error:
        # The database's unique constraint decides, so two concurrent creates cannot both win.
        session.rollback()
        raise SeriesNameTaken(f"a series named {name!r} already exists") from error
    return series


def list_series(
    *, session: Session, limit: int, offset: int, include_archived: bool
) -> tuple[list[Series], int]:
    """One page of series by id, and how many there are in all."""
    query = select(Series)
    if not include_archived:
        query = query.where(Series.archived_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Series.id).limit(limit).offset(offset)).all()
    return list(page), total


def archive_series(*, session: Session, series: Series) -> Series:
    """Archive `series`; archiving it again keeps the first archive time."""
    if series.archived_at is None:
        series.archived_at = utcnow()
        session.commit()
    return series


def series_by_ids(*, session: Session, series_ids: list[int]) -> list[Series]:
    """The series named, in the order given, each once; LookupError naming the first unknown
    id, before the caller has done anything with the others. One query for any count."""
    unique = list(dict.fromkeys(series_ids))
    found = {s.id: s for s in session.scalars(select(Series).where(Series.id.in_(unique)))}
    for series_id in unique:
        if series_id not in found:
            raise LookupError(f"series {series_id} not found")
    return [found[series_id] for series_id in unique]
