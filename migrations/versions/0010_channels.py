"""Channels: a series' covariates besides its target, and their values per stamp.

- `series.channels` (JSON, `[]` for every existing series): the declared channels, each a name,
  a role (`known`: known ahead, like a setpoint plan; `observed`: measured with the target) and
  a unit.
- `channel_values`: {name: value} per series and stamp, keyed like `observations` but apart
  from it: a known channel's plan is stored ahead of the target's readings, and every read of
  the target (training, drift, the dashboard's views) stays exactly as it was.

A new table needs no change to the dashboard views of 0003, and a column added at the end of
`series` needs no rebuild on SQLite; the downgrade drops it in place (SQLite 3.35+), as 0007
does, since a batch rebuild would break the views.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "series", sa.Column("channels", JSON, server_default=sa.text("'[]'"), nullable=False)
    )
    op.create_table(
        "channel_values",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("covariates", JSON, nullable=False),
        sa.Column("ingested_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
            name=op.f("fk_channel_values_series_id_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "ts", name=op.f("pk_channel_values")),
    )


def downgrade() -> None:
    op.drop_table("channel_values")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE series DROP COLUMN channels")
    else:
        op.drop_column("series", "channels")
