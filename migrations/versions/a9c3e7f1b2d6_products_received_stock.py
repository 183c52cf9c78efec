"""products.received_stock: units put on the shelf other than by stock adjustments

The stock a product was created with plus supplier codes imported since. Reconciliation
checks stock + sold = received_stock + SUM(stock_adjustments.delta) for every product.
Existing rows are backfilled so that they reconcile as they stand.

Revision ID: a9c3e7f1b2d6
Revises: d4a8e6c1b2f3
Create Date: 2026-11-23 22:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9c3e7f1b2d6'
down_revision = 'd4a8e6c1b2f3'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (no table rebuild: other tables reference products).
    op.add_column('products', sa.Column('received_stock', sa.Integer(), nullable=False, server_default='0'))
    op.execute(
        "UPDATE products SET received_stock = stock + sold - COALESCE("
        "(SELECT SUM(delta) FROM stock_adjustments a WHERE a.product_id = products.id), 0)"
    )


def downgrade():
    op.drop_column('products', 'received_stock')
