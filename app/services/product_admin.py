"""The operator console's catalogue work: products, their stock, images and categories, CSV in and out.

Every change is one transaction that also writes its audit entry (before -> after).
"""
import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from app.access import require_operator
from app.extensions import db
from app.models import Category, Merchant, Product, ProductImage, StockAdjustment
from app.services import audit, images
from app.services.catalog import sanitize_html
from app.services.clock import to_shanghai
from app.services.csv_export import FORMULA_START, safe_cell
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.idempotency import claim_request, remember_result
from app.services.ids import is_db_id, parse_db_id
from app.services.levels import all_levels
from app.services.tx import write_transaction

LOW_STOCK = 10  # "low stock" filter: at most this many left
MAX_IMPORT_ROWS = 2000

# The columns a product form edits (stock is set on create, then only through adjustments).
EDITABLE = ("name", "subtitle", "kind", "category_id", "merchant_id", "points_price", "cash_fen", "face_value_fen",
            "min_spend_fen", "limit_day", "limit_month", "limit_total", "sale_starts_at", "sale_ends_at",
            "valid_days", "valid_from", "valid_until", "min_level", "position", "is_hot", "is_active",
            "description_html")


# ---- listing --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProductFilter:
    """The list's filters, from the query string; malformed values mean "no filter"."""

    q: str = ""
    category_id: int | None = None
    kind: str = ""
    shelf: str = ""  # "on" | "off" | ""
    low: bool = False

    @classmethod
    def from_args(cls, args):
        kind = args.get("kind") or ""
        shelf = args.get("shelf") or ""
        return cls(q=(args.get("q") or "").strip()[:40], category_id=parse_db_id(args.get("category")),
                   kind=kind if kind in ("physical", "virtual", "coupon", "voucher") else "",
                   shelf=shelf if shelf in ("on", "off") else "", low=args.get("low") == "1")

    def args(self):
        values = {"q": self.q or None, "category": self.category_id, "kind": self.kind or None,
                  "shelf": self.shelf or None, "low": "1" if self.low else None}
        return {k: v for k, v in values.items() if v is not None}


def products_query(filters):
    """The console's product list for `filters`, newest first (ordered, ready to paginate)."""
    stmt = select(Product)
    if filters.q:
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Product.name.ilike(pattern, escape="\\"), Product.subtitle.ilike(pattern, escape="\\")))
    if filters.category_id:
        stmt = stmt.where(Product.category_id == filters.category_id)
    if filters.kind:
        stmt = stmt.where(Product.kind == filters.kind)
    if filters.shelf:
        stmt = stmt.where(Product.is_active.is_(filters.shelf == "on"))
    if filters.low:
        stmt = stmt.where(Product.stock <= LOW_STOCK)
    return stmt.order_by(Product.id.desc())


def all_categories():
    """Every category, active or not, in shelf order."""
    return db.session.execute(select(Category).order_by(Category.position, Category.id)).scalars().all()


def all_merchants():
    return db.session.execute(select(Merchant).order_by(Merchant.id)).scalars().all()


def get_product(product_id):
    product = db.session.get(Product, product_id) if is_db_id(product_id) else None
    if product is None:
        raise NotFound(_("商品不存在"))
    return product


def stock_adjustments(product_id, limit=20):
    return db.session.execute(
        select(StockAdjustment).where(StockAdjustment.product_id == product_id)
        .order_by(StockAdjustment.id.desc()).limit(limit)
    ).scalars().all()


# ---- rules across fields ---------------------------------------------------------------------

def product_problems(values):
    """Rules that involve more than one field: {form field name: message}."""
    problems = {}
    if (values.get("points_price") or 0) + (values.get("cash_fen") or 0) <= 0:
        problems["points_price"] = _("积分和现金不能都为 0")
    starts, ends = values.get("sale_starts_at"), values.get("sale_ends_at")
    if starts and ends and ends <= starts:
        problems["sale_ends_at"] = _("结束时间须晚于开始时间")
    valid_from, valid_until = values.get("valid_from"), values.get("valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        problems["valid_until"] = _("有效期结束须晚于开始")
    if values.get("kind") == "voucher" and not values.get("merchant_id"):
        problems["merchant_id"] = _("商户券须选择核销商户")
    if values.get("kind") in ("coupon", "voucher") and not values.get("face_value_fen"):
        problems["face_value_yuan"] = _("优惠券和商户券须填写面值")
    day, month, total = values.get("limit_day"), values.get("limit_month"), values.get("limit_total")
    if day and month and day > month:
        problems["limit_month"] = _("每月限兑不能少于每日限兑")
    if month and total and month > total:
        problems["limit_total"] = _("累计限兑不能少于每月限兑")
    elif day and total and day > total:
        problems["limit_total"] = _("累计限兑不能少于每日限兑")
    if values.get("min_level") and values["min_level"] not in {level.key for level in all_levels()}:
        problems["min_level"] = _("会员等级不存在")
    return problems


def _check(values):
    problems = product_problems(values)
    if values.get("category_id") and db.session.get(Category, values["category_id"]) is None:
        problems.setdefault("category_id", _("分类不存在"))
    if values.get("merchant_id") and db.session.get(Merchant, values["merchant_id"]) is None:
        problems.setdefault("merchant_id", _("商户不存在"))
    if problems:
        name, message = next(iter(problems.items()))
        raise DomainError(message, field=name)


def _plain(value):
    """A value as the audit log's JSON stores it."""
    return value.isoformat() if isinstance(value, datetime) else value


def _lock_product(product_id):
    product = db.session.execute(
        select(Product).where(Product.id == product_id).with_for_update(of=Product)
    ).unique().scalar_one_or_none() if is_db_id(product_id) else None
    if product is None:
        raise NotFound(_("商品不存在"))
    return product


# ---- products --------------------------------------------------------------------------------

def create_product(actor_id, values, request_key):
    """Create a product from form values (stock included); a retry with the same key does nothing."""
    with write_transaction() as session:
        require_operator(actor_id)
        if claim_request(actor_id, "product.create", request_key) is not None:
            raise AlreadyDone(_("商品已创建，请勿重复提交"))
        _check(values)
        data = {k: values[k] for k in EDITABLE if k in values}
        data["description_html"] = sanitize_html(data.get("description_html")) or None
        product = Product(stock=values.get("stock") or 0, **data)
        session.add(product)
        session.flush()
        remember_result(actor_id, "product.create", request_key, product.id)
        audit.record(actor_id, "product.create", target=f"product:{product.id}", before={},
                     after={k: _plain(getattr(product, k)) for k in (*EDITABLE, "stock")})
        return product


def update_product(actor_id, product_id, values):
    """Save the form's fields; the audit entry holds the changed fields' old and new values."""
    with write_transaction():
        require_operator(actor_id)
        product = _lock_product(product_id)
        _check(values)
        values = dict(values)
        if "description_html" in values:
            values["description_html"] = sanitize_html(values["description_html"]) or None
        before, after = {}, {}
        for key in EDITABLE:
            if key in values and getattr(product, key) != values[key]:
                before[key], after[key] = _plain(getattr(product, key)), _plain(values[key])
                setattr(product, key, values[key])
        if after:
            audit.record(actor_id, "product.update", target=f"product:{product.id}", before=before, after=after)
        return product


def set_on_shelf(actor_id, product_id, on_shelf):
    """Put a product on the shelf or take it off (idempotent)."""
    with write_transaction():
        require_operator(actor_id)
        product = _lock_product(product_id)
        if product.is_active != on_shelf:
            audit.record(actor_id, "product.shelf", target=f"product:{product.id}",
                         before={"is_active": product.is_active}, after={"is_active": on_shelf})
            product.is_active = on_shelf
        return product


def adjust_stock(actor_id, product_id, delta, reason, request_key):
    """Add `delta` (negative: remove) to the stock as one guarded relative UPDATE plus an entry.

    Never an overwrite: a redemption committing at the same moment is neither lost nor oversold,
    and stock never goes below zero. A retry with the same key does nothing.
    """
    if not delta:
        raise DomainError(_("调整数量不能为 0"), field="delta")
    with write_transaction() as session:
        require_operator(actor_id)
        if claim_request(actor_id, "product.stock", request_key) is not None:
            raise AlreadyDone(_("该调整已提交，请勿重复提交"))
        after = session.execute(
            update(Product).where(Product.id == product_id, Product.stock + delta >= 0)
            .values(stock=Product.stock + delta).returning(Product.stock)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if after is None:
            stock = session.execute(select(Product.stock).where(Product.id == product_id)).scalar_one_or_none()
            if stock is None:
                raise NotFound(_("商品不存在"))
            raise DomainError(_("库存不足：当前 %(n)s 件，最多减少 %(n)s 件", n=stock), field="delta")
        entry = StockAdjustment(product_id=product_id, delta=delta, reason=reason, actor_id=actor_id,
                                stock_after=after)
        session.add(entry)
        session.flush()
        remember_result(actor_id, "product.stock", request_key, entry.id)
        audit.record(actor_id, "product.stock", target=f"product:{product_id}", before={"stock": after - delta},
                     after={"stock": after}, delta=delta, reason=reason)
        return entry


# ---- images ----------------------------------------------------------------------------------

def add_images(actor_id, product_id, files, request_key):
    """Check, resize and attach uploaded images after the product's last one."""
    files = [f for f in files if hasattr(f, "read") and getattr(f, "filename", None)]
    if not files:
        raise DomainError(_("请选择图片"), field="image")
    saved = []
    try:
        for upload in files:
            saved.append(images.save_renditions(upload))  # refuses non-images before any row is written
        with write_transaction() as session:
            require_operator(actor_id)
            if claim_request(actor_id, "product.images", request_key) is not None:
                raise AlreadyDone(_("图片已上传，请勿重复提交"))
            product = _lock_product(product_id)
            last = max((image.position for image in product.images), default=-1)
            before = [image.path for image in product.images]
            for offset, path in enumerate(saved, start=1):
                session.add(ProductImage(product_id=product.id, path=path, position=last + offset))
            audit.record(actor_id, "product.images", target=f"product:{product.id}",
                         before={"images": before}, after={"images": before + saved})
    except Exception:
        for path in saved:
            images.delete_renditions(path)
        raise
    return saved


def _product_image(session, product_id, image_id):
    product = _lock_product(product_id)
    image = next((image for image in product.images if image.id == image_id), None)
    return product, image


def _renumber(session, rows):
    """Give rows positions 0..n-1 in their list order (through negatives: positions are unique)."""
    for index, row in enumerate(rows):
        row.position = -(index + 1)
    session.flush()
    for index, row in enumerate(rows):
        row.position = index
    session.flush()


def move_image(actor_id, product_id, image_id, direction, request_key):
    """Move an image one place up (towards the cover) or down."""
    with write_transaction() as session:
        require_operator(actor_id)
        if claim_request(actor_id, "product.image_move", request_key) is not None:
            return
        product, image = _product_image(session, product_id, image_id)
        if image is None:
            raise NotFound(_("图片不存在"))
        order = list(product.images)
        index = order.index(image)
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(order):
            return
        before = [row.path for row in order]
        order[index], order[other] = order[other], order[index]
        _renumber(session, order)
        audit.record(actor_id, "product.images", target=f"product:{product.id}", before={"images": before},
                     after={"images": [row.path for row in order]})


def delete_image(actor_id, product_id, image_id):
    """Remove an image (its files go after the commit); deleting it twice is fine."""
    with write_transaction() as session:
        require_operator(actor_id)
        product, image = _product_image(session, product_id, image_id)
        if image is None:
            return
        before = [row.path for row in product.images]
        product.images.remove(image)
        session.flush()
        _renumber(session, list(product.images))
        audit.record(actor_id, "product.images", target=f"product:{product.id}", before={"images": before},
                     after={"images": [row.path for row in product.images]})
        path = image.path
    images.delete_renditions(path)


# ---- categories ------------------------------------------------------------------------------

def get_category(category_id):
    category = db.session.get(Category, category_id) if is_db_id(category_id) else None
    if category is None:
        raise NotFound(_("分类不存在"))
    return category


def _name_taken(session, name, category_id=None):
    stmt = select(Category.id).where(Category.name == name)
    if category_id:
        stmt = stmt.where(Category.id != category_id)
    return session.execute(stmt).first() is not None


def save_category(actor_id, category_id, values, request_key=None):
    """Create (category_id None) or edit a category: name, symbol, position, active."""
    fields = ("name", "symbol", "position", "is_active")
    try:
        with write_transaction() as session:
            require_operator(actor_id)
            if _name_taken(session, values["name"], category_id):
                raise DomainError(_("分类名称已存在"), field="name")
            if category_id is None:
                if claim_request(actor_id, "category.create", request_key) is not None:
                    raise AlreadyDone(_("分类已创建，请勿重复提交"))
                if "position" not in values or values["position"] is None:
                    values = dict(values, position=(session.execute(
                        select(func.max(Category.position))).scalar() or 0) + 10)
                category = Category(**{k: values[k] for k in fields})
                session.add(category)
                session.flush()
                remember_result(actor_id, "category.create", request_key, category.id)
                audit.record(actor_id, "category.create", target=f"category:{category.id}", before={},
                             after={k: getattr(category, k) for k in fields})
                return category
            category = get_category(category_id)
            before, after = {}, {}
            for key in fields:
                if key in values and values[key] is not None and getattr(category, key) != values[key]:
                    before[key], after[key] = getattr(category, key), values[key]
                    setattr(category, key, values[key])
            if after:
                session.flush()
                audit.record(actor_id, "category.update", target=f"category:{category.id}", before=before,
                             after=after)
            return category
    except IntegrityError as error:  # the same name saved at the same moment by someone else
        raise DomainError(_("分类名称已存在"), field="name") from error


def move_category(actor_id, category_id, direction, request_key):
    """Move a category one place up or down in the shelf order (positions become 10, 20, 30 ...)."""
    with write_transaction() as session:
        require_operator(actor_id)
        if claim_request(actor_id, "category.move", request_key) is not None:
            return
        rows = list(session.execute(select(Category).order_by(Category.position, Category.id)
                                    .with_for_update()).scalars())
        category = next((row for row in rows if row.id == category_id), None)
        if category is None:
            raise NotFound(_("分类不存在"))
        index = rows.index(category)
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(rows):
            return
        before = [row.id for row in rows]
        rows[index], rows[other] = rows[other], rows[index]
        for number, row in enumerate(rows, start=1):
            row.position = number * 10
        audit.record(actor_id, "category.move", target=f"category:{category.id}", before={"order": before},
                     after={"order": [row.id for row in rows]})


# ---- CSV -------------------------------------------------------------------------------------

# The file format (the same for export and import, so an export imports again): form field
# name and the Chinese header Excel users see. Headers are data, not translated.
CSV_COLUMNS = (
    ("name", "名称"), ("subtitle", "副标题"), ("kind", "类型"), ("category_id", "分类"), ("merchant_id", "商户"),
    ("points_price", "积分"), ("cash_yuan", "现金(元)"), ("face_value_yuan", "面值(元)"),
    ("min_spend_yuan", "最低消费(元)"), ("stock", "库存"), ("limit_day", "每日限兑"), ("limit_month", "每月限兑"),
    ("limit_total", "累计限兑"), ("sale_starts_at", "开始时间"), ("sale_ends_at", "结束时间"),
    ("valid_days", "有效天数"), ("valid_from", "有效期起"), ("valid_until", "有效期止"), ("min_level", "会员等级"),
    ("position", "排序"), ("is_hot", "热门"), ("is_active", "上架"), ("description", "描述"),
)
HEADERS = tuple(header for _name, header in CSV_COLUMNS)
KIND_CSV = {"physical": "实物", "virtual": "虚拟", "coupon": "优惠券", "voucher": "商户券"}
_YES = {"是", "1", "y", "yes", "true", "on", "上架", "热门"}
_NO = {"", "否", "0", "n", "no", "false", "off", "下架"}


class CsvRefused(DomainError):
    pass


def decode_csv(data):
    """The text of an uploaded CSV: UTF-8 (with or without BOM), else GB18030 (Excel in China)."""
    if not data:
        raise CsvRefused(_("请选择 CSV 文件"), field="file")
    if b"\x00" in data:  # UTF-16 or a binary file: GB18030 would "decode" it into nonsense
        raise CsvRefused(_("无法识别文件编码，请另存为 UTF-8 或 GB18030 编码的 CSV"), field="file")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CsvRefused(_("无法识别文件编码，请另存为 UTF-8 或 GB18030 编码的 CSV"), field="file")


def read_csv(data):
    """Rows of an uploaded product CSV as {header: text}, with their line numbers; wrong columns refused."""
    text = decode_csv(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip() for cell in next(reader, [])]
        missing = [h for h in HEADERS if h not in header]
        unknown = [h for h in header if h and h not in HEADERS]
        if missing or unknown or len(set(header)) != len(header):
            raise CsvRefused(_("表头不正确（缺少：%(missing)s；多余：%(unknown)s）。应为：%(expected)s",
                               missing="、".join(missing) or _("无"), unknown="、".join(unknown) or _("无"),
                               expected="，".join(HEADERS)), field="file")
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_IMPORT_ROWS:
                raise CsvRefused(_("一次最多导入 %(n)s 行", n=MAX_IMPORT_ROWS), field="file")
            rows.append((reader.line_num, dict(zip(header, (_untext_cell(cell.strip()) for cell in cells)))))
    except csv.Error as error:
        raise CsvRefused(_("CSV 格式有误：%(error)s", error=str(error)), field="file") from error
    if not rows:
        raise CsvRefused(_("文件中没有商品行"), field="file")
    return rows


def row_formdata(row, categories, merchants):
    """A CSV row as the product form's data (names looked up; yes/no as a checkbox sends it)."""
    data = MultiDict()
    kinds = {label: key for key, label in KIND_CSV.items()}
    for name, header in CSV_COLUMNS:
        value = row.get(header, "")
        if name == "kind":
            value = kinds.get(value, value)
        elif name == "category_id":
            value = str(categories[value]) if value in categories else (value and "?" + value)
        elif name == "merchant_id":
            value = str(merchants[value]) if value in merchants else (value and "?" + value)
        elif name in ("is_hot", "is_active"):
            if value.lower() in _YES:
                value = "y"
            elif value.lower() in _NO:
                continue
            else:
                value = "?"
        data.add(name, value)
    return data


@dataclass
class ImportReport:
    """The rows that passed and the ones that did not, with each problem at its column."""

    valid: list = field(default_factory=list)            # (line, values)
    errors: list = field(default_factory=list)           # (line, name, [(header, message)])
    imported: list = field(default_factory=list)         # product ids

    @property
    def total(self):
        return len(self.valid) + len(self.errors)


def import_products(actor_id, report, valid_only, request_key):
    """Create the report's valid rows, all in one transaction; refused while any row has errors,
    unless the operator chose to import the valid rows only."""
    if report.errors and not valid_only:
        raise CsvRefused(_("有 %(n)s 行有误，未导入任何商品", n=len(report.errors)), field="file")
    if not report.valid:
        raise CsvRefused(_("没有可导入的行"), field="file")
    with write_transaction() as session:
        require_operator(actor_id)
        if claim_request(actor_id, "product.import", request_key) is not None:
            raise AlreadyDone(_("该文件已导入，请勿重复提交"))
        for _line, values in report.valid:
            _check(values)
            data = {k: values[k] for k in EDITABLE if k in values}
            data["description_html"] = sanitize_html(data.get("description_html")) or None
            product = Product(stock=values.get("stock") or 0, **data)
            session.add(product)
            session.flush()
            report.imported.append(product.id)
            audit.record(actor_id, "product.create", target=f"product:{product.id}", before={},
                         after={k: _plain(getattr(product, k)) for k in (*EDITABLE, "stock")}, source="csv")
        remember_result(actor_id, "product.import", request_key, len(report.imported))
        audit.record(actor_id, "product.import", target=None, before={}, after={"created": report.imported},
                     skipped=len(report.errors))
    return report


def _untext_cell(value):
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


def _yuan(fen):
    return f"{fen // 100}" if fen % 100 == 0 else f"{fen / 100:.2f}"


def _when(value):
    return to_shanghai(value).strftime("%Y-%m-%d %H:%M") if value else ""


def export_csv(stmt):
    """The products of `stmt` as CSV text with a BOM (Excel opens it as UTF-8), import's columns."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for product in db.session.execute(stmt).unique().scalars():
        writer.writerow([
            safe_cell(product.name), safe_cell(product.subtitle), KIND_CSV[product.kind],
            safe_cell(product.category.name if product.category else ""),
            safe_cell(product.merchant.name if product.merchant else ""),
            product.points_price, _yuan(product.cash_fen), _yuan(product.face_value_fen),
            _yuan(product.min_spend_fen), product.stock, product.limit_day or "", product.limit_month or "",
            product.limit_total or "", _when(product.sale_starts_at), _when(product.sale_ends_at),
            product.valid_days, _when(product.valid_from), _when(product.valid_until), product.min_level or "",
            product.position, "是" if product.is_hot else "否", "是" if product.is_active else "否",
            safe_cell(product.description_html),
        ])
    return out.getvalue()
