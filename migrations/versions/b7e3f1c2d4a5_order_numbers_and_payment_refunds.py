"""order numbers and payment refunds

Orders get `order_no` (Shanghai date of the order + its id zero-padded to 6 digits), unique;
existing orders are numbered here from their creation time. Payments can be refunded:
status 'refunded' with the provider's refund id, the reason and when (refunded_at is set
exactly when the status is 'refunded').

Revision ID: b7e3f1c2d4a5
Revises: 3f516411fb44
Create Date: 2026-11-23 21:30:00

"""
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa
import app.models.types


# revision identifiers, used by Alembic.
revision = 'b7e3f1c2d4a5'
down_revision = '3f516411fb44'
branch_labels = None
depends_on = None

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _number(order_id, created_at):
    return f"{created_at.astimezone(SHANGHAI):%Y%m%d}{order_id:06d}"


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_no', sa.String(length=24), nullable=True))
    conn = op.get_bind()
    orders = sa.table('orders', sa.column('id', sa.Integer), sa.column('created_at', app.models.types.UTCDateTime()),
                      sa.column('order_no', sa.String))
    rows = conn.execute(sa.select(orders.c.id, orders.c.created_at)).all()
    for order_id, created_at in rows:
        conn.execute(orders.update().where(orders.c.id == order_id).values(order_no=_number(order_id, created_at)))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_orders_order_no'), ['order_no'])

    with op.batch_alter_table('payments', schema=None, recreate='always') as batch_op:
        batch_op.add_column(sa.Column('refund_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('refund_reason', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('refunded_at', app.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_payments_status_known'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_payments_status_known'), "status IN ('pending', 'succeeded', 'failed', 'refund_due', 'refunded')")
        batch_op.create_check_constraint(
            batch_op.f('ck_payments_refunded_when_stamped'), "(status = 'refunded') = (refunded_at IS NOT NULL)")


def downgrade():
    # The old schema has no 'refunded': such payments become refund_due again (the refund id is lost).
    op.execute("UPDATE payments SET status = 'refund_due' WHERE status = 'refunded'")
    with op.batch_alter_table('payments', schema=None, recreate='always') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_payments_refunded_when_stamped'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_payments_status_known'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_payments_status_known'), "status IN ('pending', 'succeeded', 'failed', 'refund_due')")
        batch_op.drop_column('refunded_at')
        batch_op.drop_column('refund_reason')
        batch_op.drop_column('refund_id')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_orders_order_no'), type_='unique')
        batch_op.drop_column('order_no')
