"""draw schedule

A lucky draw may have a schedule: members can play it only from `starts_at` until
`ends_at` (either may be empty: no bound). Plain nullable columns, added in place on
SQLite (no rebuild of `draws`, which prizes and plays point at); the console's form and
app.services.rule_admin keep the end after the start.

Revision ID: b7d3e1f08a21
Revises: b7e3f1c2d4a5
Create Date: 2026-11-23 21:15:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'b7d3e1f08a21'
down_revision = 'b7e3f1c2d4a5'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('draws', sa.Column('starts_at', UTCDateTime(timezone=True), nullable=True))
    op.add_column('draws', sa.Column('ends_at', UTCDateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('draws', 'ends_at')
    op.drop_column('draws', 'starts_at')
