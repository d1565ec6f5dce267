"""handovers.handover_at: the shift change a handover record is for (it is written a little
before or after it)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import floodwatch.store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_TIME = floodwatch.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.add_column(sa.Column("handover_at", UTC_TIME, nullable=True))
        batch.create_index("ix_handovers_handover_at", ["handover_at"])


def downgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.drop_index("ix_handovers_handover_at")
        batch.drop_column("handover_at")
