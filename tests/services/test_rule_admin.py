"""Operator rule changes as services: one transaction each, audited, never half-saved."""
import pytest
from sqlalchemy import func, select

from app.models import AuditLog, Draw, Setting
from app.services import audit, rule_admin
from app.services.errors import DomainError
from app.services.settings import DEFAULTS, get_setting
from tests.games_factories import key, make_draw


@pytest.mark.parametrize("weights, shares", [
    ([1, 20, 39, 40], ["1.00%", "20.00%", "39.00%", "40.00%"]),
    ([1, 1, 1], ["33.33%", "33.33%", "33.33%"]),
    ([2, 1], ["66.67%", "33.33%"]),
    ([0, 5, 0, 0], ["0.00%", "100.00%", "0.00%", "0.00%"]),
    ([0, 0], ["0.00%", "0.00%"]),
])
def test_prize_weights_read_as_percentages_of_the_total(weights, shares):
    assert rule_admin.weight_percentages(weights) == shares


LEVEL_CASES = [
    ([(10, 100, 100)], "levels-0-min_growth", "第一个等级的门槛必须是 0"),
    ([(0, 100, 100), (0, 110, 98)], "levels-1-min_growth", "门槛必须逐级严格递增"),
    ([(0, 100, 100), (500, 110, 98), (400, 120, 95)], "levels-2-min_growth", "门槛必须逐级严格递增"),
    ([(0, 99, 100)], "levels-0-multiplier_pct", "积分倍率需为 100 到 1000 之间的整数（百分比）"),
    ([(0, 100, 0)], "levels-0-discount_pct", "兑换折扣需为 1 到 100 之间的整数（百分比）"),
    ([(0, 100, 101)], "levels-0-discount_pct", "兑换折扣需为 1 到 100 之间的整数（百分比）"),
]


@pytest.mark.parametrize("rows, field, message", LEVEL_CASES)
def test_levels_start_at_zero_ascend_strictly_and_keep_multipliers_and_discounts_in_range(app_ctx, rows, field, message):
    levels = [{"name": f"L{i}", "min_growth": g, "multiplier_pct": m, "discount_pct": d}
              for i, (g, m, d) in enumerate(rows)]
    with pytest.raises(DomainError) as refused:
        rule_admin.check_levels(levels)
    assert (refused.value.field, str(refused.value.message)) == (field, message)


def test_a_failure_inside_a_settings_save_leaves_every_setting_as_it_was(app_ctx, db, make_account, monkeypatch):
    operator = make_account("operator")

    def broken(*_args, **_kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        rule_admin.save_settings(operator, "checkin", {"earn.checkin": {"rewards": [1, 2]},
                                                       "earn.makeup": {"cost": 1}})
    db.session.remove()
    assert db.session.execute(select(func.count()).select_from(Setting)).scalar() == 0
    assert get_setting("earn.checkin") == DEFAULTS["earn.checkin"]


def test_a_settings_save_with_nothing_changed_writes_no_audit_entry(app_ctx, db, make_account):
    operator = make_account("operator")
    rule_admin.save_settings(operator, "expiry", {"points.expiry_months": 12, "points.packet_expiry_days": 7})
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar() == 0


def test_a_failure_inside_a_prize_pool_save_changes_no_prize(app, app_ctx, db, make_account, monkeypatch):
    operator = make_account("operator")
    draw_id = make_draw(app)
    rows = [{name: getattr(p, name) for name in rule_admin.PRIZE_FIELDS} for p in db.session.get(Draw, draw_id).prizes]
    db.session.remove()
    monkeypatch.setattr(audit, "record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
    with pytest.raises(RuntimeError):
        rule_admin.update_prizes(operator, draw_id, [{**row, "weight": 7} for row in rows])
    db.session.remove()
    assert [p.weight for p in db.session.get(Draw, draw_id).prizes] == [1, 20, 39, 40]


def test_a_prize_pool_needs_some_weight_and_a_new_draw_goes_live_after_its_pool_is_set(app, app_ctx, db, make_account):
    operator = make_account("operator")
    draw = rule_admin.create_draw(operator, key(), slots=4, skin="wheel", name="空转盘", cost=10, daily_limit=0)
    rows = [{**{name: getattr(p, name) for name in rule_admin.PRIZE_FIELDS}, "weight": 0} for p in draw.prizes]
    with pytest.raises(DomainError, match="奖品权重之和必须大于 0"):
        rule_admin.update_prizes(operator, draw.id, rows)
    rows[0]["weight"] = 1
    rule_admin.update_prizes(operator, draw.id, rows)
    live = rule_admin.update_draw(operator, draw.id, is_active=True)
    assert live.is_active
