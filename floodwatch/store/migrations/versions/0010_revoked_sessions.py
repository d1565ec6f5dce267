"""web_revoked_sessions: console sessions ended by signing out, refused until they expire

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import floodwatch.store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_TIME = floodwatch.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_revoked_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("web_revoked_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_revoked_sessions_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("web_revoked_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_revoked_sessions_expires_at"))
    op.drop_table("web_revoked_sessions")
