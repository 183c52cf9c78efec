"""daily stats

Daily rollups for the operator dashboard and the points liability page, written by
`flask stats rollup`.

Revision ID: d4a8e6c1b2f3
Revises: b7c1d9e4f2a0
Create Date: 2026-11-23 22:30:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'd4a8e6c1b2f3'
down_revision = 'b7c1d9e4f2a0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'daily_stats',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('metric', sa.String(length=32), nullable=False),
        sa.Column('dimension', sa.String(length=40), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('computed_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', 'metric', 'dimension', name='pk_daily_stats'),
    )


def downgrade():
    op.drop_table('daily_stats')
