"""pages: ix_page_lane (status, channel, next_attempt_at), so that a claim reads a lane's next
pages, not every page waiting

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_page_lane", ["status", "channel", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_index("ix_page_lane")
