"""Dashboard views: series health, forecast against actual, latest drift.

Three read-only views for the built-in dashboard and for Grafana or Metabase pointed straight at
the database (docs/dashboard.md explains every column to their users):

- `v_latest_drift`: the latest `drift_metrics` row of each (series, kind, metric), with all its
  columns. "Latest" is the row judging the most recent window (greatest `window_end`); ties,
  such as two model versions judged over the same window, go to the row computed last, then
  to the higher id, so the choice never depends on the plan.
- `v_series_health`: one row per series, archived ones included: its last reading and count,
  active model, worst status among its latest drift rows (alert > warn > ok > unknown; null
  without any), open (queued or running) training runs, and the status and end of its most
  recently created run.
- `v_forecast_vs_actual`: every stored prediction step, left-joined to the observation at
  its stamp: `actual`, `error` (actual - median), `abs_error` and `inside_interval`
  (lower <= actual <= upper) are null until the reading arrives.

The SQL is the same on PostgreSQL and SQLite (window functions, correlated subqueries, CASE):
one text, no dialect branches to drift apart. Flags are boolean expressions, so PostgreSQL
gives booleans and SQLite 0 and 1. Alembic's autogenerate neither sees nor compares views, so
the models need no stand-ins for them.

A caution for later migrations: SQLite re-checks every view when a table is renamed, and
Alembic's batch mode rebuilds a SQLite table by copy, drop and rename. A migration that alters
series, observations, model_versions, training_runs, predictions or drift_metrics on SQLite must
drop these views first and create them again after (`downgrade()` then `upgrade()` of this
module do exactly that), or the rename fails with "error in view ...: no such table".

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LATEST_DRIFT = """
CREATE VIEW v_latest_drift AS
SELECT
    id, series_id, model_version_id, computed_at, window_start, window_end, kind, metric,
    value, warn_threshold, alert_threshold, direction, status, details, action, training_run_id
FROM (
    SELECT
        d.*,
        ROW_NUMBER() OVER (
            PARTITION BY d.series_id, d.kind, d.metric
            ORDER BY d.window_end DESC, d.computed_at DESC, d.id DESC
        ) AS recency
    FROM drift_metrics d
) ranked
WHERE recency = 1
"""

# Correlated subqueries for the per-series figures: each reads one series' slice of an index
# (the observations' primary key, training_runs' series index) instead of grouping or joining
# whole tables first; the same SQL runs on SQLite, which has no LATERAL join.
SERIES_HEALTH = """
CREATE VIEW v_series_health AS
SELECT
    s.id AS series_id,
    s.name,
    s.plant,
    s.line,
    s.unit,
    s.archived_at IS NOT NULL AS archived,
    (SELECT MAX(o.ts) FROM observations o WHERE o.series_id = s.id) AS last_observation_at,
    (SELECT COUNT(*) FROM observations o WHERE o.series_id = s.id) AS observation_count,
    mv.version AS active_model_version,
    mv.id AS active_model_id,
    mv.promoted_at AS active_model_promoted_at,
    CASE drift.worst
        WHEN 3 THEN 'alert' WHEN 2 THEN 'warn' WHEN 1 THEN 'ok' WHEN 0 THEN 'unknown'
    END AS latest_drift_status,
    drift.latest_drift_at,
    (
        SELECT COUNT(*) FROM training_runs r
        WHERE r.series_id = s.id AND r.status IN ('queued', 'running')
    ) AS open_runs,
    (
        SELECT r.status FROM training_runs r
        WHERE r.series_id = s.id
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT 1
    ) AS last_run_status,
    (
        SELECT r.finished_at FROM training_runs r
        WHERE r.series_id = s.id
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT 1
    ) AS last_run_finished_at
FROM series s
LEFT JOIN model_versions mv ON mv.series_id = s.id AND mv.status = 'active'
LEFT JOIN (
    SELECT
        series_id,
        MAX(CASE status WHEN 'alert' THEN 3 WHEN 'warn' THEN 2 WHEN 'ok' THEN 1 ELSE 0 END)
            AS worst,
        MAX(computed_at) AS latest_drift_at
    FROM v_latest_drift
    GROUP BY series_id
) drift ON drift.series_id = s.id
"""

FORECAST_VS_ACTUAL = """
CREATE VIEW v_forecast_vs_actual AS
SELECT
    p.series_id,
    p.id AS prediction_id,
    p.request_id,
    p.model_version_id,
    p.origin,
    p.ts,
    p.step,
    p.median,
    p.lower,
    p.upper,
    o.value AS actual,
    o.value - p.median AS error,
    ABS(o.value - p.median) AS abs_error,
    o.value BETWEEN p.lower AND p.upper AS inside_interval
FROM predictions p
LEFT JOIN observations o ON o.series_id = p.series_id AND o.ts = p.ts
"""

# Dependants before what they read: v_series_health reads v_latest_drift.
VIEWS = (
    ("v_latest_drift", LATEST_DRIFT),
    ("v_series_health", SERIES_HEALTH),
    ("v_forecast_vs_actual", FORECAST_VS_ACTUAL),
)


def upgrade() -> None:
    for _, create in VIEWS:
        op.execute(create)


def downgrade() -> None:
    for name, _ in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
