"""The operator console's game and rule settings (issue 9, item 6) through HTTP.

Every form refuses a bad value with a message at its field and saves nothing; a saved
setting changes what members get next and nothing they already have; a draw edit shows on
the public odds page at once; names are escaped on the member pages; every change is audited.
"""
import html as htmllib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from app.models import AuditLog, CheckIn, Draw, DrawPlay, PointEntry, PointsPacket, Setting, TreasureItem, TreasureRound
from app.services import checkin, draws
from app.services.clock import shanghai_today
from app.services.settings import DEFAULTS, put_setting
from app.services.tx import write_transaction
from tests.conftest import login_as
from tests.games_factories import key, make_draw, make_item, prize

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture()
def operator(client, make_account):
    """The client, logged in as an operator; returns the operator's id."""
    user_id = make_account("operator")
    login_as(client, user_id)
    return user_id


def form_values(client, url):
    """What the browser would send for the form at `url` as it stands (inputs, selects, textareas)."""
    page = client.get(url).get_data(as_text=True)
    assert page, url
    data = {}
    for match in re.finditer(r"<input[^>]*>", page):
        tag = match.group(0)
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                data[name.group(1)] = "y"
        else:
            data.setdefault(name.group(1), htmllib.unescape(value.group(1)) if value else "")
    for match in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        data[match.group(1)] = htmllib.unescape(match.group(2)).strip()
    for match in re.finditer(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected',
                           match.group(2)) or re.search(r'<option[^>]*value="([^"]*)"', match.group(2))
        data[match.group(1)] = next(g for g in chosen.groups() if g is not None)
    return data


def post_form(client, url, changes, page=None, drop=()):
    """Submit the form at `page` (default `url`) with some fields changed (None: not sent)."""
    data = form_values(client, page or url)
    data.update(changes)
    for name in list(data):
        if data[name] is None or name in drop:
            del data[name]
    return client.post(url, data=data)


def field_error(response, field_id):
    """The message shown at a field (its error element), or None."""
    body = response.get_data(as_text=True)
    match = re.search(rf'id="{re.escape(field_id)}-error"[^>]*>([^<]*)<', body)
    return htmllib.unescape(match.group(1)) if match else None


def _count(app, model):
    with app.app_context():
        return _db.session.execute(select(func.count()).select_from(model)).scalar()


def _settings_rows(app):
    with app.app_context():
        return {row.key: row.value for row in _db.session.execute(select(Setting)).scalars()}


def _audits(app, action=None):
    with app.app_context():
        stmt = select(AuditLog).order_by(AuditLog.id)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        return [(row.action, row.target, row.detail, row.actor_id) for row in _db.session.execute(stmt).scalars()]


# ---- pages -------------------------------------------------------------------------------------

def test_the_rules_landing_lists_every_settings_group_draws_and_treasure(app, client, operator):
    make_draw(app, name="周末大转盘")
    page = client.get("/admin/rules")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    for group in ("checkin", "tasks", "rewards", "levels", "double", "expiry"):
        assert f'href="/admin/rules/settings/{group}"' in body
    assert "周末大转盘" in body and 'href="/admin/rules/treasure"' in body and 'href="/admin/rules/packets"' in body
    assert 'href="/admin/rules" aria-current="page"' in body  # the side navigation entry 玩法与规则


def test_an_unknown_settings_group_is_not_found(client, operator):
    assert client.get("/admin/rules/settings/nope").status_code == 404


# ---- each form refuses bad values at the field, saving nothing ------------------------------------

SETTINGS_CASES = [
    ("checkin", {"rewards": ""}, "rewards", "请填写每天的签到奖励"),
    ("checkin", {"rewards": "5, 0, 10"}, "rewards", "每天的奖励需为 1 到 100000 之间的整数"),
    ("checkin", {"rewards": "5, -5"}, "rewards", "每天的奖励需为 1 到 100000 之间的整数"),
    ("checkin", {"rewards": "5, 1e9"}, "rewards", "每天的奖励需为 1 到 100000 之间的整数"),
    ("checkin", {"rewards": "999999999"}, "rewards", "每天的奖励需为 1 到 100000 之间的整数"),
    ("checkin", {"rewards": ",".join(["5"] * 32)}, "rewards", "请填写 1 到 31 天的奖励"),
    ("checkin", {"makeup_cost": "-1"}, "makeup_cost", "请输入 0 到 100000 之间的整数"),
    ("checkin", {"makeup_window_days": "0"}, "makeup_window_days", "请输入 1 到 31 之间的整数"),
    ("checkin", {"makeup_per_month": "abc"}, "makeup_per_month", "请输入整数"),
    ("tasks", {"profile": "-1"}, "profile", "请输入 0 到 100000 之间的整数"),
    ("tasks", {"share": "99999999999999999999"}, "share", "请输入 0 到 100000 之间的整数"),
    ("tasks", {"browse_seconds": "0"}, "browse_seconds", "请输入 1 到 600 之间的整数"),
    ("rewards", {"register_points": "0"}, "register_points", "请输入 1 到 100000 之间的整数"),
    ("rewards", {"invite_pay_on": "never"}, "invite_pay_on", "请选择发放时机"),
    ("rewards", {"invite_per_ip_daily": "-1"}, "invite_per_ip_daily", "请输入 1 到 1000 之间的整数"),
    ("rewards", {"birthday_points": ""}, "birthday_points", "请输入 1 到 100000 之间的整数"),
    ("levels", {"levels-0-min_growth": "10"}, "levels-0-min_growth", "第一个等级的门槛必须是 0"),
    ("levels", {"levels-2-min_growth": "5000"}, "levels-2-min_growth", "门槛必须逐级严格递增"),
    ("levels", {"levels-3-min_growth": "100"}, "levels-3-min_growth", "门槛必须逐级严格递增"),
    ("levels", {"levels-1-multiplier_pct": "99"}, "levels-1-multiplier_pct", "积分倍率需为 100 到 1000 之间的整数（百分比）"),
    ("levels", {"levels-1-discount_pct": "0"}, "levels-1-discount_pct", "兑换折扣需为 1 到 100 之间的整数（百分比）"),
    ("levels", {"levels-1-discount_pct": "101"}, "levels-1-discount_pct", "兑换折扣需为 1 到 100 之间的整数（百分比）"),
    ("levels", {"levels-2-name": " "}, "levels-2-name", "请填写等级名称"),
    ("double", {"days": "2026-12-12\n2026-02-30"}, "days", "「2026-02-30」不是有效日期，请按 2026-12-12 的格式填写"),
    ("double", {"days": "tomorrow"}, "days", "「tomorrow」不是有效日期，请按 2026-12-12 的格式填写"),
    ("double", {"factor": "1"}, "factor", "请输入 2 到 10 之间的整数"),
    ("double", {"factor": "1000"}, "factor", "请输入 2 到 10 之间的整数"),
    ("expiry", {"expiry_months": "0"}, "expiry_months", "请输入 1 到 120 之间的整数"),
    ("expiry", {"packet_expiry_days": "-3"}, "packet_expiry_days", "请输入 1 到 365 之间的整数"),
]


@pytest.mark.parametrize("group, changes, field, message", SETTINGS_CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(SETTINGS_CASES)])
def test_a_settings_form_refuses_a_bad_value_at_its_field_and_saves_nothing(
        app, client, operator, group, changes, field, message):
    # A valid change rides along: nothing of the form may be saved when one field is wrong.
    ride_along = {"checkin": {"makeup_cost": "7"}, "tasks": {"phone": "77"}, "rewards": {"invite_points": "77"},
                  "levels": {"levels-3-name": "黑钻会员"}, "double": {"days": "2026-12-12"},
                  "expiry": {"expiry_months": "6"}}[group]
    response = post_form(client, f"/admin/rules/settings/{group}", {**ride_along, **changes})
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert _settings_rows(app) == {} and _audits(app) == []


def test_an_absurd_number_of_levels_is_refused(app, client, operator):
    data = form_values(client, "/admin/rules/settings/levels")
    for index in range(4, 12):
        data.update({f"levels-{index}-name": "x", f"levels-{index}-min_growth": str(100000 + index),
                     f"levels-{index}-multiplier_pct": "100", f"levels-{index}-discount_pct": "100"})
    response = client.post("/admin/rules/settings/levels", data=data)
    assert response.status_code == 422 and _settings_rows(app) == {}


PACKET_CASES = [
    ({"title": ""}, "title", "请填写标题"),
    ({"points": "0"}, "points", "请输入 1 到 100000 之间的整数"),
    ({"points": "-5"}, "points", "请输入 1 到 100000 之间的整数"),
    ({"points": "100000000"}, "points", "请输入 1 到 100000 之间的整数"),
    ({"ends_at": "2026-01-01T00:00"}, "ends_at", "结束时间需晚于开始时间"),
    ({"starts_at": "not a time"}, "starts_at", "请选择正确的时间"),
    ({"total": "0"}, "total", "请输入 1 到 10000000 之间的整数"),
]


@pytest.mark.parametrize("changes, field, message", PACKET_CASES, ids=[c[1] + str(i) for i, c in enumerate(PACKET_CASES)])
def test_the_packet_form_refuses_a_bad_value_at_its_field(app, client, operator, changes, field, message):
    good = {"title": "周末红包", "points": "20", "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-02T10:00"}
    response = post_form(client, "/admin/rules/packets/new", {**good, **changes})
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert _count(app, PointsPacket) == 0 and _audits(app) == []


def test_a_packet_is_published_once_for_a_double_submit_edited_and_switched_off(app, client, operator):
    data = form_values(client, "/admin/rules/packets/new")
    data.update({"title": "周末红包", "points": "20", "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-02T10:00",
                 "total": "100"})
    first, second = client.post("/admin/rules/packets/new", data=data), client.post("/admin/rules/packets/new", data=data)
    assert first.status_code == second.status_code == 303
    with app.app_context():
        packet = _db.session.execute(select(PointsPacket)).scalar_one()
        packet_id = packet.id
        assert (packet.points, packet.total, packet.starts_at.hour) == (20, 100, 2)  # 10:00 Shanghai is 02:00 UTC
    response = post_form(client, f"/admin/rules/packets/{packet_id}", {"points": "30"})
    assert response.status_code == 303
    switch = form_values(client, "/admin/rules/packets")
    assert client.post(f"/admin/rules/packets/{packet_id}/switch", data=switch).status_code == 303
    assert client.post(f"/admin/rules/packets/{packet_id}/switch", data=switch).status_code == 303  # sent twice: still off
    with app.app_context():
        packet = _db.session.get(PointsPacket, packet_id)
        assert (packet.points, packet.enabled) == (30, False)
    actions = _audits(app)
    assert [a[0] for a in actions] == ["packet.create", "packet.update", "packet.update"]
    assert actions[1][2] == {"before": {"points": 20}, "after": {"points": 30}}
    assert actions[2][2] == {"before": {"enabled": True}, "after": {"enabled": False}}


DRAW_CASES = [
    ({"cost": "0"}, "cost", "请输入 1 到 100000 之间的整数"),
    ({"cost": "1000000000"}, "cost", "请输入 1 到 100000 之间的整数"),
    ({"daily_limit": "-1"}, "daily_limit", "请输入 0 到 1000 之间的整数"),
    ({"name": ""}, "name", "请填写名称"),
    ({"starts_at": "2026-12-02T10:00", "ends_at": "2026-12-01T10:00"}, "ends_at", "结束时间需晚于开始时间"),
    ({"pity_after": "10", "pity_tier": ""}, "pity_tier", "保底需同时填写次数和奖品等级，或都留空"),
    ({"pity_after": "0", "pity_tier": "1"}, "pity_after", "请输入 1 到 1000 之间的整数"),
    ({"skin": "grid"}, "skin", "该样式需要 8 到 8 个奖品，当前有 4 个"),
    ({"skin": "hexagon"}, "skin", "请选择抽奖样式"),
]


@pytest.mark.parametrize("changes, field, message", DRAW_CASES, ids=[c[1] + str(i) for i, c in enumerate(DRAW_CASES)])
def test_the_draw_form_refuses_a_bad_value_at_its_field(app, client, operator, changes, field, message):
    draw_id = make_draw(app, name="转盘")
    response = post_form(client, f"/admin/rules/draws/{draw_id}", {"name": "新名字", **changes})
    assert response.status_code == 422
    assert field_error(response, field) == message
    with app.app_context():
        assert _db.session.get(Draw, draw_id).name == "转盘"
    assert _audits(app) == []


PRIZE_CASES = [
    ({f"prizes-{i}-weight": "0" for i in range(4)}, None, "奖品权重之和必须大于 0"),
    ({"prizes-1-weight": "-1"}, "prizes-1-weight", "请输入 0 到 1000000 之间的整数"),
    ({"prizes-1-weight": "10000000"}, "prizes-1-weight", "请输入 0 到 1000000 之间的整数"),
    ({"prizes-1-points": "0"}, "prizes-1-points", "积分奖品需在 1 到 100000 积分之间"),
    ({"prizes-1-tier": "9"}, "prizes-1-tier", "请输入 1 到 6 之间的整数"),
    ({"prizes-0-stock": "-1"}, "prizes-0-stock", "请输入 0 到 1000000 之间的整数"),
    ({"prizes-2-kind": "product", "prizes-2-product_id": ""}, "prizes-2-product_id", "请填写商品编号"),
    ({"prizes-2-kind": "product", "prizes-2-product_id": "999999"}, "prizes-2-product_id", "请填写存在的商品编号"),
    ({"prizes-3-name": ""}, "prizes-3-name", "请填写奖品名称"),
    ({"prizes-3-kind": "jackpot"}, "prizes-3-kind", "请选择奖品类型"),
]


@pytest.mark.parametrize("changes, field, message", PRIZE_CASES, ids=[str(i) for i in range(len(PRIZE_CASES))])
def test_the_prize_pool_form_refuses_a_bad_value_at_its_field(app, client, operator, changes, field, message):
    draw_id = make_draw(app)
    url = f"/admin/rules/draws/{draw_id}/prizes"
    response = post_form(client, url, {"prizes-0-name": "改过的头奖", **changes}, page=f"/admin/rules/draws/{draw_id}")
    assert response.status_code == 422
    if field is None:
        assert message in response.get_data(as_text=True)
    else:
        assert field_error(response, field) == message
    with app.app_context():
        assert [p.name for p in _db.session.get(Draw, draw_id).prizes][0] == "一等奖 100积分"
    assert _audits(app) == []


TREASURE_CASES = [
    ({"total_shares": "1"}, "total_shares", "请输入 2 到 100000 之间的整数"),
    ({"share_price": "0"}, "share_price", "请输入 1 到 100000 之间的整数"),
    ({"round_hours": "0"}, "round_hours", "请输入 1 到 2160 之间的整数"),
    ({"prize_points": "", "product_id": ""}, "prize_points", "积分奖品请填写奖品积分，商品奖品请填写商品编号"),
    ({"prize_points": "", "product_id": "999999"}, "product_id", "请填写存在的商品编号"),
    ({"name": ""}, "name", "请填写名称"),
]


@pytest.mark.parametrize("changes, field, message", TREASURE_CASES, ids=[c[1] for c in TREASURE_CASES])
def test_the_treasure_item_form_refuses_a_bad_value_at_its_field(app, client, operator, changes, field, message):
    response = post_form(client, "/admin/rules/treasure/new", {"name": "夺宝红包", "prize_points": "500", **changes})
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert _count(app, TreasureItem) == 0 and _count(app, TreasureRound) == 0


# ---- a saved setting changes what members get next, never what they got ---------------------------

def test_a_new_check_in_table_pays_the_new_amount_next_time_and_leaves_earlier_check_ins_alone(
        app, client, operator, make_member):
    member = make_member()
    today = shanghai_today()
    with app.app_context():
        checkin.check_in(member, today=today - timedelta(days=1))  # day 1 of a streak, old table: 5
    response = post_form(client, "/admin/rules/settings/checkin", {"rewards": "40, 50, 60"})
    assert response.status_code == 303
    with app.app_context():
        checkin.check_in(member, today=today)  # day 2 of the streak, new table: 50
        rows = _db.session.execute(select(CheckIn.points).where(CheckIn.user_id == member).order_by(CheckIn.day)).all()
        entries = _db.session.execute(select(PointEntry.amount).where(PointEntry.user_id == member,
                                                                      PointEntry.kind == "checkin")
                                      .order_by(PointEntry.id)).scalars().all()
    assert [row.points for row in rows] == [5, 50]
    assert entries == [5, 50]
    (action, target, detail, actor), = _audits(app, "settings.update")
    assert (action, target, actor) == ("settings.update", "settings:checkin", operator)
    assert detail["before"]["earn.checkin"]["rewards"] == [5, 5, 10, 10, 15, 15, 30]
    assert detail["after"]["earn.checkin"]["rewards"] == [40, 50, 60]
    assert "earn.makeup" not in detail["after"]  # only what changed


def test_the_preview_shows_the_new_table_without_saving_it(app, client, operator):
    response = post_form(client, "/admin/rules/settings/checkin", {"rewards": "11, 22, 33", "action": "preview"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "预览，尚未保存" in body
    preview = body.split('class="rules-phone"')[1]
    assert "+11" in preview and "+22" in preview and "+33" in preview
    assert _settings_rows(app) == {} and _audits(app) == []


def test_saving_levels_keeps_fields_the_form_does_not_know(app, client, operator):
    with app.app_context():
        with write_transaction():
            put_setting("levels", [{**level, "aftersale_days": 7 + i} for i, level in enumerate(DEFAULTS["levels"])])
    response = post_form(client, "/admin/rules/settings/levels", {"levels-1-min_growth": "6000"})
    assert response.status_code == 303
    levels = _settings_rows(app)["levels"]
    assert [level["min_growth"] for level in levels] == [0, 6000, 10000, 20000]
    assert [level["aftersale_days"] for level in levels] == [7, 8, 9, 10]
    assert [level["key"] for level in levels] == ["normal", "silver", "gold", "diamond"]


def test_saving_a_rule_keeps_unknown_keys_of_its_value(app, client, operator):
    with app.app_context():
        with write_transaction():
            put_setting("earn.invite", {**DEFAULTS["earn.invite"], "future_flag": "kept"})
    response = post_form(client, "/admin/rules/settings/rewards", {"invite_pay_on": "first_redeem"})
    assert response.status_code == 303
    assert _settings_rows(app)["earn.invite"] == {**DEFAULTS["earn.invite"], "future_flag": "kept",
                                                   "pay_on": "first_redeem"}


def test_double_points_days_are_stored_sorted_and_unique(app, client, operator):
    response = post_form(client, "/admin/rules/settings/double", {"days": "2026-12-12\n2026-11-11\n2026-12-12",
                                                                  "factor": "3"})
    assert response.status_code == 303
    rows = _settings_rows(app)
    assert rows["double_points.days"] == ["2026-11-11", "2026-12-12"] and rows["double_points.factor"] == 3


# ---- draws -------------------------------------------------------------------------------------

def test_a_draw_edit_shows_on_the_odds_page_at_once(app, client, operator):
    draw_id = make_draw(app)
    before = client.get(f"/draw/{draw_id}/odds").get_data(as_text=True)
    assert "1.00%" in before and "40.00%" in before
    weights = {"prizes-0-weight": "25", "prizes-1-weight": "25", "prizes-2-weight": "25", "prizes-3-weight": "25",
               "prizes-0-name": "头奖 88积分"}
    response = post_form(client, f"/admin/rules/draws/{draw_id}/prizes", weights, page=f"/admin/rules/draws/{draw_id}")
    assert response.status_code == 303
    after = client.get(f"/draw/{draw_id}/odds").get_data(as_text=True)
    assert after.count("25.00%") == 4 and "1.00%" not in after and "头奖 88积分" in after
    (action, target, detail, _actor), = _audits(app, "draw.prizes_update")
    assert target == f"draw:{draw_id}" and len(detail["after"]) == 4


def test_the_prize_editor_shows_each_weight_as_a_share_of_the_total(app, client, operator):
    draw_id = make_draw(app)  # weights 1, 20, 39, 40
    body = client.get(f"/admin/rules/draws/{draw_id}").get_data(as_text=True)
    shares = [re.search(rf'data-testid="share-{n}">([^<]*)<', body).group(1) for n in range(1, 5)]
    assert shares == ["1.00%", "20.00%", "39.00%", "40.00%"]
    response = post_form(client, f"/admin/rules/draws/{draw_id}/prizes", {"prizes-0-weight": "-3"},
                         page=f"/admin/rules/draws/{draw_id}")
    assert response.status_code == 422  # a refused pool shows the shares of what was sent, the bad one as 0
    body = response.get_data(as_text=True)
    assert re.search(r'data-testid="share-4">([^<]*)<', body).group(1) == "40.40%"


def test_a_prize_someone_won_keeps_what_it_gives_but_can_be_retired(app, client, operator, make_member, monkeypatch):
    draw_id = make_draw(app)
    member = make_member(points=1000)
    monkeypatch.setattr(draws, "_randbelow", lambda total: 0)  # the first prize: 一等奖 100积分
    with app.app_context():
        draws.play_draw(member, draw_id, key())
        won = _db.session.get(Draw, draw_id).prizes[0].id
    page = f"/admin/rules/draws/{draw_id}"
    renamed = post_form(client, f"{page}/prizes", {"prizes-0-name": "一等奖 1积分"}, page=page)
    assert renamed.status_code == 422
    assert field_error(renamed, "prizes-0-name") == "该奖品已有人抽中，不能修改内容；可把权重设为 0 停用"
    more = post_form(client, f"{page}/prizes", {"prizes-0-points": "1"}, page=page)
    assert field_error(more, "prizes-0-points") == "该奖品已有人抽中，不能修改内容；可把权重设为 0 停用"
    retired = post_form(client, f"{page}/prizes", {"prizes-0-weight": "0"}, page=page)
    assert retired.status_code == 303
    removed = client.post(f"{page}/prizes/{won}/remove", data=form_values(client, page))
    assert removed.status_code == 303
    with app.app_context():
        play = _db.session.execute(select(DrawPlay)).scalar_one()
        assert (play.prize.name, play.prize.points, play.prize.weight) == ("一等奖 100积分", 100, 0)
        assert len(_db.session.get(Draw, draw_id).prizes) == 4
    odds = client.get(f"/draw/{draw_id}/odds").get_data(as_text=True)
    assert "一等奖 100积分" in odds and "0.00%" in odds


def test_a_wheel_gains_and_loses_unplayed_slots_within_its_limits(app, client, operator):
    draw_id = make_draw(app)
    page = f"/admin/rules/draws/{draw_id}"
    data = form_values(client, page)
    assert client.post(f"{page}/prizes/add", data=data).status_code == 303
    assert client.post(f"{page}/prizes/add", data=data).status_code == 303  # the same submit twice: one slot
    with app.app_context():
        prizes = _db.session.get(Draw, draw_id).prizes
        assert [p.position for p in prizes] == [0, 1, 2, 3, 4] and prizes[4].weight == 0
        second = prizes[1].id
    assert client.post(f"{page}/prizes/{second}/remove", data=form_values(client, page)).status_code == 303
    with app.app_context():
        prizes = _db.session.get(Draw, draw_id).prizes
        assert [p.position for p in prizes] == [0, 1, 2, 3] and "20积分" not in [p.name for p in prizes]
        fourth = prizes[3].id
    client.post(f"{page}/prizes/{fourth}/remove", data=form_values(client, page))  # a wheel keeps 4 slots
    with app.app_context():
        assert len(_db.session.get(Draw, draw_id).prizes) == 4
    assert [a[0] for a in _audits(app)] == ["draw.prize_add", "draw.prize_remove"]


def test_a_new_draw_starts_switched_off_with_placeholder_slots_and_goes_live_after_its_pool(app, client, operator):
    data = form_values(client, "/admin/rules/draws/new")
    data.update({"name": "九宫格", "skin": "grid", "slots": "8", "cost": "20", "daily_limit": "3"})
    response = client.post("/admin/rules/draws/new", data=data)
    assert response.status_code == 303
    assert client.post("/admin/rules/draws/new", data=data).status_code == 303  # double submit: one draw
    with app.app_context():
        draw = _db.session.execute(select(Draw)).scalar_one()
        draw_id = draw.id
        assert (draw.is_active, draw.cost, len(draw.prizes)) == (False, 20, 8)
    assert client.get(f"/draw/{draw_id}").status_code == 404  # members cannot see it yet
    page = f"/admin/rules/draws/{draw_id}"
    pool = {f"prizes-{i}-weight": "10" for i in range(8)}
    pool.update({"prizes-0-name": "50积分", "prizes-0-kind": "points", "prizes-0-points": "50", "prizes-0-tier": "1"})
    assert post_form(client, f"{page}/prizes", pool, page=page).status_code == 303
    assert post_form(client, page, {"is_active": "y", "pity_after": "10", "pity_tier": "1"}).status_code == 303
    odds = client.get(f"/draw/{draw_id}/odds").get_data(as_text=True)
    assert "50积分" in odds and "12.50%" in odds


def test_a_scheduled_draw_refuses_plays_outside_its_window(app, client, operator, make_member):
    draw_id = make_draw(app)
    member = make_member(points=1000)
    response = post_form(client, f"/admin/rules/draws/{draw_id}",
                         {"starts_at": "2099-01-01T00:00", "ends_at": "2099-02-01T00:00"})
    assert response.status_code == 303
    with app.app_context():
        with pytest.raises(draws.DrawRefused, match="抽奖活动尚未开始"):
            draws.play_draw(member, draw_id, key())
        assert draws.active_draws() == []
    login_as(client, member)
    page = client.get(f"/draw/{draw_id}").get_data(as_text=True)
    assert "活动时间 01-01 00:00 – 02-01 00:00" in page
    assert re.search(r'<button[^>]*disabled data-testid="draw-closed">抽奖活动尚未开始</button>', page)


# ---- treasure ----------------------------------------------------------------------------------

def test_a_treasure_item_edit_waits_for_the_next_round_and_a_running_round_refuses_a_second(app, client, operator):
    item_id, round_id = make_item(app, total_shares=10, share_price=10)
    response = post_form(client, f"/admin/rules/treasure/{item_id}", {"total_shares": "20", "share_price": "5"})
    assert response.status_code == 303
    with app.app_context():
        rnd = _db.session.get(TreasureRound, round_id)
        assert (rnd.total_shares, rnd.share_price, rnd.status) == (10, 10, "open")
        assert _db.session.get(TreasureItem, item_id).total_shares == 20
    # The list offers no button while a round runs; a stale page's button is refused by the service.
    stale = {**form_values(client, "/admin/rules/treasure"), "request_key": key()}
    opened = client.post(f"/admin/rules/treasure/{item_id}/open", data=stale)
    assert opened.status_code == 303
    assert "本期夺宝还在进行中" in client.get("/admin/rules/treasure").get_data(as_text=True)
    assert _count(app, TreasureRound) == 1


def test_a_new_treasure_item_opens_its_first_round(app, client, operator):
    data = form_values(client, "/admin/rules/treasure/new")
    data.update({"name": "夺宝 1000 积分", "prize_points": "1000", "total_shares": "50", "share_price": "30"})
    assert client.post("/admin/rules/treasure/new", data=data).status_code == 303
    assert client.post("/admin/rules/treasure/new", data=data).status_code == 303  # double submit: one item
    with app.app_context():
        rnd = _db.session.execute(select(TreasureRound)).scalar_one()
        assert (rnd.name, rnd.total_shares, rnd.share_price, rnd.prize_points) == ("夺宝 1000 积分", 50, 30, 1000)
    assert [a[0] for a in _audits(app)] == ["treasure_item.create"]


# ---- names are escaped on the member pages ---------------------------------------------------------

def test_markup_in_draw_prize_and_packet_names_is_shown_as_text_to_members(app, client, operator, make_member):
    draw_id = make_draw(app, prizes=[prize("a", 1, points=5), prize("b", 1, points=5), prize("c", 1, points=5),
                                     prize("d", 1, kind="thanks")])
    page = f"/admin/rules/draws/{draw_id}"
    assert post_form(client, page, {"name": XSS[:60], "description": XSS}).status_code == 303
    assert post_form(client, f"{page}/prizes", {"prizes-0-name": XSS[:40]}, page=page).status_code == 303
    data = form_values(client, "/admin/rules/packets/new")
    data.update({"title": XSS[:60], "points": "20", "starts_at": "2020-01-01T00:00", "ends_at": "2099-01-01T00:00"})
    assert client.post("/admin/rules/packets/new", data=data).status_code == 303
    console = client.get(page).get_data(as_text=True) + client.get("/admin/rules/packets").get_data(as_text=True)
    member = make_member()
    login_as(client, member)
    pages = [client.get(url).get_data(as_text=True) for url in
             (f"/draw/{draw_id}", f"/draw/{draw_id}/odds", "/draws", "/tasks")]
    for body in pages + [console]:
        assert "<script>alert(1)" not in body and "<img src=x" not in body
    assert all("&lt;script&gt;alert(1)" in body for body in pages)


def test_a_changed_field_refreshes_only_the_preview_through_htmx(app, client, operator):
    data = {**form_values(client, "/admin/rules/settings/double"), "days": "2026-12-12", "factor": "3",
            "action": "preview"}
    response = client.post("/admin/rules/settings/double", data=data, headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and body.count('id="rules-preview"') == 1
    assert "2026-12-12" in body and "×3" in body and "预览，尚未保存" in body
    bad = client.post("/admin/rules/settings/double", data={**data, "factor": "0"}, headers={"HX-Request": "true"})
    assert bad.status_code == 200 and "有填写错误，预览显示当前生效的规则" in bad.get_data(as_text=True)
    assert _settings_rows(app) == {} and _audits(app) == []
