"""treasure round seed (commit-reveal draw)

A secret random seed per treasure round, drawn when the round opens; its SHA-256 is
shown while the round is open and the seed itself once it closes. Rounds opened before
this revision keep a NULL seed and were drawn from their share records alone.

Revision ID: 886005d5e90d
Revises: 4c472058db1b
Create Date: 2026-11-23 07:44:09.008013

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '886005d5e90d'
down_revision = '4c472058db1b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('treasure_rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seed', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('treasure_rounds', schema=None) as batch_op:
        batch_op.drop_column('seed')
