"""paging: reply codes, failover chains, per-person acknowledgements, API tokens, inbound requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import floodwatch.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = floodwatch.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("reply_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("failover_of", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_pages_failover_of", "pages", ["failover_of"], ["id"])
    op.create_table(
        "reply_codes",
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("address", "code"),
    )
    op.create_index("ix_reply_codes_alert_id", "reply_codes", ["alert_id"])
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "person", "step", name="uq_ack_person_step"),
    )
    op.create_index("ix_acknowledgements_alert_id", "acknowledgements", ["alert_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_api_tokens_person", "api_tokens", ["person"])
    op.create_table(
        "inbound_requests",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("inbound_requests")
    op.drop_table("api_tokens")
    op.drop_table("acknowledgements")
    op.drop_table("reply_codes")
    with op.batch_alter_table("pages") as batch:
        batch.drop_constraint("fk_pages_failover_of", type_="foreignkey")
        batch.drop_column("failover_of")
        batch.drop_column("reply_code")
