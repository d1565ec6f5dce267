"""records: duty-log corrections, handover records, hazards and their history

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import floodwatch.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TIME = floodwatch.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("duty_log") as batch:
        batch.add_column(sa.Column("corrects", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_duty_log_corrects", "duty_log", ["corrects"], ["id"])
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("outgoing", sa.JSON(), nullable=False),
        sa.Column("incoming", sa.JSON(), nullable=False),
        sa.Column("open_alerts", sa.JSON(), nullable=False),
        sa.Column("open_hazards", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("accepted_at", UTC_TIME, nullable=True),
        sa.Column("accepted_by", sa.String(length=64), nullable=True),
        sa.Column("accepted_via", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "hazards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("found_at", UTC_TIME, nullable=False),
        sa.Column("found_by", sa.String(length=64), nullable=False),
        sa.Column("where", sa.Text(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("due", UTC_TIME, nullable=False),
        sa.Column("village", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done_at", UTC_TIME, nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("reminded_at", UTC_TIME, nullable=True),
        sa.Column("overdue_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "hazard_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hazard_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["hazard_id"], ["hazards.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hazard_events_hazard_id", "hazard_events", ["hazard_id"])


def downgrade() -> None:
    op.drop_table("hazard_events")
    op.drop_table("hazards")
    op.drop_table("handovers")
    with op.batch_alter_table("duty_log") as batch:
        batch.drop_constraint("fk_duty_log_corrects", type_="foreignkey")
        batch.drop_column("corrects")
