"""All models, imported so that metadata and migrations see every table."""
from app.models.aftersales import AfterSale  # noqa: F401
from app.models.audit import AuditLog
from app.models.catalog import Banner, Category, Product, ProductImage, StockAdjustment, VirtualCode  # noqa: F401
from app.models.consumption import ConsumptionAward  # noqa: F401
from app.models.engage import CheckIn, EarnQuota, PacketClaim, PointsPacket, Referral, Share, TaskCompletion  # noqa: F401
from app.models.games import Draw, DrawPlay, DrawPrize, NewbieGift, TreasureItem, TreasurePurchase, TreasureRound, TreasureShare  # noqa: F401
from app.models.members import User
from app.models.merchants import Merchant
from app.models.messages import Message
from app.models.orders import Address, Coupon, Order, OrderReview, Payment, Voucher  # noqa: F401
from app.models.points import PointAllocation, PointEntry, PointLot
from app.models.settings import IdempotencyKey, Setting
from app.models.stats import DailyStat  # noqa: F401
from app.models.wechat import PaymentNonce, TemplateMessage, UserIdentity, WeChatCredential  # noqa: F401

__all__ = [
    "AuditLog",
    "IdempotencyKey",
    "Merchant",
    "Message",
    "PointAllocation",
    "PointEntry",
    "PointLot",
    "Setting",
    "User",
]
