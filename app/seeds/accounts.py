"""Demo accounts: an operator, a merchant with staff, a member with some history."""
from sqlalchemy import select

from app.extensions import db
from app.models import Merchant, User
from app.services import accounts, consumption, member_admin
from app.services.tx import write_transaction

DEMO_OPERATOR = ("13800000000", "admin12345")
DEMO_STAFF = ("13900000001", "staff12345")
DEMO_MEMBER = ("13700000001", "member12345")


def _user_by_phone(phone):
    return db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()


def seed_accounts():
    """An operator, a merchant with two staff, and a member with some history."""
    if _user_by_phone(DEMO_OPERATOR[0]) is None:
        accounts.create_account(*DEMO_OPERATOR, "operator", nickname="运营小王")
    merchant = db.session.execute(select(Merchant).where(Merchant.name == "老街面馆")).scalar_one_or_none()
    if merchant is None:
        with write_transaction() as session:
            merchant = Merchant(name="老街面馆", address="上海市黄浦区南京东路 100 号", phone="021-63210000")
            session.add(merchant)
        with write_transaction() as session:
            session.add(Merchant(name="晨光咖啡", address="上海市徐汇区衡山路 8 号", phone="021-64330000"))
    if _user_by_phone(DEMO_STAFF[0]) is None:
        accounts.create_account(*DEMO_STAFF, "staff", nickname="面馆收银", merchant_id=merchant.id)
        accounts.create_account("13900000002", "staff12345", "staff", nickname="面馆店长", merchant_id=merchant.id)
    if _user_by_phone(DEMO_MEMBER[0]) is None:
        member = accounts.register_member(*DEMO_MEMBER, nickname="小李")
        # Through the consoles' own services, so that the counter's records, its settlement and the
        # audit log show where the member's points came from, as they would in a running mall.
        member_admin.adjust_points(_user_by_phone(DEMO_OPERATOR[0]).id, member.id, 1000, "开业活动赠送积分",
                                   key="demo-opening-gift")
        consumption.award_consumption_points(_user_by_phone(DEMO_STAFF[0]).id, DEMO_MEMBER[0], "168", "A0001")

