"""Retention: indexes on the stamps `linecast prune` deletes by.

`predictions.created_at` and `drift_metrics.computed_at`: each batch of a pruning selects the
oldest rows by them, which without an index is a scan of the whole table per batch.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])
    op.create_index("ix_drift_metrics_computed_at", "drift_metrics", ["computed_at"])


def downgrade() -> None:
    op.drop_index("ix_drift_metrics_computed_at", table_name="drift_metrics")
    op.drop_index("ix_predictions_created_at", table_name="predictions")
