"""Points are for members: the one member lock refuses staff, operators and (when they act) disabled members."""
import pytest

from app.access import require_operator, require_staff
from app.extensions import db
from app.models import User
from app.services import checkin, ledger
from app.services.errors import Forbidden
from app.services.tx import write_transaction
from tests.conftest import balance_of
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)


@pytest.mark.parametrize("role", ["staff", "operator"])
def test_staff_and_operators_never_earn_or_hold_points(db, make_account, make_merchant, role):
    account = make_account(role, merchant_id=make_merchant() if role == "staff" else None)
    with pytest.raises(Forbidden, match="仅限会员"):
        checkin.check_in(account)
    with pytest.raises(Forbidden, match="仅限会员"), write_transaction():
        ledger.earn(account, 100, "adjust")
    assert balance_of(account) == 0


def test_a_disabled_member_cannot_act_but_the_mall_can_still_act_on_their_points(db, make_member):
    member = make_member(points=300)
    with write_transaction() as session:
        session.get(User, member).is_disabled = True
    with pytest.raises(Forbidden):
        checkin.check_in(member)
    with write_transaction():
        ledger.adjust_points(member, -100, "人工调整", actor_id=None)
    assert balance_of(member) == 700  # 500 registration gift + 300 - 100


def test_staff_act_only_for_their_own_merchant(db, make_account, make_merchant):
    first, second = make_merchant("甲店"), make_merchant("乙店")
    staff = make_account("staff", merchant_id=first)
    assert require_staff(staff, first).id == staff
    with pytest.raises(Forbidden, match="本店"):
        require_staff(staff, second)
    with pytest.raises(Forbidden):
        require_operator(staff)
    with pytest.raises(Forbidden):
        require_staff(make_account("staff"))  # a staff account without a merchant acts for nobody
    db.session.remove()
