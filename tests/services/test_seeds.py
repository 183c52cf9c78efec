"""The demo data (`flask seed-demo`): the demo merchant's advertising goods are on sale."""
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Product, User
from app.seeds.accounts import DEMO_MEMBER, DEMO_OPERATOR, DEMO_STAFF
from app.services import catalog
from app.services.clock import utcnow


def test_seed_demo_puts_the_demo_merchants_goods_on_sale(app):
    runner = app.test_cli_runner()
    with app.app_context():  # `flask` pushes one; the test runner does not
        result = runner.invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        goods = db.session.execute(select(Product).where(Product.name == "老街面馆 200 元代金券")).scalar_one()
        staff = db.session.execute(select(User).where(User.phone == DEMO_STAFF[0])).scalar_one()
        now = utcnow()
        assert goods.kind == "voucher" and goods.merchant_id == staff.merchant_id  # the demo staff honour it
        assert goods.is_active and goods.stock == 5 and goods.face_value_fen == 20000
        assert goods.merchant.address and goods.merchant.phone
        assert goods.sale_starts_at <= now and goods.sale_ends_at >= now + timedelta(days=14)
        assert catalog.sale_state(goods) == "on_sale"
        db.session.remove()


def test_the_demo_copy_and_the_countdown_name_the_same_moment(app):
    from app.services.clock import to_shanghai

    runner = app.test_cli_runner()
    with app.app_context():
        assert runner.invoke(args=["seed-demo"]).exit_code == 0
        upcoming = db.session.execute(select(Product).where(Product.sale_starts_at > utcnow())).scalars().all()
        assert upcoming
        for product in upcoming:
            opens = to_shanghai(product.sale_starts_at)
            assert "明天" not in product.subtitle and "明日" not in product.name  # relative words go stale
            assert f"{opens:%m}月{opens:%d}日 {opens:%H:%M}" in product.subtitle
        db.session.remove()


def test_the_demo_members_points_come_from_the_counter_and_the_operator_as_the_consoles_show(app, client):
    """The demo's history is made through the consoles' services: the staff see the award at the
    counter and in the settlement, the operator sees both actions in the audit log, and the
    member's statement names them; reconciliation finds nothing to mend."""
    from tests.conftest import login_as

    runner = app.test_cli_runner()
    with app.app_context():
        assert runner.invoke(args=["seed-demo"]).exit_code == 0
        ids = {phone: db.session.execute(select(User.id).where(User.phone == phone)).scalar_one()
               for phone in (DEMO_STAFF[0], DEMO_OPERATOR[0], DEMO_MEMBER[0])}
        db.session.remove()

    login_as(client, ids[DEMO_STAFF[0]])
    counter = client.get("/merchant/").get_data(as_text=True)
    assert "A0001" in counter and "168" in counter
    settlement = client.get("/merchant/settlement").get_data(as_text=True)
    assert "168.00" in settlement

    login_as(client, ids[DEMO_OPERATOR[0]])
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "运营小王" in log and "面馆收银" in log

    login_as(client, ids[DEMO_MEMBER[0]])
    statement = client.get("/me/points").get_data(as_text=True)
    assert "开业活动赠送积分" in statement and "老街面馆 · A0001" in statement

    assert runner.invoke(args=["points", "reconcile"]).exit_code == 0
