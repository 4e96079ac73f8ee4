"""Key lifecycle and forecasts of their own: `api_keys.expires_at`, `predictions.forecast_id`.

- `api_keys.expires_at` (nullable): a key past it is refused like a revoked one.
- `predictions.forecast_id` identifies a stored forecast; the unique key moves from
  (request_id, step) to (forecast_id, step). The client's `X-Request-ID` was the global key of
  stored forecasts, so sending one id twice failed the second forecast and one client could
  block another's ids. Existing rows keep their request id as forecast id (it was unique).
- `predictions.api_key_id`: the key that asked for the forecast (null for the CLI's, and once
  the key row is deleted), so a request id is read in the scope of its caller.
- `v_forecast_vs_actual` (of 0003) gains `forecast_id` and `api_key_id`.

On SQLite the unique key can only change by rebuilding `predictions` (Alembic's batch mode),
and SQLite re-checks every view when a table is renamed: all three views of 0003 are dropped
first and created again after, as 0003's own module warns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)

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
    o.value BETWEEN p.lower AND p.upper AS inside_interval,
    p.forecast_id,
    p.api_key_id
FROM predictions p
LEFT JOIN observations o ON o.series_id = p.series_id AND o.ts = p.ts
"""


def upgrade() -> None:
    views = _dashboard_views()
    views.downgrade()
    op.add_column("api_keys", sa.Column("expires_at", TIMESTAMP, nullable=True))
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("forecast_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
    op.execute("UPDATE predictions SET forecast_id = request_id")
    with op.batch_alter_table("predictions") as batch:
        batch.alter_column("forecast_id", existing_type=sa.String(length=64), nullable=False)
        batch.drop_constraint("uq_predictions_request_id_step", type_="unique")
        batch.create_unique_constraint("uq_predictions_forecast_id_step", ["forecast_id", "step"])
        batch.create_foreign_key(
            "fk_predictions_api_key_id_api_keys",
            "api_keys",
            ["api_key_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_predictions_api_key_id", ["api_key_id"])
    _create_views(views, forecast_vs_actual=FORECAST_VS_ACTUAL)


def downgrade() -> None:
    """Fails where two stored forecasts share a request id, which 0004 cannot hold."""
    views = _dashboard_views()
    views.downgrade()
    with op.batch_alter_table("predictions") as batch:
        batch.drop_index("ix_predictions_api_key_id")
        batch.drop_constraint("fk_predictions_api_key_id_api_keys", type_="foreignkey")
        batch.drop_constraint("uq_predictions_forecast_id_step", type_="unique")
        batch.create_unique_constraint("uq_predictions_request_id_step", ["request_id", "step"])
        batch.drop_column("api_key_id")
        batch.drop_column("forecast_id")
    # SQLite (3.35+) drops a column in place; a batch rebuild here would find no views to break.
    op.drop_column("api_keys", "expires_at")
    _create_views(views, forecast_vs_actual=views.FORECAST_VS_ACTUAL)


def _dashboard_views() -> ModuleType:
    """Migration 0003's module: its SQL is the views' definition at that revision."""
    path = Path(__file__).with_name("0003_dashboard_views.py")
    spec = importlib.util.spec_from_file_location("linecast_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _create_views(views: ModuleType, *, forecast_vs_actual: str) -> None:
    for name, create in views.VIEWS:
        op.execute(forecast_vs_actual if name == "v_forecast_vs_actual" else create)
