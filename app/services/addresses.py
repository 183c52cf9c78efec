"""A member's shipping addresses (orders keep their own copy of the one used)."""
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select, update

from app.extensions import db
from app.models import Address
from app.services import cache as shared_cache
from app.services.errors import DomainError, NotFound
from app.services.ids import is_db_id
from app.services.members import lock_member
from app.services.tx import write_transaction


MAX_ADDRESSES = 20
_ADDRESSES = shared_cache.watch("addresses")


def list_addresses(user_id):
    """The member's addresses, the default first, read now (inside a write, under its lock)."""
    return db.session.execute(
        select(Address).where(Address.user_id == user_id, Address.is_deleted.is_(False))
        .order_by(Address.is_default.desc(), Address.id.desc())
    ).scalars().all()


def shown_addresses(user_id):
    """list_addresses() for a page to show, kept between requests until an address is written:
    members seldom change them, and the redeem panel of every physical product lists them."""
    return shared_cache.shared(f"addresses:{user_id}", _ADDRESSES, lambda: list_addresses(user_id),
                               in_process=True)


def add_address(user_id, *, name, phone, region, detail, make_default=False):
    """Save a shipping address (the first one becomes the default). One transaction."""
    with write_transaction() as session:
        lock_member(user_id)
        existing = list_addresses(user_id)
        if len(existing) >= MAX_ADDRESSES:
            raise DomainError(ngettext("最多保存 %(num)s 个收货地址", "最多保存 %(num)s 个收货地址", MAX_ADDRESSES))
        if make_default or not existing:
            session.execute(update(Address).where(Address.user_id == user_id).values(is_default=False)
                            .execution_options(synchronize_session=False))
        address = Address(user_id=user_id, name=name, phone=phone, region=region, detail=detail,
                          is_default=bool(make_default or not existing))
        session.add(address)
        session.flush()
    return address


def delete_address(user_id, address_id):
    """Remove an address from the member's list (orders keep their copy). Safe to repeat."""
    with write_transaction() as session:
        address = session.get(Address, address_id) if is_db_id(address_id) else None
        if address is None or address.user_id != user_id:
            raise NotFound(_("收货地址不存在"))
        address.is_deleted, address.is_default = True, False
