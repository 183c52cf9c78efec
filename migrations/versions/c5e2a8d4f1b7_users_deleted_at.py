"""users.deleted_at: a member who deleted the account (the row stays, anonymised)

Revision ID: c5e2a8d4f1b7
Revises: a9c3e7f1b2d6
Create Date: 2026-11-24 00:30:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'c5e2a8d4f1b7'
down_revision = 'a9c3e7f1b2d6'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (see c7d1e2f3a4b5): no batch rebuild of `users`.
    op.add_column('users', sa.Column('deleted_at', UTCDateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('users', 'deleted_at')
