"""The mall's front door: banners, categories, flash sales, hot products, the leaderboard."""
from datetime import timedelta

from flask import Blueprint

from app.routes import shop as shop_pages
from app.routes.web import own_blocks, page_shareable, render_page, shared_page
from app.services import cache as shared_cache
from app.services import catalog
from app.services.clock import utcnow

bp = Blueprint("main", __name__)


HOME_TABLES = shared_cache.watch("banners")


@bp.get("/")
def home():
    def render():
        hot, flash_items, now = shop_pages.cards("hot", catalog.hot_products), catalog.flash_products(), utcnow()
        response = render_page("main/home.html", banners=catalog.banners(), categories=catalog.categories(),
                               hot=hot, board=catalog.leaderboard(), flash_items=flash_items, now=now,
                               sale_state=catalog.sale_state)
        # The leaderboard is recounted every LEADERBOARD_SECONDS; the hot cards and the 限时兑 strip
        # change when a sale window opens or closes (its countdowns are counted per request).
        board_until = now + timedelta(seconds=catalog.LEADERBOARD_SECONDS)
        return response, min(m for m in (hot.changes_at, catalog.next_window_change(flash_items), board_until) if m)

    if not page_shareable():
        return render()[0]
    # Banners, categories, flash sales, hot cards and the board are the same for every member of a
    # level: shared whole; the balance, the countdowns and the newbie gift are each visitor's own.
    return shared_page("home", (*shop_pages.GRID_TABLES, *HOME_TABLES), render,
                       own=own_blocks("main/home.html", ("home_newbie",)))
