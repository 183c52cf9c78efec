"""The application factory."""
import functools
import os

from babel import Locale
from flask import Flask, current_app, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app import models  # noqa: F401  (every table registered before anything queries)
from app.access import require_password_change
from app.cli import register_cli
from app.config import CONFIGS
from app.forms.base import share_wtforms_messages
from app.extensions import babel, cache, compress, csrf, db, limiter, login_manager, migrate
from app.routes import register_blueprints
from app.routes.assets import register_assets
from app.routes.errors import register_error_handlers
from app.routes.params import IdConverter, MallRequest, refuse_unreadable_input
from app.routes.security import register_security_headers
from app.routes.web import register_web_helpers
from app.services import cache as shared_cache, referrals, tasks
from app.services.tx import discard_session, install_sqlite_hooks


def select_locale():
    """The reader's language: the one chosen on /me (?lang=, remembered in a cookie), else the
    browser's Accept-Language (English for readers who prefer it to Chinese), else Simplified Chinese."""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():
        return _locale(default)
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in current_app.config["LANGUAGES"]:
        return _locale(chosen)
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return _locale("en" if best == "en" else default)


@functools.cache
def _locale(name):
    """A parsed Locale, once per language (Babel's parsing scans every locale it knows, each time)."""
    return Locale.parse(name)


def create_app(config=None):
    """Build the app: config, extensions, blueprints, error handlers, CLI. No DB writes."""
    app = Flask(__name__, instance_relative_config=True)
    name = config if isinstance(config, str) else None
    if config is None or name:
        name = name or os.environ.get("APP_ENV", "development")
        config = CONFIGS[name]
    if hasattr(config, "check"):
        config.check()
    app.config.from_object(config)
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies > 0:
        # Behind nginx: take the client address, scheme and host from the proxies' X-Forwarded-*
        # headers (only that many hops are trusted; with 0 the headers are ignored).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(os.path.dirname(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]) or ".",
                    exist_ok=True)
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"timeout": 30, "check_same_thread": False},
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        }
    else:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_size": int(os.environ.get("DB_POOL_SIZE", 10)),
            "max_overflow": int(os.environ.get("DB_MAX_OVERFLOW", 20)),
            "pool_pre_ping": True,
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        }

    db.init_app(app)
    app.teardown_appcontext(discard_session)  # runs before Flask-SQLAlchemy's own remove (a no-op then)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    compress.init_app(app)
    cache.init_app(app)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            install_sqlite_hooks(db.engine)
        shared_cache.install_invalidation(db.engine)

    for signal, receiver in (*tasks.RECEIVERS, *referrals.RECEIVERS):
        signal.connect(receiver)  # domain events -> rewards, inside the sender's transaction
    app.request_class = MallRequest
    app.url_map.converters["id"] = IdConverter  # before the blueprints: their rules use <id:...>
    app.before_request(refuse_unreadable_input)
    app.before_request(share_wtforms_messages)
    app.before_request(require_password_change)
    register_blueprints(app)
    register_assets(app)
    register_error_handlers(app)
    register_web_helpers(app)
    register_security_headers(app)
    register_cli(app)
    return app
