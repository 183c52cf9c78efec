"""Production refuses to start with settings it cannot guess or must not use."""
import pytest

from app.config import DEV_SECRET_KEY, ProductionConfig

GOOD = {
    "SECRET_KEY": "0123456789abcdef0123456789abcdef",
    "DATABASE_URL": "postgresql://mall@127.0.0.1/mall",
    "SITE_URL": "https://mall.example.com",
    "PAYMENT_PROVIDER": "wechat",
}


@pytest.fixture()
def env(monkeypatch):
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_a_complete_production_environment_starts(env):
    ProductionConfig.check()


def test_production_refuses_the_development_secret_key(env):
    env.setenv("SECRET_KEY", DEV_SECRET_KEY)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        ProductionConfig.check()


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "SITE_URL"])
def test_production_refuses_to_start_without(env, name):
    env.delenv(name)
    with pytest.raises(RuntimeError, match=name):
        ProductionConfig.check()


@pytest.mark.parametrize("site_url", ["mall.example.com", "ftp://mall.example.com", "https://"])
def test_production_refuses_a_site_url_that_is_not_an_absolute_http_url(env, site_url):
    env.setenv("SITE_URL", site_url)
    with pytest.raises(RuntimeError, match="SITE_URL"):
        ProductionConfig.check()


def test_production_cookies_are_secure():
    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.REMEMBER_COOKIE_SECURE is True
