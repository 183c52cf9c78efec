"""Error pages in the user's language: a rule or a bad link is never a 500."""
from flask import current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

from app.access import home_endpoint, layout_for
from app.extensions import db
from app.routes.params import UnreadableInput
from app.services.errors import DomainError
from app.services.tx import discard_session, write_stage


def _area():
    """(layout, home endpoint) of the visitor's own area: staff and operators stay in their console.
    The mall's own when the account cannot be read (e.g. the database is what failed)."""
    try:
        return layout_for(current_user), home_endpoint(current_user)
    except Exception:  # noqa: BLE001 - an error page must render whatever broke
        db.session.rollback()
        return "base.html", "main.home"


def _page(status, title, message):
    if request.headers.get("HX-Request") == "true":
        body = render_template("errors/_message.html", title=title, message=message)
        response = (body, status, {"HX-Retarget": "#toast", "HX-Reswap": "innerHTML"})
        return response
    layout, home = _area()
    return render_template("errors/error.html", title=title, message=message, status=status, layout=layout,
                           home=home), status


def _without_database(template, title, message):
    """A page rendered with Jinja alone: the app's context processors read the visitor's account,
    which needs the database that just failed."""
    return current_app.jinja_env.get_template(template).render(
        title=title, message=message, request=request, site_name=current_app.config["SITE_NAME"],
        current_locale=str(get_locale()))


def _outage_words():
    """What the member should believe about their action when the database went away."""
    stage = write_stage() if request.method == "POST" else None
    if stage == "committed":  # done; only the page after it could not be read
        return _("操作已完成"), _("你的操作已经完成，但页面暂时无法显示，请稍后刷新查看")
    if stage == "committing":  # the COMMIT was sent and its answer lost: it may or may not have happened
        return _("结果未知"), _("系统繁忙，暂时无法确认你的操作是否完成，请稍后在订单或积分明细中查看；"
                             "再次提交同一页面不会重复扣除")
    return _("服务暂时不可用"), _("系统繁忙，你的操作没有生效，请稍后再试")


def register_error_handlers(app):
    @app.errorhandler(DomainError)
    def _domain(error):
        db.session.rollback()
        return _page(error.status, _("操作未完成"), str(error.message))

    @app.errorhandler(CSRFError)
    def _csrf(_error):
        return _page(400, _("页面已过期"), _("页面已过期，请刷新后重试"))

    @app.errorhandler(UnreadableInput)
    def _unreadable(_error):
        return _page(400, _("请求有误"), _("请求中含有无法识别的字符，请删除后重试"))

    @app.errorhandler(400)
    def _bad_request(_error):
        return _page(400, _("请求有误"), _("请求有误，请检查后重试"))

    @app.errorhandler(403)
    def _forbidden(_error):
        return _page(403, _("无权访问"), _("你没有权限访问该页面"))

    @app.errorhandler(404)
    def _not_found(_error):
        return _page(404, _("页面不存在"), _("你要找的页面不存在或已下架"))

    @app.errorhandler(405)
    def _method(_error):
        return _page(405, _("请求有误"), _("请求方式不正确"))

    @app.errorhandler(413)
    def _too_large(_error):
        limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return _page(413, _("文件太大"), _("上传的文件太大，一次最多上传 %(mb)s MB", mb=limit) if limit
                     else _("上传的文件太大"))

    @app.errorhandler(429)
    def _limited(_error):
        return _page(429, _("操作太频繁"), _("操作太频繁，请稍后再试"))

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PendingRollbackError)  # a connection lost mid-transaction, met again before the rollback
    def _database_unavailable(error):
        """The database is down, restarting or too busy: a clear 503, nothing half done (the
        transaction rolled back), and the pool reconnects by itself (pool_pre_ping)."""
        try:
            db.session.rollback()
        except (DBAPIError, PendingRollbackError):
            discard_session()
        current_app.logger.warning("database unavailable: %s", getattr(error, "orig", error))
        title, message = _outage_words()
        if request.headers.get("HX-Request") == "true":
            body = _without_database("errors/_message.html", title, message)
            return body, 503, {"HX-Retarget": "#toast", "HX-Reswap": "innerHTML", "Retry-After": "5"}
        return _without_database("errors/unavailable.html", title, message), 503, {"Retry-After": "5"}

    @app.errorhandler(500)
    def _server(_error):
        title, message = _("服务器开小差了"), _("请稍后再试")
        try:
            db.session.rollback()
            return _page(500, title, message)
        except Exception:  # noqa: BLE001 - the page itself needs the database: the page that does not
            discard_session()
            return _without_database("errors/unavailable.html", title, message), 500
