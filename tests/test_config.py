"""Production refuses to start with settings it cannot guess or must not use."""
import pytest

from app.config import DEV_SECRET_KEY, ProductionConfig

GOOD = {
    "SECRET_KEY": "0123456789abcdef0123456789abcdef",
    "DATABASE_URL": "postgresql://mall@127.0.0.1/mall",
    "SITE_URL": "https://mall.example.com",
    "PAYMENT_PROVIDER": "wechat",
    "WECHAT_APP_ID": "wx0123456789abcdef",
    "WECHATPAY_MCHID": "1900000109",
    "WECHATPAY_CERT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    "WECHATPAY_PRIVATE_KEY_PATH": "/etc/mall/apiclient_key.pem",
    "WECHATPAY_APIV3_KEY": "0123456789abcdef0123456789abcdef",
    "WECHATPAY_PUBLIC_KEY_PATH": "/etc/mall/pub_key.pem",
    "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0001",
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


def test_production_refuses_the_sandbox_payment_provider(env):
    env.setenv("PAYMENT_PROVIDER", "sandbox")
    with pytest.raises(RuntimeError, match="sandbox"):
        ProductionConfig.check()


@pytest.mark.parametrize("name", ["WECHATPAY_MCHID", "WECHATPAY_APIV3_KEY", "WECHATPAY_PRIVATE_KEY_PATH",
                                  "WECHATPAY_PUBLIC_KEY_ID"])
def test_wechat_pay_in_production_needs_its_keys(env, name):
    env.delenv(name)
    with pytest.raises(RuntimeError, match="PAYMENT_PROVIDER=wechat needs"):
        ProductionConfig.check()


def test_wechat_pay_may_use_platform_certificates_instead_of_the_public_key(env):
    env.delenv("WECHATPAY_PUBLIC_KEY_PATH")
    env.delenv("WECHATPAY_PUBLIC_KEY_ID")
    env.setenv("WECHATPAY_CERT_DIR", "/var/lib/mall/wechatpay-certs")
    ProductionConfig.check()
