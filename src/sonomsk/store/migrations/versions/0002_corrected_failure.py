"""measurement.corrected_failure; corrected outlines count as accepted

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A measure that fails on a corrected outline stores that failure as its corrected state
    # (decision 008), instead of keeping the number of the previous outline.
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("corrected_failure", sa.Text(), nullable=True))
    # An outline the clinician corrected is one the clinician chose (decision 008): before this
    # revision a correction did not set ``accepted``. ``corrected_by`` is set exactly when the
    # points were corrected (the JSON column may hold the JSON text null instead of SQL NULL).
    op.execute(
        sa.text("UPDATE structure SET accepted = :yes WHERE corrected_by IS NOT NULL").bindparams(yes=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.drop_column("corrected_failure")
