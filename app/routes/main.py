"""The mall's front door: banners, categories, flash sales, hot products, the leaderboard."""
from flask import Blueprint

from app.routes import shop as shop_pages
from app.routes.web import render_page
from app.services import catalog
from app.services.clock import utcnow

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    now = utcnow()
    return render_page(
        "main/home.html", banners=catalog.banners(), categories=catalog.categories(),
        flash_items=catalog.flash_products(), hot=shop_pages.cards("hot", catalog.hot_products),
        board=catalog.leaderboard(),
        now=now, sale_state=catalog.sale_state,
    )
