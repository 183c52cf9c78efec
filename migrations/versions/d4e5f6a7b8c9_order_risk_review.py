"""order risk review

Orders held by a risk rule wait in status 'review'; order_reviews keeps the rules that fired
and the operator's decision.

Revision ID: d4e5f6a7b8c9
Revises: d4e8a1f7c925
Create Date: 2026-11-23 22:40:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'd4e5f6a7b8c9'
down_revision = 'd4e8a1f7c925'
branch_labels = None
depends_on = None

_OLD = "status IN ('pending_payment', 'paid', 'shipped', 'completed', 'cancelled', 'refunded')"
_NEW = "status IN ('pending_payment', 'paid', 'shipped', 'completed', 'cancelled', 'refunded', 'review')"


def _status_check(condition):
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_orders_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', condition)


def upgrade():
    _status_check(_NEW)
    op.create_table(
        'order_reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('decision', sa.String(length=10), nullable=True),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.CheckConstraint("decision IN ('approved', 'rejected') OR decision IS NULL",
                           name=op.f('ck_order_reviews_decision_known')),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_order_reviews_decided_by_users')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_reviews_order_id_orders')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_order_reviews_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_reviews')),
        sa.UniqueConstraint('order_id', name=op.f('uq_order_reviews_order_id')),
    )
    op.create_index('ix_order_reviews_open', 'order_reviews', ['decision', 'id'], unique=False)
    op.create_index(op.f('ix_order_reviews_user_id'), 'order_reviews', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_order_reviews_user_id'), table_name='order_reviews')
    op.drop_index('ix_order_reviews_open', table_name='order_reviews')
    op.drop_table('order_reviews')
    op.execute("UPDATE orders SET status = 'paid' WHERE status = 'review'")
    _status_check(_OLD)
