"""acknowledgements: a person may answer a step again after the alert rose (a higher level needs
a fresh answer); one answer per person, step and instant

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ack_person_step", type_="unique")
        batch_op.create_unique_constraint(
            "uq_ack_person_step_at", ["alert_id", "person", "step", "at"]
        )


def downgrade() -> None:
    # answers given again after a rise are removed: the older schema keeps one per step
    op.execute(
        "DELETE FROM acknowledgements WHERE id NOT IN (SELECT MIN(id) FROM acknowledgements "
        "GROUP BY alert_id, person, step)"
    )
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ack_person_step_at", type_="unique")
        batch_op.create_unique_constraint("uq_ack_person_step", ["alert_id", "person", "step"])
