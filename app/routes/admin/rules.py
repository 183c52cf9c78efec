"""Game and rule settings (玩法与规则): settings forms with a member preview, points packets,
lucky draws and their prize pools (the newbie gift is a draw too), treasure items and rounds."""
from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import Field, FieldList, FormField

from app.forms.base import ActionForm
from app.forms.rules import (SETTINGS_FORMS, DrawForm, NewDrawForm, NewPacketForm, NewTreasureItemForm,
                             PacketForm, PacketSwitchForm, PrizePoolForm, TreasureItemForm, as_local, now_local)
from app.routes.admin import bp, nav_entry
from app.routes.web import form_action, is_htmx_fragment_request, render_page
from app.services import draws as draw_service
from app.services import rule_admin
from app.services.errors import DomainError
from app.services.tasks import DAILY_TASKS, NEWBIE_TASKS

nav_entry("admin.rules", _l("玩法与规则"), 60)


def _field_error(form, error):
    """Put a service's refusal on its field (e.g. 'levels-2-min_growth'), else on the form."""
    target = form
    for part in (error.field or "").split("-"):
        if hasattr(target, "entries") and part.isdigit() and int(part) < len(target.entries):
            target = target.entries[int(part)]
            target = getattr(target, "form", target)
        elif part and hasattr(target, "_fields") and part in target._fields:
            target = target[part]
        else:
            break
    if isinstance(target, Field) and not isinstance(target, (FieldList, FormField)):
        target.errors = list(target.errors) + [error.message]
    else:
        form.form_errors.append(error.message)


# ---- the landing -------------------------------------------------------------------------------

@bp.get("/rules")
def rules():
    return render_page("admin/rules/index.html", groups=rule_admin.SETTING_GROUPS,
                       draws=rule_admin.all_draws(), packets=rule_admin.all_packets()[:5],
                       items=rule_admin.all_items())


# ---- settings groups ---------------------------------------------------------------------------

def _preview_context(group, values):
    return {"values": values, "newbie_tasks": NEWBIE_TASKS, "daily_tasks": DAILY_TASKS}


@bp.route("/rules/settings/<group>", methods=["GET", "POST"])
def rule_settings(group):
    if group not in rule_admin.SETTING_GROUPS:
        abort(404)
    form = SETTINGS_FORMS[group]()
    current = rule_admin.current_group(group)
    if request.method == "GET":
        form.load(current)
    preview, status, previewing, invalid = current, 200, False, False
    if request.method == "POST":
        if form.validate():
            preview = rule_admin.merged_group(group, form.changes())
            if request.form.get("action") == "preview":
                previewing = True
            else:
                try:
                    rule_admin.save_settings(current_user.id, group, form.changes())
                except DomainError as error:
                    _field_error(form, error)
                    status = 422
                else:
                    flash(_("已保存，会员下一次操作即按新规则"), "success")
                    return redirect(url_for("admin.rule_settings", group=group), 303)
        else:
            status, invalid = 422, True
    if is_htmx_fragment_request():  # the live preview: only the preview block, always swapped in
        status = 200
    return render_page("admin/rules/settings.html", block="preview", form=form, group=group,
                       title=rule_admin.SETTING_GROUPS[group][0], previewing=previewing, invalid=invalid,
                       status=status, **_preview_context(group, preview))


# ---- points packets ----------------------------------------------------------------------------

@bp.get("/rules/packets")
def rule_packets():
    return render_page("admin/rules/packets.html", packets=rule_admin.all_packets(), switch=PacketSwitchForm())


@bp.route("/rules/packets/new", methods=["GET", "POST"])
def rule_new_packet():
    form = NewPacketForm()
    if request.method == "GET":
        form.starts_at.data = now_local()
    elif form.validate():
        try:
            packet = rule_admin.create_packet(current_user.id, form.request_key.data, **form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("积分红包「%(title)s」已发布", title=packet.title), "success")
            return redirect(url_for("admin.rule_packets"), 303)
    return render_page("admin/rules/packet_form.html", form=form, packet=None,
                       status=422 if request.method == "POST" else 200)


@bp.route("/rules/packets/<id:packet_id>", methods=["GET", "POST"])
def rule_edit_packet(packet_id):
    packet = _or_404(rule_admin.packet_by_id, packet_id)
    form = PacketForm()
    if request.method == "GET":
        form.process(obj=packet)
        form.starts_at.data, form.ends_at.data = as_local(packet.starts_at), as_local(packet.ends_at)
    elif form.validate():
        try:
            rule_admin.update_packet(current_user.id, packet.id, **form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("已保存"), "success")
            return redirect(url_for("admin.rule_packets"), 303)
    return render_page("admin/rules/packet_form.html", form=form, packet=packet,
                       status=422 if request.method == "POST" else 200)


@bp.post("/rules/packets/<id:packet_id>/switch")
def rule_switch_packet(packet_id):
    packet = _or_404(rule_admin.packet_by_id, packet_id)
    form = PacketSwitchForm()
    if not form.validate() or form.enabled.data not in ("0", "1"):
        flash(_("页面已过期，请刷新后重试"), "error")
    else:
        try:
            rule_admin.update_packet(current_user.id, packet.id, enabled=form.enabled.data == "1")
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("已启用") if form.enabled.data == "1" else _("已停用"), "success")
    return redirect(url_for("admin.rule_packets"), 303)


def _or_404(lookup, object_id):
    try:
        return lookup(object_id)
    except DomainError:
        abort(404)


# ---- lucky draws -------------------------------------------------------------------------------

@bp.get("/rules/draws")
def rule_draws():
    return render_page("admin/rules/draws.html", draws=rule_admin.all_draws())


@bp.route("/rules/draws/new", methods=["GET", "POST"])
def rule_new_draw():
    form = NewDrawForm()
    if request.method == "GET":
        form.cost.data, form.daily_limit.data, form.slots.data = 10, 0, 8
        form.skin.data = "grid"
        if request.args.get("purpose") == "newbie":
            form.purpose.data, form.name.data = "newbie", _("新手礼包")
    elif form.validate():
        try:
            draw = rule_admin.create_draw(current_user.id, form.request_key.data, **form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("抽奖已创建（未上线）：请设置奖池后再上线"), "success")
            return redirect(url_for("admin.rule_edit_draw", draw_id=draw.id), 303)
    return render_page("admin/rules/draw_new.html", form=form, status=422 if request.method == "POST" else 200)


def _draw_page(draw, form=None, pool=None, status=200):
    if form is None:
        form = DrawForm(formdata=None)
        form.load(draw)
    prizes = list(draw.prizes)
    if pool is None:
        pool = PrizePoolForm(formdata=None)
        pool.load(prizes)
    weights = [entry.form.weight.data if isinstance(entry.form.weight.data, int) else 0 for entry in pool.prizes]
    return render_page("admin/rules/draw_edit.html", draw=draw, form=form, pool=pool, prizes=prizes,
                       shares=rule_admin.weight_percentages(weights), played=rule_admin.played_prize_ids(draw.id),
                       odds=draw_service.odds(draw), slots=rule_admin.slot_range(draw.skin),
                       action=ActionForm(), status=status)


@bp.route("/rules/draws/<id:draw_id>", methods=["GET", "POST"])
def rule_edit_draw(draw_id):
    draw = _or_404(rule_admin.find_draw, draw_id)
    if request.method == "GET":
        return _draw_page(draw)
    form = DrawForm()
    if form.validate():
        try:
            rule_admin.update_draw(current_user.id, draw.id, **form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("抽奖设置已保存，新的抽奖即按新设置"), "success")
            return redirect(url_for("admin.rule_edit_draw", draw_id=draw.id), 303)
    return _draw_page(rule_admin.find_draw(draw.id), form=form, status=422)


@bp.post("/rules/draws/<id:draw_id>/prizes")
def rule_draw_prizes(draw_id):
    draw = _or_404(rule_admin.find_draw, draw_id)
    pool = PrizePoolForm()
    if pool.validate():
        rows = pool.rows()
        if [row.pop("prize_id") for row in rows] != [p.id for p in draw.prizes]:
            pool.form_errors.append(_("奖池已被修改，请刷新后重试"))
        else:
            try:
                rule_admin.update_prizes(current_user.id, draw.id, rows)
            except DomainError as error:
                _field_error(pool, error)
            else:
                flash(_("奖池已保存，概率页已同步更新"), "success")
                return redirect(url_for("admin.rule_edit_draw", draw_id=draw.id) + "#prizes", 303)
    return _draw_page(rule_admin.find_draw(draw.id), pool=pool, status=422)


def _back_to_prizes(draw_id):
    return lambda: redirect(url_for("admin.rule_edit_draw", draw_id=draw_id) + "#prizes", 303)


@bp.post("/rules/draws/<id:draw_id>/prizes/add")
def rule_add_prize(draw_id):
    draw = _or_404(rule_admin.find_draw, draw_id)
    return form_action(ActionForm(), lambda form: rule_admin.add_prize(current_user.id, draw.id, form.request_key.data),
                       _("已新增一个奖品格（权重 0），请编辑后保存"), back=_back_to_prizes(draw.id))


@bp.post("/rules/draws/<id:draw_id>/prizes/<id:prize_id>/remove")
def rule_remove_prize(draw_id, prize_id):
    draw = _or_404(rule_admin.find_draw, draw_id)
    return form_action(ActionForm(), lambda form: rule_admin.remove_prize(current_user.id, draw.id, prize_id),
                       _("奖品已删除"), back=_back_to_prizes(draw.id))


# ---- treasure ----------------------------------------------------------------------------------

@bp.get("/rules/treasure")
def rule_treasure():
    return render_page("admin/rules/treasure.html", items=rule_admin.all_items(), action=ActionForm())


@bp.route("/rules/treasure/new", methods=["GET", "POST"])
def rule_new_item():
    form = NewTreasureItemForm()
    if request.method == "GET":
        form.total_shares.data, form.share_price.data, form.round_hours.data = 10, 10, 72
    elif form.validate():
        try:
            item = rule_admin.create_item(current_user.id, form.request_key.data, **form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("夺宝商品「%(name)s」已创建，第 1 期已开启", name=item.name), "success")
            return redirect(url_for("admin.rule_treasure"), 303)
    return render_page("admin/rules/treasure_form.html", form=form, item=None, rounds=[],
                       status=422 if request.method == "POST" else 200)


@bp.route("/rules/treasure/<id:item_id>", methods=["GET", "POST"])
def rule_edit_item(item_id):
    item = _or_404(rule_admin.find_item, item_id)
    form = TreasureItemForm()
    if request.method == "GET":
        form.load(item)
    elif form.validate():
        try:
            rule_admin.update_item(current_user.id, item.id, **form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("已保存：进行中的一期不变，下一期起按新设置"), "success")
            return redirect(url_for("admin.rule_treasure"), 303)
    return render_page("admin/rules/treasure_form.html", form=form, item=item,
                       rounds=rule_admin.item_rounds(item.id), action=ActionForm(),
                       status=422 if request.method == "POST" else 200)


@bp.post("/rules/treasure/<id:item_id>/open")
def rule_open_round(item_id):
    item = _or_404(rule_admin.find_item, item_id)
    return form_action(ActionForm(), lambda form: rule_admin.open_next_round(current_user.id, item.id),
                       lambda rnd: _("第 %(n)s 期已开启", n=rnd.period),
                       back=lambda: redirect(url_for("admin.rule_treasure"), 303))
