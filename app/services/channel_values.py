"""The values of a series' channels, stored per stamp apart from the target's readings.

`channel_values` holds {name: value} per series and stamp (`app.db.models.ChannelValues`). A
stamp may have channel values and no reading: a known channel's plan is uploaded ahead of the
target, and since it is not in `observations`, nothing that reads the target (training,
drift, the dashboard) ever takes a plan for a reading. Uploads merge by name into what is
stored, in the upload's transaction (`app.services.observations`): the shift plan and the
setpoint plan may come from two systems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.models import ChannelValues

# Rows per INSERT: 4 parameters a row stays under PostgreSQL's 65,535 and SQLite's 32,766.
_BATCH_ROWS = 5_000


def store_channel_values(
    session: Session,
    series_id: int,
    rows: Sequence[tuple[datetime, Mapping[str, float]]],
    now: datetime,
) -> None:
    """Merge each stamp's values into what is stored, by name; the caller commits. `rows` in
    stamp order, so two uploads of the same stamps lock them in the same order."""
    dialect = session.get_bind().dialect.name
    for start in range(0, len(rows), _BATCH_ROWS):
        values = [
            {"series_id": series_id, "ts": ts, "covariates": dict(named), "ingested_at": now}
            for ts, named in rows[start : start + _BATCH_ROWS]
        ]
        if dialect == "postgresql":
            insert: Any = postgresql.insert(ChannelValues).values(values)
            # jsonb `||`: the new names replace the stored ones, the others stay.
            merged = ChannelValues.covariates.op("||")(insert.excluded.covariates)
        elif dialect == "sqlite":
            insert = sqlite.insert(ChannelValues).values(values)
            # RFC 7386 merge: the same for objects of numbers (no value is ever null).
            merged = func.json_patch(ChannelValues.covariates, insert.excluded.covariates)
        else:
            raise NotImplementedError(f"storing channel values on {dialect} is not supported")
        session.execute(
            insert.on_conflict_do_update(
                index_elements=[ChannelValues.series_id, ChannelValues.ts],
                set_={"covariates": merged, "ingested_at": now},
            )
        )


def stored_plan(
    session: Session, series_id: int, names: Sequence[str], stamps: pd.DatetimeIndex
) -> pd.DataFrame:
    """The stored values of channels `names` at `stamps` (UTC), NaN where none is stored;
    one row per stamp, in the order given."""
    query = select(ChannelValues.ts, ChannelValues.covariates).where(
        ChannelValues.series_id == series_id,
        ChannelValues.ts >= stamps.min().to_pydatetime(),
        ChannelValues.ts <= stamps.max().to_pydatetime(),
    )
    stored = {pd.Timestamp(ts): covariates for ts, covariates in session.execute(query)}
    return named_frame(stamps, [stored.get(stamp) for stamp in stamps], names)


def named_frame(
    stamps: pd.DatetimeIndex, rows: Sequence[Mapping[str, float] | None], names: Sequence[str]
) -> pd.DataFrame:
    """Columns `names` from one {name: value} mapping (or None) per stamp; NaN where absent."""
    columns = {
        name: [float("nan") if row is None else row.get(name, float("nan")) for row in rows]
        for name in names
    }
    return pd.DataFrame(columns, index=stamps, columns=list(names), dtype=float)
