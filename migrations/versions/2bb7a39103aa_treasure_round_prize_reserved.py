"""treasure round prize reserved

A product prize's unit is taken from stock when a treasure round opens (so the round can
always be won) and returned if the round is refunded; this flag says the unit is held.
Rounds opened before this revision hold nothing (false).

Revision ID: 2bb7a39103aa
Revises: 886005d5e90d
Create Date: 2026-11-23 07:59:36.121792

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2bb7a39103aa'
down_revision = '886005d5e90d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('treasure_rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prize_reserved', sa.Boolean(), server_default=sa.text('false'), nullable=False))


def downgrade():
    with op.batch_alter_table('treasure_rounds', schema=None) as batch_op:
        batch_op.drop_column('prize_reserved')
