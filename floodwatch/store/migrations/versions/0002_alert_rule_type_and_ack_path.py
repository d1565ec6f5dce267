"""alerts: `kind` is `rule_type`; how an acknowledgement came (`acknowledged_via`)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both engines (SQLite >= 3.25 renames columns): batch mode would copy the
# table and could drop the partial unique index on open alerts.


def upgrade() -> None:
    op.execute("ALTER TABLE alerts RENAME COLUMN kind TO rule_type")
    op.add_column("alerts", sa.Column("acknowledged_via", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "acknowledged_via")
    op.execute("ALTER TABLE alerts RENAME COLUMN rule_type TO kind")
