"""WeChat: user_identities, wechat_credentials (shared access token and JS-SDK ticket),
wechat_template_messages (the outbox of template messages), wechatpay_nonces (notifications seen)

Revision ID: f7a1c3e5b9d2
Revises: e3b9d5a1c7f2
Create Date: 2026-11-24 00:45:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'f7a1c3e5b9d2'
down_revision = 'e3b9d5a1c7f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user_identities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('openid', sa.String(length=64), nullable=False),
        sa.Column('unionid', sa.String(length=64), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_identities_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_identities')),
        sa.UniqueConstraint('provider', 'app_id', 'openid', name='uq_user_identities_openid'),
        sa.UniqueConstraint('user_id', 'provider', 'app_id', name='uq_user_identities_user_app'),
    )
    op.create_index('ix_user_identities_unionid', 'user_identities', ['provider', 'unionid'])
    op.create_index(op.f('ix_user_identities_user_id'), 'user_identities', ['user_id'])
    op.create_table(
        'wechat_credentials',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('value', sa.String(length=600), nullable=True),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_wechat_credentials')),
    )
    op.create_table(
        'wechat_template_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('template_id', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')",
                           name=op.f('ck_wechat_template_messages_status_known')),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE',
                                name=op.f('fk_wechat_template_messages_message_id_messages')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wechat_template_messages_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_template_messages')),
        sa.UniqueConstraint('message_id', name=op.f('uq_wechat_template_messages_message_id')),
    )
    op.create_index('ix_wechat_template_messages_due', 'wechat_template_messages', ['status', 'next_attempt_at'])
    op.create_table(
        'wechatpay_nonces',
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('seen_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('nonce', name=op.f('pk_wechatpay_nonces')),
    )
    op.create_index(op.f('ix_wechatpay_nonces_seen_at'), 'wechatpay_nonces', ['seen_at'])


def downgrade():
    op.drop_index(op.f('ix_wechatpay_nonces_seen_at'), table_name='wechatpay_nonces')
    op.drop_table('wechatpay_nonces')
    op.drop_index('ix_wechat_template_messages_due', table_name='wechat_template_messages')
    op.drop_table('wechat_template_messages')
    op.drop_table('wechat_credentials')
    op.drop_index(op.f('ix_user_identities_user_id'), table_name='user_identities')
    op.drop_index('ix_user_identities_unionid', table_name='user_identities')
    op.drop_table('user_identities')
