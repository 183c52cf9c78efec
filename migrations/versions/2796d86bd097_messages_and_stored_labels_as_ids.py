"""messages and stored labels as ids

Words stored in the language of the request that wrote them become ids, translated when
shown in the reader's language:
- messages: title/body/link become a message id (`msgid`, a key of
  app.services.messages.MESSAGES) and its parameters (`params`, JSON). Rows written before
  keep their words as the "legacy" message: params {"title", "body", "link"}.
- orders: a cancel reason that is one of the app's own phrases moves to `cancel_reason_id`
  (an operator's free-text refund reason stays in `cancel_reason`).
- point_entries: a task's title stored as a note (in zh_CN) moves to `note_id`.

Downgrade puts the words back where it can (legacy messages, known reasons and task titles in
zh_CN); a message written after this revision goes back as its message id with an empty body.

Revision ID: 2796d86bd097
Revises: 2bb7a39103aa
Create Date: 2026-11-23 18:35:40.822629

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2796d86bd097'
down_revision = '2bb7a39103aa'
branch_labels = None
depends_on = None

# The phrases as this revision finds them stored: in zh_CN, or in English when the request
# that wrote them read English. Frozen here: later edits of the catalogue must not change it.
CANCEL_REASONS = {
    "order.cancelled.member": ("会员取消", "Cancelled by you"),
    "order.cancelled.unpaid": ("超时未支付，已自动取消", "Not paid in time; cancelled automatically"),
    "order.cancelled.payment_failed": ("支付失败", "Payment failed"),
    "order.cancelled.sandbox_failed": ("沙箱支付：模拟支付失败", "Sandbox: simulated payment failure"),
}
TASK_TITLES = {
    "profile": "完善个人资料",
    "phone": "绑定手机号",
    "first_redeem": "首次兑换商品",
    "first_draw": "首次参与抽奖",
    "share": "分享商品",
    "browse": "逛逛活动专区",
}


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('msgid', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
    json_object = "json_build_object" if op.get_bind().dialect.name == "postgresql" else "json_object"
    op.execute(f"UPDATE messages SET msgid = 'legacy', "
               f"params = {json_object}('title', title, 'body', body, 'link', link)")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('msgid', existing_type=sa.String(length=60), nullable=False)
        batch_op.alter_column('params', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('body')
        batch_op.drop_column('title')
        batch_op.drop_column('link')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_reason_id', sa.String(length=40), nullable=True))
    for phrase_id, texts in CANCEL_REASONS.items():
        op.get_bind().execute(
            sa.text("UPDATE orders SET cancel_reason_id = :id, cancel_reason = NULL "
                    "WHERE cancel_reason IN :texts").bindparams(sa.bindparam("texts", expanding=True)),
            {"id": phrase_id, "texts": list(texts)},
        )

    with op.batch_alter_table('point_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note_id', sa.String(length=40), nullable=True))
    for key in TASK_TITLES:
        op.get_bind().execute(
            sa.text("UPDATE point_entries SET note_id = :id, note = NULL WHERE kind = 'task' AND ref = :ref"),
            {"id": f"task.{key}", "ref": f"task:{key}"},
        )


def downgrade():
    for key, title in TASK_TITLES.items():
        op.get_bind().execute(
            sa.text("UPDATE point_entries SET note = :title WHERE note_id = :id"), {"title": title, "id": f"task.{key}"}
        )
    with op.batch_alter_table('point_entries', schema=None) as batch_op:
        batch_op.drop_column('note_id')

    for phrase_id, (text, _english) in CANCEL_REASONS.items():
        op.get_bind().execute(
            sa.text("UPDATE orders SET cancel_reason = :text WHERE cancel_reason_id = :id"),
            {"text": text, "id": phrase_id},
        )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason_id')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link', sa.VARCHAR(length=200), nullable=True))
        batch_op.add_column(sa.Column('title', sa.VARCHAR(length=80), nullable=True))
        batch_op.add_column(sa.Column('body', sa.VARCHAR(length=500), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        field = "params->>'{}'".format
    else:
        field = "json_extract(params, '$.{}')".format
    op.execute(f"UPDATE messages SET title = {field('title')}, body = {field('body')}, link = {field('link')} "
               "WHERE msgid = 'legacy'")
    op.execute("UPDATE messages SET title = substr(msgid, 1, 80), body = '' WHERE msgid <> 'legacy'")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('title', existing_type=sa.VARCHAR(length=80), nullable=False)
        batch_op.alter_column('body', existing_type=sa.VARCHAR(length=500), nullable=False)
        batch_op.drop_column('params')
        batch_op.drop_column('msgid')
