"""point lots expiry reminded at

Expiry reminders tell a member about all their newly due lots in one message; each lot records
when it was told about (nullable: lots not yet told, and every lot that existed before).

Revision ID: a9e4c3b7d210
Revises: d4e5f6a7b8c9
Create Date: 2026-11-23 22:50:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'a9e4c3b7d210'
down_revision = 'd4e5f6a7b8c9'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (see c7d1e2f3a4b5): no batch rebuild of `point_lots`.
    op.add_column('point_lots', sa.Column('expiry_reminded_at', UTCDateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('point_lots', 'expiry_reminded_at')
