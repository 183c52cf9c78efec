"""Configuration classes, read from environment variables."""
import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from argon2 import DEFAULT_MEMORY_COST, DEFAULT_PARALLELISM, DEFAULT_TIME_COST

BASE_DIR = Path(__file__).resolve().parent.parent
# Signs development sessions only; production refuses to start with it.
DEV_SECRET_KEY = "dev-only-not-secret"


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url():
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{BASE_DIR / 'instance' / 'mall.db'}"
    # Accept the common postgres:// and postgresql:// forms and use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {}
    WTF_CSRF_TIME_LIMIT = None  # mobile pages stay open for hours
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ["zh_CN", "en"]
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    REGISTER_RATE_LIMIT = os.environ.get("REGISTER_RATE_LIMIT", "20 per hour")
    # Staff looking a member up by phone (积分奖励): each lookup tells whether a phone is a member.
    MEMBER_LOOKUP_RATE_LIMIT = os.environ.get("MEMBER_LOOKUP_RATE_LIMIT", "30 per minute")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    # Flask-Login's "remember me" cookie: the same flags as the session, and a stated lifetime.
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=int(os.environ.get("REMEMBER_COOKIE_DAYS", 30)))
    # Every absolute link we hand out (invite links, QR codes, share cards, callbacks) is built
    # from this, never from the request's Host header.
    SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:5000")
    # How many proxies (nginx: 1) set X-Forwarded-For/-Proto/-Host/-Port in front of the app; 0 trusts none.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", 0))
    # Extra script sources for the Content-Security-Policy, space-separated (WeChat's JS-SDK host).
    CSP_SCRIPT_EXTRA = os.environ.get("CSP_SCRIPT_EXTRA", "")
    # WeChat 公众号 (services/wechat.py): both set turns on WeChat login, the JS-SDK and template messages.
    WECHAT_APP_ID = os.environ.get("WECHAT_APP_ID", "")
    WECHAT_APP_SECRET = os.environ.get("WECHAT_APP_SECRET", "")
    # WeChat's hosts; tests and local development point them at tests/fake_wechat.py.
    WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com")
    WECHAT_OPEN_BASE = os.environ.get("WECHAT_OPEN_BASE", "https://open.weixin.qq.com")
    # Template message ids by message kind, as JSON: {"order.shipped": "<template id>", ...}.
    WECHAT_TEMPLATES = json.loads(os.environ.get("WECHAT_TEMPLATES", "{}") or "{}")
    # The sandbox payment provider is for development and tests only; "wechat" is WeChat Pay (JSAPI).
    PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "sandbox")
    # WeChat Pay API v3 (services/wechat_pay.py): merchant id, the merchant API certificate's serial
    # number and private key file, the APIv3 key, and the platform public key file + id (or, without
    # them, a directory where wechatpayv3 keeps the platform certificates it downloads).
    WECHATPAY_MCHID = os.environ.get("WECHATPAY_MCHID", "")
    WECHATPAY_APPID = os.environ.get("WECHATPAY_APPID", "")  # default: WECHAT_APP_ID
    WECHATPAY_CERT_SERIAL_NO = os.environ.get("WECHATPAY_CERT_SERIAL_NO", "")
    WECHATPAY_PRIVATE_KEY_PATH = os.environ.get("WECHATPAY_PRIVATE_KEY_PATH", "")
    WECHATPAY_APIV3_KEY = os.environ.get("WECHATPAY_APIV3_KEY", "")
    WECHATPAY_PUBLIC_KEY_PATH = os.environ.get("WECHATPAY_PUBLIC_KEY_PATH", "")
    WECHATPAY_PUBLIC_KEY_ID = os.environ.get("WECHATPAY_PUBLIC_KEY_ID", "")
    WECHATPAY_CERT_DIR = os.environ.get("WECHATPAY_CERT_DIR", "")
    WECHATPAY_NOTIFY_URL = os.environ.get("WECHATPAY_NOTIFY_URL", "")  # default: SITE_URL + /pay/wechat/notify
    WECHATPAY_API_BASE = os.environ.get("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com")
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(BASE_DIR / "app" / "static" / "uploads"))
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    SITE_NAME = os.environ.get("SITE_NAME", "积分商城")
    # Flask-Compress: brotli, else gzip (no zstd: phones' browsers rarely ask for it); small bodies as they are.
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_MIN_SIZE = 500
    # The fast levels: a member page's HTML is 12-25 KB, brotli 1 packs it within ~15% of level 4
    # in a quarter of the time (bench/throughput: compression was 8% of a page's time at 4).
    COMPRESS_BR_LEVEL = 1
    COMPRESS_LEVEL = 1
    # The app's own responses; static files are nginx's to compress (README, production).
    COMPRESS_MIMETYPES = ["text/html", "application/json", "text/csv"]
    # The pages it compresses carry no ETag, so there is no 304 to answer: skip werkzeug's check.
    COMPRESS_EVALUATE_CONDITIONAL_REQUEST = False
    # Shared page data (app.services.cache): Redis when CACHE_REDIS_URL is set (several machines),
    # else in-process (development; tests). Production without Redis uses a directory that the
    # workers of one machine share (CACHE_DIR), so an edit seen by one worker is seen by all.
    CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL", "")
    CACHE_TYPE = os.environ.get("CACHE_TYPE") or ("RedisCache" if CACHE_REDIS_URL else "SimpleCache")
    CACHE_DIR = os.environ.get("CACHE_DIR", str(BASE_DIR / "instance" / "cache"))
    CACHE_DEFAULT_TIMEOUT = 600
    CACHE_THRESHOLD = 5000
    CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "mall:")
    # Password hashing cost: argon2-cffi's defaults (RFC 9106 low-memory profile) outside tests.
    ARGON2_TIME_COST = DEFAULT_TIME_COST
    ARGON2_MEMORY_COST = DEFAULT_MEMORY_COST  # KiB
    ARGON2_PARALLELISM = DEFAULT_PARALLELISM
    PRODUCTION = False
    TESTING = False


class DevelopmentConfig(Config):
    DEBUG = _bool("FLASK_DEBUG", False)


class ProductionConfig(Config):
    PRODUCTION = True
    CACHE_TYPE = Config.CACHE_TYPE if (os.environ.get("CACHE_TYPE") or Config.CACHE_REDIS_URL) else "FileSystemCache"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    @classmethod
    def check(cls):
        """Refuse to start without the settings production cannot guess."""
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL", "SITE_URL") if not os.environ.get(name)]
        if missing:
            raise RuntimeError("production config needs " + ", ".join(missing))
        if os.environ["SECRET_KEY"] == DEV_SECRET_KEY:
            raise RuntimeError("SECRET_KEY is the development value; set a long random secret in production")
        site = urlsplit(os.environ["SITE_URL"])
        if site.scheme not in ("http", "https") or not site.netloc:
            raise RuntimeError("SITE_URL must be an absolute http(s) URL, e.g. https://mall.example.com")
        if os.environ.get("PAYMENT_PROVIDER", "sandbox") == "sandbox":
            raise RuntimeError("the sandbox payment provider is refused in production; set PAYMENT_PROVIDER")
        if os.environ.get("PAYMENT_PROVIDER") == "wechat":
            needed = ("WECHATPAY_MCHID", "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_PRIVATE_KEY_PATH",
                      "WECHATPAY_APIV3_KEY")
            missing = [name for name in needed if not os.environ.get(name)]
            if not (os.environ.get("WECHATPAY_APPID") or os.environ.get("WECHAT_APP_ID")):
                missing.append("WECHATPAY_APPID or WECHAT_APP_ID")
            if not (os.environ.get("WECHATPAY_PUBLIC_KEY_PATH") and os.environ.get("WECHATPAY_PUBLIC_KEY_ID")) \
                    and not os.environ.get("WECHATPAY_CERT_DIR"):
                missing.append("WECHATPAY_PUBLIC_KEY_PATH + WECHATPAY_PUBLIC_KEY_ID (or WECHATPAY_CERT_DIR)")
            if missing:
                raise RuntimeError("PAYMENT_PROVIDER=wechat needs " + ", ".join(missing))


class TestConfig(Config):
    TESTING = True
    CACHE_TYPE = "SimpleCache"
    SECRET_KEY = "test-secret"
    SITE_URL = "https://mall.test"
    TRUSTED_PROXIES = 0
    CSP_SCRIPT_EXTRA = ""
    RATELIMIT_ENABLED = True
    WTF_CSRF_ENABLED = True
    SERVER_NAME = None
    # The cheapest argon2 the library accepts: a member costs microseconds, not 0.2 s (tests only).
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8
    ARGON2_PARALLELISM = 1


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestConfig,
}
