"""Games: lucky draws with their public odds, the newbie gift, points treasure."""
from flask import Blueprint, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.access import is_member, member_required
from app.forms.games import DismissForm, DrawForm, TreasureBuyForm
from app.routes.params import id_arg
from app.routes.web import (Kept, htmx_redirect, is_htmx_fragment_request, own_blocks, page_shareable, render_page,
                            shared_page)
from app.services import draws, spend_quotes, treasure
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound

bp = Blueprint("games", __name__)


def _newbie_gift_offer():
    """For the home page popup: {'draw', 'headline', 'form'} or None (cached per request)."""
    if "newbie_gift_offer" not in g:
        offer = _newbie_gift_card()
        offer = None if offer is None or offer.popup_closed else offer
        g.newbie_gift_offer = offer and {"draw": offer.draw, "headline": offer.headline, "sure_win": offer.sure_win,
                                         "form": DismissForm()}
    return g.newbie_gift_offer


def _newbie_gift_card():
    """For /me and home: the member's unused newbie gift, popup closed or not (cached per request)."""
    if "newbie_gift_card" not in g:
        g.newbie_gift_card = draws.newbie_offer(current_user.id) if is_member(current_user) else None
    return g.newbie_gift_card


@bp.app_context_processor
def _games_context():
    return {"newbie_gift_offer": _newbie_gift_offer, "newbie_gift_card": _newbie_gift_card,
            "tier_label": draws.tier_label}


def _checked(form):
    """Validate a bare POST button form; a stale page gets a clear message, never a half-done change."""
    if not form.validate_on_submit():
        raise DomainError(_("页面已过期，请刷新后重试"))


# --- lucky draws -------------------------------------------------------------------------

@bp.get("/draws")
def index():
    return render_page("games/index.html", draws=draws.active_draws(), rounds=treasure.open_rounds())


def _draw_shown(draw):
    """What a draw page shows every visitor of a level: the draw, its prizes, whether it always wins."""
    return {"draw": draw, "prizes": draw.prizes, "member": is_member(current_user), "sure_win": draws.always_wins(draw)}


def _draw_context(draw, play=None, animate=False, balance=None, confirm=None, form=None):
    member = is_member(current_user)
    return {
        **_draw_shown(draw), "play": play, "animate": animate, "oob_balance": balance,
        "form": form or DrawForm(formdata=None), "confirm": confirm,
        "left_today": draws.draws_left_today(current_user.id, draw) if member else None,
        "pity_left": draws.pity_left(current_user.id, draw) if member else None,
        "newbie_state": draws.newbie_gift_state(current_user.id) if member and draw.purpose == "newbie" else None,
        "closed": draws.schedule_refusal(draw),
    }


@bp.get("/draw/<id:draw_id>")
def draw(draw_id):
    found = draws.shown_draw(draw_id)
    if not page_shareable():  # among others, ?play= (the result of a play without JavaScript)
        play_id = id_arg("play")
        play = draws.get_play(current_user.id, play_id) if play_id and is_member(current_user) else None
        return render_page("games/draw.html", **_draw_context(found, play=play))
    # The hero, prizes and links are the same for every member of a level: shared whole; the big
    # button and the panel (plays left today, pity, the form) are each visitor's own.
    return shared_page(f"draw:{found.id}", draws.DRAW_TABLES,
                       lambda: (render_page("games/draw.html", **_draw_shown(found)), None),
                       own=own_blocks("games/draw.html", (("games/_draw_go.html", "draw_go"), "draw_panel"),
                                      lambda: _draw_context(found), kept=_kept_panel(found)))


def _kept_panel(found):
    """A member's button and panel as first shown are kept until their plays or the draw change (the
    newbie gift's, which reads their spending too, is worked out per request)."""
    if not is_member(current_user) or found.purpose == "newbie":
        return None
    return Kept(f"draw:{found.id}", *draws.panel_kept(current_user.id, found))


@bp.post("/draw/<id:draw_id>/play")
@member_required
def play(draw_id):
    form = DrawForm()
    _checked(form)
    shown = draws.shown_draw(draw_id)
    if form.confirmed.data != "1" and spend_quotes.needs_confirmation(shown.cost):
        # A costly play is confirmed first (the same request key: a double tap is still one play).
        context = _draw_context(shown, confirm=draws.quote_play(current_user.id, draw_id), form=form)
        return render_page("games/draw.html", block="draw_panel", **context)
    result = draws.play_draw(current_user.id, draw_id, form.request_key.data)
    if not is_htmx_fragment_request():
        return redirect(url_for("games.draw", draw_id=draw_id, play=result.id), 303)
    context = _draw_context(draws.get_draw(draw_id), play=result, animate=True,
                            balance=draws.fresh_balance(current_user.id))
    return render_page("games/draw.html", block="draw_panel", **context)


@bp.get("/draw/<id:draw_id>/odds")
def odds(draw_id):
    found = draws.shown_draw(draw_id)
    return render_page("games/odds.html", draw=found, rows=draws.odds(found), win_chance=draws.win_chance_text(found),
                       sure_win=draws.always_wins(found), now=utcnow(), newbie_days=draws.NEWBIE_GIFT_DAYS)


@bp.get("/draw/<id:draw_id>/history")
@member_required
def history(draw_id):
    found = draws.get_draw(draw_id)
    plays, next_before = draws.play_history(current_user.id, found.id, before_id=id_arg("before"))
    return render_page("games/history.html", block="history_rows", draw=found, plays=plays, next_before=next_before,
                       prize_orders=draws.prize_orders(current_user.id, plays))


@bp.post("/newbie-gift/dismiss")
@member_required
def dismiss_newbie_gift():
    _checked(DismissForm())
    draws.dismiss_newbie_gift(current_user.id)
    if is_htmx_fragment_request():
        return ""  # the popup swaps itself out
    return redirect(url_for("main.home"), 303)


# --- points treasure ---------------------------------------------------------------------

@bp.get("/treasure")
def treasure_index():
    treasure.settle_expired_rounds()  # refunds at the deadline even before the cron job runs
    return render_page("games/treasure_index.html", rounds=treasure.open_rounds(),
                       results=treasure.recent_results())


PURCHASES_SHOWN = 50  # a round's page lists its latest purchases; the draw's records list every share


def _round_context(rnd, form=None, error=None, balance=None):
    records = treasure.draw_input(rnd) if rnd.status == "won" else []
    purchases, purchase_count = treasure.latest_purchases(rnd.id, PURCHASES_SHOWN)
    return {
        "round": rnd, "form": form or TreasureBuyForm(formdata=None), "error": error, "oob_balance": balance,
        "member": is_member(current_user), "purchases": purchases, "purchase_count": purchase_count,
        "records": records,
        "mine": treasure.my_share_numbers(current_user.id, rnd.id) if is_member(current_user) else [],
        "next_round": treasure.current_round_of(rnd.item_id) if rnd.status != "open" else None,
        "rule": treasure.WINNING_RULE if rnd.seed else treasure.LEGACY_RULE, "now": utcnow(),
    }


@bp.get("/treasure/<id:round_id>")
def treasure_round(round_id):
    treasure.settle_expired_rounds()
    return render_page("games/treasure_round.html", **_round_context(treasure.get_round(round_id)))


@bp.get("/treasure/<id:round_id>/records.txt")
def treasure_records(round_id):
    rnd = treasure.get_round(round_id)
    if rnd.status != "won":
        raise NotFound(_("本期尚未开奖"))
    return "\n".join(treasure.draw_input(rnd)), 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/treasure/<id:round_id>/buy")
@member_required
def treasure_buy(round_id):
    # The purchase reads the round itself (404 if there is none): one that succeeds reads nothing
    # before its transaction; the round is read to price a confirmation and for an answer that shows it.
    form, purchase, error = TreasureBuyForm(), None, None
    confirm = None
    if form.validate_on_submit():
        try:
            if form.confirmed.data != "1" and spend_quotes.needs_confirmation(
                    form.quantity_value * treasure.get_round(round_id).share_price):
                # A costly purchase is confirmed first (the same request key: a double tap is one purchase).
                confirm = treasure.quote_shares(current_user.id, round_id, form.quantity_value)
            else:
                purchase = treasure.buy_shares(current_user.id, round_id, form.quantity_value, form.request_key.data)
        except NotFound:
            raise
        except DomainError as refused:
            if refused.field == "quantity":
                form.quantity.errors.append(str(refused.message))
            else:
                error = str(refused.message)
    if purchase is not None and (not is_htmx_fragment_request() or treasure.get_round(round_id).status != "open"):
        flash(ngettext("购买成功：%(num)s 份，号码 %(a)s–%(b)s", "购买成功：%(num)s 份，号码 %(a)s–%(b)s",
                       purchase.quantity, a=purchase.first_share_no, b=purchase.last_share_no), "success")
        return htmx_redirect("games.treasure_round", round_id=round_id)
    context = _round_context(treasure.get_round(round_id), form=None if purchase else form, error=error,
                             balance=draws.fresh_balance(current_user.id))
    return render_page("games/treasure_round.html", block="buy_panel", status=200 if purchase or confirm else 422,
                       bought=purchase, confirm=confirm, **context)
