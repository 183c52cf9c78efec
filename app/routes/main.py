"""The mall's front door: banners, categories, flash sales, hot products, the leaderboard."""
from datetime import timedelta

from flask import Blueprint
from jinja2_fragments.flask import render_block

from app.routes import shop as shop_pages
from app.routes.web import page_shareable, render_page, shared_page
from app.services import cache as shared_cache
from app.services import catalog
from app.services.clock import utcnow

bp = Blueprint("main", __name__)


HOME_TABLES = shared_cache.watch("banners")


def _flash_strip(now):
    """The 限时兑 strip's context: its countdowns read the clock, so it is rendered per request."""
    return {"flash_items": catalog.flash_products(), "now": now, "sale_state": catalog.sale_state}


@bp.get("/")
def home():
    def render():
        hot, now = shop_pages.cards("hot", catalog.hot_products), utcnow()
        response = render_page("main/home.html", banners=catalog.banners(), categories=catalog.categories(),
                               hot=hot, board=catalog.leaderboard(), **_flash_strip(now))
        # The leaderboard is recounted every LEADERBOARD_SECONDS; the hot cards change with sale windows.
        board_until = now + timedelta(seconds=catalog.LEADERBOARD_SECONDS)
        return response, min(hot.changes_at or board_until, board_until)

    if not page_shareable():
        return render()[0]
    # Banners, categories, hot cards and the board are the same for every member of a level: shared
    # whole; the balance, the flash sales' countdowns and the newbie gift are each visitor's own.
    return shared_page("home", (*shop_pages.GRID_TABLES, *HOME_TABLES), render, own={
        "flash": lambda: render_block("main/home.html", "home_flash", **_flash_strip(utcnow())),
        "newbie": lambda: render_block("main/home.html", "home_newbie"),
    })
