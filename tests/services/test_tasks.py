"""Tasks: newbie tasks complete themselves from domain events, once; daily tasks once a Shanghai day;
the profile and phone steps; the birthday gift once a year."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import PointEntry, Share, TaskCompletion, User
from app.services import events, ledger, profile, tasks
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of


def _task_entries(user_id):
    return db.session.execute(
        select(PointEntry.ref, PointEntry.amount).where(PointEntry.user_id == user_id, PointEntry.kind == "task")
        .order_by(PointEntry.id)
    ).all()


@pytest.mark.parametrize("signal, kwargs, task, points", [
    (events.product_redeemed, {"order_id": 7}, "first_redeem", 100),
    (events.draw_played, {"draw_id": 3}, "first_draw", 50),
    (events.profile_completed, {}, "profile", 50),
    (events.phone_bound, {}, "phone", 50),
])
def test_newbie_tasks_fire_from_their_signal_exactly_once(db, make_member, signal, kwargs, task, points):
    user_id = make_member()
    for _ in range(3):
        with write_transaction():
            signal.send(None, user_id=user_id, **kwargs)
    assert _task_entries(user_id) == [(f"task:{task}", points)]
    done = db.session.execute(select(TaskCompletion).where(TaskCompletion.user_id == user_id)).scalar_one()
    assert done.task == task and done.period == "once" and done.points == points
    assert balance_of(user_id) == 500 + points


def test_a_task_reward_rolls_back_with_its_cause(db, make_member):
    user_id = make_member()
    with pytest.raises(RuntimeError):
        with write_transaction():
            events.product_redeemed.send(None, user_id=user_id, order_id=1)
            raise RuntimeError("the redemption failed after the event")
    assert _task_entries(user_id) == []
    assert db.session.execute(select(func.count()).select_from(TaskCompletion)).scalar() == 0
    with write_transaction():
        events.product_redeemed.send(None, user_id=user_id, order_id=2)
    assert _task_entries(user_id) == [("task:first_redeem", 100)]


def test_newbie_tasks_can_be_turned_off_one_by_one_or_all(db, make_member):
    user_id = make_member()
    with write_transaction():
        put_setting("earn.newbie", {"enabled": True, "first_draw": 0})
    with write_transaction():
        events.draw_played.send(None, user_id=user_id, draw_id=1)
        events.product_redeemed.send(None, user_id=user_id, order_id=1)
    assert _task_entries(user_id) == [("task:first_redeem", 100)]
    with write_transaction():
        put_setting("earn.newbie", {"enabled": False})
    with write_transaction():
        events.profile_completed.send(None, user_id=user_id)
    assert len(_task_entries(user_id)) == 1


def test_task_rewards_use_the_level_multiplier(db, make_member):
    user_id = make_member(growth=20000)  # diamond: 150%
    with write_transaction():
        events.draw_played.send(None, user_id=user_id, draw_id=1)
    assert _task_entries(user_id) == [("task:first_draw", 75)]
    done = db.session.execute(select(TaskCompletion).where(TaskCompletion.user_id == user_id)).scalar_one()
    assert done.points == 75  # what was paid, boosted


def test_update_profile_completes_the_profile_task_when_both_fields_are_filled(db, make_member):
    user_id = make_member()
    assert profile.update_profile(user_id, "  小王 ", None) is False
    assert _task_entries(user_id) == []
    assert profile.update_profile(user_id, "小王", date(1990, 5, 17)) is True
    assert _task_entries(user_id) == [("task:profile", 50)]
    assert profile.update_profile(user_id, "王小二", date(1990, 5, 17)) is False  # renaming pays nothing
    member = db.session.get(User, user_id)
    assert member.nickname == "王小二" and member.birthday == date(1990, 5, 17)
    assert len(_task_entries(user_id)) == 1


@pytest.mark.parametrize("nickname, birthday, field, message", [
    ("", None, "nickname", "请填写昵称"),
    ("\u200b \t", None, "nickname", "请填写昵称"),
    ("名" * 21, None, "nickname", "最多20个字"),
    ("小王", date(2999, 1, 1), "birthday", "正确的生日"),
    ("小王", date(1899, 12, 31), "birthday", "正确的生日"),
])
def test_bad_profile_input_names_the_field(db, make_member, nickname, birthday, field, message):
    user_id = make_member()
    with pytest.raises(DomainError, match=message) as caught:
        profile.update_profile(user_id, nickname, birthday)
    assert caught.value.field == field
    assert db.session.get(User, user_id).nickname is None


def test_the_birthday_cannot_be_changed_once_set(db, make_member):
    user_id = make_member()
    profile.update_profile(user_id, "小王", date(1990, 5, 17))
    with pytest.raises(DomainError, match="不能修改") as caught:
        profile.update_profile(user_id, "小王", date(1990, 6, 17))
    assert caught.value.field == "birthday"
    db.session.expire_all()
    assert db.session.get(User, user_id).birthday == date(1990, 5, 17)


def _wechat_member(make_member):
    user_id = make_member()
    with write_transaction() as session:
        member = session.get(User, user_id)
        member.phone, member.openid = None, f"openid-{user_id}"
    return user_id


def test_binding_a_phone_pays_the_phone_task_once(db, make_member):
    user_id = _wechat_member(make_member)
    assert profile.bind_phone(user_id, "+86 139-1111-2222") == "13911112222"
    assert db.session.get(User, user_id).phone == "13911112222"
    assert _task_entries(user_id) == [("task:phone", 50)]
    with pytest.raises(DomainError, match="已经绑定"):
        profile.bind_phone(user_id, "13911113333")
    assert len(_task_entries(user_id)) == 1


@pytest.mark.parametrize("phone, message", [("12345", "11位手机号"), ("", "11位手机号"), ("23911112222", "11位手机号")])
def test_binding_a_bad_phone_names_the_field(db, make_member, phone, message):
    user_id = _wechat_member(make_member)
    with pytest.raises(DomainError, match=message) as caught:
        profile.bind_phone(user_id, phone)
    assert caught.value.field == "phone"


def test_binding_a_phone_someone_else_uses_is_refused(db, make_member):
    make_member(phone="13922223333")
    user_id = _wechat_member(make_member)
    with pytest.raises(DomainError, match="已被其他账号绑定"):
        profile.bind_phone(user_id, "13922223333")
    assert db.session.get(User, user_id).phone is None and _task_entries(user_id) == []


def test_a_member_who_registered_with_a_phone_claims_the_phone_task(db, make_member):
    user_id = make_member()
    newbie, _daily = tasks.task_board(db.session.get(User, user_id))
    phone = next(view for view in newbie if view.task.key == "phone")
    assert phone.claimable and not phone.done
    assert tasks.claim_task(user_id, "phone").amount == 50
    with pytest.raises(AlreadyDone):
        tasks.claim_task(user_id, "phone")
    with pytest.raises(DomainError, match="还没有完成"):
        tasks.claim_task(user_id, "profile")
    with pytest.raises(NotFound):
        tasks.claim_task(user_id, "first_redeem")
    assert balance_of(user_id) == 550


def test_sharing_pays_once_a_shanghai_day(db, make_member, monkeypatch):
    monkeypatch.setattr(tasks, "product_exists", lambda product_id: product_id in (1, 2))
    user_id = make_member()
    day = date(2026, 3, 1)
    assert tasks.record_share(user_id, 1, today=day).amount == 50
    assert tasks.record_share(user_id, 2, today=day) is None  # another product, same day
    assert tasks.record_share(user_id, 1, today=day) is None  # a double tap
    assert tasks.record_share(user_id, 1, today=day + timedelta(days=1)).amount == 50
    assert db.session.execute(select(func.count()).select_from(Share)).scalar() == 3
    assert balance_of(user_id) == 600
    with pytest.raises(NotFound):
        tasks.record_share(user_id, 99, today=day)


def test_sharing_an_unknown_product_is_refused(db, make_member):
    user_id = make_member()
    with pytest.raises(NotFound, match="商品不存在"):
        tasks.record_share(user_id, 424242)
    assert balance_of(user_id) == 500


def test_browsing_pays_once_a_day_after_the_page_was_open_long_enough(db, make_member):
    user_id = make_member()
    now = utcnow()
    with pytest.raises(DomainError, match="再逛一会儿"):
        tasks.reward_browse(user_id, now.timestamp() - 1, now=now)
    with pytest.raises(DomainError):
        tasks.reward_browse(user_id, None, now=now)
    assert tasks.reward_browse(user_id, now.timestamp() - 6, now=now).amount == 10
    assert tasks.reward_browse(user_id, now.timestamp() - 6, now=now) is None
    assert tasks.task_done_today(user_id, "browse")


def test_daily_tasks_can_be_turned_off(db, make_member, monkeypatch):
    monkeypatch.setattr(tasks, "product_exists", lambda product_id: True)
    user_id = make_member()
    with write_transaction():
        put_setting("earn.daily", {"enabled": False})
    assert tasks.record_share(user_id, 1) is None
    assert tasks.task_board(db.session.get(User, user_id))[1] == []
    assert balance_of(user_id) == 500


def test_the_birthday_gift_is_paid_once_a_year_in_the_birthday_month(db, make_member):
    user_id = make_member(birthday=date(1990, 3, 17))
    with pytest.raises(DomainError, match="生日当月"):
        tasks.claim_birthday_gift(user_id, today=date(2026, 4, 1))
    assert tasks.claim_birthday_gift(user_id, today=date(2026, 3, 2)).amount == 200
    with pytest.raises(AlreadyDone):
        tasks.claim_birthday_gift(user_id, today=date(2026, 3, 30))
    assert tasks.claim_birthday_gift(user_id, today=date(2027, 3, 5)).key == "birthday:2027"
    member = db.session.get(User, user_id)
    assert tasks.birthday_gift(member, today=date(2027, 3, 6)) == (200, True)
    assert tasks.birthday_gift(member, today=date(2028, 3, 6)) == (200, False)
    assert tasks.birthday_gift(member, today=date(2028, 4, 6)) is None
    assert balance_of(user_id) == 900


def test_the_birthday_gift_can_be_turned_off(db, make_member):
    user_id = make_member(birthday=date(1990, 3, 17))
    with write_transaction():
        put_setting("earn.birthday", {"enabled": False, "points": 200})
    with pytest.raises(DomainError, match="暂未开放"):
        tasks.claim_birthday_gift(user_id, today=date(2026, 3, 2))
    assert tasks.birthday_gift(db.session.get(User, user_id), today=date(2026, 3, 2)) is None


def test_the_ledger_still_reconciles(db, make_member):
    user_id = make_member(birthday=date(1990, 3, 17))
    with write_transaction():
        events.product_redeemed.send(None, user_id=user_id, order_id=1)
    tasks.claim_birthday_gift(user_id, today=date(2026, 3, 2))
    assert ledger.reconcile() == []
