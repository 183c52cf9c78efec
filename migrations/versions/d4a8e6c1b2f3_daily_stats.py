"""daily stats

Daily rollups for the operator dashboard and the points liability page, written by
`flask stats rollup`; an index on point_entries.created_at for counting one day or a range live.

Revision ID: d4a8e6c1b2f3
Revises: a9e4c3b7d210
Create Date: 2026-11-23 22:30:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'd4a8e6c1b2f3'
down_revision = 'a9e4c3b7d210'
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
    op.create_index('ix_point_entries_created', 'point_entries', ['created_at', 'user_id'], unique=False)


def downgrade():
    op.drop_index('ix_point_entries_created', table_name='point_entries')
    op.drop_table('daily_stats')
