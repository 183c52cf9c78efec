"""users must change password

Staff and operator accounts created in the operator console get a one-time password; the flag
sends such an account to the password page until it sets its own. Existing accounts: false.

Revision ID: c7d1e2f3a4b5
Revises: a41c7d2e9b10
Create Date: 2026-11-23 21:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d1e2f3a4b5'
down_revision = 'a41c7d2e9b10'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN on both databases: batch mode would rebuild `users` on SQLite (its server
    # default is an expression), which the foreign keys pointing at users forbid once rows exist.
    op.add_column('users', sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                     nullable=False))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a rebuild of `users` would trip the foreign keys that point here.
    op.drop_column('users', 'must_change_password')
