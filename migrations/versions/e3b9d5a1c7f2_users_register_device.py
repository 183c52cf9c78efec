"""users.register_device: the device cookie an account was registered from (risk rule 同设备多账号)

Revision ID: e3b9d5a1c7f2
Revises: c5e2a8d4f1b7
Create Date: 2026-11-24 01:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3b9d5a1c7f2'
down_revision = 'c5e2a8d4f1b7'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (see c7d1e2f3a4b5): no batch rebuild of `users`.
    op.add_column('users', sa.Column('register_device', sa.String(length=32), nullable=True))
    op.create_index('ix_users_register_device', 'users', ['register_device', 'created_at'])


def downgrade():
    op.drop_index('ix_users_register_device', table_name='users')
    op.drop_column('users', 'register_device')
