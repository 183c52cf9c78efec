"""Member messages that also go out as WeChat template messages (模板消息).

`queue` runs inside the event's transaction (messages.notify): when WeChat is configured, a
template id is set for the message's kind (WECHAT_TEMPLATES) and the member has an openid, it adds
an outbox row. `send_due` (cron: `flask wechat send-templates`) sends after commit: each row is
claimed with a guarded UPDATE (pending -> sending) so two runs never send one message twice, then
marked sent, or put back with a backoff (1, 2, 4 ... 60 minutes) until MAX_ATTEMPTS, then failed.
A row claimed by a run that died is taken again after CLAIM_TIMEOUT: WeChat may then have received
it once already, the one duplicate we accept rather than losing messages.
"""
from datetime import timedelta

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import or_, select, update

from app.extensions import db
from app.models import Message, TemplateMessage
from app.services import messages, wechat
from app.services.clock import to_shanghai, utcnow
from app.services.errors import DomainError
from app.services.tx import write_transaction

MAX_ATTEMPTS = 8
CLAIM_TIMEOUT = timedelta(minutes=10)
BATCH = 100


def template_for(msgid):
    return (current_app.config.get("WECHAT_TEMPLATES") or {}).get(msgid)


def queue(message):
    """Inside the transaction that wrote `message`: add its outbox row when it should go to WeChat."""
    if not wechat.configured():
        return None
    template_id = template_for(message.msgid)
    if not template_id or wechat.openid_of(message.user_id) is None:
        return None
    db.session.flush()
    row = TemplateMessage(message_id=message.id, user_id=message.user_id, template_id=template_id)
    db.session.add(row)
    return row


def _payload(message):
    """The template's data: first = the title, keyword1 = the text, keyword2 = the time, remark = a hint.
    Configure templates with these four fields (e.g. 通用的「业务状态通知」). Chinese, as WeChat shows it."""
    with force_locale("zh_CN"):
        shown = messages.show(message)
        link = ""
        if shown.endpoint:
            from app.routes.web import absolute_url
            link = absolute_url(shown.endpoint, **dict(shown.link_values))
        data = {
            "first": {"value": shown.title},
            "keyword1": {"value": shown.body},
            "keyword2": {"value": to_shanghai(message.created_at).strftime("%Y-%m-%d %H:%M")},
            "remark": {"value": "点击查看详情"},
        }
    return data, link


def _claim(row_id, now):
    with write_transaction() as session:
        return session.execute(
            update(TemplateMessage)
            .where(TemplateMessage.id == row_id,
                   or_(TemplateMessage.status == "pending",
                       (TemplateMessage.status == "sending") & (TemplateMessage.next_attempt_at <= now)))
            .values(status="sending", attempts=TemplateMessage.attempts + 1, next_attempt_at=now + CLAIM_TIMEOUT)
            .returning(TemplateMessage.attempts)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()


def _finish(row_id, error, attempts, now):
    with write_transaction() as session:
        values = {"status": "sent", "sent_at": now, "last_error": None}
        if error is not None:
            failed = attempts >= MAX_ATTEMPTS
            values = {"status": "failed" if failed else "pending", "last_error": error[:200],
                      "next_attempt_at": now + timedelta(minutes=min(60, 2 ** (attempts - 1)))}
        session.execute(update(TemplateMessage).where(TemplateMessage.id == row_id,
                                                      TemplateMessage.status == "sending").values(**values))


def send_due(now=None):
    """Send the template messages that are due; returns (sent, failed attempts)."""
    now = now or utcnow()
    if not wechat.configured():
        return 0, 0
    due = db.session.execute(
        select(TemplateMessage.id).where(
            or_(TemplateMessage.status == "pending", TemplateMessage.status == "sending"),
            TemplateMessage.next_attempt_at <= now,
        ).order_by(TemplateMessage.id).limit(BATCH)
    ).scalars().all()
    sent = failed = 0
    for row_id in due:
        attempts = _claim(row_id, now)
        if attempts is None:
            continue  # another run has it
        row = db.session.get(TemplateMessage, row_id)
        message = db.session.get(Message, row.message_id)
        openid = wechat.openid_of(row.user_id)
        error = None
        if message is None or openid is None:
            error = "member has no message or openid any more"
            attempts = MAX_ATTEMPTS
        else:
            data, link = _payload(message)
            try:
                answer = wechat.send_template(openid, row.template_id, data, link)
                if answer.get("errcode", 0) != 0:
                    error = f"{answer.get('errcode')}: {answer.get('errmsg', '')}"
                    if answer.get("errcode") == 43004:  # the member unfollowed: retrying cannot help
                        attempts = MAX_ATTEMPTS
            except DomainError as unavailable:
                error = str(unavailable.message)
        db.session.rollback()
        _finish(row_id, error, attempts, now)
        if error is None:
            sent += 1
        else:
            failed += 1
    return sent, failed
