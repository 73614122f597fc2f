"""instance.level and instance.trunk: the measurement level and plexus trunk of an image

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sites with several measurement levels (roots, vagus, plexus trunk) and the three trunks are
    # judged by different limits and rules (decisions 007, 011, 013); the workstation stores them
    # beside the site and side. NULL: the site's default level, no trunk named.
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("trunk", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_column("trunk")
        batch_op.drop_column("level")
