"""villages: village warnings and their 叫应 rounds, evacuation reports, drills

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import floodwatch.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_TIME = floodwatch.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("station", sa.String(length=64), nullable=False),
        sa.Column("villages", sa.JSON(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", UTC_TIME, nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "village_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village", sa.String(length=64), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", UTC_TIME, nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("raised_at", UTC_TIME, nullable=True),
        sa.Column("raised_by", sa.String(length=64), nullable=True),
        sa.Column("cause", sa.JSON(), nullable=False),
        sa.Column("answer_by", UTC_TIME, nullable=True),
        sa.Column("remind_at", UTC_TIME, nullable=True),
        sa.Column("cleared_at", UTC_TIME, nullable=True),
        sa.Column("cleared_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.ForeignKeyConstraint(["drill_id"], ["drills.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_village_warnings_village", "village_warnings", ["village"])
    op.create_index("ix_village_warnings_drill_id", "village_warnings", ["drill_id"])
    op.create_index(
        "uq_standing_warning", "village_warnings", ["village"], unique=True,
        sqlite_where=sa.text("state = 'standing' AND drill_id IS NULL"),
        postgresql_where=sa.text("state = 'standing' AND drill_id IS NULL"),
    )  # fmt: skip
    op.create_table(
        "evacuation_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["warning_id"], ["village_warnings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evacuation_reports_warning_id", "evacuation_reports", ["warning_id"])


def downgrade() -> None:
    op.drop_table("evacuation_reports")
    op.drop_index("uq_standing_warning", table_name="village_warnings")
    op.drop_table("village_warnings")
    op.drop_table("drills")
