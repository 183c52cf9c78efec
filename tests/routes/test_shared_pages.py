"""The shelf (/products) is rendered once per language and member level and shared whole; each
visitor's own spots - the CSRF token, the balance, the unread badge - are filled in per request.
One member must never see another's, and a change to the shelf shows at once."""
import re

from sqlalchemy import update

from app.extensions import db
from app.models import DrawPlay, Product
from app.routes import shop as shop_routes
from app.services import messages
from app.services.tx import write_transaction
from tests.conftest import balance_now, count_rows, login_as
from tests.shop_factories import make_product  # noqa: F401  (fixture)

TOKEN_RE = re.compile(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'')


def _notify(app, user_id, n):
    with app.app_context():
        with write_transaction():
            for i in range(n):
                messages.notify(user_id, "order.shipped", {"order_id": i + 1, "name": f"包裹{i}", "carrier": "顺丰速运",
                                                           "no": f"SF{i}"})
        db.session.remove()


def _renders(monkeypatch, routes=shop_routes):
    """The templates the routes module renders whole from now on (a shared page: once)."""
    calls = []
    real = routes.render_page

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(routes, "render_page", counting)
    return calls


def _visits(app, members, path):
    """Each member, logged in on a client of their own, opens `path`: ({member: client}, {member: html})."""
    clients, pages = {}, {}
    for member in members:
        clients[member] = client = app.test_client()
        login_as(client, member)
        pages[member] = client.get(path).get_data(as_text=True)
    return clients, pages


def test_each_member_sees_their_own_balance_badge_and_token_on_the_shared_shelf(app, make_member, make_product,
                                                                                 monkeypatch):
    make_product(name="共享货架上的耳机")
    rich, poor = make_member(points=4321), make_member(points=17)
    _notify(app, rich, 3)
    renders = _renders(monkeypatch)
    pages, balances = {}, {member: balance_now(app, member) for member in (rich, poor)}
    for member in (rich, poor):
        client = app.test_client()
        login_as(client, member)
        html = client.get("/products").get_data(as_text=True)
        token = TOKEN_RE.search(html).group(1)
        checkin = client.post("/checkin", headers={"HX-Request": "true", "X-CSRFToken": token},
                              data={"request_key": "a" * 32})
        assert checkin.status_code == 200  # the token filled in is this visitor's own
        pages[member] = html
    assert renders == ["shop/products.html"]  # rendered once, shared by both members of the level
    assert f'<span id="points-balance">{balances[rich]}</span>' in pages[rich]
    assert f'<span id="points-balance">{balances[poor]}</span>' in pages[poor]
    assert 'aria-label="3条未读消息">3</b>' in pages[rich] and 'id="unread-badge"' not in pages[poor]
    assert "共享货架上的耳机" in pages[poor] and "<!--slot:" not in pages[rich] + pages[poor]
    assert TOKEN_RE.search(pages[rich]).group(1) != TOKEN_RE.search(pages[poor]).group(1)


def test_visitors_and_members_get_their_own_kind_of_page(app, client, make_member, make_product):
    make_product(name="访客也能看的纸巾")
    anonymous = client.get("/products").get_data(as_text=True)
    assert "login-link" in anonymous and 'id="points-balance"' not in anonymous
    member = app.test_client()
    member_id = make_member(points=99)
    login_as(member, member_id)
    html = member.get("/products").get_data(as_text=True)
    assert f'<span id="points-balance">{balance_now(app, member_id)}</span>' in html and "login-link" not in html
    assert "访客也能看的纸巾" in html


def test_a_change_to_the_shelf_shows_at_once(app, member_client, make_product):
    product = make_product(name="旧名字")
    assert "旧名字" in member_client.get("/products").get_data(as_text=True)
    with app.app_context():
        with write_transaction() as session:
            session.execute(update(Product).where(Product.id == product).values(name="新名字"))
        db.session.remove()
    html = member_client.get("/products").get_data(as_text=True)
    assert "新名字" in html and "旧名字" not in html


def test_a_flashed_message_and_odd_arguments_get_a_page_of_their_own(app, member_client, make_product,
                                                                     monkeypatch):
    make_product(name="货架商品")
    member_client.get("/products")  # the shared page exists
    renders = _renders(monkeypatch)
    with member_client.session_transaction() as session:
        session["_flashes"] = [("success", "只给这一位看的消息")]
    flashed = member_client.get("/products").get_data(as_text=True)
    assert "只给这一位看的消息" in flashed
    assert "只给这一位看的消息" not in member_client.get("/products").get_data(as_text=True)
    member_client.get("/products?utm_source=wechat")  # an argument the shelf does not read: not shared
    assert renders == ["shop/products.html", "shop/products.html"]


def test_a_page_carrying_a_token_of_its_own_is_never_shared(app):
    from flask import make_response
    from flask_wtf.csrf import generate_csrf

    from app.routes.web import shared_page

    renders, answers = [], []

    def render():  # a form that printed its CSRF token itself, not through member_slot
        renders.append(1)
        return make_response(f'<input name="csrf_token" value="{generate_csrf()}">'), None

    for _ in range(2):
        with app.test_request_context("/products"):
            answers.append((shared_page("t-token", ("products",), render).get_data(as_text=True), generate_csrf()))
    assert len(renders) == 2  # rendered for each visitor
    assert all(token in html for html, token in answers)


def test_the_product_page_is_shared_but_its_redeem_panel_is_each_members_own(app, make_member, make_product,
                                                                           monkeypatch):
    import uuid

    from app.services import addresses, shop

    product = make_product(name="限购耳机", limit_day=3, limit_total=5, points_price=10,
                           description_html="<p>降噪，续航 30 小时</p>")
    buyer, browser = make_member(points=1000), make_member(points=1000)
    with app.app_context():
        address_id = addresses.add_address(buyer, name="王小明", phone="13700009999", region="上海市 黄浦区",
                                           detail="南京东路 1 号").id
        shop.redeem_product(buyer, product, 2, uuid.uuid4().hex, address_id=address_id)
        db.session.remove()
    renders = _renders(monkeypatch)
    clients, pages = _visits(app, (buyer, browser), f"/products/{product}")
    for html in pages.values():
        assert "降噪，续航 30 小时" in html and 'data-testid="redeem-panel"' in html and "<!--slot:" not in html
    assert renders == ["shop/product.html"]  # the page once; each redeem panel for its member
    answers = {}
    for member, html in pages.items():
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html).group(1)
        form = {"csrf_token": token, "request_key": key, "quantity": "1", "confirmed": "1"}
        if member == buyer:
            form["address_id"] = str(address_id)
        answers[member] = clients[member].post(f"/products/{product}/redeem", data=form)
    buyer_page, bought = pages[buyer], answers[buyer]
    browser_page, refused = pages[browser], answers[browser]
    assert "今日已兑 2 件" in buyer_page and "王小明" in buyer_page
    assert "今日已兑 0 件" in browser_page and "王小明" not in browser_page
    assert bought.status_code == 303  # the panel's token and key are the buyer's own
    assert refused.status_code == 422 and "收货地址" in refused.get_data(as_text=True)  # no address of their own


def test_home_is_shared_but_the_balance_countdowns_and_newbie_gift_are_each_members_own(app, make_member,
                                                                                      make_product, monkeypatch):
    import uuid
    from datetime import timedelta

    from app.routes import main as main_routes
    from app.routes import web as web_routes
    from app.services import draws
    from app.services.clock import utcnow
    from tests.games_factories import make_draw

    make_draw(app, name="新人专享", purpose="newbie")
    make_product(name="两小时后结束的坚果", sale_starts_at=utcnow() - timedelta(hours=1),
                 sale_ends_at=utcnow() + timedelta(hours=2))
    newcomer, spender = make_member(points=300), make_member(points=300)
    with app.app_context():
        draws.play_draw(spender, make_draw(app, name="普通转盘"), uuid.uuid4().hex)  # has spent points
        db.session.remove()
    renders, real = [], main_routes.render_page

    def counting(*args, **kwargs):
        renders.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(main_routes, "render_page", counting)
    pages, balances = {}, {member: balance_now(app, member) for member in (newcomer, spender)}
    later = utcnow()
    for member in (newcomer, spender):
        later += timedelta(minutes=30)  # each visit half an hour after the last
        monkeypatch.setattr(main_routes, "utcnow", lambda at=later: at)
        monkeypatch.setattr(web_routes, "utcnow", lambda at=later: at)  # where countdowns are counted
        client = app.test_client()
        login_as(client, member)
        pages[member] = client.get("/").get_data(as_text=True)
    assert renders == ["main/home.html"]  # one rendering for both members of the level
    for member, html in pages.items():
        assert f'data-testid="home-balance">{balances[member]}</b>' in html and "<!--slot:" not in html
        assert "两小时后结束的坚果" in html
    assert 'data-testid="newbie-card"' in pages[newcomer] and 'data-testid="newbie-card"' not in pages[spender]
    left = {m: int(re.search(r'data-left="(\d+)"', html).group(1)) for m, html in pages.items()}
    assert 1700 <= left[newcomer] - left[spender] <= 1900  # each countdown as of its own visit


def test_the_check_in_page_is_shared_but_its_panel_is_each_members_own(app, make_member, monkeypatch):
    from datetime import timedelta

    from app.routes import engage
    from app.services import checkin
    from app.services.clock import shanghai_today

    renders = _renders(monkeypatch, engage)
    regular, newcomer = make_member(points=10), make_member(points=10)
    today = shanghai_today()
    with app.app_context():
        checkin.check_in(regular, today=today - timedelta(days=1))
        db.session.remove()
    clients, pages = _visits(app, (regular, newcomer), "/checkin")
    assert renders == ["engage/checkin.html"]  # the page once; each panel for its member
    streak = re.compile(r'data-testid="streak">(\d+)<')
    assert streak.search(pages[regular]).group(1) == "1" and streak.search(pages[newcomer]).group(1) == "0"
    assert all("签到规则" in html and "<!--slot:" not in html for html in pages.values())
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    older = clients[regular].get(f"/checkin?month={last_month}").get_data(as_text=True)
    assert f'data-day="{last_month}-01"' in older and renders == ["engage/checkin.html"]  # another month, same page
    keys = set()
    for member, html in pages.items():
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        key = re.search(r'name="request_key" value="([0-9a-f]{32})"', html).group(1)
        keys.add(key)
        answer = clients[member].post("/checkin", data={"csrf_token": token, "request_key": key})
        assert answer.status_code == 303  # the panel's token and key are this member's own
    again = clients[regular].get("/checkin").get_data(as_text=True)
    assert streak.search(again).group(1) == "2" and 'data-testid="checkin-done"' in again
    assert len(keys) == 2  # every visitor gets a fresh request key


def test_home_is_built_again_when_a_flash_sale_in_its_strip_opens(app, member_client, make_product, monkeypatch):
    from datetime import timedelta

    from app.routes import main as main_routes
    from app.routes import web as web_routes
    from app.services import cache as cache_module
    from app.services import catalog
    from app.services.clock import utcnow

    opens = utcnow() + timedelta(hours=1)
    make_product(name="一小时后开抢的坚果", sale_starts_at=opens, sale_ends_at=opens + timedelta(hours=2))
    for n in range(6):  # the hot cards are others: only the 限时兑 strip knows when the sale opens
        make_product(name=f"热门{n}", is_hot=True)

    def visit(at):
        for module in (main_routes, web_routes, cache_module, catalog):
            monkeypatch.setattr(module, "utcnow", lambda: at)
        return member_client.get("/").get_data(as_text=True)

    visit(opens - timedelta(seconds=30))  # the shared home is built while the sale is upcoming
    before = visit(opens - timedelta(seconds=10))  # (its leaderboard holds for a minute)
    assert "距开抢" in before and 'data-left="10"' in before
    after = visit(opens + timedelta(seconds=5))
    assert "距结束" in after and "距开抢" not in after and 'data-left="7195"' in after


def test_cached_values_belong_to_one_release(app, tmp_path, monkeypatch):
    from app.services import cache as cache_module

    (tmp_path / "templates").mkdir()
    (tmp_path / "static").mkdir()
    (tmp_path / "templates" / "page.html").write_text("<!--slot:flash-->")
    (tmp_path / "views.py").write_text("x = 1")
    first = cache_module.code_version(str(tmp_path))
    (tmp_path / "static" / "photo.jpg").write_bytes(b"...")  # uploads and assets are not the code
    cache_module.code_version.cache_clear()
    assert cache_module.code_version(str(tmp_path)) == first
    (tmp_path / "templates" / "page.html").write_text("<!--slot:panel-->")
    cache_module.code_version.cache_clear()
    assert cache_module.code_version(str(tmp_path)) != first

    built = []
    with app.app_context():
        assert cache_module.shared("t-release", ("products",), lambda: built.append(1) or "old page") == "old page"
        cache_module.forget_near()  # a new release's workers start without this process's copies
        monkeypatch.setattr(cache_module, "code_version", lambda root: "another-release")
        assert cache_module.shared("t-release", ("products",), lambda: built.append(2) or "new page") == "new page"
    assert built == [1, 2]


def test_a_new_address_and_an_opening_sale_show_on_the_shared_product_page(app, make_member, make_product,
                                                                           monkeypatch):
    from datetime import timedelta

    from app.routes import shop as shop_module
    from app.routes import web as web_routes
    from app.services import addresses
    from app.services import cache as cache_module
    from app.services import catalog
    from app.services.clock import utcnow

    opens = utcnow() + timedelta(hours=1)
    product = make_product(name="整点开抢的台灯", sale_starts_at=opens, sale_ends_at=opens + timedelta(hours=1))
    member = make_member(points=1000)
    client = app.test_client()
    login_as(client, member)

    def visit(at):
        for module in (shop_module, web_routes, cache_module, catalog):
            monkeypatch.setattr(module, "utcnow", lambda: at)
        return client.get(f"/products/{product}").get_data(as_text=True)

    first = visit(opens - timedelta(minutes=2))
    assert "距开抢" in first and "即将开抢" in first and "王小明" not in first
    with app.app_context():
        addresses.add_address(member, name="王小明", phone="13700009999", region="上海市 黄浦区", detail="南京东路 1 号")
        db.session.remove()
    second = visit(opens - timedelta(minutes=1))
    assert "王小明" not in second  # no form before the sale opens
    opened = visit(opens + timedelta(seconds=5))
    assert "距结束" in opened and 'data-testid="redeem-submit"' in opened and "王小明" in opened
    assert 'data-left="3595"' in opened


def test_me_is_shared_but_its_head_expiry_and_logout_token_are_each_members_own(app, make_member, monkeypatch):
    from app.routes import me as me_routes

    renders = _renders(monkeypatch, me_routes)
    named, plain = make_member(points=321, nickname="阿花"), make_member(points=0)
    clients, pages = _visits(app, (named, plain), "/me")
    assert renders == ["me/index.html"]  # the page once; each head for its member
    assert '<p class="me-name">阿花</p>' in pages[named] and "阿花" not in pages[plain]
    for member, html in pages.items():
        assert f'data-testid="me-balance">{balance_now(app, member)}</strong>' in html and 'data-testid="expiry"' in html
    assert balance_now(app, named) != balance_now(app, plain)
    assert '<div class="avatar" aria-hidden="true"><svg' in pages[plain]  # no nickname: the icon
    token = re.search(r'action="/logout" class="logout">\s*<input type="hidden" name="csrf_token" value="([^"]+)"',
                      pages[plain]).group(1)
    assert clients[plain].post("/logout", data={"csrf_token": token}).status_code in (302, 303)
    assert clients[plain].get("/me").status_code in (302, 303)  # logged out by the token the page carried


def test_a_draw_page_is_shared_but_its_button_and_panel_are_each_members_own(app, make_member, monkeypatch):
    import uuid

    from app.routes import games as games_routes
    from app.services import draws
    from tests.games_factories import make_draw

    draw = make_draw(app, name="每日一抽", cost=10, daily_limit=1)
    played, fresh = make_member(points=100), make_member(points=100)
    with app.app_context():
        draws.play_draw(played, draw, uuid.uuid4().hex)
        db.session.remove()
    renders = _renders(monkeypatch, games_routes)
    clients, pages = _visits(app, (played, fresh), f"/draw/{draw}")
    assert renders == ["games/draw.html"]  # the page once; each button and panel for its member
    assert all("每日一抽" in html and "<!--slot:" not in html for html in pages.values())
    assert "今日剩余 0 次" in pages[played] and ">明天<small>再来</small>" in pages[played]
    assert "今日剩余 1 次" in pages[fresh] and 'type="submit" form="draw-form"' in pages[fresh]
    html = pages[fresh]
    token = re.search(r'id="draw-form".*?name="csrf_token" value="([^"]+)"', html, re.S).group(1)
    key = re.search(r'name="request_key" value="([0-9a-f]{32})"', html).group(1)
    answer = clients[fresh].post(f"/draw/{draw}/play", data={"csrf_token": token, "request_key": key, "confirmed": "1"})
    assert answer.status_code == 303  # the panel's token and key are this member's own
    assert count_rows(app, DrawPlay, user_id=fresh) == 1


def test_a_refused_redemption_answers_with_the_shared_product_page_and_its_own_message(app, make_member,
                                                                                      make_product, monkeypatch):
    product = make_product(name="只剩一件的台灯", stock=1, kind="virtual", points_price=10)
    member = make_member(points=100)
    before = balance_now(app, member)
    renders = _renders(monkeypatch)
    clients, pages = _visits(app, (member,), f"/products/{product}")
    html = pages[member]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html).group(1)
    refused = clients[member].post(f"/products/{product}/redeem", data={"csrf_token": token, "request_key": key,
                                                                     "quantity": "2", "confirmed": "1"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "只剩一件的台灯" in page and "<!--slot:" not in page
    assert 'id="quantity-error" role="alert">库存不足，仅剩 1 件<' in page  # next to the field it is about
    assert f'name="request_key" value="{key}"' in page  # the same key: sending again is still one redemption
    assert renders == ["shop/product.html"]  # the answer is the page the GET built, with this member's form
    assert balance_now(app, member) == before


def _form_of(html):
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html).group(1)
    return {"csrf_token": token, "request_key": key}


def _counting(monkeypatch, module, name):
    """Count the calls of module.name from now on (a kept part's context: once per build)."""
    calls, real = [], getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, counting)
    return calls


def test_a_members_redeem_panel_is_kept_for_them_until_their_orders_change(app, make_member, make_product,
                                                                          monkeypatch):
    """The panel is rendered once and kept while nothing it shows changes; every view still gets a
    fresh request key, so the kept form redeems; the member's own order, its cancellation, and
    midnight (a daily limit starts again) each show at once."""
    from datetime import timedelta

    from app.routes import web as web_routes
    from app.services import cache as cache_module
    from app.services import catalog
    from app.services import shop as shop_service
    from app.services.clock import day_bounds_utc, shanghai_today, utcnow

    product = make_product(name="每日限一件的咖啡豆", kind="coupon", limit_day=1, points_price=10)
    member = make_member(points=1000)
    client = app.test_client()
    login_as(client, member)
    built = _counting(monkeypatch, shop_routes, "_panel_context")

    def visit(at=None):
        if at is not None:
            for module in (shop_routes, web_routes, cache_module, catalog, shop_service):
                monkeypatch.setattr(module, "utcnow", lambda: at)
        return client.get(f"/products/{product}").get_data(as_text=True)

    first, second = visit(), visit()
    assert len(built) == 1  # kept: the second view rendered no panel
    assert 'data-testid="redeem-submit"' in second and "今日已兑 0 件" in second and "<!--slot:" not in second
    assert _form_of(first)["request_key"] != _form_of(second)["request_key"]
    answer = client.post(f"/products/{product}/redeem", data={**_form_of(second), "quantity": "1"})
    assert answer.status_code == 303  # the kept form's token and fresh key
    visit()  # the answer's message
    bought = visit()
    assert 'data-testid="redeem-blocked"' in bought and "今日已达兑换上限" in bought and "今日已兑 1 件" in bought

    with app.app_context():  # the order changes with nothing else written (no stock, no balance)
        with write_transaction() as session:
            session.execute(db.select(shop_service.Order).where(shop_service.Order.user_id == member)
                            ).scalar_one().status = "cancelled"
        db.session.remove()
    cancelled = visit()
    assert 'data-testid="redeem-submit"' in cancelled and "今日已兑 0 件" in cancelled

    answer = client.post(f"/products/{product}/redeem", data={**_form_of(cancelled), "quantity": "1"})
    assert answer.status_code == 303 and "兑换成功" in visit()  # the answer's message, on a page of its own
    built.clear()
    assert "今日已达兑换上限" in visit() and "今日已达兑换上限" in visit() and len(built) == 1
    tomorrow = day_bounds_utc(shanghai_today(utcnow()))[1] + timedelta(seconds=5)
    assert 'data-testid="redeem-submit"' in visit(tomorrow) and "今日已兑 0 件" in visit(tomorrow)
    assert len(built) == 2  # the day's limit starts again: built once more, then kept


def test_a_members_check_in_panel_is_kept_for_them_until_they_check_in_or_the_day_ends(app, make_member,
                                                                                       monkeypatch):
    from datetime import timedelta

    from app.routes import engage
    from app.services import cache as cache_module
    from app.services import checkin
    from app.services import clock
    from app.services.clock import day_bounds_utc, shanghai_today, utcnow

    member = make_member(points=10)
    client = app.test_client()
    login_as(client, member)
    built = _counting(monkeypatch, engage, "_checkin_panel")
    streak = re.compile(r'data-testid="streak">(\d+)<')

    first, second = client.get("/checkin").get_data(as_text=True), client.get("/checkin").get_data(as_text=True)
    assert len(built) == 1 and 'data-testid="checkin-button"' in second
    assert _form_of(first)["request_key"] != _form_of(second)["request_key"]
    assert client.post("/checkin", data=_form_of(second)).status_code == 303
    assert "签到成功" in client.get("/checkin").get_data(as_text=True)  # the answer's message, on a page of its own
    built.clear()
    done, again = client.get("/checkin").get_data(as_text=True), client.get("/checkin").get_data(as_text=True)
    assert 'data-testid="checkin-done"' in again and streak.search(again).group(1) == "1" and len(built) == 1

    tomorrow = day_bounds_utc(shanghai_today(utcnow()))[1] + timedelta(seconds=5)
    for module in (clock, cache_module, checkin):
        monkeypatch.setattr(module, "utcnow", lambda: tomorrow)
    next_day = client.get("/checkin").get_data(as_text=True)
    assert 'data-testid="checkin-button"' in next_day and streak.search(next_day).group(1) == "1" and len(built) == 2


def test_a_members_head_and_expiry_on_me_are_kept_until_their_points_change_or_near_expiry(app, make_member,
                                                                                          monkeypatch):
    """/me's head and expiry are kept for the member: their points earned or spent show at once, and
    points crossing into the 30-day warning show the moment they do, with no write at all."""
    import uuid
    from datetime import timedelta

    from app.routes import me as me_routes
    from app.routes import web as web_routes
    from app.services import cache as cache_module
    from app.models import PointLot
    from app.services import ledger
    from app.services.clock import to_shanghai, utcnow
    from app.services.tx import write_transaction

    member = make_member(points=0)
    start = utcnow()
    with app.app_context():
        with write_transaction():
            ledger.earn(member, 80, "adjust", key=uuid.uuid4().hex, growth=False, expires_at=start + timedelta(days=40))
        db.session.remove()
    client = app.test_client()
    login_as(client, member)
    built = _counting(monkeypatch, me_routes, "_own_parts")

    def visit(at=None):
        if at is not None:
            for module in (me_routes, web_routes, cache_module):
                monkeypatch.setattr(module, "utcnow", lambda: at)
        return client.get("/me").get_data(as_text=True)

    first, second = visit(), visit()
    balance = balance_now(app, member)
    assert len(built) == 1 and f'data-testid="me-balance">{balance}</strong>' in second
    assert "80 积分将于" in second and "30天内将过期" not in second
    with app.app_context():
        with write_transaction():
            ledger.spend(member, 30, "adjust", key=uuid.uuid4().hex)
        db.session.remove()
    spent = visit()
    assert f'data-testid="me-balance">{balance - 30}</strong>' in spent and "50 积分将于" in spent and len(built) == 2
    with app.app_context():  # the lots alone change (no balance moves): shown at once as well
        with write_transaction():
            lot = db.session.execute(db.select(PointLot).where(PointLot.user_id == member, PointLot.remaining == 50)
                                     ).scalar_one()
            lot.expires_at = start + timedelta(days=41)
        db.session.remove()
    moved = visit()
    assert f"50 积分将于 {to_shanghai(start + timedelta(days=41)):%Y-%m-%d}" in moved and len(built) == 3
    assert "30天内将过期" not in visit(start + timedelta(days=10, hours=23)) and len(built) == 3
    warned = visit(start + timedelta(days=11, seconds=1))  # the lot is now 30 days from expiring
    assert "30天内将过期 50 积分" in warned and len(built) == 4


def test_a_members_draw_panel_is_kept_until_they_play_or_the_day_ends(app, make_member, monkeypatch):
    from datetime import timedelta

    from app.routes import games as games_routes
    from app.routes import web as web_routes
    from app.services import cache as cache_module
    from app.services import clock
    from app.services.clock import day_bounds_utc, shanghai_today, utcnow
    from tests.games_factories import make_draw

    draw = make_draw(app, name="每日两抽", cost=10, daily_limit=2)
    member = make_member(points=100)
    client = app.test_client()
    login_as(client, member)
    built = _counting(monkeypatch, games_routes, "_draw_context")
    first, second = client.get(f"/draw/{draw}").get_data(as_text=True), client.get(f"/draw/{draw}").get_data(as_text=True)
    assert len(built) == 1 and "今日剩余 2 次" in second and "<!--slot:" not in second
    assert _form_of(first)["request_key"] != _form_of(second)["request_key"]
    answer = client.post(f"/draw/{draw}/play", data={**_form_of(second), "confirmed": "1"})
    assert answer.status_code == 303  # the kept form's token and fresh key
    assert "今日剩余 1 次" in client.get(f"/draw/{draw}").get_data(as_text=True)
    assert "今日剩余 1 次" in client.get(f"/draw/{draw}").get_data(as_text=True) and len(built) == 2
    tomorrow = day_bounds_utc(shanghai_today(utcnow()))[1] + timedelta(seconds=5)
    for module in (clock, cache_module, web_routes):
        monkeypatch.setattr(module, "utcnow", lambda: tomorrow)
    assert "今日剩余 2 次" in client.get(f"/draw/{draw}").get_data(as_text=True) and len(built) == 3
