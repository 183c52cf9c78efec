"""The shop: catalogue, product pages with redemption, orders, vouchers, coupons, addresses."""
import functools
from dataclasses import dataclass

from flask import (Blueprint, current_app, flash, has_request_context, redirect, render_template, request,
                   send_from_directory, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from flask_login import current_user

from app.access import is_member, member_required
from app.forms.base import ActionForm
from app.forms.shop import AddressForm, OrderAddressForm, RedeemForm, SandboxPayForm
from app.routes.params import id_arg
from app.routes.web import (Kept, htmx_redirect, is_htmx_fragment_request, own_blocks, page_shareable, render_page, safe_next,
                            shared_page)
from app.services import addresses as address_book
from app.services import cache as shared_cache
from app.services import catalog, images, levels, payments, shop, voucher_states, vouchers
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound

bp = Blueprint("shop", __name__)

YEAR_SECONDS = 365 * 86400


@bp.app_template_global()
def member_price(product):
    """The logged-in member's level price of a product when it is lower than the list price, else None."""
    if not is_member(current_user) or not product.points_price:
        return None
    mine = shop.price_for(product, current_user.growth)
    return mine if mine < product.points_price else None


@bp.app_template_global()
def upload_url(path):
    """Where an image stored in UPLOAD_DIR is served (built once per path: pages show many)."""
    if not path:
        return None
    return _upload_url(request.script_root, path) if has_request_context() else url_for("shop.upload", filename=path)


@functools.lru_cache(maxsize=8192)
def _upload_url(_script_root, path):
    return url_for("shop.upload", filename=path)


@bp.app_template_global()
def stored_rendition(path, name, fmt=None):
    """The stored rendition ("thumb", "card", "detail") of an image, as JPEG or fmt="webp", if it exists."""
    return images.stored_rendition(path, name, fmt) if path else None


@bp.app_template_global()
def srcset(path, fmt=None):
    """The srcset of an image's stored renditions, smallest first ("… 240w, … 480w, … 750w"), as JPEG
    or fmt="webp"; None when fewer than two are stored (images from before renditions)."""
    root = request.script_root if has_request_context() else ""
    return _srcset(root, current_app.config["UPLOAD_DIR"], path, fmt) if path else None


@functools.lru_cache(maxsize=8192)
def _srcset(_script_root, _upload_dir, path, fmt):
    found = [(images.stored_rendition(path, name, fmt), width)
             for name, width in sorted(images.RENDITIONS.items(), key=lambda item: item[1])]
    found = [(stored, width) for stored, width in found if stored]
    return ", ".join(f"{upload_url(stored)} {width}w" for stored, width in found) if len(found) > 1 else None


@bp.get("/static/uploads/<path:filename>")
def upload(filename):
    # Every stored image has a name of its own (a random one per upload; a replaced picture is a new
    # file), so a phone may keep each for a year without asking again.
    response = send_from_directory(current_app.config["UPLOAD_DIR"], filename, max_age=YEAR_SECONDS)
    response.cache_control.immutable = True
    return response


@dataclass(frozen=True)
class Grid:
    html: Markup
    any: bool
    changes_at: object = None  # when a shown product's sale window opens or closes


def product_grid(query):
    """One page of the shelf's cards with the link to the next, shared (see cards()); a search
    (words typed) is rendered for its reader alone."""
    def render():
        items, has_more = catalog.search_products(query)
        return _grid("shop/_product_grid.html", items, has_more=has_more, query=query)
    if query.q:
        return render()
    return _shared_grid(f"grid:{sorted(query.args(page=query.page).items())}", render)


def cards(name, load):
    """Product cards as HTML, shared by the members of one level (the prices they see) in one
    language until a product, category or setting changes or a shown sale window turns."""
    return _shared_grid(f"cards:{name}", lambda: _grid("shop/_cards.html", load()))


def _grid(template, items, **context):
    return Grid(Markup(render_template(template, items=items, **context)), bool(items),
                catalog.next_window_change(items))


def _shared_grid(name, render):
    level = levels.level_for(current_user.growth).key if is_member(current_user) else "guest"
    return shared_cache.shared(f"{name}:{get_locale()}:{level}", GRID_TABLES, render,
                               until=lambda grid: grid.changes_at)


GRID_TABLES = (*catalog.PRODUCT_TABLES, *shared_cache.watch("settings"))


@bp.get("/products")
def products():
    query = catalog.ProductQuery.from_args(request.args)

    def render():
        grid = product_grid(query)
        return render_page("shop/products.html", block="product_items", query=query, grid=grid,
                           categories=catalog.categories(), category=catalog.get_category(query.category_id),
                           tiers=catalog.points_tiers(), sorts=catalog.sort_labels()), grid.changes_at

    # The shelf is the same for every member of a level: shared whole, the visitor's spots filled in.
    if query.q or not page_shareable(catalog.ProductQuery.ARGS):
        return render()[0]
    return shared_page(f"products:{sorted(query.args(page=query.page).items())}", GRID_TABLES, render)


def _product_page(product, form=None, order=None, status=200, confirm=None, panel=True):
    """The product page (or its redeem panel for htmx), with everything the member may do; with
    panel=False, for sharing: the panel's member parts are then each visitor's own (see product())."""
    context = _panel_context(product, form, order, confirm) if panel else _panel_shown(product)
    return render_page("shop/product.html", block="redeem_panel", status=status,
                       description=catalog.sanitize_html(product.description_html), **context)


def _panel_shown(product):
    """What the redeem panel shows every visitor of a level: the price, stock, sale window, rules."""
    member = current_user if current_user.is_authenticated else None
    return dict(product=product, state=catalog.sale_state(product), now=utcnow(),
                price=shop.price_for(product, member.growth) if member else product.points_price,
                level_needed=shop.required_level(product))


def _panel_context(product, form=None, order=None, confirm=None):
    """What the redeem panel shows this visitor: besides the shown parts, their limits, addresses,
    what stops them, and the form."""
    context = _panel_shown(product)
    member = current_user if current_user.is_authenticated else None
    limits = shop.member_limits(member.id, product) if member else []
    return dict(
        context, form=form or RedeemForm(), order=order, limits=limits, confirm=confirm,
        blocker=shop.redeem_blocker(member, product, limits, context["price"]) if member else None,
        addresses=address_book.shown_addresses(member.id) if member and product.kind == "physical" else [],
        max_quantity=shop.max_quantity(),
    )


@bp.get("/products/<id:product_id>")
def product(product_id):
    item = catalog.shown_product(product_id)
    if is_htmx_fragment_request() or not page_shareable():
        return _product_page(item)
    return _shared_product_page(item)


def _shared_product_page(item, form=None, status=200):
    # Gallery, details, store, price, stock and sale window are the same for every member of a level:
    # shared whole; the limits used and the form (addresses, what stops them, token) are each visitor's.
    return shared_page(f"product:{item.id}", GRID_TABLES,
                       lambda: (_product_page(item, panel=False), catalog.next_window_change([item])),
                       own=own_blocks("shop/product.html", ("redeem_limits", "redeem_form"),
                                      lambda: _panel_context(item, form), kept=_kept_panel(item, form)), status=status)


def _kept_panel(item, form):
    """A member's panel as first shown (no answer to a form in it) is kept until what it shows changes."""
    if form is not None or not is_member(current_user):
        return None
    return Kept(f"redeem:{item.id}", *shop.redeem_panel_kept(current_user.id, item))


@bp.post("/products/<id:product_id>/redeem")
@member_required
def redeem(product_id):
    # The redemption reads the product itself (404 if there is none): a redemption that succeeds
    # reads nothing before its transaction; only an answer that shows the product reads it to show.
    form, order = RedeemForm(), None
    if form.validate_on_submit():
        try:
            if form.confirmed.data != "1":  # a spend above the threshold is confirmed first (same request key)
                quote = shop.quote_redemption(current_user.id, product_id, form.quantity.data,
                                              address_id=form.address_id.data)
                if shop.needs_confirmation(quote):
                    return _product_page(catalog.shown_product(product_id), form=form, confirm=quote)
            order = shop.redeem_product(current_user.id, product_id, form.quantity.data, form.request_key.data,
                                        address_id=form.address_id.data)
        except NotFound:
            raise
        except DomainError as refusal:
            _show_refusal(form, refusal)
    if order is not None and not is_htmx_fragment_request():
        flash(_("兑换成功"), "success")
        return redirect(url_for("shop.order", order_id=order.id), 303)
    item = catalog.shown_product(product_id)  # after a redemption: with the stock it left
    if order is not None:  # htmx: the panel again
        return _product_page(item, form=RedeemForm(formdata=None), order=order)
    if is_htmx_fragment_request():
        return _product_page(item, form=form)
    # Refused (sold out, a limit, too few points) or not valid: the product page again, the message by the form.
    if page_shareable(answer=True):
        return _shared_product_page(item, form=form, status=422)
    return _product_page(item, form=form, status=422)


def _show_refusal(form, refusal):
    """Put a refusal's message next to its field, or above the form."""
    field = getattr(form, refusal.field, None) if refusal.field else None
    (field.errors if field is not None else form.form_errors).append(str(refusal.message))


@bp.get("/orders")
@member_required
def orders():
    tab = request.args.get("tab") if request.args.get("tab") in shop.ORDER_TABS else "all"
    rows, next_before = shop.list_orders(current_user.id, tab, before_id=id_arg("before"))
    return render_page("shop/orders.html", block="order_rows", rows=rows, tab=tab, next_before=next_before,
                       status_label=shop.status_label, order_state=shop.order_state,
                       last_redemption=voucher_states.last_redemption)


@bp.get("/orders/<id:order_id>")
@member_required
def order(order_id):
    found = shop.get_order(order_id, current_user.id)
    provider, checkout = shop.pending_payment_for(found)
    return render_page("shop/order.html", order=found, status_label=shop.status_label, can_cancel=shop.can_cancel(found),
                       provider=provider, checkout=checkout, pay_form=SandboxPayForm(), action_form=ActionForm(),
                       address_form=OrderAddressForm(),
                       addresses=address_book.list_addresses(current_user.id) if found.status == "paid" else [],
                       grouped=vouchers.grouped, now=utcnow(), order_state=shop.order_state,
                       voucher_state=vouchers.voucher_state, last_redemption=voucher_states.last_redemption)


def _order_action(order_id, form, act):
    """Run an order page button, then back to the order: a refusal is a flash there (a toast for htmx)."""
    shop.get_order(order_id, current_user.id)  # another member's or a missing order: 404, whatever the form
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return htmx_redirect("shop.order", order_id=order_id)
    try:
        message, category = act()
    except NotFound:
        raise
    except DomainError as refusal:
        if is_htmx_fragment_request():
            raise  # the error handler shows it as a toast
        message, category = refusal.message, "error"
    flash(str(message), category)
    return htmx_redirect("shop.order", order_id=order_id)


@bp.post("/orders/<id:order_id>/cancel")
@member_required
def cancel(order_id):
    def act():
        shop.cancel_order(current_user.id, order_id)
        return _("订单已取消，积分已退回"), "success"
    return _order_action(order_id, ActionForm(), act)


@bp.post("/orders/<id:order_id>/receive")
@member_required
def receive(order_id):
    def act():
        shop.confirm_receipt(current_user.id, order_id)
        return _("已确认收货"), "success"
    return _order_action(order_id, ActionForm(), act)


@bp.post("/orders/<id:order_id>/address")
@member_required
def order_address(order_id):
    form = OrderAddressForm()

    def act():
        shop.set_order_address(current_user.id, order_id, form.address_id.data)
        return _("收货地址已更新"), "success"
    return _order_action(order_id, form, act)


@bp.post("/orders/<id:order_id>/pay/sandbox")
@member_required
def sandbox_pay(order_id):
    form = SandboxPayForm()

    def act():
        payment = payments.sandbox_pay(current_user.id, order_id, form.outcome.data == "success")
        if payment.status == "succeeded":
            return _("支付成功"), "success"
        return _("支付未成功，可在订单超时前重新支付"), "error"
    return _order_action(order_id, form, act)


@bp.get("/me/vouchers")
@member_required
def my_vouchers():
    now = utcnow()
    tab = request.args.get("tab") if request.args.get("tab") in voucher_states.VOUCHER_TABS else "usable"
    return render_page("shop/vouchers.html", groups=voucher_states.member_voucher_groups(current_user.id, now),
                       tab=tab, now=now, state=vouchers.voucher_state, qr_svg=vouchers.qr_svg,
                       grouped=vouchers.grouped)


@bp.get("/me/coupons")
@member_required
def my_coupons():
    return render_page("shop/coupons.html", rows=vouchers.member_coupons(current_user.id),
                       state=vouchers.coupon_state, grouped=vouchers.grouped)


@bp.get("/me/addresses")
@member_required
def addresses():
    return render_page("shop/addresses.html", rows=address_book.list_addresses(current_user.id), form=ActionForm(),
                       next_url=safe_next(request.args.get("next"), "shop.addresses"))


@bp.route("/me/addresses/new", methods=["GET", "POST"])
@member_required
def new_address():
    form = AddressForm()
    if form.validate_on_submit():
        address_book.add_address(current_user.id, name=form.name.data, phone=form.phone.data, region=form.region.data,
                         detail=form.detail.data, make_default=form.make_default.data)
        flash(_("收货地址已保存"), "success")
        return redirect(safe_next(request.args.get("next"), "shop.addresses"), 303)
    return render_page("shop/address_form.html", form=form, status=422 if form.errors else 200)


@bp.post("/me/addresses/<id:address_id>/delete")
@member_required
def delete_address(address_id):
    if ActionForm().validate_on_submit():
        address_book.delete_address(current_user.id, address_id)
        flash(_("收货地址已删除"), "success")
    return htmx_redirect("shop.addresses")
