"""Model selection: the candidate table behind each model version.

`model_versions.selection` holds what cross-validation compared and chose for the version
(candidates with their validation errors, the chosen one and its fallback, why, the input's
stationarity and the training mode), as `model.selection.SelectionReport.to_dict` writes it.
Nullable: versions stored before it have none. A column added to the end of a table needs no
table rebuild on SQLite, so the dashboard views of 0003 can stay.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("selection", JSON, nullable=True))


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place; a batch rebuild would break the views of 0003.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE model_versions DROP COLUMN selection")
    else:
        op.drop_column("model_versions", "selection")
