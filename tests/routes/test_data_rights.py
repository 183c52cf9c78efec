"""Member data rights (issue 10 item 6): download everything as a ZIP of CSVs from /me, delete the
account for good — personal data gone from every table, the books intact and reconciled."""
import csv
import io
import zipfile
from datetime import date

import pytest
from sqlalchemy import String, Text, func, select, text
from sqlalchemy.types import JSON

from app.extensions import db
from app.models import AuditLog, Order, PointEntry, Referral, User, UserIdentity
from app.services import accounts, checkin, data_rights, draws, order_admin, shop
from app.services.tx import write_transaction
from tests.conftest import balance_of, login_as
from tests.games_factories import key, make_draw
from tests.shop_factories import make_address, make_product, new_key  # noqa: F401  (fixtures)

PHONE = "13912345678"
PASSWORD = "secret123"


@pytest.fixture()
def history(app, make_member, make_account, make_product, make_address):
    """A member with a past: points, a check-in, a draw, a physical order shipped and received to
    an address carrying the member's own phone, an invite from another member, an audit row."""
    inviter = make_member()
    with app.app_context():
        inviter_code = db.session.get(User, inviter).invite_code
        db.session.remove()
    with app.app_context():
        member = accounts.register_member(PHONE, PASSWORD, inviter_code=inviter_code, ip="10.9.8.7").id
        with write_transaction() as session:
            row = session.get(User, member)
            row.nickname, row.birthday, row.avatar_url = "小明同学", date(1990, 5, 6), "https://example.com/a.png"
        db.session.remove()
    with app.app_context():
        with write_transaction() as session:
            session.add(UserIdentity(user_id=member, provider="wechat", app_id="wx1", openid="o-PHONE-" + PHONE,
                                     unionid="u-xiaoming"))
        db.session.remove()
    operator = make_account("operator")
    product = make_product(name="保温杯", points_price=100)
    address = make_address(member, name="王小明", phone=PHONE, detail="南京东路 100 号 3 楼")
    draw = make_draw(app)
    with app.app_context():
        from app.services import ledger
        with write_transaction():
            ledger.earn(member, 1000, "adjust", key="history", growth=False)
        checkin.check_in(member)
        draws.play_draw(member, draw, key())
        order = shop.redeem_product(member, product, 1, new_key(), address_id=address)
        order_admin.ship_order(order.id, "顺丰", "SF100200300", operator)
        shop.confirm_receipt(member, order.id)
        order_id = order.id
        db.session.remove()
    return {"member": member, "operator": operator, "order": order_id, "inviter": inviter}


def _zip(response):
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    tables = {}
    for name in archive.namelist():
        raw = archive.read(name).decode("utf-8")
        assert raw.startswith("\ufeff"), name  # Excel reads it as UTF-8
        tables[name] = list(csv.reader(io.StringIO(raw[1:])))
    return tables


def test_member_downloads_all_their_data_as_csv_files(app, client, history):
    login_as(client, history["member"])
    page = client.get("/me/data")
    assert page.status_code == 200 and "下载我的数据" in page.get_data(as_text=True)
    response = client.get("/me/data/download")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    tables = _zip(response)
    assert set(tables) == {"profile.csv", "points.csv", "orders.csv", "draws.csv", "checkins.csv", "addresses.csv"}
    profile = dict(tables["profile.csv"][1:])
    assert profile["手机号"] == PHONE and profile["昵称"] == "小明同学" and profile["生日"] == "1990-05-06"
    with app.app_context():
        entries = db.session.execute(select(PointEntry).where(PointEntry.user_id == history["member"])
                                     .order_by(PointEntry.id)).scalars().all()
        assert int(profile["积分余额"]) == balance_of(history["member"])
        order_no = db.session.get(Order, history["order"]).number
    points = tables["points.csv"]
    assert points[0] == ["时间", "类型", "变动", "余额", "说明"]
    assert [int(row[2]) for row in points[1:]] == [entry.amount for entry in entries]
    assert [int(row[3]) for row in points[1:]] == [entry.balance_after for entry in entries]
    orders = tables["orders.csv"]
    assert orders[1][0] == order_no and orders[1][2] == "保温杯" and orders[1][6] == "已完成"
    assert orders[1][8] == PHONE and "南京东路 100 号 3 楼" in orders[1][9] and orders[1][11] == "SF100200300"
    assert len(tables["draws.csv"]) == 2 and len(tables["checkins.csv"]) == 2
    assert tables["addresses.csv"][1][:2] == ["王小明", PHONE]


def test_another_members_data_is_never_in_the_download(app, client, history, make_member):
    stranger = make_member()
    login_as(client, stranger)
    tables = _zip(client.get("/me/data/download"))
    assert tables["orders.csv"][1:] == [] and tables["draws.csv"][1:] == []
    assert PHONE not in "".join(",".join(row) for table in tables.values() for row in table)


def _text_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (String, Text, JSON)):
                yield table.name, column.name


def _rows_mentioning(value):
    found = []
    for table, column in _text_columns():
        count = db.session.execute(
            text(f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE :pattern'),
            {"pattern": f"%{value}%"},
        ).scalar_one()
        if count:
            found.append(f"{table}.{column}")
    return found


def test_deleting_the_account_leaves_no_personal_data_and_the_books_balance(app, client, history):
    with app.app_context():
        assert _rows_mentioning(PHONE)  # the search finds the phone before: it can see it
        balance = balance_of(history["member"])
        orders_before = db.session.execute(select(func.count(Order.id))).scalar_one()
        entries_before = db.session.execute(select(func.sum(PointEntry.amount))
                                            .where(PointEntry.amount > 0)).scalar_one()
        db.session.remove()
    login_as(client, history["member"])
    page = client.get("/me/delete")
    assert f"你当前的 {balance:,} 积分将全部作废" in page.get_data(as_text=True)
    response = client.submit("/me/delete", page="/me/delete", data={"confirm": "注销", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"].endswith("/")
    assert "账号已注销" in client.get("/").get_data(as_text=True)

    with app.app_context():
        assert _rows_mentioning(PHONE) == []
        for secret in ("小明同学", "王小明", "南京东路 100 号 3 楼", "example.com/a.png", "u-xiaoming"):
            assert _rows_mentioning(secret) == [], secret
        # The IP is gone from everything about the member; what remains is the day's anonymous
        # per-IP referral counter (no member id in it), which the referral cap still needs.
        assert _rows_mentioning("10.9.8.7") == ["earn_quotas.subject"]
        member = db.session.get(User, history["member"])
        assert member.deleted_at is not None and member.is_disabled
        assert member.phone is None and member.birthday is None and member.invite_code is None
        # The books: orders and every earning stay; the balance was written off through the ledger.
        assert db.session.execute(select(func.count(Order.id))).scalar_one() == orders_before
        assert db.session.execute(select(func.sum(PointEntry.amount))
                                  .where(PointEntry.amount > 0)).scalar_one() == entries_before
        assert balance_of(history["member"]) == 0
        last = db.session.execute(select(PointEntry).where(PointEntry.user_id == history["member"])
                                  .order_by(PointEntry.id.desc())).scalars().first()
        assert (last.kind, last.amount) == ("expire", -balance)
        assert db.session.get(Referral, 1) is None or db.session.execute(
            select(Referral.ip).where(Referral.invitee_id == history["member"])).scalar_one_or_none() is None
        assert db.session.execute(select(AuditLog.action).where(AuditLog.target == f"user:{history['member']}")
                                  ).scalars().all()[-1] == "member.deleted"
        result = app.test_cli_runner().invoke(args=["points", "reconcile"])
        assert result.exit_code == 0, result.output
        db.session.remove()

    # Every session has ended, the old phone cannot log in, and it may register afresh.
    assert client.get("/me").status_code in (302, 303)
    with app.app_context():
        with pytest.raises(accounts.AccountError):
            accounts.authenticate(PHONE, PASSWORD)
        assert accounts.register_member(PHONE, PASSWORD).id != history["member"]
        db.session.remove()


def test_a_second_delete_request_changes_nothing(app, client, history):
    login_as(client, history["member"])
    token, _ = client.form_tokens("/me/delete")
    data = {"csrf_token": token, "confirm": "注销", "password": PASSWORD}
    first = client.post("/me/delete", data=data)
    assert first.status_code == 303
    again = client.post("/me/delete", data=data)  # the same form sent again (a double tap, a retry)
    assert again.status_code in (302, 303, 400)  # logged out: sent to log in, or told the page expired
    with app.app_context():
        assert db.session.execute(select(func.count(AuditLog.id))
                                  .where(AuditLog.action == "member.deleted")).scalar_one() == 1
        db.session.remove()


@pytest.mark.parametrize("data, field_message", [
    ({"confirm": "删除", "password": PASSWORD}, "请输入“注销”确认"),
    ({"confirm": "注销", "password": "wrong-password"}, "密码不正确"),
    ({"confirm": "", "password": PASSWORD}, "请输入确认文字"),
])
def test_a_wrong_word_or_password_is_refused_next_to_its_field(app, client, history, data, field_message):
    login_as(client, history["member"])
    response = client.submit("/me/delete", page="/me/delete", data=data)
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    with app.app_context():
        member = db.session.get(User, history["member"])
        assert member.phone == PHONE and member.deleted_at is None
        db.session.remove()
    assert client.get("/me").status_code == 200  # still logged in


def test_an_order_in_progress_stops_the_deletion(app, client, make_member, make_product, make_address):
    member = make_member(points=500, phone=PHONE)
    product = make_product(points_price=100)
    address = make_address(member)
    with app.app_context():
        shop.redeem_product(member, product, 1, new_key(), address_id=address)  # paid, waiting to ship
        db.session.remove()
    login_as(client, member)
    page = client.get("/me/delete").get_data(as_text=True)
    assert "进行中的订单" in page and 'data-testid="delete-submit"' not in page
    response = client.submit("/me/delete", page="/me/data", data={"confirm": "注销", "password": PASSWORD})
    assert response.status_code == 422 and "进行中的订单" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, member).deleted_at is None
        db.session.remove()


def test_operators_see_the_member_as_deleted_and_cannot_revive_it(app, client, history):
    login_as(client, history["member"])
    client.submit("/me/delete", page="/me/delete", data={"confirm": "注销", "password": PASSWORD})
    login_as(client, history["operator"])
    listing = client.get("/admin/members?status=deleted").get_data(as_text=True)
    assert f"#{history['member']}" in listing and "已注销" in listing
    assert PHONE not in client.get("/admin/members").get_data(as_text=True)
    page = client.get(f"/admin/members/{history['member']}").get_data(as_text=True)
    assert 'data-testid="member-deleted"' in page and "已注销用户" in page and "启用账号" not in page
    with app.app_context():
        with pytest.raises(accounts.AccountError):
            accounts.set_disabled(history["member"], False, actor_id=history["operator"], role="member")
        from app.services import member_admin
        from app.services.errors import DomainError
        with pytest.raises(DomainError):
            member_admin.adjust_points(history["operator"], history["member"], 100, "补偿", new_key())
        assert db.session.get(User, history["member"]).is_disabled
        db.session.remove()


def test_deleting_while_redeeming_at_the_same_moment_never_leaves_an_order_of_a_deleted_member(
        app, make_member, make_product, make_address):
    """One thread deletes the account while others redeem with it: either the deletion wins and every
    redemption is refused, or a redemption wins and the deletion sees the order in progress."""
    from app.services.data_rights import DeletionRefused
    from app.services.errors import DomainError
    from tests.concurrency import run_concurrently

    for _round in range(3):
        member = make_member(points=1000)
        product = make_product(points_price=100, stock=50)
        address = make_address(member)

        def work(i):
            if i == 0:
                return ("deleted", data_rights.delete_account(member, confirm="注销", password="secret123"))
            return ("order", shop.redeem_product(member, product, 1, new_key(), address_id=address).id)

        outcome = run_concurrently(app, work, 8, expected=(DeletionRefused, DomainError))
        assert outcome.errors == []
        with app.app_context():
            row = db.session.get(User, member)
            orders = db.session.execute(select(func.count(Order.id)).where(Order.user_id == member)).scalar_one()
            if row.deleted_at is not None:
                assert orders == 0 and balance_of(member) == 0
            else:
                assert orders >= 1 and any("进行中的订单" in m for m in outcome.messages)
            result = app.test_cli_runner().invoke(args=["points", "reconcile"])
            assert result.exit_code == 0, result.output
            db.session.remove()
