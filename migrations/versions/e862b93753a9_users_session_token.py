"""users session token

Every session and remember cookie carries "<user id>:<session token>"; replacing the token
(logout, password change, an operator disabling the account) makes those issued before
worthless. Existing accounts get a random token each, so sessions from before this
revision end (everyone logs in once more). The column's server default '' is never a valid
token (a row written without one cannot be logged into); it also lets SQLite add the NOT
NULL column in place: rebuilding `users` would trip the foreign keys that point at it.

Revision ID: e862b93753a9
Revises: 2796d86bd097
Create Date: 2026-11-23 18:35:16.608449

"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e862b93753a9'
down_revision = '2796d86bd097'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=32), server_default='', nullable=False))

    # A random token per account from Python's `secrets`, the same on SQLite and PostgreSQL.
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    conn = op.get_bind()
    ids = conn.execute(sa.select(users.c.id)).scalars().all()
    for start in range(0, len(ids), 1000):
        conn.execute(
            users.update().where(users.c.id == sa.bindparam('uid')).values(session_token=sa.bindparam('token')),
            [{'uid': uid, 'token': secrets.token_hex(16)} for uid in ids[start:start + 1000]],
        )


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+ has it): a batch rebuild of `users` would trip the
    # foreign keys that point at it once there is data.
    op.drop_column('users', 'session_token')
