"""merchant consumption points terms

Each merchant gets its consumption-points (消费积分) terms: the ratio of points per yuan
(in hundredths), a per-member daily cap and a maximum single amount. Server defaults let
existing merchants keep working and let SQLite add the NOT NULL columns in place (no
rebuild of `merchants`, which users, products and vouchers point at); the console's
form keeps the values in range.

Revision ID: a41c7d2e9b10
Revises: e862b93753a9
Create Date: 2026-11-23 21:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a41c7d2e9b10'
down_revision = 'e862b93753a9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_ratio_pct', sa.Integer(), server_default='100', nullable=False))
        batch_op.add_column(sa.Column('daily_cap_points', sa.Integer(), server_default='2000', nullable=False))
        batch_op.add_column(sa.Column('max_amount_fen', sa.Integer(), server_default='500000', nullable=False))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a rebuild would trip the foreign keys that point here.
    op.drop_column('merchants', 'max_amount_fen')
    op.drop_column('merchants', 'daily_cap_points')
    op.drop_column('merchants', 'points_ratio_pct')
