"""stock adjustments

Operators change a product's stock through entries (who, why, by how much, the stock after),
applied as a guarded relative UPDATE, never as an overwrite.

Revision ID: b7c1d9e4f2a0
Revises: 3e4db5857862
Create Date: 2026-11-23 21:40:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'b7c1d9e4f2a0'
down_revision = '3e4db5857862'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stock_adjustments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('delta', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=100), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=False),
        sa.Column('stock_after', sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('delta <> 0', name=op.f('ck_stock_adjustments_delta_not_zero')),
        sa.CheckConstraint('stock_after >= 0', name=op.f('ck_stock_adjustments_stock_after_not_negative')),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_stock_adjustments_actor_id_users')),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_adjustments_product_id_products')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_adjustments')),
    )
    op.create_index('ix_stock_adjustments_product_created', 'stock_adjustments', ['product_id', 'created_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_stock_adjustments_product_created', table_name='stock_adjustments')
    op.drop_table('stock_adjustments')
