"""users streak reminders

The evening check-in reminder (a streak of 3+ days not yet extended by 20:00 Beijing time) can be
turned off in the member's profile. Existing accounts: on.

Revision ID: d4e8a1f7c925
Revises: b7c1d9e4f2a0
Create Date: 2026-11-23 22:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4e8a1f7c925'
down_revision = 'b7c1d9e4f2a0'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (see c7d1e2f3a4b5): no batch rebuild of `users`.
    op.add_column('users', sa.Column('streak_reminders', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    op.drop_column('users', 'streak_reminders')
