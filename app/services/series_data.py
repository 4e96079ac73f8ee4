"""A series' stored observations as the frame the line model reads.

`load_frame` guarantees: one column "value" (float), a UTC `DatetimeIndex` named "ts", sorted
and unique (the table's key is (series_id, ts)). Stops are absent rows, not NaN: the table
only holds real readings, and the model's preprocessing puts them back onto the grid.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Observation

# Rows read before a forecast's context: the oldest context rows still get a full Hampel
# window (13 points), a differenced trend loses its first value, and readings that snap
# together on the grid shrink the count; 48 covers all three with room.
CONTEXT_MARGIN = 48


def load_frame(
    *,
    session: Session,
    series_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    last: int | None = None,
) -> pd.DataFrame:
    """Observations with `start <= ts <= end` (either bound optional); with `last`, only the
    latest `last` of them."""
    query = select(Observation.ts, Observation.value).where(Observation.series_id == series_id)
    if start is not None:
        query = query.where(Observation.ts >= start)
    if end is not None:
        query = query.where(Observation.ts <= end)
    if last is not None:
        query = query.order_by(Observation.ts.desc()).limit(last)
    rows = session.execute(query).all()
    index = pd.DatetimeIndex([row.ts for row in rows], name="ts")
    index = index.tz_convert("UTC") if len(index) else index.tz_localize("UTC")
    frame = pd.DataFrame({"value": [row.value for row in rows]}, index=index, dtype=float)
    return frame.sort_index()


def count_observations(*, session: Session, series_id: int) -> int:
    return count_observations_of(session=session, series_ids=[series_id]).get(series_id, 0)


def count_observations_of(*, session: Session, series_ids: list[int]) -> dict[int, int]:
    """Observations of each series that has any, in one query."""
    if not series_ids:
        return {}
    query = (
        select(Observation.series_id, func.count())
        .where(Observation.series_id.in_(series_ids))
        .group_by(Observation.series_id)
    )
    return dict(session.execute(query).all())


def context_rows(context: int) -> int:
    """Observations to read for a forecast of a model with this context."""
    return context + CONTEXT_MARGIN
