"""A series' stored observations as the frame the line model reads.

`load_frame` guarantees: one column "value" (float), a UTC `DatetimeIndex` named "ts", sorted
and unique (the table's key is (series_id, ts)). Stops are absent rows, not NaN: the table
only holds real readings, and the model's preprocessing puts them back onto the grid. With
`columns`, a column of each of those channels follows, its values at the readings' stamps
(NaN where a reading has none): a frame has a row only where the target has a reading, so a
plan stored ahead of the readings never becomes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.db.models import ChannelValues, Observation
from app.services.channel_values import named_frame

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
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Observations with `start <= ts <= end` (either bound optional); with `last`, only the
    latest `last` of them; with `columns`, those channels' values beside them."""
    query = select(Observation.ts, Observation.value).where(Observation.series_id == series_id)
    if columns:
        query = query.add_columns(ChannelValues.covariates).outerjoin(
            ChannelValues,
            and_(ChannelValues.series_id == series_id, ChannelValues.ts == Observation.ts),
        )
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
    if columns:
        channels = named_frame(index, [row.covariates for row in rows], columns)
        frame = pd.concat([frame, channels], axis=1)
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
