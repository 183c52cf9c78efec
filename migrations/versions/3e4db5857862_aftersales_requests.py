"""aftersales requests

After-sales (售后) requests on delivered goods orders: return, exchange or refund only, with
photos, each step's time and the refund outcome. A partial unique index keeps one open
request per order on SQLite and PostgreSQL alike.

Revision ID: 3e4db5857862
Revises: b7d3e1f08a21
Create Date: 2026-11-23 21:27:41.505588

"""
from alembic import op
import sqlalchemy as sa
import app.models.types


# revision identifiers, used by Alembic.
revision = '3e4db5857862'
down_revision = 'b7d3e1f08a21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('aftersales',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('return_instructions', sa.String(length=300), nullable=True),
    sa.Column('reject_reason', sa.String(length=200), nullable=True),
    sa.Column('refund_points', sa.Integer(), nullable=False),
    sa.Column('refund_cash_fen', sa.Integer(), nullable=False),
    sa.Column('refund_entry_id', sa.Integer(), nullable=True),
    sa.Column('restocked', sa.Boolean(), nullable=False),
    sa.Column('exchange_carrier', sa.String(length=40), nullable=True),
    sa.Column('exchange_tracking_no', sa.String(length=40), nullable=True),
    sa.Column('created_at', app.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_at', app.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', app.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', app.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rejected_at', app.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', app.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('return', 'exchange', 'refund')", name=op.f('ck_aftersales_kind_known')),
    sa.CheckConstraint("status IN ('requested', 'approved', 'received', 'completed', 'rejected', 'cancelled')", name=op.f('ck_aftersales_status_known')),
    sa.CheckConstraint('refund_points >= 0 AND refund_cash_fen >= 0', name=op.f('ck_aftersales_refund_not_negative')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_aftersales_order_id_orders')),
    sa.ForeignKeyConstraint(['refund_entry_id'], ['point_entries.id'], name=op.f('fk_aftersales_refund_entry_id_point_entries')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_aftersales_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aftersales'))
    )
    with op.batch_alter_table('aftersales', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aftersales_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_aftersales_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftersales_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_aftersales_open_order', ['order_id'], unique=True, sqlite_where=sa.text("status IN ('requested', 'approved', 'received')"), postgresql_where=sa.text("status IN ('requested', 'approved', 'received')"))



def downgrade():
    with op.batch_alter_table('aftersales', schema=None) as batch_op:
        batch_op.drop_index('uq_aftersales_open_order', sqlite_where=sa.text("status IN ('requested', 'approved', 'received')"), postgresql_where=sa.text("status IN ('requested', 'approved', 'received')"))
        batch_op.drop_index(batch_op.f('ix_aftersales_user_id'))
        batch_op.drop_index('ix_aftersales_status_created')
        batch_op.drop_index(batch_op.f('ix_aftersales_order_id'))

    op.drop_table('aftersales')
