"""Operator console, audit log page (issue 9, item 7): search by operator, action, object and
Shanghai date range, paginated; before/after side by side; any other detail shape still renders."""
import re
from datetime import datetime, timezone

import pytest

from app.extensions import db
from app.models import AuditLog
from app.services import audit
from app.services.tx import write_transaction
from tests.conftest import login_as
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)


@pytest.fixture()
def operator(client, make_account):
    client.user_id = make_account("operator")
    login_as(client, client.user_id)
    return client


def _log(app, rows):
    """Write audit rows: (actor_id, action, target, detail, created_at UTC)."""
    with app.app_context():
        with write_transaction() as session:
            for actor_id, action, target, detail, when in rows:
                session.add(AuditLog(actor_id=actor_id, action=action, target=target, detail=detail,
                                     created_at=when))
        db.session.remove()


def _shown(client, **query):
    """The (action, target) pairs the log page lists for these filters, newest first."""
    html = client.get("/admin/audit", query_string=query).get_data(as_text=True)
    body = html[html.index('class="console-table audit-table"'):] if "audit-table" in html else ""
    return re.findall(r'<td>[^<]*(?:<br>)?<code[^>]*>([^<]+)</code></td>\s*<td>(?:<a [^>]*>)?<code>([^<]+)</code>', body)


def _utc(*parts):
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.fixture()
def log(app, operator, make_account):
    other = make_account("operator")
    _log(app, [
        (operator.user_id, "merchant.create", "merchant:1", {"before": {}, "after": {"name": "面馆"}}, _utc(2026, 11, 1, 2)),
        (other, "merchant.update", "merchant:1", {"before": {"name": "面馆"}, "after": {"name": "老街面馆"}},
         _utc(2026, 11, 2, 15, 30)),  # 2026-11-02 23:30 in Shanghai
        (other, "user.disable", "user:7", {"before": {"is_disabled": False}, "after": {"is_disabled": True}},
         _utc(2026, 11, 2, 16, 30)),  # 2026-11-03 00:30 in Shanghai
        (operator.user_id, "user.adjust_points", "user:8",
         {"before": {"points_balance": 10}, "after": {"points_balance": 60}, "delta": 50, "reason": "补偿"},
         _utc(2026, 11, 5, 4)),
    ])
    return {"me": operator.user_id, "other": other}


def test_the_log_lists_everything_newest_first(operator, log):
    assert _shown(operator) == [("user.adjust_points", "user:8"), ("user.disable", "user:7"),
                                ("merchant.update", "merchant:1"), ("merchant.create", "merchant:1")]


def test_filter_by_operator(operator, log):
    assert _shown(operator, actor=log["other"]) == [("user.disable", "user:7"), ("merchant.update", "merchant:1")]


def test_filter_by_action_or_by_every_action_on_a_kind_of_object(operator, log):
    assert _shown(operator, action="user.disable") == [("user.disable", "user:7")]
    assert _shown(operator, action="merchant.") == [("merchant.update", "merchant:1"), ("merchant.create", "merchant:1")]
    html = operator.get("/admin/audit").get_data(as_text=True)
    assert '<option value="merchant.">商户：全部操作</option>' in html and '<option value="user.disable">' in html


def test_filter_by_object_or_kind_of_object(operator, log):
    assert _shown(operator, target="user:8") == [("user.adjust_points", "user:8")]
    assert _shown(operator, target="user") == [("user.adjust_points", "user:8"), ("user.disable", "user:7")]
    assert _shown(operator, target="user:%") == []


def test_filter_by_shanghai_dates_both_included(operator, log):
    assert _shown(operator, **{"from": "2026-11-02", "to": "2026-11-02"}) == [("merchant.update", "merchant:1")]
    assert _shown(operator, **{"from": "2026-11-03"}) == [("user.adjust_points", "user:8"), ("user.disable", "user:7")]
    assert _shown(operator, to="2026-11-01") == [("merchant.create", "merchant:1")]
    assert _shown(operator, actor=log["me"], **{"from": "2026-11-02"}) == [("user.adjust_points", "user:8")]


@pytest.mark.parametrize("query, field, message", [
    ({"from": "2026-02-30"}, "from", "请输入正确的日期，如 2026-11-23"),
    ({"to": "yesterday"}, "to", "请输入正确的日期，如 2026-11-23"),
    ({"from": "2026-11-05", "to": "2026-11-01"}, "to", "结束日期不能早于开始日期"),
    ({"actor": "-1"}, "actor", "请选择操作人"),
])
def test_bad_filters_get_a_message_at_the_field_and_no_500(operator, log, query, field, message):
    response = operator.get("/admin/audit", query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(rf'name="{field}".*?<span class="field-error" role="alert">{re.escape(message)}</span>', html, re.S)


def test_each_action_is_named_in_the_readers_language_with_its_code_beside_it(operator, log):
    html = operator.get("/admin/audit", query_string={"target": "user:8"}).get_data(as_text=True)
    assert re.search(r'<td>调整积分<br><code class="muted small">user.adjust_points</code></td>', html)
    english = operator.get("/admin/audit", query_string={"target": "user:8"},
                           headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<td>Points adjusted<br>" in english
    # The filter names each action, and each kind of object's actions together.
    assert '<option value="user.adjust_points">调整积分</option>' in html
    assert '<option value="merchant.">商户：全部操作</option>' in html


def test_every_action_the_code_writes_has_a_name():
    """An action recorded anywhere in app/ is named on the log page (a new one needs its label)."""
    from pathlib import Path

    from app.services.audit import ACTIONS

    app_dir = Path(__file__).resolve().parents[2] / "app"
    source = "\n".join(path.read_text(encoding="utf-8") for path in app_dir.rglob("*.py"))
    written = set(re.findall(r'audit\.record\([^,]+, "([a-z_]+\.[a-z_]+)"', source))
    written |= set(re.findall(r'\baction="([a-z_]+\.[a-z_]+)"', source))  # order_admin's reversals
    written |= {f"aftersale.{verb}" for verb in re.findall(r'_audit\(actor_id, "([a-z_]+)"', source)}
    written |= {"user.enable"}  # written as "user.disable" if ... else "user.enable"
    assert len(written) > 30
    assert sorted(written - set(ACTIONS)) == []


def test_before_and_after_are_shown_side_by_side_and_other_keys_as_a_small_table(operator, log):
    html = operator.get("/admin/audit", query_string={"target": "user:8"}).get_data(as_text=True)
    assert re.search(r'<th scope="row">积分余额</th><td class="diff-before">10</td>'
                     r'<td class="diff-after">60</td>', html)
    assert re.search(r'<th scope="row">原因</th><td>补偿</td>', html)
    assert re.search(r'<th scope="row">调整数量</th><td>50</td>', html)
    english = operator.get("/admin/audit", query_string={"target": "user:8"},
                           headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<th scope="row">Points balance</th>' in english


def test_detail_keys_without_a_name_show_as_written_and_amounts_in_fen_as_yuan(operator, app):
    _log(app, [(operator.user_id, "consumption.award", "consumption_award:1",
                {"amount_fen": 16805, "points": 168, "new_key": 1, "before": {"cash_fen": 0}, "after": {"cash_fen": 990}},
                _utc(2026, 11, 9))])
    html = operator.get("/admin/audit").get_data(as_text=True)
    assert re.search(r'<th scope="row">金额</th><td>¥168.05</td>', html)
    assert re.search(r'<th scope="row">现金</th><td class="diff-before">¥0.00</td><td class="diff-after">¥9.90</td>', html)
    assert re.search(r'<th scope="row"><code>new_key</code></th><td>1</td>', html)


ODD = [
    None,
    {},
    ["a", 1, None],
    "plain text <b>bold</b>",
    42,
    {"before": "a string", "after": ["a", "list"]},
    {"after": {"only": "after"}},
    {"before": {"gone": {"nested": [1, 2]}}, "after": None},
    {"order_id": 7, "items": [{"sku": "x"}], "note": "<script>alert(1)</script>"},
]


@pytest.mark.parametrize("detail", ODD, ids=[f"detail{i}" for i in range(len(ODD))])
def test_entries_with_other_detail_shapes_still_render(operator, app, detail):
    _log(app, [(None, "order.ship", "order:7", detail, _utc(2026, 11, 9)),
               (operator.user_id, "odd", None, detail, _utc(2026, 11, 9))])
    response = operator.get("/admin/audit")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "order.ship" in html and "<script>alert" not in html and "<b>bold</b>" not in html
    assert "系统" in html  # no operator: written by the mall itself


def test_the_layout_of_odd_details():
    assert audit.shown(None) == audit.Shown([], [])
    assert audit.shown([1, "a"]).extra == [("", '[1, "a"]')]
    assert audit.shown({"before": "x", "after": ["y"]}).changes == [("", "x", '["y"]')]
    assert audit.shown({"after": {"k": True}}).changes == [("k", "", "true")]
    assert audit.shown({"before": {"k": None}, "after": {"k": 1}, "why": {"a": 1}}) == audit.Shown(
        [("k", "—", "1")], [("why", '{"a": 1}')])


def test_the_log_is_paginated_and_the_pager_keeps_the_filters(operator, app):
    _log(app, [(operator.user_id, "merchant.update", f"merchant:{i}", {"before": {}, "after": {"i": i}},
                _utc(2026, 11, 10, 0, i)) for i in range(25)])
    first = operator.get("/admin/audit?action=merchant.update").get_data(as_text=True)
    assert "第 1 / 2 页，共 25 条" in first and "action=merchant.update&amp;page=2" in first
    assert len(_shown(operator, action="merchant.update", page=2)) == 5


def test_an_operator_action_in_the_console_appears_in_the_log(operator, app, make_member):
    member = make_member()
    operator.submit(f"/admin/members/{member}/adjust", {"delta": "5", "reason": "测试"}, page=f"/admin/members/{member}")
    assert _shown(operator, target=f"user:{member}") == [("user.adjust_points", f"user:{member}")]


def test_every_detail_keyword_the_code_writes_has_a_name():
    """A keyword passed to audit.record() anywhere in app/ is named on the log page (a new one needs its label)."""
    import ast
    from pathlib import Path

    from app.services.audit import FIELDS

    written = set()
    for path in (Path(__file__).resolve().parents[2] / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "audit"):
                written |= {k.arg for k in node.keywords if k.arg not in (None, "target", "before", "after")}
    assert len(written) > 15
    assert sorted(written - set(FIELDS)) == []


def test_accounts_and_merchants_are_named_beside_their_ids(operator, app, make_member, make_account, make_merchant):
    member = make_member(nickname="小李")
    merchant = make_merchant("老街面馆")
    staff = make_account("staff", merchant_id=merchant, nickname="面馆收银")
    _log(app, [(staff, "consumption.award", f"user:{member}",
                {"member_id": member, "merchant_id": merchant, "before": {"merchant_id": merchant},
                 "after": {"merchant_id": 999999}, "user_id": 10**20, "points": member},
                _utc(2026, 11, 9))])
    html = operator.get("/admin/audit").get_data(as_text=True)
    assert f'<code>user:{member}</code></a><br><span class="muted small">小李</span>' in html  # the object
    assert re.search(rf'<th scope="row">会员</th><td>小李 #{member}</td>', html)
    assert re.search(rf'<th scope="row">商户</th><td>老街面馆 #{merchant}</td>', html)
    assert re.search(rf'<td class="diff-before">老街面馆 #{merchant}</td><td class="diff-after">999999</td>', html)
    assert re.search(rf'<th scope="row">积分</th><td>{member}</td>', html)  # not an id: a number stays one
    assert f"<td>{10**20}</td>" in html  # no such id: shown as written, and no query was sent with it
