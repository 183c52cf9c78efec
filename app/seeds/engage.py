"""Demo data for earning (idempotent): the check-in, task and referral rules written into the
settings table so operators see and edit them, and one open points packet."""
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import PointsPacket, Setting
from app.services import packets
from app.services.clock import utcnow
from app.services.settings import DEFAULTS, put_setting
from app.services.tx import write_transaction

RULE_KEYS = ("earn.checkin", "earn.makeup", "earn.newbie", "earn.daily", "earn.invite", "earn.packet", "earn.birthday")
DEMO_PACKET_TITLE = "新人福利积分红包"


def seed_engage():
    """Rules into settings (kept if an operator changed them) and one open packet."""
    with write_transaction() as session:
        for key in RULE_KEYS:
            if session.get(Setting, key) is None:
                put_setting(key, DEFAULTS[key])
    has_packet = db.session.execute(
        select(PointsPacket.id).where(PointsPacket.title == DEMO_PACKET_TITLE)
    ).first() is not None
    if not has_packet:
        now = utcnow()
        packets.create_packet(DEMO_PACKET_TITLE, 88, now - timedelta(hours=1), now + timedelta(days=30), total=1000)

