"""Operators change game and earning rules (issue 9, item 6): settings groups, points packets,
lucky draws and their prize pools, the newbie gift draw, treasure items and rounds.

Each public function is one operator use case: one transaction that checks the rules,
changes the rows and writes an audit entry with the changed fields' before and after.
A change applies to what members do next: a check-in already paid, a play already won,
a treasure round already open keep what they had (rounds and plays hold their own copies).
"""
import copy
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select

from app.extensions import db
from app.models import Draw, DrawPlay, DrawPrize, PointsPacket, Product, TreasureItem, TreasureRound
from app.models.games import DRAW_SKINS, PRIZE_KINDS
from app.services import audit, draw_config, packets, treasure, treasure_config
from app.services.errors import DomainError, NotFound
from app.services.idempotency import claim_request, remember_result
from app.services.ids import is_db_id
from app.services.settings import DEFAULTS, get_setting, put_setting
from app.services.tx import write_transaction

# The settings groups, each one console form: (title, the setting keys it saves).
SETTING_GROUPS = {
    "checkin": (_l("签到与补签"), ("earn.checkin", "earn.makeup")),
    "tasks": (_l("新手与每日任务"), ("earn.newbie", "earn.daily")),
    "rewards": (_l("注册、邀请与生日礼"), ("earn.register", "earn.invite", "earn.birthday")),
    "levels": (_l("会员等级"), ("levels",)),
    "double": (_l("双倍积分日"), ("double_points.days", "double_points.factor")),
    "expiry": (_l("积分有效期"), ("points.expiry_months", "points.packet_expiry_days")),
}

# Upper bounds that stop a typo from giving away a fortune (a form says the same at the field).
MAX_REWARD = 100_000
MAX_WEIGHT = 1_000_000
MAX_STOCK = 1_000_000
MAX_COST = 100_000
MAX_TIER = 6
LEVEL_FIELDS = ("name", "min_growth", "multiplier_pct", "discount_pct")
DRAW_FIELDS = ("name", "description", "skin", "cost", "daily_limit", "pity_after", "pity_tier",
               "starts_at", "ends_at", "is_active")
PRIZE_PAYLOAD = ("name", "kind", "points", "product_id", "tier")
PRIZE_FIELDS = PRIZE_PAYLOAD + ("weight", "stock")
ITEM_FIELDS = ("name", "description", "total_shares", "share_price", "prize_points", "round_hours", "is_active")


def _jsonable(value):
    """A value as the audit log's JSON can hold it (datetimes as ISO text)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _diff(old, new, fields):
    """(before, after) of the fields whose value changed."""
    changed = [name for name in fields if old.get(name) != new.get(name)]
    return ({name: _jsonable(old.get(name)) for name in changed},
            {name: _jsonable(new.get(name)) for name in changed})


# ---- settings groups ---------------------------------------------------------------------------

def current_setting(key):
    """A setting as stored, over its default: dicts keep every stored key (unknown ones too)."""
    stored = copy.deepcopy(get_setting(key))
    default = copy.deepcopy(DEFAULTS.get(key))
    if isinstance(default, dict):
        return {**default, **(stored if isinstance(stored, dict) else {})}
    return stored if stored is not None else default


def current_group(group):
    """{setting key: current value} for one settings group."""
    return {key: current_setting(key) for key in SETTING_GROUPS[group][1]}


def merged_group(group, changes):
    """The group's values after `changes` (dict settings merged key by key, levels row by row),
    keeping keys the form does not know (another feature's fields)."""
    values = current_group(group)
    for key, new in changes.items():
        if key not in values:
            raise KeyError(f"{key} is not in settings group {group}")
        old = values[key]
        if isinstance(old, dict):
            values[key] = {**old, **new}
        elif key == "levels":
            values[key] = [{**(old[i] if i < len(old) else {}), **row} for i, row in enumerate(new)]
        else:
            values[key] = new
    return values


def check_levels(levels):
    """Levels: the first threshold 0, strictly ascending, multiplier >= 100%, discount 1..100%."""
    if not levels:
        raise DomainError(_("至少需要一个会员等级"), field="levels")
    for index, level in enumerate(levels):
        where = f"levels-{index}-"
        if not str(level.get("name") or "").strip():
            raise DomainError(_("请填写等级名称"), field=where + "name")
        growth = level.get("min_growth")
        if index == 0 and growth != 0:
            raise DomainError(_("第一个等级的门槛必须是 0"), field=where + "min_growth")
        if index > 0 and growth <= levels[index - 1]["min_growth"]:
            raise DomainError(_("门槛必须逐级严格递增"), field=where + "min_growth")
        if not 100 <= level.get("multiplier_pct") <= 1000:
            raise DomainError(_("积分倍率需为 100 到 1000 之间的整数（百分比）"), field=where + "multiplier_pct")
        if not 1 <= level.get("discount_pct") <= 100:
            raise DomainError(_("兑换折扣需为 1 到 100 之间的整数（百分比）"), field=where + "discount_pct")
        if not 1 <= level.get("aftersale_days", 7) <= 365:
            raise DomainError(_("售后天数需为 1 到 365 之间的整数"), field=where + "aftersale_days")


def _check_group(group, values):
    """Rules across fields that a single field's validator cannot see."""
    if group == "checkin":
        rewards = values["earn.checkin"].get("rewards") or []
        if not rewards or any(not isinstance(n, int) or not 0 < n <= MAX_REWARD for n in rewards):
            raise DomainError(_("请填写每天的签到奖励（1 到 %(n)s 之间的整数）", n=MAX_REWARD), field="rewards")
    elif group == "levels":
        check_levels(values["levels"])
    elif group == "double":
        for day in values["double_points.days"]:
            date.fromisoformat(day)  # the form parsed them; a bad one here is a programming error


def save_settings(actor_id, group, changes):
    """Save one settings group (one transaction, one audit entry with what changed)."""
    if group not in SETTING_GROUPS:
        raise NotFound(_("没有这组设置"))
    with write_transaction():
        before_values = current_group(group)
        if group == "levels" and len(changes["levels"]) != len(before_values["levels"]):
            raise DomainError(_("等级数量不能修改，请刷新后重试"), field="levels")
        after_values = merged_group(group, changes)
        _check_group(group, after_values)
        before, after = {}, {}
        for key in SETTING_GROUPS[group][1]:
            if before_values[key] != after_values[key]:
                before[key], after[key] = before_values[key], after_values[key]
                put_setting(key, after_values[key])
        if before or after:
            audit.record(actor_id, "settings.update", target=f"settings:{group}", before=before, after=after)
    return after_values


# ---- points packets ---------------------------------------------------------------------------

def _packet_values(packet):
    return {name: getattr(packet, name) for name in packets._FIELDS}


def _repeat(session, model, actor_id, scope, request_key):
    """The row an earlier submit of this form created, or None for a first submit."""
    done = claim_request(actor_id, scope, request_key)
    if done is None:
        return None
    row = session.get(model, int(done)) if done.isdigit() else None
    if row is None:
        raise DomainError(_("该请求已处理，请刷新页面"))
    return row


def create_packet(actor_id, request_key, title, points, starts_at, ends_at, total=None, enabled=True):
    """Publish a points packet (audited); a second submit of the same form returns the first packet."""
    with write_transaction() as session:
        again = _repeat(session, PointsPacket, actor_id, "rules.packet", request_key)
        if again is not None:
            return again
        packet = packets.create_packet(title, points, starts_at, ends_at, total, enabled=enabled)
        session.flush()
        audit.record(actor_id, "packet.create", target=f"packet:{packet.id}", before={},
                     after={k: _jsonable(v) for k, v in _packet_values(packet).items()})
        remember_result(actor_id, "rules.packet", request_key, packet.id)
    return packet


def update_packet(actor_id, packet_id, **changes):
    """Change a packet's title, points, window, total or on/off switch (audited)."""
    with write_transaction():
        old = _packet_values(packets.get_packet(packet_id))
        packet = packets.update_packet(packet_id, **changes)
        before, after = _diff(old, _packet_values(packet), packets._FIELDS)
        if after:
            audit.record(actor_id, "packet.update", target=f"packet:{packet.id}", before=before, after=after)
    return packet


def all_packets():
    """Every packet, newest first."""
    return packets.list_packets()


# ---- lucky draws ------------------------------------------------------------------------------

def all_draws():
    """Every draw, the newbie gift first, then newest first."""
    return db.session.execute(
        select(Draw).order_by((Draw.purpose == "newbie").desc(), Draw.id.desc())
    ).scalars().all()


def find_draw(draw_id, lock=False):
    """A draw of any state (operators see switched-off ones too), or NotFound."""
    if not is_db_id(draw_id):
        raise NotFound(_("抽奖活动不存在"))
    stmt = select(Draw).where(Draw.id == draw_id).execution_options(populate_existing=True)
    draw = db.session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if draw is None:
        raise NotFound(_("抽奖活动不存在"))
    return draw


def slot_range(skin):
    """(fewest, most) prizes a skin shows."""
    return (draw_config.GRID_SLOTS, draw_config.GRID_SLOTS) if skin == "grid" else draw_config.WHEEL_SLOTS


def _check_draw(values, prizes):
    if values["skin"] not in DRAW_SKINS:
        raise DomainError(_("请选择抽奖样式"), field="skin")
    low, high = slot_range(values["skin"])
    if prizes is not None and not low <= len(prizes) <= high:
        raise DomainError(_("该样式需要 %(a)s 到 %(b)s 个奖品，当前有 %(n)s 个", a=low, b=high, n=len(prizes)),
                          field="skin")
    if not 1 <= values["cost"] <= MAX_COST:
        raise DomainError(_("每次消耗需在 1 到 %(n)s 积分之间", n=MAX_COST), field="cost")
    if (values["pity_after"] is None) != (values["pity_tier"] is None):
        raise DomainError(_("保底需同时填写次数和奖品等级，或都留空"), field="pity_tier")
    if values["pity_tier"] is not None and prizes is not None and not any(
            p.tier is not None and p.tier <= values["pity_tier"] for p in prizes):
        raise DomainError(_("奖池里没有这个等级或更高等级的奖品"), field="pity_tier")
    if values["starts_at"] and values["ends_at"] and values["ends_at"] <= values["starts_at"]:
        raise DomainError(_("结束时间需晚于开始时间"), field="ends_at")


def create_draw(actor_id, request_key, *, slots, purpose="normal", **values):
    """A new draw, switched off, with `slots` '谢谢参与' prizes to edit before switching it on."""
    values = {name: values.get(name) for name in DRAW_FIELDS}
    values["is_active"] = False
    low, high = slot_range(values["skin"])
    if not low <= slots <= high:
        raise DomainError(_("该样式需要 %(a)s 到 %(b)s 个奖品", a=low, b=high), field="slots")
    if values["pity_after"] is not None:
        raise DomainError(_("请先设置奖池，再设置保底"), field="pity_tier")
    _check_draw(values, None)
    placeholders = [{"name": str(_("谢谢参与")), "kind": "thanks", "points": 0, "weight": 1} for _n in range(slots)]
    with write_transaction() as session:
        again = _repeat(session, Draw, actor_id, "rules.draw", request_key)
        if again is not None:
            return again
        draw = draw_config.create_draw(values["name"], values["skin"], placeholders, cost=values["cost"],
                                       daily_limit=values["daily_limit"], purpose=purpose,
                                       description=values["description"], is_active=False)
        draw.starts_at, draw.ends_at = values["starts_at"], values["ends_at"]
        session.flush()
        audit.record(actor_id, "draw.create", target=f"draw:{draw.id}", before={},
                     after={**{k: _jsonable(v) for k, v in values.items()}, "purpose": purpose, "slots": slots})
        remember_result(actor_id, "rules.draw", request_key, draw.id)
    return draw


def update_draw(actor_id, draw_id, **values):
    """Change a draw's settings; plays already made keep their cost and prize."""
    with write_transaction():
        draw = find_draw(draw_id, lock=True)
        old = {name: getattr(draw, name) for name in DRAW_FIELDS}
        new = {name: values.get(name, old[name]) for name in DRAW_FIELDS}
        prizes = list(draw.prizes)
        _check_draw(new, prizes)
        if new["is_active"] and sum(p.weight for p in prizes) <= 0:
            raise DomainError(_("奖品权重之和必须大于 0"), field="is_active")
        before, after = _diff(old, new, DRAW_FIELDS)
        for name, value in new.items():
            setattr(draw, name, value)
        if after:
            audit.record(actor_id, "draw.update", target=f"draw:{draw.id}", before=before, after=after)
    return draw


def prize_has_plays(prize_id):
    """True once any play drew this prize: its history shows it, so what it gives is fixed."""
    return db.session.execute(select(exists().where(DrawPlay.prize_id == prize_id))).scalar_one()


def played_prize_ids(draw_id):
    """Ids of the draw's prizes that some play drew."""
    return set(db.session.execute(
        select(DrawPlay.prize_id).where(DrawPlay.draw_id == draw_id).distinct()
    ).scalars())


def _check_prize(index, row):
    where = f"prizes-{index}-"
    name = (row.get("name") or "").strip()
    if not name or len(name) > 40:
        raise DomainError(_("请填写奖品名称（40字以内）"), field=where + "name")
    if row["kind"] not in PRIZE_KINDS:
        raise DomainError(_("请选择奖品类型"), field=where + "kind")
    if row["kind"] in ("points", "consolation") and not 1 <= (row.get("points") or 0) <= MAX_REWARD:
        raise DomainError(_("积分奖品需在 1 到 %(n)s 积分之间", n=MAX_REWARD), field=where + "points")
    if row["kind"] == "product":
        if row.get("product_id") is None or db.session.get(Product, row["product_id"]) is None:
            raise DomainError(_("请填写存在的商品编号"), field=where + "product_id")
    if row.get("tier") is not None and not 1 <= row["tier"] <= MAX_TIER:
        raise DomainError(_("等级需在 1 到 %(n)s 之间，不分等级请留空", n=MAX_TIER), field=where + "tier")
    if not 0 <= row["weight"] <= MAX_WEIGHT:
        raise DomainError(_("权重需在 0 到 %(n)s 之间", n=MAX_WEIGHT), field=where + "weight")
    if row.get("stock") is not None and not 0 <= row["stock"] <= MAX_STOCK:
        raise DomainError(_("库存需在 0 到 %(n)s 之间，不限量请留空", n=MAX_STOCK), field=where + "stock")
    row["name"] = name
    if row["kind"] not in ("points", "consolation"):
        row["points"] = 0
    if row["kind"] != "product":
        row["product_id"] = None
    return row


def update_prizes(actor_id, draw_id, rows):
    """Save the whole prize pool: rows in slot order, each a dict of PRIZE_FIELDS.

    A prize some play has drawn keeps what it gives (its history shows it): only its weight
    and stock may change, and a weight of 0 retires it from new plays.
    """
    with write_transaction():
        draw = find_draw(draw_id, lock=True)
        prizes = list(draw.prizes)
        if len(rows) != len(prizes):
            raise DomainError(_("奖池已被修改，请刷新后重试"), field="prizes")
        rows = [_check_prize(i, dict(row)) for i, row in enumerate(rows)]
        if sum(row["weight"] for row in rows) <= 0:
            raise DomainError(_("奖品权重之和必须大于 0"), field="prizes")
        if draw.pity_tier is not None and not any(r["tier"] is not None and r["tier"] <= draw.pity_tier
                                                  for r in rows):
            raise DomainError(_("保底规则需要奖池里有 %(n)s 等奖或更高等级的奖品", n=draw.pity_tier),
                              field="prizes")
        played = played_prize_ids(draw.id)
        before, after = {}, {}
        for index, (prize, row) in enumerate(zip(prizes, rows)):
            old = {name: getattr(prize, name) for name in PRIZE_FIELDS}
            if prize.id in played:
                for name in PRIZE_PAYLOAD:
                    if row[name] != old[name]:
                        raise DomainError(_("该奖品已有人抽中，不能修改内容；可把权重设为 0 停用"),
                                          field=f"prizes-{index}-{name}")
            was, now = _diff(old, row, PRIZE_FIELDS)
            if now:
                before[f"prize:{prize.id}"], after[f"prize:{prize.id}"] = was, now
                for name in PRIZE_FIELDS:
                    setattr(prize, name, row[name])
        if after:
            audit.record(actor_id, "draw.prizes_update", target=f"draw:{draw.id}", before=before, after=after)
    return draw


def add_prize(actor_id, draw_id, request_key):
    """Add a '谢谢参与' slot of weight 0 to a wheel (edit it before it counts); once per submit."""
    with write_transaction() as session:
        again = _repeat(session, DrawPrize, actor_id, "rules.prize", request_key)
        if again is not None:
            return again
        draw = find_draw(draw_id, lock=True)
        count = len(draw.prizes)
        if count >= slot_range(draw.skin)[1]:
            raise DomainError(_("奖品数量已达该样式的上限"), field="prizes")
        prize = DrawPrize(draw_id=draw.id, position=count, name=str(_("谢谢参与")), kind="thanks", weight=0)
        session.add(prize)
        session.flush()
        audit.record(actor_id, "draw.prize_add", target=f"draw:{draw.id}", before={},
                     after={f"prize:{prize.id}": {"name": prize.name, "kind": "thanks", "weight": 0}})
        remember_result(actor_id, "rules.prize", request_key, prize.id)
    return prize


def remove_prize(actor_id, draw_id, prize_id):
    """Remove a wheel slot that no play ever drew; a drawn prize can only be retired (weight 0)."""
    with write_transaction() as session:
        draw = find_draw(draw_id, lock=True)
        prizes = list(draw.prizes)
        prize = next((p for p in prizes if p.id == prize_id), None)
        if prize is None:
            raise NotFound(_("奖品不存在"))
        if prize_has_plays(prize.id):
            raise DomainError(_("该奖品已有人抽中，不能删除；可把权重设为 0 停用"), field="prizes")
        if len(prizes) <= slot_range(draw.skin)[0]:
            raise DomainError(_("奖品数量已是该样式的下限"), field="prizes")
        rest = [p for p in prizes if p.id != prize.id]
        if sum(p.weight for p in rest) <= 0:
            raise DomainError(_("奖品权重之和必须大于 0"), field="prizes")
        gone = {name: _jsonable(getattr(prize, name)) for name in PRIZE_FIELDS}
        session.delete(prize)
        session.flush()
        for position, other in enumerate(rest):  # ascending: each move lands on a slot already freed
            if other.position != position:
                other.position = position
                session.flush()
        draw.prizes[:] = rest
        audit.record(actor_id, "draw.prize_remove", target=f"draw:{draw.id}", before={f"prize:{prize_id}": gone},
                     after={})
    return draw


def weight_percentages(weights):
    """Each weight as a share of the total, as text with two decimals ('25.00%'); '0.00%' if none."""
    total = sum(w for w in weights if w and w > 0)
    shares = []
    for weight in weights:
        bp = ((weight or 0) * 20000 // total + 1) // 2 if total and weight and weight > 0 else 0
        shares.append(f"{bp // 100}.{bp % 100:02d}%")
    return shares


# ---- treasure ---------------------------------------------------------------------------------

def all_items():
    """Every treasure item with its open round (or None), newest first."""
    items = db.session.execute(select(TreasureItem).order_by(TreasureItem.id.desc())).scalars().all()
    open_rounds = {r.item_id: r for r in db.session.execute(
        select(TreasureRound).where(TreasureRound.status == "open")).scalars()}
    return [(item, open_rounds.get(item.id)) for item in items]


def find_item(item_id, lock=False):
    if not is_db_id(item_id):
        raise NotFound(_("夺宝商品不存在"))
    stmt = select(TreasureItem).where(TreasureItem.id == item_id).execution_options(populate_existing=True)
    item = db.session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if item is None:
        raise NotFound(_("夺宝商品不存在"))
    return item


def item_rounds(item_id, limit=10):
    return db.session.execute(
        select(TreasureRound).where(TreasureRound.item_id == item_id).order_by(TreasureRound.period.desc())
        .limit(limit)).scalars().all()


def _check_item(values):
    name = (values.get("name") or "").strip()
    if not name or len(name) > 60:
        raise DomainError(_("请填写名称（60字以内）"), field="name")
    if not 2 <= values["total_shares"] <= 100_000:
        raise DomainError(_("份数需在 2 到 100000 之间"), field="total_shares")
    if not 1 <= values["share_price"] <= MAX_COST:
        raise DomainError(_("每份价格需在 1 到 %(n)s 积分之间", n=MAX_COST), field="share_price")
    if not 1 <= values["round_hours"] <= 24 * 90:
        raise DomainError(_("每期时长需在 1 到 2160 小时之间"), field="round_hours")
    values["name"] = name
    return values


def create_item(actor_id, request_key, *, product_id=None, **values):
    """A new treasure item with its first round open (audited); once per submit."""
    values = _check_item({name: values.get(name) for name in ITEM_FIELDS})
    if product_id is None and not 1 <= (values["prize_points"] or 0) <= 10_000_000:
        raise DomainError(_("积分奖品需在 1 到 10000000 积分之间"), field="prize_points")
    if product_id is not None and db.session.get(Product, product_id) is None:
        raise DomainError(_("请填写存在的商品编号"), field="product_id")
    with write_transaction() as session:
        again = _repeat(session, TreasureItem, actor_id, "rules.treasure", request_key)
        if again is not None:
            return again
        item = treasure_config.create_item(values["name"], values["total_shares"], values["share_price"],
                                           prize_points=0 if product_id else values["prize_points"],
                                           product_id=product_id, round_hours=values["round_hours"],
                                           description=values["description"])
        session.flush()
        audit.record(actor_id, "treasure_item.create", target=f"treasure_item:{item.id}", before={},
                     after={**{k: _jsonable(v) for k, v in values.items() if k != "is_active"},
                            "product_id": product_id})
        remember_result(actor_id, "rules.treasure", request_key, item.id)
    return item


def update_item(actor_id, item_id, **values):
    """Change an item for its next rounds; the round in progress keeps its own copy of the terms."""
    with write_transaction():
        item = find_item(item_id, lock=True)
        old = {name: getattr(item, name) for name in ITEM_FIELDS}
        new = _check_item({name: values.get(name, old[name]) for name in ITEM_FIELDS})
        if item.prize_kind == "points" and not 1 <= (new["prize_points"] or 0) <= 10_000_000:
            raise DomainError(_("积分奖品需在 1 到 10000000 积分之间"), field="prize_points")
        if item.prize_kind == "product":
            new["prize_points"] = 0
        before, after = _diff(old, new, ITEM_FIELDS)
        for name, value in new.items():
            setattr(item, name, value)
        if after:
            audit.record(actor_id, "treasure_item.update", target=f"treasure_item:{item.id}",
                         before=before, after=after)
    return item


def open_next_round(actor_id, item_id, now=None):
    """Open the item's next round; refused while one is in progress or the item is switched off."""
    with write_transaction():
        item = find_item(item_id, lock=True)
        if not item.is_active:
            raise DomainError(_("该夺宝商品已停用，请先启用"), field="item")
        running = db.session.execute(
            select(func.count(TreasureRound.id)).where(TreasureRound.item_id == item.id,
                                                       TreasureRound.status == "open")).scalar_one()
        if running:
            raise DomainError(_("本期夺宝还在进行中，开奖或退款后才能开启下一期"), field="item")
        rnd = treasure.open_round(item, now)
        audit.record(actor_id, "treasure_round.open", target=f"treasure_round:{rnd.id}", before={},
                     after={"item_id": item.id, "period": rnd.period, "total_shares": rnd.total_shares,
                            "share_price": rnd.share_price})
    return rnd


def packet_by_id(packet_id):
    """A packet for its edit form, or NotFound."""
    return packets.get_packet(packet_id)

