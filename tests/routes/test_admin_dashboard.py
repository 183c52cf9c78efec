"""The dashboard on /admin/ and the liability page: range choice, charts with their tables, CSV exports."""
import csv
import io
import re

from datetime import timedelta

import pytest

from app.extensions import db
from app.routes.admin.charts import axis_steps
from app.services import ledger, stats
from app.services.clock import shanghai_today
from app.services.tx import write_transaction
from tests.conftest import login_as


@pytest.fixture()
def operator_client(client, make_account):
    login_as(client, make_account("operator"))
    return client


@pytest.fixture()
def activity(app, make_member):
    """A member who registered (500), checked in (300) and drew (120) today."""
    m = make_member()
    with app.app_context():
        with write_transaction():
            ledger.earn(m, 300, "checkin")
            ledger.spend(m, 120, "draw")
        stats.rollup(days=3)
        db.session.remove()
    return m


def _rows(response):
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.parametrize("query", ["", "?range=today", "?range=30d", "?range=custom&start={week_ago}&end={today}"])
def test_the_dashboard_shows_charts_each_followed_by_its_table(operator_client, activity, query):
    today = shanghai_today()
    query = query.format(week_ago=today - timedelta(days=7), today=today)
    page = operator_client.get("/admin/" + query).get_data(as_text=True)
    for testid in ("dashboard-figures", "points-chart", "members-chart", "daily-table", "issued-chart",
                   "issued-table", "spent-chart", "spent-table"):
        assert f'data-testid="{testid}"' in page, testid
    assert 'role="img"' in page and "<title>每日积分发放与消耗</title>" in page
    assert "<script" not in page.split('data-testid="dashboard-figures"')[1]


def _gridline_values(page, testid):
    chart = page.split(f'data-testid="{testid}"')[1].split("</figure>")[0]
    return re.findall(r'<text class="chart-axis"[^>]*text-anchor="end">([\d,]+)</text>', chart)


def test_a_charts_gridlines_are_round_numbers_each_said_once(operator_client, activity):
    page = operator_client.get("/admin/?range=7d").get_data(as_text=True)
    # One new member this week: the count's axis goes 4, 3, 2, 1, 0 (not 1, 1, 0, 0, 0).
    assert _gridline_values(page, "members-chart") == ["4", "3", "2", "1", "0"]
    # 800 points issued (500 on registering, 300 for checking in), 120 spent.
    assert _gridline_values(page, "points-chart") == ["800", "600", "400", "200", "0"]


def test_today_shows_what_happened_today_without_waiting_for_the_rollup(operator_client, activity):
    page = operator_client.get("/admin/?range=today").get_data(as_text=True)
    table = page.split('data-testid="issued-table"')[1].split("</table>")[0]
    assert "每日签到" in table and "300" in table


def test_a_bad_custom_range_says_why_and_shows_seven_days(operator_client):
    page = operator_client.get("/admin/?range=custom&start=2026-02-10&end=2026-02-01").get_data(as_text=True)
    assert 'data-testid="range-error"' in page and "开始日期不能晚于结束日期" in page
    page = operator_client.get("/admin/?range=custom&start=nonsense&end=").get_data(as_text=True)
    assert "请选择开始和结束日期" in page


def test_the_dashboard_csv_has_chinese_headers_and_both_periods(operator_client, activity):
    rows = _rows(operator_client.get("/admin/dashboard.csv?range=today"))
    assert rows[0][:2] == ["分组", "指标"] and "~" in rows[0][2] and "~" in rows[0][3]
    by_label = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert by_label[("概况", "发放积分")] == ["800", "0"]
    assert by_label[("积分用途", "积分抽奖")] == ["120", "0"]


def test_the_liability_page_and_its_csv(operator_client, activity):
    page = operator_client.get("/admin/liability").get_data(as_text=True)
    for testid in ("outstanding-chart", "outstanding-table", "flows-chart", "flows-table", "rate"):
        assert f'data-testid="{testid}"' in page, testid
    assert "积分负债" in page
    rows = _rows(operator_client.get("/admin/liability.csv"))
    assert rows[0] == ["到期月份", "未使用积分", "折合金额（元）"]
    total = next(r for r in rows if r and r[0] == "合计")
    assert total == ["合计", "680", "6.80"]


def test_the_heading_is_only_the_page_title(app, client, make_account):
    login_as(client, make_account("operator"))
    html = client.get("/admin/").get_data(as_text=True)
    assert html.count('data-testid="levels-table"') == 1
    heading = html.split('<header class="console-header">', 1)[1].split("</header>", 1)[0]
    assert "<section" not in heading


@pytest.mark.parametrize("peak, gridlines", [(0, [0, 1, 2, 3, 4]), (9, [0, 3, 6, 9, 12]),
                                             (1835, [0, 500, 1000, 1500, 2000]), (980, [0, 250, 500, 750, 1000])])
def test_gridlines_reach_the_peak_in_round_steps(peak, gridlines):
    assert axis_steps(peak) == gridlines
