"""Console: products (list, create, edit, shelf, stock, images, CSV) and categories."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_pgettext
from flask_login import current_user

from app.forms.base import ActionForm
from app.forms.admin_products import (CategoryForm, ImageForm, ImportForm, MoveForm, NewCategoryForm,
                                      ProductEditForm, ProductFields, ProductForm, ShelfForm, StockForm,
                                      product_initial, KIND_CHOICES)
from app.routes.admin import bp, nav_entry
from app.routes.params import int_arg
from app.routes.web import csv_download, render_page, safe_next
from app.services import images
from app.services import product_admin as admin
from app.services.errors import AlreadyDone, DomainError
from app.services.levels import all_levels
from app.services.listing import paginate

nav_entry("admin.products", lazy_pgettext("page", "商品"), 10)


@bp.app_template_filter("rendition")
def _rendition(path, name):
    """The path of a stored image's rendition ("thumb" or "detail")."""
    return images.rendition_path(path, name)


def _choices(form):
    return form.with_choices(admin.all_categories(), admin.all_merchants(), all_levels())


def _field_error(form, error):
    """A service's refusal shown at its field (or above the form)."""
    target = form._fields.get(error.field) if error.field else None
    if target is not None:
        target.errors = list(target.errors) + [str(error.message)]
    else:
        flash(str(error.message), "error")


@bp.get("/products")
def products():
    filters = admin.ProductFilter.from_args(request.args)
    page = paginate(admin.products_query(filters), int_arg("page", lo=1, hi=100_000))
    return render_page("admin/products.html", page=page, filters=filters, categories=admin.all_categories(),
                       low_stock=admin.LOW_STOCK, kind_names=KIND_CHOICES, shelf_form=ShelfForm())


@bp.get("/products/export.csv")
def export_products():
    filters = admin.ProductFilter.from_args(request.args)
    return csv_download(admin.export_csv(admin.products_query(filters)), "products.csv")


@bp.route("/products/new", methods=["GET", "POST"])
def new_product():
    form = _choices(ProductForm())
    if form.validate_on_submit():
        try:
            product = admin.create_product(current_user.id, form.values(), form.request_key.data)
        except AlreadyDone as error:
            flash(str(error.message), "info")
            return redirect(url_for("admin.products"), 303)
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("商品已创建，可以上传图片了"), "success")
            return redirect(url_for("admin.product", product_id=product.id), 303)
    return render_page("admin/product_form.html", form=form, product=None, status=422 if form.errors else 200)


def _product_page(product, form, status=200, stock_form=None, image_form=None):
    return render_page("admin/product_form.html", form=form, product=product, status=status,
                       stock_form=stock_form or StockForm(), image_form=image_form or ImageForm(),
                       shelf_form=ShelfForm(), move_form=MoveForm(), delete_form=ActionForm(),
                       adjustments=admin.stock_adjustments(product.id),
                       max_upload_mb=images.max_upload_bytes() // (1024 * 1024),
                       description=admin.sanitize_html(product.description_html))


@bp.route("/products/<id:product_id>", methods=["GET", "POST"])
def product(product_id):
    product = admin.get_product(product_id)
    form = _choices(ProductEditForm(data=product_initial(product)))
    if form.validate_on_submit():
        try:
            admin.update_product(current_user.id, product_id, form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("商品已保存"), "success")
            return redirect(url_for("admin.product", product_id=product_id), 303)
    return _product_page(product, form, status=422 if form.errors else 200)


@bp.post("/products/<id:product_id>/shelf")
def product_shelf(product_id):
    form = ShelfForm()
    if not form.validate_on_submit():
        raise DomainError(_("请求有误，请检查后重试"))
    admin.set_on_shelf(current_user.id, product_id, form.on.data == "1")
    flash(_("已上架") if form.on.data == "1" else _("已下架"), "success")
    return redirect(safe_next(request.form.get("next"), "admin.products"), 303)


@bp.post("/products/<id:product_id>/stock")
def product_stock(product_id):
    product = admin.get_product(product_id)
    form = StockForm()
    if form.validate_on_submit():
        try:
            entry = admin.adjust_stock(current_user.id, product_id, form.delta.data, form.reason.data,
                                       form.request_key.data)
        except AlreadyDone as error:
            flash(str(error.message), "info")
        except DomainError as error:
            _field_error(form, error)
            return _edit_page_with(product, status=422, stock_form=form)
        else:
            flash(_("库存已调整，现有 %(n)s 件", n=entry.stock_after), "success")
        return redirect(url_for("admin.product", product_id=product_id, _anchor="stock"), 303)
    return _edit_page_with(product, status=422, stock_form=form)


def _edit_page_with(product, status, **forms):
    form = _choices(ProductEditForm(formdata=None, data=product_initial(product)))
    return _product_page(product, form, status=status, **forms)


@bp.post("/products/<id:product_id>/images")
def product_images(product_id):
    product = admin.get_product(product_id)
    form = ImageForm()
    if form.validate_on_submit():
        try:
            saved = admin.add_images(current_user.id, product_id, form.image.data or [], form.request_key.data)
        except AlreadyDone as error:
            flash(str(error.message), "info")
        except DomainError as error:
            form.image.errors = [str(error.message)]
            return _edit_page_with(product, status=422, image_form=form)
        else:
            flash(_("已上传 %(n)s 张图片", n=len(saved)), "success")
        return redirect(url_for("admin.product", product_id=product_id, _anchor="images"), 303)
    return _edit_page_with(product, status=422, image_form=form)


@bp.post("/products/<id:product_id>/images/<id:image_id>/move")
def move_product_image(product_id, image_id):
    form = MoveForm()
    if not form.validate_on_submit():
        raise DomainError(_("请求有误，请检查后重试"))
    admin.move_image(current_user.id, product_id, image_id, form.direction.data, form.request_key.data)
    return redirect(url_for("admin.product", product_id=product_id, _anchor="images"), 303)


@bp.post("/products/<id:product_id>/images/<id:image_id>/delete")
def delete_product_image(product_id, image_id):
    if not ActionForm().validate_on_submit():
        raise DomainError(_("请求有误，请检查后重试"))
    admin.delete_image(current_user.id, product_id, image_id)
    flash(_("图片已删除"), "success")
    return redirect(url_for("admin.product", product_id=product_id, _anchor="images"), 303)


@bp.route("/products/import", methods=["GET", "POST"])
def import_products():
    form = ImportForm()
    report = None
    if form.validate_on_submit():
        try:
            report = _read_report(form.file.data)
            admin.import_products(current_user.id, report, form.valid_only.data, form.request_key.data)
        except AlreadyDone as error:
            flash(str(error.message), "info")
            return redirect(url_for("admin.products"), 303)
        except DomainError as error:
            form.file.errors = list(form.file.errors) + [str(error.message)]
        else:
            flash(_("已导入 %(n)s 个商品", n=len(report.imported)), "success")
            if not report.errors:
                return redirect(url_for("admin.products"), 303)
            return render_page("admin/product_import.html", form=ImportForm(formdata=None), report=report,
                               headers=admin.HEADERS)
    return render_page("admin/product_import.html", form=form, report=report, headers=admin.HEADERS,
                       status=422 if form.errors else 200)


def _read_report(upload):
    """Check each row of the uploaded CSV with the product form (the same rules as the console)."""
    data = upload.read() if upload is not None and hasattr(upload, "read") else b""
    rows = admin.read_csv(data)
    categories = {c.name: c.id for c in admin.all_categories()}
    merchants = {m.name: m.id for m in admin.all_merchants()}
    labels = dict(admin.CSV_COLUMNS)
    report = admin.ImportReport()
    for line, row in rows:
        form = _choices(ProductFields(formdata=admin.row_formdata(row, categories, merchants), meta={"csrf": False}))
        if form.validate():
            report.valid.append((line, form.values()))
        else:
            problems = [(labels.get(name, name), errors[0]) for name, errors in form.errors.items()]
            report.errors.append((line, row.get("名称", ""), problems))
    return report


# ---- categories ----------------------------------------------------------------------------------

@bp.get("/categories")
def categories():
    return render_page("admin/categories.html", categories=admin.all_categories(), move_form=MoveForm())


@bp.route("/categories/new", methods=["GET", "POST"])
def new_category():
    form = NewCategoryForm()
    if form.validate_on_submit():
        try:
            admin.save_category(current_user.id, None, form.values(), form.request_key.data)
        except AlreadyDone as error:
            flash(str(error.message), "info")
            return redirect(url_for("admin.categories"), 303)
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("分类已创建"), "success")
            return redirect(url_for("admin.categories"), 303)
    return render_page("admin/category_form.html", form=form, category=None, status=422 if form.errors else 200)


@bp.route("/categories/<id:category_id>", methods=["GET", "POST"])
def category(category_id):
    category = admin.get_category(category_id)
    form = CategoryForm(obj=category)
    if form.validate_on_submit():
        try:
            admin.save_category(current_user.id, category_id, form.values())
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("分类已保存"), "success")
            return redirect(url_for("admin.categories"), 303)
    return render_page("admin/category_form.html", form=form, category=category,
                       status=422 if form.errors else 200)


@bp.post("/categories/<id:category_id>/move")
def move_category(category_id):
    form = MoveForm()
    if not form.validate_on_submit():
        raise DomainError(_("请求有误，请检查后重试"))
    admin.move_category(current_user.id, category_id, form.direction.data, form.request_key.data)
    return redirect(url_for("admin.categories"), 303)
