"""Points packets: operators publish, members claim once inside the window, points expire in 7 days."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models import PointLot
from app.services import ledger, packets
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of


@pytest.fixture()
def open_packet(db):
    now = utcnow()
    return packets.create_packet("周末红包", 66, now - timedelta(hours=1), now + timedelta(days=2), total=2)


def test_claiming_pays_points_that_expire_after_seven_days(db, make_member, open_packet):
    user_id = make_member()
    now = utcnow()
    claim = packets.claim_packet(user_id, open_packet.id, now=now)
    assert claim.points == 66 and claim.expires_at == now + timedelta(days=7)
    lot = db.session.execute(select(PointLot).where(PointLot.user_id == user_id, PointLot.amount == 66)).scalar_one()
    assert lot.expires_at == now + timedelta(days=7)
    assert balance_of(user_id) == 566
    assert ledger.next_expiry(user_id, now) == (now + timedelta(days=7), 66)
    ledger.run_expiry(now + timedelta(days=7, seconds=1))
    assert balance_of(user_id) == 500


def test_one_claim_per_member_and_at_most_total(db, make_member, open_packet):
    first, second, third = make_member(), make_member(), make_member()
    packets.claim_packet(first, open_packet.id)
    with pytest.raises(AlreadyDone):
        packets.claim_packet(first, open_packet.id)
    packets.claim_packet(second, open_packet.id)
    with pytest.raises(DomainError, match="领完"):
        packets.claim_packet(third, open_packet.id)
    assert db.session.get(type(open_packet), open_packet.id).claimed == 2
    assert balance_of(third) == 500


def test_claims_only_inside_the_window(db, make_member):
    user_id = make_member()
    now = utcnow()
    later = packets.create_packet("明天的红包", 10, now + timedelta(days=1), now + timedelta(days=2))
    over = packets.create_packet("昨天的红包", 10, now - timedelta(days=2), now - timedelta(days=1))
    with pytest.raises(DomainError, match="还没开始"):
        packets.claim_packet(user_id, later.id)
    with pytest.raises(DomainError, match="结束"):
        packets.claim_packet(user_id, over.id)
    with pytest.raises(NotFound):
        packets.claim_packet(user_id, 999999)
    assert balance_of(user_id) == 500
    assert packets.packets_for(user_id) == []


def test_operators_switch_packets_and_the_whole_source_off(db, make_member, open_packet):
    user_id = make_member()
    packets.set_packet_enabled(open_packet.id, False)
    with pytest.raises(DomainError, match="结束"):
        packets.claim_packet(user_id, open_packet.id)
    packets.set_packet_enabled(open_packet.id, True)
    with write_transaction():
        put_setting("earn.packet", {"enabled": False})
    with pytest.raises(DomainError, match="暂未开放"):
        packets.claim_packet(user_id, open_packet.id)
    assert balance_of(user_id) == 500


def test_members_see_open_packets_with_their_claim(db, make_member, open_packet):
    user_id = make_member()
    assert packets.packets_for(user_id) == [(open_packet, None)]
    packets.claim_packet(user_id, open_packet.id)
    [(packet, claim)] = packets.packets_for(user_id)
    assert packet.id == open_packet.id and claim.points == 66


@pytest.mark.parametrize("changes, field", [
    ({"title": " "}, "title"),
    ({"title": "长" * 61}, "title"),
    ({"points": 0}, "points"),
    ({"points": "10"}, "points"),
    ({"points": 2_000_000}, "points"),
    ({"ends_at": "start"}, "ends_at"),
    ({"total": 0}, "total"),
])
def test_bad_packet_fields_are_refused_by_name(db, open_packet, changes, field):
    if changes.get("ends_at") == "start":
        changes = {"ends_at": open_packet.starts_at}
    with pytest.raises(DomainError) as caught:
        packets.update_packet(open_packet.id, **changes)
    assert caught.value.field == field


def test_total_cannot_drop_below_what_was_claimed(db, make_member, open_packet):
    packets.claim_packet(make_member(), open_packet.id)
    packets.claim_packet(make_member(), open_packet.id)
    with pytest.raises(DomainError, match="不小于已领取数") as caught:
        packets.update_packet(open_packet.id, total=1)
    assert caught.value.field == "total"
    assert packets.update_packet(open_packet.id, total=None, title="加量红包").total is None
    assert [p.title for p in packets.list_packets()] == ["加量红包"]
