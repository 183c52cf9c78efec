"""consumption awards

Consumption points (消费积分) awarded at a merchant's counter: one row per receipt and merchant
(the unique key that makes a retried award pay once), with its ledger entry and Shanghai day.

Revision ID: 3f516411fb44
Revises: c7d1e2f3a4b5
Create Date: 2026-11-23 20:59:27.971849

"""
from alembic import op
import sqlalchemy as sa
import app.models.types


# revision identifiers, used by Alembic.
revision = '3f516411fb44'
down_revision = 'c7d1e2f3a4b5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('consumption_awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('receipt_no', sa.String(length=32), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', app.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_consumption_awards_amount_positive')),
    sa.CheckConstraint('points > 0', name=op.f('ck_consumption_awards_points_positive')),
    sa.ForeignKeyConstraint(['entry_id'], ['point_entries.id'], name=op.f('fk_consumption_awards_entry_id_point_entries')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_consumption_awards_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['staff_id'], ['users.id'], name=op.f('fk_consumption_awards_staff_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consumption_awards_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumption_awards')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_consumption_awards_entry_id')),
    sa.UniqueConstraint('merchant_id', 'receipt_no', name='uq_consumption_awards_merchant_receipt')
    )
    with op.batch_alter_table('consumption_awards', schema=None) as batch_op:
        batch_op.create_index('ix_consumption_awards_member_day', ['user_id', 'merchant_id', 'day'], unique=False)
        batch_op.create_index('ix_consumption_awards_merchant_created', ['merchant_id', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('consumption_awards', schema=None) as batch_op:
        batch_op.drop_index('ix_consumption_awards_merchant_created')
        batch_op.drop_index('ix_consumption_awards_member_day')

    op.drop_table('consumption_awards')
