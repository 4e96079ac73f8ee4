"""Run priority: a run a person asks for is claimed before the nightly retraining batch.

`training_runs.priority` (0: asked for through the API's train endpoint or the CLI; 1: queued
by `POST /v1/retrain` for every series). Workers claim by priority, then age, so the claim
index becomes (status, priority, created_at). Existing runs are 0, except queued retraining
runs, which join the batch. A column added at the end needs no table rebuild on SQLite, so
the dashboard views of 0003 stay.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "training_runs",
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute("UPDATE training_runs SET priority = 1 WHERE trigger = 'retrain'")
    op.drop_index("ix_training_runs_status_created_at", table_name="training_runs")
    op.create_index(
        "ix_training_runs_claim_order", "training_runs", ["status", "priority", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_training_runs_claim_order", table_name="training_runs")
    op.create_index("ix_training_runs_status_created_at", "training_runs", ["status", "created_at"])
    # SQLite (3.35+) drops a column in place; a batch rebuild would break the views of 0003.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE training_runs DROP COLUMN priority")
    else:
        op.drop_column("training_runs", "priority")
