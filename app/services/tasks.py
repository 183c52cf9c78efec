"""Tasks (任务): newbie tasks that pay once, daily tasks that pay once a Shanghai day, the birthday gift.

Newbie tasks complete themselves: receivers of the domain events in app.services.events
run inside the causing transaction (a redemption, a draw, a profile save, a phone bind),
so the reward lands with its cause or not at all. A (user, task, period) unique row and a
ledger key make every payment a database fact.
"""
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import PointEntry, Share, TaskCompletion
from app.services import events, ledger
from app.services.clock import shanghai_today, utcnow
from app.services.earning import rule
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.ids import is_db_id
from app.services.idempotency import insert_unless_taken
from app.services.members import hold_member_lock, lock_member
from app.services.phrases import phrase
from app.services.tx import execute_rows, write_transaction


@dataclass(frozen=True)
class Task:
    key: str
    title: object
    hint: object
    daily: bool = False


# A task's title is a phrase: its ledger entries keep the id and show it in the reader's language.
NEWBIE_TASKS = (
    Task("profile", phrase("task.profile", _l("完善个人资料")), _l("填写昵称和生日")),
    Task("phone", phrase("task.phone", _l("绑定手机号")), _l("绑定后可用手机号登录，找回账号更方便")),
    Task("first_redeem", phrase("task.first_redeem", _l("首次兑换商品")), _l("用积分兑换任意一件商品")),
    Task("first_draw", phrase("task.first_draw", _l("首次参与抽奖")), _l("参与一次积分抽奖")),
)
DAILY_TASKS = (
    Task("share", phrase("task.share", _l("分享商品")), _l("把喜欢的商品分享给好友"), daily=True),
    Task("browse", phrase("task.browse", _l("逛逛活动专区")), _l("去活动专区逛一逛，看看最新活动"), daily=True),
)
TASKS = {task.key: task for task in NEWBIE_TASKS + DAILY_TASKS}


def task_points(key):
    """What a task pays now (before boosts); 0 when its source or the task is switched off."""
    task = TASKS[key]
    rules = rule("earn.daily" if task.daily else "earn.newbie")
    if not rules.get("enabled"):
        return 0
    return max(int(rules.get(key) or 0), 0)


def complete_task(user_id, key, *, day=None, ref=None, now=None):
    """Mark a task done and pay it, once per period; inside the caller's transaction if any.

    Returns the ledger entry, or None when already done this period or switched off.
    """
    now = now or utcnow()
    task = TASKS[key]
    period = (day or shanghai_today(now)).isoformat() if task.daily else "once"
    points = task_points(key)
    if points <= 0:
        return None
    with write_transaction():
        # Every completion of the member's tasks takes their row lock first. The completion is then
        # written first: one statement asks whether the period's is done and, if not, claims it (the
        # unique key backs it up). Its reward's key is then new: written with the completion, never without.
        hold_member_lock(user_id, acting=True)
        done = insert_unless_taken(TaskCompletion, user_id=user_id, task=key, period=period, ref=ref,
                                   points=points, created_at=now)
        if done is None:
            return None
        entry = ledger.earn(user_id, points, "task", key=f"task:{key}:{period}", ref=f"task:{key}",
                            note=task.title, boost=True, now=now, new_key=True)
        if entry.amount != points:  # boosted (level, double-points day): the completion says what was paid
            execute_rows(_PAID, {"p_id": done.id, "p_points": entry.amount})
    return entry


def _completed(user_id, key, period):
    return execute_rows(_COMPLETED, {"p_user": user_id, "p_task": key, "p_period": period}).first() is not None


_COMPLETED = select(TaskCompletion.id).where(  # built once: every redemption, share and play asks
    TaskCompletion.user_id == bindparam("p_user"), TaskCompletion.task == bindparam("p_task"),
    TaskCompletion.period == bindparam("p_period"))


_PAID = (update(TaskCompletion.__table__).where(TaskCompletion.__table__.c.id == bindparam("p_id"))
         .values(points=bindparam("p_points")))


def profile_is_complete(member):
    """Nickname and birthday both filled."""
    return bool(member.nickname and member.birthday)


_CLAIM_CONDITIONS = {"profile": profile_is_complete, "phone": lambda member: bool(member.phone)}


def claim_task(user_id, key, *, now=None):
    """Collect a newbie task whose condition the member already meets (e.g. registered with a phone)."""
    if key not in _CLAIM_CONDITIONS:
        raise NotFound(_("任务不存在"))
    with write_transaction():
        member = lock_member(user_id)
        if not _CLAIM_CONDITIONS[key](member):
            raise DomainError(_("还没有完成这个任务"))
        if task_points(key) <= 0:
            raise DomainError(_("该任务奖励暂未开放"))
        entry = complete_task(user_id, key, now=now)
        if entry is None:
            raise AlreadyDone(_("奖励已经领取过了"))
    return entry


def product_exists(product_id):
    """Whether the catalogue has this product (the catalogue belongs to the shop area)."""
    if "products" not in db.metadata.tables or not is_db_id(product_id):
        return False
    row = db.session.execute(text("SELECT 1 FROM products WHERE id = :id"), {"id": product_id}).first()
    return row is not None


def record_share(user_id, product_id, *, today=None, now=None):
    """Record that the member shared a product today; the share task pays once a day.

    Returns the reward entry, or None if today's share reward was already paid.
    """
    now = now or utcnow()
    today = today or shanghai_today(now)
    if not product_exists(product_id):
        raise NotFound(_("商品不存在或已下架"))
    with write_transaction() as session:
        lock_member(user_id)
        try:
            with session.begin_nested():
                session.add(Share(user_id=user_id, product_id=product_id, day=today))
        except IntegrityError:
            pass  # the same product shared again today: recorded once
        return complete_task(user_id, "share", day=today, ref=f"product:{product_id}", now=now)


def browse_seconds():
    """How long the promotions page must stay open before the browse task pays."""
    return max(int(rule("earn.daily").get("browse_seconds") or 0), 0)


def reward_browse(user_id, seen_at, *, now=None):
    """Pay the browse task once a day, if the promotions page has been open long enough.

    `seen_at` is when the server first showed the page to this member (a Unix time).
    """
    now = now or utcnow()
    if seen_at is None or now.timestamp() - float(seen_at) < browse_seconds() - 0.5:
        raise DomainError(_("再逛一会儿就能领取奖励"))
    return complete_task(user_id, "browse", now=now)


@dataclass
class TaskView:
    task: Task
    points: int  # what doing it pays this member today (level multiplier, double-points day)
    done: bool
    claimable: bool


def task_board(member, *, today=None):
    """Newbie and daily tasks with what they pay and whether the member has done them."""
    today = today or shanghai_today()
    done = set(db.session.execute(
        select(TaskCompletion.task).where(TaskCompletion.user_id == member.id,
                                          TaskCompletion.period.in_(["once", today.isoformat()]))
    ).scalars())

    def view(task):
        claimable = (task.key not in done and task.key in _CLAIM_CONDITIONS
                     and _CLAIM_CONDITIONS[task.key](member))
        points = task_points(task.key)
        return TaskView(task, ledger.boosted_amount(points, member.growth) if points else 0, task.key in done, claimable)

    newbie = [view(task) for task in NEWBIE_TASKS if task_points(task.key) > 0 or task.key in done]
    daily = [view(task) for task in DAILY_TASKS if task_points(task.key) > 0]
    return newbie, daily


def birthday_points():
    """The birthday gift, 0 when switched off."""
    rules = rule("earn.birthday")
    return max(int(rules.get("points") or 0), 0) if rules.get("enabled") else 0


def birthday_gift(member, *, today=None):
    """(points, claimed) when it is the member's birthday month and the gift is on, else None."""
    today = today or shanghai_today()
    points = birthday_points()
    if not points or member.birthday is None or member.birthday.month != today.month:
        return None
    claimed = db.session.execute(
        select(PointEntry.id).where(PointEntry.user_id == member.id, PointEntry.key == f"birthday:{today.year}")
    ).first() is not None
    return points, claimed


def claim_birthday_gift(user_id, *, today=None, now=None):
    """Pay the birthday gift once a year, in the birthday month (ledger key birthday:YYYY)."""
    now = now or utcnow()
    today = today or shanghai_today(now)
    with write_transaction():
        member = lock_member(user_id)
        points = birthday_points()
        if not points:
            raise DomainError(_("生日礼暂未开放"))
        if member.birthday is None or member.birthday.month != today.month:
            raise DomainError(_("生日当月才能领取生日礼"))
        entry = ledger.earn(user_id, points, "birthday", key=f"birthday:{today.year}",
                            ref=f"birthday:{today.year}", now=now)
        if entry is None:
            raise AlreadyDone(_("今年的生日礼已经领取过了"))
    return entry


def task_done_today(user_id, key, today=None):
    """Whether a daily task has been paid today (or a newbie task ever)."""
    today = today or shanghai_today()
    return _completed(user_id, key, today.isoformat() if TASKS[key].daily else "once")


# Event receivers: they run inside the transaction that sent the event and never commit.
# create_app connects RECEIVERS.

def _on_profile_completed(_sender, user_id, **_extra):
    complete_task(user_id, "profile")


def _on_phone_bound(_sender, user_id, **_extra):
    complete_task(user_id, "phone")


def _on_product_redeemed(_sender, user_id, order_id=None, **_extra):
    complete_task(user_id, "first_redeem", ref=f"order:{order_id}")


def _on_draw_played(_sender, user_id, draw_id=None, **_extra):
    complete_task(user_id, "first_draw", ref=f"draw:{draw_id}")


RECEIVERS = [
    (events.profile_completed, _on_profile_completed),
    (events.phone_bound, _on_phone_bound),
    (events.product_redeemed, _on_product_redeemed),
    (events.draw_played, _on_draw_played),
]


__all__ = [
    "DAILY_TASKS", "RECEIVERS", "NEWBIE_TASKS", "TASKS", "browse_seconds", "birthday_gift", "claim_birthday_gift",
    "claim_task", "complete_task", "product_exists", "record_share", "reward_browse", "task_board",
    "task_done_today", "task_points",
]
