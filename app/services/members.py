"""The member row lock every points use case takes first."""
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from app.access import check_member
from app.extensions import db
from app.models import User
from app.services.errors import NotFound
from app.services.tx import in_write_transaction


def lock_member(user_id, *, acting=True):
    """Lock the member's row for the rest of the transaction and return the member, fresh.

    Taken first thing in a use case, before rows that reference the member are written:
    a foreign-key share lock taken first would let two of one member's requests deadlock
    on PostgreSQL. Points belong to members only, so any other account is refused here.
    acting: the member is the one acting now (check-in, redeem, draw ...), so a disabled
    member is refused too; False when the mall acts on the member (refunds, expiry, an
    operator's adjustment, a referral bonus), which must work for disabled members as well.
    """
    assert in_write_transaction(), "lock_member needs write_transaction()"
    member = db.session.execute(
        select(User).where(User.id == user_id).options(lazyload(User.merchant))
        .with_for_update(of=User).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if member is None:
        raise NotFound(_("会员不存在"))
    if acting:
        return check_member(member)
    if member.role != "member":
        check_member(member)  # raises: staff and operators never hold points
    return member
