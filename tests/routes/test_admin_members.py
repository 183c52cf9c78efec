"""Operator console, members (issue 9, item 4): search, the member page, points adjustments
shown to the member as 系统调整 with the reason, refusals at the field, disabling ends sessions."""
import re
import uuid

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, PointEntry, User
from app.services import accounts, checkin, draws, ledger, member_admin, referrals, shop
from app.services.errors import DomainError
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import balance_of, login_as, next_phone
from tests.games_factories import make_draw
from tests.shop_factories import make_product  # noqa: F401  (fixture)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture()
def operator(client, make_account):
    """A client logged in as an operator; its id on client.user_id."""
    client.user_id = make_account("operator")
    login_as(client, client.user_id)
    return client


def _text(response):
    return response.get_data(as_text=True)


def _adjust(client, member_id, delta, reason="客服补偿", **extra):
    return client.submit(f"/admin/members/{member_id}/adjust", {"delta": delta, "reason": reason, **extra},
                         page=f"/admin/members/{member_id}")


def _entries(app, member_id, kind="adjust"):
    with app.app_context():
        rows = db.session.execute(select(PointEntry.amount, PointEntry.note, PointEntry.balance_after)
                                  .where(PointEntry.user_id == member_id, PointEntry.kind == kind,
                                         PointEntry.key != "test-points")
                                  .order_by(PointEntry.id)).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def _audit(app, action=None):
    with app.app_context():
        stmt = select(AuditLog).order_by(AuditLog.id)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        rows = [(row.action, row.target, row.detail) for row in db.session.execute(stmt).scalars()]
        db.session.remove()
    return rows


# ---- search ---------------------------------------------------------------------------------

def test_members_are_found_by_phone_nickname_or_member_id_and_staff_are_not_members(
        operator, make_member, make_account):
    alice = make_member(phone="13900001234", nickname="爱丽丝")
    bob = make_member(phone="13800005678", nickname="小鲍勃")
    make_account("staff", phone="13900009999")

    def found(query):
        html = _text(operator.get("/admin/members", query_string={"q": query}))
        return sorted(int(n) for n in re.findall(r'href="/admin/members/(\d+)">#', html))

    assert found("0001234") == [alice]
    assert found("1390000") == [alice]            # the staff account's phone matches too, but it is no member
    assert found("鲍勃") == [bob]
    assert bob in found(str(bob))                 # a bare number: a member id or part of a phone
    assert found(f"#{bob}") == [bob] and found(f"#{alice}") == [alice]
    assert found("#x") == [] and found("#99999999999") == []
    assert found("") == sorted([alice, bob])
    assert found("%") == [] and found("_") == []  # LIKE wildcards are text here
    assert "没有找到符合条件的会员" in _text(operator.get("/admin/members?q=nobody"))


def test_the_member_list_is_paginated_and_keeps_the_search(operator, app, make_member):
    ids = [make_member(nickname=f"会员{i:02d}") for i in range(23)]
    first = _text(operator.get("/admin/members?q=会员"))
    assert first.count('href="/admin/members/') >= 20 * 2 - 1
    assert "第 1 / 2 页，共 23 条" in first
    second = _text(operator.get("/admin/members?q=会员&page=2"))
    shown = {int(n) for n in re.findall(r'href="/admin/members/(\d+)">#', second)}
    assert shown == set(ids[:3])  # newest first: the three oldest are on page 2
    assert 'href="/admin/members?q=%E4%BC%9A%E5%91%98&amp;page=1"' in second


def test_disabled_members_can_be_listed_alone(operator, app, make_member):
    active, disabled = make_member(), make_member()
    with app.app_context():
        accounts.set_disabled(disabled, True, actor_id=operator.user_id)
        db.session.remove()
    html = _text(operator.get("/admin/members?status=disabled"))
    assert f'/admin/members/{disabled}"' in html and f'/admin/members/{active}"' not in html


# ---- the member page ------------------------------------------------------------------------

def test_the_member_page_shows_profile_level_balance_lots_ledger_and_activity(operator, app, make_member,
                                                                              make_product):
    inviter = make_member(nickname="邀请人")
    product = make_product(name="保温杯", kind="coupon", points_price=100)
    with app.app_context():
        code = referrals.invite_code_for(inviter)
        member = accounts.register_member(next_phone(), "secret123", inviter_code=code, nickname="小明").id
        with write_transaction():
            ledger.earn(member, 1000, "task", key="k1", note="完成任务")
        checkin.check_in(member)
        order = shop.redeem_product(member, product, 1, uuid.uuid4().hex)
        order, order_no = order.id, order.order_no
        db.session.remove()
    draw_id = make_draw(app, name="幸运转盘")
    with app.app_context():
        draws.play_draw(member, draw_id, uuid.uuid4().hex)
        db.session.remove()
    html = _text(operator.get(f"/admin/members/{member}"))
    assert "小明" in html and f"#{member}" in html
    assert "普通会员" in html
    assert f'id="member-balance">{balance_of_app(app, member):,}<' in html
    assert "未过期积分批次" in html and "过期时间" in html
    assert "完成任务" in html and "每日签到" in html and "积分兑换" in html   # the ledger
    assert "保温杯" in html                                                   # orders, by their number
    assert f'<a class="mono" href="/admin/orders/{order}">{order_no}</a>' in html
    # a ledger entry's reference opens what it refers to, where the console has a page for it
    assert f'<a class="muted small" href="/admin/orders/{order}">order:{order}</a>' in html
    assert f'<span class="muted small">checkin:' in html
    assert "幸运转盘" in html                                                   # draws
    assert "共 1 天" in html                                                   # check-ins
    assert f'href="/admin/members/{inviter}"' in html                         # invited by
    inviter_html = _text(operator.get(f"/admin/members/{inviter}"))
    assert f'href="/admin/members/{member}"' in inviter_html and "共 1 人" in inviter_html
    english = {"Accept-Language": "en"}  # counted in English: one day, one person (not "1 days")
    assert ">1 day<" in _text(operator.get(f"/admin/members/{member}", headers=english))
    assert ">1 person<" in _text(operator.get(f"/admin/members/{inviter}", headers=english))


def balance_of_app(app, user_id):
    with app.app_context():
        value = balance_of(user_id)
        db.session.remove()
    return value


def test_the_ledger_on_the_member_page_is_paginated(operator, app, make_member):
    member = make_member()
    with app.app_context():
        with write_transaction():
            for i in range(25):
                ledger.earn(member, 1, "task", key=f"t{i}", note=f"第{i}笔")
        db.session.remove()
    assert "第24笔" in _text(operator.get(f"/admin/members/{member}"))
    second = _text(operator.get(f"/admin/members/{member}?page=2"))
    assert "第24笔" not in second and "第0笔" in second and "第 2 / 2 页" in second


@pytest.mark.parametrize("path", ["/admin/members/999999", "/admin/members/{staff}", "/admin/members/{op}"])
def test_only_members_have_a_member_page(operator, make_account, path):
    staff = make_account("staff")
    assert operator.get(path.format(staff=staff, op=operator.user_id)).status_code == 404


# ---- adjusting points -----------------------------------------------------------------------

def test_an_adjustment_goes_through_the_ledger_and_the_member_sees_it_as_a_system_adjustment(
        operator, app, make_member):
    phone = next_phone()
    member = make_member(phone=phone)  # 500 registration gift
    response = _adjust(operator, member, "+300", reason="活动补发 <b>奖励</b>")
    assert response.status_code == 303
    assert _entries(app, member) == [(300, "活动补发 <b>奖励</b>", 800)]
    assert balance_of_app(app, member) == 800
    response = _adjust(operator, member, "-200", reason="误发收回")
    assert _entries(app, member)[-1] == (-200, "误发收回", 600)
    with app.app_context():
        assert ledger.reconcile() == []
        db.session.remove()
    (action, target, detail), = _audit(app, "user.adjust_points")[-1:]
    assert (action, target) == ("user.adjust_points", f"user:{member}")
    assert detail["before"] == {"points_balance": 800} and detail["after"] == {"points_balance": 600}
    assert detail["delta"] == -200 and detail["reason"] == "误发收回"

    member_client = app.test_client()
    login_as(member_client, member)
    statement = _text(member_client.get("/me/points"))
    assert "系统调整" in statement and "误发收回" in statement and "活动补发 &lt;b&gt;奖励&lt;/b&gt;" in statement
    assert "<b>奖励</b>" not in statement


def test_a_deduction_cannot_take_the_balance_below_zero(operator, app, make_member):
    member = make_member()  # 500
    response = _adjust(operator, member, "-501")
    assert response.status_code == 422
    html = _text(response)
    assert re.search(r'id="delta-error"[^>]*>扣减后积分不能为负：该会员当前可用积分为 500<', html)
    assert _entries(app, member) == [] and balance_of_app(app, member) == 500
    assert _audit(app, "user.adjust_points") == []
    assert _adjust(operator, member, "-500").status_code == 303
    assert balance_of_app(app, member) == 0


@pytest.mark.parametrize("delta, reason, field, message", [
    ("0", "原因", "delta", "调整积分不能为0"),
    ("-0", "原因", "delta", "调整积分不能为0"),
    ("", "原因", "delta", "请填写调整积分"),
    ("abc", "原因", "delta", "请填写整数，加分为正数，扣分为负数"),
    ("1.5", "原因", "delta", "请填写整数，加分为正数，扣分为负数"),
    ("１００", "原因", "delta", "请填写整数，加分为正数，扣分为负数"),
    ("1e3", "原因", "delta", "请填写整数，加分为正数，扣分为负数"),
    ("10000001", "原因", "delta", "单次调整不能超过±10,000,000积分"),
    ("-99999999999999999999", "原因", "delta", "请填写整数，加分为正数，扣分为负数"),
    ("100", "", "reason", "请填写调整原因"),
    ("100", "   ", "reason", "请填写调整原因"),
    ("100", "长" * 201, "reason", "调整原因最多200个字"),
])
def test_bad_adjustments_are_refused_at_the_field(operator, app, make_member, delta, reason, field, message):
    member = make_member()
    response = _adjust(operator, member, delta, reason=reason)
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>{re.escape(message)}<', _text(response))
    assert _entries(app, member) == [] and _audit(app) == []


def test_a_double_submitted_adjustment_is_one_adjustment(operator, app, make_member):
    member = make_member()
    token, key = operator.form_tokens(f"/admin/members/{member}")
    form = {"csrf_token": token, "request_key": key, "delta": "100", "reason": "补偿"}
    first = operator.post(f"/admin/members/{member}/adjust", data=form)
    second = operator.post(f"/admin/members/{member}/adjust", data=form)
    assert first.status_code == second.status_code == 303
    assert _entries(app, member) == [(100, "补偿", 600)]
    assert len(_audit(app, "user.adjust_points")) == 1


def test_concurrent_adjustments_with_one_request_key_are_one_adjustment(app, make_member, make_account):
    member, operator_id = make_member(), make_account("operator")
    key = uuid.uuid4().hex

    def work(_i):
        return member_admin.adjust_points(operator_id, member, -120, "重复提交", key).id

    outcome = run_concurrently(app, work, 8, expected=(DomainError,))
    assert outcome.errors == []
    assert len(set(outcome.results)) == 1 and len(outcome.results) == 8
    assert _entries(app, member) == [(-120, "重复提交", 380)]
    assert len(_audit(app, "user.adjust_points")) == 1
    with app.app_context():
        assert ledger.reconcile() == []
        db.session.remove()


def test_concurrent_deductions_never_take_the_balance_below_zero(app, make_member, make_account):
    member, operator_id = make_member(), make_account("operator")  # 500

    def work(_i):
        return member_admin.adjust_points(operator_id, member, -200, "扣减", uuid.uuid4().hex).id

    outcome = run_concurrently(app, work, 6, expected=(DomainError,))
    assert outcome.errors == []
    assert len(outcome.results) == 2 and len(outcome.refusals) == 4
    assert balance_of_app(app, member) == 100


# ---- disable / enable -----------------------------------------------------------------------

def test_disabling_a_member_logs_their_client_out_and_enabling_lets_them_log_in_again(operator, app, make_member):
    phone = next_phone()
    member = make_member(phone=phone, password="secret123")
    member_client = app.test_client()
    assert member_client.submit("/login", {"phone": phone, "password": "secret123"}).status_code == 303
    assert member_client.get("/me").status_code == 200

    response = operator.submit(f"/admin/members/{member}/disable", {"confirm": "disable"},
                               page=f"/admin/members/{member}")
    assert response.status_code == 303
    assert "已停用" in _text(operator.get(f"/admin/members/{member}"))
    after = member_client.get("/me")
    assert after.status_code == 302 and "/login" in after.headers["Location"]
    refused = member_client.submit("/login", {"phone": phone, "password": "secret123"})
    assert "该账号已被停用" in _text(refused)

    assert operator.submit(f"/admin/members/{member}/enable", {"confirm": "enable"},
                           page=f"/admin/members/{member}").status_code == 303
    assert member_client.submit("/login", {"phone": phone, "password": "secret123"}).status_code == 303
    actions = [(a, d["before"], d["after"]) for a, _t, d in _audit(app) if a.startswith("user.")]
    assert actions == [("user.disable", {"is_disabled": False}, {"is_disabled": True}),
                       ("user.enable", {"is_disabled": True}, {"is_disabled": False})]


def test_disabling_twice_writes_one_audit_entry(operator, app, make_member):
    member = make_member()
    for _ in range(2):
        operator.submit(f"/admin/members/{member}/disable", {"confirm": "disable"}, page=f"/admin/members/{member}")
    assert [a for a, _t, _d in _audit(app)] == ["user.disable"]


@pytest.mark.parametrize("form", [{}, {"confirm": "enable"}, {"confirm": "disable", "request_key": "stale"}])
def test_a_disable_that_is_not_the_page_s_button_changes_nothing(operator, app, make_member, form):
    member = make_member()
    response = operator.submit(f"/admin/members/{member}/disable", form, page=f"/admin/members/{member}")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(User, member).is_disabled is False
        db.session.remove()
    assert _audit(app) == []


def test_an_adjustment_still_works_for_a_disabled_member(operator, app, make_member):
    member = make_member()
    with app.app_context():
        accounts.set_disabled(member, True, actor_id=operator.user_id)
        db.session.remove()
    assert _adjust(operator, member, "50").status_code == 303
    assert balance_of_app(app, member) == 550


# ---- XSS ------------------------------------------------------------------------------------

def test_a_nickname_carrying_markup_is_shown_as_text_in_the_console(operator, app, make_member):
    member = make_member(nickname=XSS[:40])
    _adjust(operator, member, "10", reason=XSS)
    for path in ("/admin/members", f"/admin/members/{member}", "/admin/audit"):
        html = _text(operator.get(path))
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path



def test_a_member_who_forgot_the_password_is_reset_by_an_operator_and_sets_a_new_one(app, client, make_member,
                                                                                    make_account):
    """The forgotten-password path: login -> 忘记密码 explains; customer service resets at
    /admin/members/<id>; the one-time password logs in once, then a password of one's own."""
    assert 'data-testid="forgot-password"' in client.get("/login").get_data(as_text=True)
    assert "一次性密码" in client.get("/password-help").get_data(as_text=True)
    phone = "13912340001"
    member = make_member(phone=phone)
    login_as(client, make_account("operator"))
    page = client.get(f"/admin/members/{member}").get_data(as_text=True)
    assert 'data-testid="reset-member-password"' in page
    shown = client.submit(f"/admin/members/{member}/reset-password", {"confirm": "reset"},
                          page=f"/admin/members/{member}").get_data(as_text=True)
    password = re.search(r'id="one-time-password">([^<]+)<', shown).group(1)
    fresh = app.test_client()
    from tests.conftest import MallClient
    assert isinstance(fresh, MallClient)
    assert fresh.submit("/login", {"phone": phone, "password": "secret123"}).status_code == 422  # the old one
    response = fresh.submit("/login", {"phone": phone, "password": password})
    assert response.status_code == 303 and response.headers["Location"].endswith("/me/password")
    assert fresh.get("/me").headers["Location"].endswith("/me/password")          # set one's own first
    done = fresh.submit("/me/password", {"old_password": password, "new_password": "brand-new-123",
                                         "confirm": "brand-new-123"})
    assert done.status_code == 303 and fresh.get("/me").status_code == 200
