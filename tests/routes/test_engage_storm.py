"""A storm of real HTTP check-ins from one logged-in phone (a finger on the button, a flaky network):
exactly one check-in, one reward, every answer a page and never a 500."""
import re
import time

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import CheckIn
from tests.concurrency import run_concurrently
from tests.conftest import balance_of, next_phone

pytestmark = pytest.mark.storm
TOKEN_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
KEY_RE = re.compile(r'name="request_key"[^>]*value="([0-9a-f]{32})"')


def test_sixty_simultaneous_check_in_posts_make_one_check_in(app, live_server, make_member):
    phone = next_phone()
    user_id = make_member(phone=phone, password="secret1234")
    browser = requests.Session()
    login_page = browser.get(f"{live_server}/login").text
    token = TOKEN_RE.search(login_page).group(1)
    assert browser.post(f"{live_server}/login", data={"csrf_token": token, "phone": phone, "password": "secret1234"},
                        allow_redirects=False).status_code == 303
    page = browser.get(f"{live_server}/checkin").text
    token, key = TOKEN_RE.search(page).group(1), KEY_RE.search(page).group(1)
    cookies = browser.cookies.get_dict()

    n = 60

    def tap(_i):
        response = requests.post(f"{live_server}/checkin", data={"csrf_token": token, "request_key": key},
                                 headers={"HX-Request": "true", "X-CSRFToken": token}, cookies=cookies, timeout=60)
        return response.status_code, "签到成功" in response.text, "今天已经签到过了" in response.text

    started = time.perf_counter()
    outcome = run_concurrently(None, tap, n, timeout=120)
    elapsed = time.perf_counter() - started
    answers = outcome.results

    assert outcome.errors == []
    assert len(answers) == n and {status for status, _, _ in answers} == {200}
    assert sum(ok for _, ok, _ in answers) == 1 and sum(done for _, _, done in answers) == n - 1
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(CheckIn).where(CheckIn.user_id == user_id)).scalar() == 1
        assert balance_of(user_id) == 505
    print(f"\n{n} concurrent check-in POSTs answered in {elapsed:.2f}s")
