"""The consoles get the member pages' care at their own viewports: every operator page at 1280x800
and every merchant page at 390x844, in the states an operator and the staff at the counter meet
(a paid order to ship, a return to decide, a looked-up voucher and member, forms refused), pass
axe-core with no serious or critical violation, have one <h1>, and every visible control is a
tap target of at least 44x44 px (the same rules as tests/browser/test_accessibility.py)."""
import pytest

from app.extensions import db
from app.services import shop
from tests.aftersale_factories import aftersale_row, delivered_order
from tests.browser.a11y import audit, findings
from tests.browser.conftest import PHONE, console_page
from tests.conftest import next_phone
from tests.games_factories import make_draw, make_item
from tests.shop_factories import make_address, make_merchant, make_product, new_key, no_newbie_bonus  # noqa: F401


@pytest.fixture()
def console_scene(app, make_member, make_account, make_merchant, make_product, make_address, no_newbie_bonus):
    """An operator and a store's staff; a member with a paid goods order waiting to ship, a delivered
    order with a return asked for, and an unused voucher of the store; a draw and a treasure item."""
    merchant = make_merchant("老街面馆")
    operator_phone, staff_phone, member_phone = next_phone(), next_phone(), next_phone()
    operator = make_account("operator", phone=operator_phone, nickname="运营小王")
    make_account("staff", phone=staff_phone, merchant_id=merchant, nickname="面馆收银")
    member = make_member(phone=member_phone, points=20000, nickname="小安")
    goods = make_product(name="保温杯", points_price=300, stock=20)
    voucher = make_product(name="招牌牛肉面券", kind="voucher", merchant_id=merchant, face_value_fen=3000,
                           valid_days=30, points_price=100)
    returned = delivered_order(app, member, goods, operator)
    aftersale = aftersale_row(app, member, returned)
    draw = make_draw(app)
    item, _round = make_item(app)
    with app.app_context():
        to_ship = shop.redeem_product(member, goods, 1, new_key(), address_id=make_address(member)).id
        code = shop.redeem_product(member, voucher, 1, new_key()).vouchers[0].code
        db.session.remove()
    return {"operator_phone": operator_phone, "staff_phone": staff_phone, "member": member,
            "member_phone": member_phone, "merchant": merchant, "goods": goods, "to_ship": to_ship,
            "aftersale": aftersale, "draw": draw, "item": item, "code": code}


def _operator_pages(s):
    settings = ["checkin", "tasks", "rewards", "levels", "double", "expiry"]
    return (["/admin/", "/admin/?range=30d", "/admin/liability", "/admin/products", f"/admin/products/{s['goods']}",
             "/admin/products/new", "/admin/products/import", "/admin/categories", "/admin/categories/new",
             "/admin/orders", f"/admin/orders/{s['to_ship']}", "/admin/orders/ship-import", "/admin/review",
             "/admin/aftersales", f"/admin/aftersales/{s['aftersale']}", "/admin/members",
             f"/admin/members?q={s['member_phone']}", f"/admin/members/{s['member']}", "/admin/merchants",
             f"/admin/merchants/{s['merchant']}", f"/admin/merchants/{s['merchant']}/edit", "/admin/merchants/new",
             f"/admin/merchants/{s['merchant']}/settlement", f"/admin/merchants/{s['merchant']}/settlement?end=x",
             "/admin/rules", "/admin/rules/draws", f"/admin/rules/draws/{s['draw']}", "/admin/rules/draws/new",
             "/admin/rules/treasure", f"/admin/rules/treasure/{s['item']}", "/admin/rules/treasure/new",
             "/admin/rules/packets", "/admin/rules/packets/new", "/admin/audit", "/admin/reconcile",
             "/admin/operators", "/me/password", "/admin/no-such-page"]
            + [f"/admin/rules/settings/{group}" for group in settings])


def _merchant_pages(s):
    return ["/merchant/", "/merchant/verify", f"/merchant/verify?code={s['code']}", "/merchant/verify?code=000000",
            "/merchant/award", f"/merchant/award?member={s['member_phone']}", "/merchant/settlement",
            "/me/password"]


def _refused_forms(page, forms):
    """Each form sent empty (or filled as given) and refused, then audited with its messages by the fields."""
    found = {}
    for path, form, fill in forms:
        page.goto(path)
        for selector, value in fill.items():
            page.fill(f"{form} {selector}", value)
        page.click(f"{form} [type=submit]")
        page.wait_for_selector(".field-error")
        problems = findings(page)
        if problems:
            found[f"{path} refused"] = problems
    return found


def test_operator_pages_pass_axe_and_have_large_tap_targets(app, browser, live_server, console_scene):
    context, page = console_page(browser, live_server, console_scene["operator_phone"])
    found = audit(page, _operator_pages(console_scene))
    found.update(_refused_forms(page, [("/admin/products/new", "main form[method=post]", {}),
                                       ("/admin/merchants/new", "main form[method=post]", {}),
                                       (f"/admin/members/{console_scene['member']}", "form[action$='/adjust']", {})]))
    context.close()
    assert found == {}, "\n".join(f"{path}: {items}" for path, items in found.items())


def test_merchant_pages_pass_axe_and_have_large_tap_targets(app, browser, live_server, console_scene):
    context, page = console_page(browser, live_server, console_scene["staff_phone"], "/merchant/", PHONE)
    found = audit(page, _merchant_pages(console_scene))
    found.update(_refused_forms(page, [(f"/merchant/award?member={console_scene['member_phone']}",
                                        "main form[method=post]", {"input[name=amount]": "-5"})]))
    context.close()
    assert found == {}, "\n".join(f"{path}: {items}" for path, items in found.items())


def test_a_refused_order_filter_keeps_its_message_clear_of_the_count_below(app, browser, live_server, console_scene):
    """The orders filter's error hangs below its field (the row stays aligned); the count line
    under the filters moves down for it rather than touching it."""
    context, page = console_page(browser, live_server, console_scene["operator_phone"])
    page.goto("/admin/orders?date_from=2026-02-30")
    message = page.locator(".order-filters .field-error").bounding_box()
    count = page.locator(".console-toolbar > p").bounding_box()
    context.close()
    assert message["y"] + message["height"] + 8 <= count["y"]


def test_the_member_pages_half_width_tables_never_wrap_a_heading_status_or_time(app, browser, live_server,
                                                                                console_scene, make_product):
    """In the member page's half-width cards a long product name wraps; a column heading, an
    order's status and a time stay on one line (they broke a character a line at 1280)."""
    long_name = make_product(name="老街面馆 招牌牛肉面双人套餐 含小菜两份", kind="voucher", points_price=100,
                             merchant_id=console_scene["merchant"], face_value_fen=6000, valid_days=30)
    with app.app_context():
        shop.redeem_product(console_scene["member"], long_name, 1, new_key())
        db.session.remove()
    context, page = console_page(browser, live_server, console_scene["operator_phone"])
    page.goto(f"/admin/members/{console_scene['member']}")
    broken = _wrapped(page, ".console-table.compact th, .console-table.compact td.nowrap")
    cells = page.locator(".console-table.compact td.nowrap").count()
    context.close()
    assert cells >= 4 and broken == []


def _wrapped(page, selector):
    """The text of every element matching `selector` that runs over more than one line."""
    return page.evaluate("""selector => [...document.querySelectorAll(selector)].filter(cell => {
        const range = document.createRange();
        range.selectNodeContents(cell);
        return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
    }).map(cell => cell.textContent.trim())""", selector)


def test_the_audit_logs_field_names_stay_on_one_line_in_english(app, browser, live_server, console_scene):
    """A field's name ("Points before the cap") broke over three lines in the detail's narrow first column."""
    from app.models import AuditLog
    from app.services.tx import write_transaction

    with app.app_context():
        with write_transaction() as session:
            session.add(AuditLog(action="consumption.award", target="consumption_award:1",
                                 detail={"before": {"points_balance": 10}, "after": {"points_balance": 178},
                                         "uncapped_points": 168, "entry_id": 3, "receipt_no": "A0001"}))
        db.session.remove()
    context, page = console_page(browser, live_server, console_scene["operator_phone"])
    page.goto("/admin/audit?lang=en")
    names = page.locator(".audit-table th[scope=row]").all_text_contents()
    broken = _wrapped(page, ".audit-table th[scope=row]")
    context.close()
    assert "Points before the cap" in names and broken == []
