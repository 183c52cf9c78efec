"""Helpers every route uses: htmx-aware rendering, safe redirects, template context."""
import functools
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from flask import (current_app, flash, g, has_app_context, has_request_context, make_response, redirect, render_template,
                   request, session, url_for)
from flask_babel import format_datetime, get_locale, get_translations
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from jinja2_fragments import render_block as jinja_render_block
from jinja2_fragments.flask import render_block
from markupsafe import Markup, escape

from app.access import home_endpoint, is_member
from app.extensions import db, login_manager
from app.forms.base import new_request_key
from app.services import cache as shared_cache
from app.services import accounts, levels, messages
from app.services.clock import to_shanghai, utcnow
from app.services.errors import DomainError, NotFound
from app.services.ids import parse_db_id
from app.services.money import yuan
from app.services.phrases import phrase_text


def is_htmx_fragment_request():
    """An htmx request that wants a fragment (not boosted, not a history restore)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_page(template, block=None, status=200, **context):
    """Render the full page, or only `block` of it for an htmx fragment request."""
    if block and is_htmx_fragment_request():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.headers["Vary"] = "HX-Request"
    return response


def csv_download(text, filename):
    """A CSV file (text, sent as UTF-8) for the browser to save as `filename`."""
    response = make_response(text)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def htmx_redirect(endpoint, **values):
    """303 for a plain form; HX-Redirect for htmx, so the whole page navigates."""
    target = url_for(endpoint, **values)
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def form_action(form, act, done_message, back, again=None):
    """Run a console form's one service call.

    Done: flash done_message (or done_message(result of act) when it is a function) and go
    `back()` (a redirect). A refusal naming a field of the form goes next to that field and the
    page comes `again()` (422); any other refusal, or a stale page (only the CSRF token or request
    key wrong), is flashed on the way back. NotFound stays a 404. Without `again` (a button with
    no fields), every refusal is flashed on the way back.
    """
    if form.validate_on_submit():
        try:
            result = act(form)
        except NotFound:
            raise
        except DomainError as refusal:
            field = getattr(form, refusal.field, None) if refusal.field and again else None
            if field is None:
                flash(str(refusal.message), "error")
                return back()
            field.errors.append(str(refusal.message))
        else:
            flash(done_message(result) if callable(done_message) else done_message, "success")
            return back()
    elif set(form.errors) <= {"csrf_token", "request_key"} or again is None:
        flash(str(next(iter(form.errors.values()))[0]), "error")
        return back()
    return again()


def absolute_url(endpoint, **values):
    """An absolute URL on SITE_URL for a link we hand out (invite links, QR codes, share cards,
    callbacks). Never built from the request's Host header, which the client chooses.
    Works outside a request too; `endpoint` is the full name ("engage.referral_link")."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(site.netloc, script_name=site.path.rstrip("/") or "/",
                                       url_scheme=site.scheme)
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


def safe_next(target, fallback="me.index"):
    """Follow `next` only to a path on our own host."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for(fallback)


# The member tab bar.
TABS = [
    ("main.home", _l("首页"), "home"),
    ("shop.products", lazy_pgettext("tab bar", "商品"), "grid"),  # "Shop"; a 商品 elsewhere is "Product"
    ("engage.checkin", _l("签到"), "calendar"),
    ("me.index", _l("我的"), "user"),
]

ROLE_NAMES = {"member": _l("会员"), "staff": _l("店员"), "operator": _l("运营")}


def _unread_badge():
    """The unread count's badge on the 我的 tab, or nothing."""
    n = _unread_messages()
    return _badge(n, str(get_locale())) if n else Markup("")


@functools.lru_cache(maxsize=512)
def _badge(n, _locale):
    """The badge for n unread messages, made once per count and language."""
    label = gettext("%(n)s条未读消息", n=n)
    return Markup('<b class="badge" id="unread-badge" aria-label="{}">{}</b>').format(label, n if n < 100 else "99+")


# --- pages shared between visitors ---------------------------------------------------------------

def _marker(name):
    return f"<!--slot:{name}-->"


def shared_marker(name):
    """For a whole part that is the visitor's own (a block): its marker while a page is rendered
    to be shared, else "" (the template renders the part itself)."""
    return Markup(_marker(name)) if g.get("_rendering_shared") and not g.get("_rendering_own") else ""


def member_slot(name, value):
    """A spot on the page that is the visitor's own (their CSRF token, balance, unread badge): the
    value (called if callable), or, while a page is rendered to be shared (or a member's own part to be
    kept), a marker filled per request."""
    if g.get("_rendering_shared"):
        return Markup(_marker(name))
    return value() if callable(value) else value


def countdown_left(deadline, now):
    """Whole seconds from `now` to `deadline` (never below 0) - or, on a page rendered to be
    shared, a slot counted per request: each visitor's countdown starts from their own moment."""
    if g.get("_rendering_shared"):
        return Markup(_marker(f"left:{deadline.timestamp()!r}"))
    return max(int((deadline - now).total_seconds()), 0)


def countdown_clock(deadline, now):
    """The time left to `deadline` as "N天 HH:MM:SS" (a slot like countdown_left's when shared)."""
    if g.get("_rendering_shared"):
        return Markup(_marker(f"clock:{deadline.timestamp()!r}"))
    left = countdown_left(deadline, now)
    days = gettext("%(d)s天", d=left // 86400) + " " if left > 86400 else ""
    return f"{days}{left % 86400 // 3600:02d}:{left % 3600 // 60:02d}:{left % 60:02d}"


_COUNTDOWN_SLOT = re.compile(r"<!--slot:(left|clock):([0-9.]+)-->")


_KEY_SLOT = re.compile(r"<!--slot:key:(\w+)-->")


def request_key_slot(name, value=new_request_key):
    """A form's request key (`value`: a fresh one, or the form's own), one per `name` on a page: on a
    part rendered to be kept, a slot filled with a fresh key per request, so a kept form never sends
    a key that was already used."""
    return member_slot(f"key:{name}", value)


def _fill_slots(html, own):
    member = is_member(current_user)
    values = {**own, "csrf": generate_csrf, "unread": lambda: str(_unread_badge()),
              "balance": lambda: str(current_user.points_balance) if member else ""}
    for name, render in values.items():  # the visitor's own parts first: they hold slots of their own
        if _marker(name) in html:  # a guest's page has no balance; a panel stands once
            html = html.replace(_marker(name), str(render()))
    if "<!--slot:key:" in html:
        keys = {}
        html = _KEY_SLOT.sub(lambda match: keys.setdefault(match.group(1), new_request_key()), html)
    if "<!--slot:left:" in html:
        now = utcnow()

        def count(match):
            deadline = datetime.fromtimestamp(float(match.group(2)), timezone.utc)
            value = countdown_left(deadline, now) if match.group(1) == "left" else countdown_clock(deadline, now)
            return str(escape(value))
        html = _COUNTDOWN_SLOT.sub(count, html)
    return html


@dataclass(frozen=True)
class Kept:
    """How long a member's own parts may be kept (own_blocks): this member's, under `name`, until a
    write to `tables` commits (their own rows named by cache.rows_of) or `until` passes (None: no
    clock limit; the parts' context may name an earlier moment as "kept_until")."""
    name: str
    tables: tuple
    until: object = None


def own_blocks(template, names, context=dict, kept=None):
    """For shared_page's `own`: these blocks of `template` (or (other template, block) pairs), each
    shown on the shared page by shared_marker(block name), rendered per request with context()
    worked out once for all of them. With `kept` (a Kept), they are rendered once and kept in this
    process for this member until what they show changes; their own slots (CSRF token, request keys
    - request_key_slot -, countdowns) are still filled per request."""
    worked_out = []
    pairs = [name if isinstance(name, tuple) else (template, name) for name in names]

    def render_all():
        values = context()
        current_app.update_template_context(values)  # the context processors, once for all blocks
        return {name: jinja_render_block(current_app.jinja_env, where, name, **values) for where, name in pairs}, values

    def build():
        with _rendering_shared(own=True):
            blocks, values = render_all()
        if any(generate_csrf() in html for html in blocks.values()):  # a form rendered its token directly
            raise _NotShareable(blocks)
        return blocks, min((m for m in (kept.until, values.get("kept_until")) if m is not None), default=None)

    def blocks():
        if not worked_out:
            if kept is None:
                worked_out.append(render_all()[0])
            else:
                try:
                    worked_out.append(shared_cache.shared(
                        f"own:{kept.name}:{current_user.id}:{get_locale()}", kept.tables, build,
                        until=lambda built: built[1], in_process=True)[0])
                except _NotShareable as refused:
                    current_app.logger.warning("%s carries a CSRF token outside member_slot: not kept", kept.name)
                    worked_out.append(refused.html)
        return worked_out[0]
    return {name: functools.partial(lambda name: blocks()[name], name) for _where, name in pairs}


class _NotShareable(Exception):
    def __init__(self, html):
        super().__init__("page not shareable")
        self.html = html


@dataclass(frozen=True)
class SharedPage:
    html: str
    changes_at: object = None


@contextmanager
def _rendering_shared(own=False):
    """Render a page to be shared, or (own=True) a visitor's own parts to be kept: the spots filled
    per request (member_slot) come out as slots; on a shared page, so do the visitor's own parts."""
    before = g.get("_rendering_shared", False), g.get("_rendering_own", False)
    g._rendering_shared, g._rendering_own = True, own
    try:
        yield
    finally:
        g._rendering_shared, g._rendering_own = before


def page_shareable(known_args=(), answer=False):
    """Whether this request may get a shared rendering: a GET (or, with answer=True, a form's answer
    showing the page again) by an anonymous visitor or a member, with no message waiting to be
    flashed, outside WeChat (the JS-SDK signs each URL), with no query argument but `known_args` (a
    link on the page may echo the URL)."""
    from app.services import wechat

    if (request.method != "GET" and not answer) or any(name not in known_args for name in request.args):
        return False
    if current_user.is_authenticated and not is_member(current_user):
        return False
    if session.get("_flashes"):
        return False
    return not (wechat.configured() and wechat.in_wechat(request.user_agent.string))


def shared_page(name, tables, render, own=None, status=200):
    """The page render() makes (-> (response, when its content changes by the clock)), shared by the
    visitors of one kind - anonymous, or the members of one level - in one language until a write to `tables` commits or its
    changes_at passes; the visitor's own spots (member_slot) are filled in per request, and so are
    the parts in `own` (name -> a function rendering it; the template shows shared_marker(name)).
    Call only when page_shareable()."""
    own = own or {}
    level = levels.level_for(current_user.growth).key if is_member(current_user) else "guest"
    key = f"page:{name}:{get_locale()}:{level}:{'fragment' if is_htmx_fragment_request() else 'full'}"

    def build():
        with _rendering_shared():
            response, changes_at = render()
            page = SharedPage(response.get_data(as_text=True), changes_at)
        if generate_csrf() in page.html:  # a form rendered its token directly: this page is not shareable
            raise _NotShareable(page.html)
        return page

    try:
        page = shared_cache.shared(key, tables, build, until=lambda p: p.changes_at)
    except _NotShareable as refused:
        current_app.logger.warning("page %s carries a CSRF token outside member_slot: not shared", name)
        return _html_response(_fill_slots(refused.html, own), status)
    return _html_response(_fill_slots(page.html, own), status)


def _html_response(html, status=200):
    response = make_response(html, status)
    response.headers["Vary"] = "HX-Request"
    return response


def _unread_messages():
    """Unread count for the badge on the 我的 tab (called by the template, once per page)."""
    if "_unread" not in g:
        g._unread = messages.unread_count(current_user.id) if current_user.is_authenticated else 0
    return g._unread


def _shanghai(value, fmt="yyyy-MM-dd HH:mm"):
    """A moment in Shanghai time by a Babel pattern; patterns of numbers only (year, month, day,
    hours, minutes, seconds), as every page uses, by strftime: Babel's own formatting cost a list of
    150 rows 6 ms."""
    if not value:
        return ""
    pattern = _strftime_pattern(fmt)
    return to_shanghai(value).strftime(pattern) if pattern is not None else format_datetime(to_shanghai(value), fmt)


_NUMERIC_FIELDS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


@functools.cache
def _strftime_pattern(fmt):
    """The strftime pattern that writes what the Babel pattern `fmt` does, or None when it has other
    fields (names of months or days, eras ...) or quoted text: Babel formats those."""
    parts = re.split(r"(yyyy|MM|dd|HH|mm|ss)", fmt)
    if any(re.search(r"[A-Za-z']", text) for text in parts[0::2]):
        return None
    return "".join(_NUMERIC_FIELDS[part] if i % 2 else part.replace("%", "%%") for i, part in enumerate(parts))


def _wechat_js():
    """The JS-SDK's wx.config and share link for this page, or None: only inside WeChat, when WeChat
    is configured, on a full page load (iOS WeChat signs the URL the page was entered with).
    A WeChat outage costs the share card and scanner, never the page."""
    from app.services import wechat

    if request.method != "GET" or is_htmx_fragment_request() or not wechat.configured() \
            or not wechat.in_wechat(request.user_agent.string):
        return None
    site = current_app.config["SITE_URL"].rstrip("/")
    try:
        config = wechat.js_config(site + request.full_path.rstrip("?"))
    except DomainError:
        db.session.rollback()
        return None
    code = current_user.invite_code if is_member(current_user) else None
    link = site + request.path + (f"?invite={code}" if code else "")
    return {"config": config, "link": link, "icon": site + url_for("static", filename="img/share-icon.png")}


def remembered_url_for(app, limit=20000):
    """url_for for templates, each URL built once per process (werkzeug's builder costs tens of
    microseconds a call, and a page makes dozens of the same calls). The key is everything the URL
    depends on: the mount point, the endpoint (a relative one with its blueprint) and the values;
    calls with _external, _anchor and the like, or unhashable values, are built every time, and so
    are static files' (their names follow their content, which may change under a running app)."""
    build, built = app.url_for, {}

    def url_for(endpoint, **values):
        if endpoint == "static" or not has_request_context() or any(name.startswith("_") for name in values):
            return build(endpoint, **values)
        try:
            key = (request.script_root, request.blueprint if endpoint.startswith(".") else None, endpoint,
                   frozenset(values.items()))
            url = built.get(key)
        except TypeError:
            return build(endpoint, **values)
        if url is None:
            url = build(endpoint, **values)
            if len(built) < limit:  # values may carry a visitor's search words: the memory stays bounded
                built[key] = url
        return url

    return url_for


def _install_template_gettext(app):
    """Templates' _() and ngettext() with the page's translations looked up once per render (the
    context processor below) instead of once per string: Flask-Babel's lookup walks the request
    context, the locale and the domain each time, a fifth of a page's rendering. Macros imported
    without context find them on g (set by the same render)."""
    def translations(context):
        return context.get("_translations") or (g.get("_translations") if has_app_context() else None) \
            or get_translations()

    app.jinja_env.install_gettext_callables(
        gettext=pass_context(lambda context, s: translations(context).ugettext(s)),
        ngettext=pass_context(lambda context, s, p, n: translations(context).ungettext(s, p, n)),
        pgettext=pass_context(lambda context, c, s: translations(context).upgettext(c, s)),
        npgettext=pass_context(lambda context, c, s, p, n: translations(context).unpgettext(c, s, p, n)),
        newstyle=True)


def _page_translations():
    g._translations = get_translations()  # for macros imported without context; each render sets it anew
    return g._translations


def register_web_helpers(app):
    _install_template_gettext(app)
    app.jinja_env.globals["url_for"] = remembered_url_for(app)
    app.jinja_env.filters["shanghai"] = _shanghai
    app.jinja_env.filters["yuan"] = yuan
    app.jinja_env.globals["phrase_text"] = phrase_text  # a stored phrase id in the reader's language
    app.jinja_env.globals["absolute_url"] = absolute_url
    app.jinja_env.globals["countdown_left"] = countdown_left  # for macros, which see no request context
    app.jinja_env.globals["countdown_clock"] = countdown_clock

    @app.context_processor
    def _context():
        return {
            "site_name": current_app.config["SITE_NAME"],
            "_translations": _page_translations(),
            "current_locale": str(get_locale()),
            "is_htmx": is_htmx_fragment_request(),
            "tabs": TABS,
            "role_names": ROLE_NAMES,
            "viewer_is_member": is_member(current_user),
            "home_endpoint": home_endpoint,
            "unread_messages": _unread_messages,
            "unread_badge": _unread_badge,
            "member_slot": member_slot,
            "request_key_slot": request_key_slot,
            "shared_marker": shared_marker,
            "wechat_js": _wechat_js,
        }

    @app.after_request
    def _remember_language(response):
        if response.mimetype == "text/html":
            response.vary.add("Accept-Language")  # the language may come from the browser's preference
        lang = request.args.get("lang")
        if lang in current_app.config["LANGUAGES"]:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
        return response

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录")
    login_manager.login_message_category = "info"

    @login_manager.unauthorized_handler
    def _unauthorized():
        """Log in first: inside WeChat (when configured) silently through WeChat, elsewhere the login page;
        both come back to the page asked for. htmx requests navigate the whole page."""
        from app.services import wechat

        target = request.full_path.rstrip("?") if request.method == "GET" else None
        if request.method == "GET" and wechat.configured() and wechat.in_wechat(request.user_agent.string):
            return redirect(url_for("auth.wechat_start", next=target))
        flash(login_manager.login_message, login_manager.login_message_category)
        url = url_for("auth.login", next=target) if target else url_for("auth.login")
        if request.headers.get("HX-Request") == "true":
            response = make_response("", 204)
            response.headers["HX-Redirect"] = url
            return response
        return redirect(url)

    @login_manager.user_loader
    def _load_user(session_id):
        # The session (or remember cookie) holds "<id>:<token>"; a token replaced by logout,
        # a password change or disabling the account no longer loads anyone.
        user_text, _sep, token = str(session_id).partition(":")
        user_id = parse_db_id(user_text)
        if user_id is None or not token:
            return None
        user = accounts.signed_in_account(user_id)
        if user is None or user.is_disabled or not user.has_session_token(token):
            return None
        return user
