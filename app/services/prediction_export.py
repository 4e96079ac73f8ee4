"""Past forecasts with what happened, as CSV: the rows of `v_forecast_vs_actual` for one series.

The view (migrations 0003, 0005) joins every stored forecast step to the reading at its stamp,
so the export is what the dashboard and Grafana read, in a file a spreadsheet or pandas opens.
The whole answer is built in memory, so a window is capped at `MAX_EXPORT_ROWS` steps and a
larger one is refused with the count to narrow it by, instead of holding a request open for
minutes.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, column, select, table
from sqlalchemy.orm import Session

from app.db.models import UTCDateTime

MAX_EXPORT_ROWS = 100_000
CSV_COLUMNS = (
    "forecast_id",
    "request_id",
    "model_version_id",
    "origin",
    "ts",
    "step",
    "lower",
    "median",
    "upper",
    "actual",
    "error",
    "inside_interval",
)

_VIEW = table(
    "v_forecast_vs_actual",
    column("series_id", Integer),
    column("prediction_id", Integer),
    column("forecast_id", String),
    column("request_id", String),
    column("model_version_id", Integer),
    # Typed, so SQLite's stamps (text in a view) read back as aware UTC datetimes.
    column("origin", UTCDateTime()),
    column("ts", UTCDateTime()),
    column("step", Integer),
    column("lower", Float),
    column("median", Float),
    column("upper", Float),
    column("actual", Float),
    column("error", Float),
    column("inside_interval", Boolean),
)


class ExportTooLarge(ValueError):
    """More forecast steps in the window than one export holds."""


def predictions_csv(
    *,
    session: Session,
    series_id: int,
    start: datetime | None,
    end: datetime | None,
    limit: int = MAX_EXPORT_ROWS,
) -> str:
    """Every stored forecast step of the series with start <= ts < end, oldest forecast first
    and by step within it; the actual, error and inside_interval cells are empty until the
    reading arrives. ExportTooLarge beyond `limit` steps."""
    query = select(*(_VIEW.c[name] for name in CSV_COLUMNS)).where(_VIEW.c.series_id == series_id)
    if start is not None:
        query = query.where(_VIEW.c.ts >= start)
    if end is not None:
        query = query.where(_VIEW.c.ts < end)
    rows = session.execute(query.order_by(_VIEW.c.prediction_id).limit(limit + 1)).all()
    if len(rows) > limit:
        raise ExportTooLarge(
            f"more than {limit:,} forecast steps between start and end: narrow the window"
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(tuple(_cell(value) for value in row) for row in rows)
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value
