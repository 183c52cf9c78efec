"""Product and banner images with Pillow: uploads resized to a phone-friendly size, and the
demo pictures drawn at seed time. Files live in UPLOAD_DIR, served under /static/uploads/."""
import functools
import io
import os
import secrets
import warnings
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from app.services.errors import DomainError

MAX_SIDE = 1080
MAX_PIXELS = 40_000_000  # refuse decompression bombs long before Pillow's own limit
_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


class ImageRefused(DomainError):
    pass


def upload_dir():
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


# Fixed renditions of a product image (longest side, px): the detail picture, a card for phones of
# 2-3x pixel density (a 140-180 px slot), and the list thumbnail.
RENDITIONS = {"detail": 750, "card": 480, "thumb": 240}


def max_upload_bytes():
    """The largest image file accepted (config MAX_IMAGE_BYTES, 8 MB by default)."""
    return int(current_app.config.get("MAX_IMAGE_BYTES", 8 * 1024 * 1024))


def _decode(data):
    """An uploaded image decoded, upright and flattened to RGB; ImageRefused for anything else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in _FORMATS:
                raise ImageRefused(_("只支持 JPG、PNG、WEBP 或 GIF 图片"), field="image")
            if image.width * image.height > MAX_PIXELS:
                raise ImageRefused(_("图片尺寸太大"), field="image")
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRefused(_("无法识别的图片文件"), field="image") from error
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    return image


def _encode(image, max_side, quality=85, fmt="JPEG"):
    """`image` fitted in max_side x max_side (never enlarged), as JPEG (or WebP) bytes."""
    image = image.copy()
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "WEBP":
        image.save(out, "WEBP", quality=quality - 5, method=2)
    else:
        image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def resize_image(data, max_side=MAX_SIDE, quality=85):
    """Decode an uploaded image, turn it upright, fit it in max_side x max_side, re-encode as JPEG.

    Re-encoding drops metadata (EXIF location included) and anything that is not pixels.
    Raises ImageRefused for what is not a supported image.
    """
    return _encode(_decode(data), max_side, quality)


def _read(data):
    if hasattr(data, "read"):
        data = data.read(max_upload_bytes() + 1)
    if not data:
        raise ImageRefused(_("请选择图片"), field="image")
    if len(data) > max_upload_bytes():
        raise ImageRefused(_("图片不能超过 %(mb)s MB", mb=max_upload_bytes() // (1024 * 1024)), field="image")
    return data


def save_upload(data, folder="products", max_side=MAX_SIDE):
    """Resize an uploaded image and store it; returns its path relative to UPLOAD_DIR."""
    jpeg = resize_image(_read(data), max_side=max_side)
    return _write(folder, f"{secrets.token_hex(8)}.jpg", jpeg)


def rendition_path(path, name, fmt=None):
    """Where rendition `name` of a stored image lives ("detail" is the image's own path); with
    fmt="webp", its WebP twin (products.jpg -> products.webp, products.thumb.webp)."""
    stem, dot, ext = path.rpartition(".")
    if not dot:
        stem, ext = path, "jpg"
    ext = fmt or ext
    return f"{stem}.{ext}" if name == "detail" else f"{stem}.{name}.{ext}"


def stored_rendition(path, name, fmt=None):
    """rendition_path() when that file exists, else None (images stored before renditions and
    WebP twins existed have only their own file); remembered, the files never change."""
    return _stored(current_app.config["UPLOAD_DIR"], path, name, fmt)  # no mkdir per picture shown


@functools.lru_cache(maxsize=4096)
def _stored(root, path, name, fmt):
    candidate = rendition_path(path, name, fmt)
    return candidate if (Path(root) / candidate).is_file() else None


def save_renditions(data, folder="products"):
    """Check an upload is a real image and store each of RENDITIONS; returns the detail path.

    The image is decoded once; nothing is written unless it decodes.
    """
    image = _decode(_read(data))
    return _store_renditions(image, f"{folder}/{secrets.token_hex(8)}.jpg")


def store_demo_renditions(image, path):
    """Store a picture the seeder drew as `path` with every rendition, like an upload."""
    return _store_renditions(image, path)


def _store_renditions(image, path):
    folder = path.rsplit("/", 1)[0]
    encoded = {(name, fmt): _encode(image, side, fmt=fmt.upper())
               for name, side in RENDITIONS.items() for fmt in ("jpg", "webp")}
    for (name, fmt), content in encoded.items():
        _write(folder, rendition_path(path, name, fmt).rsplit("/", 1)[1], content)
    return path


def delete_renditions(path):
    """Remove an image's files (after the row that named them is gone); missing files are fine."""
    for name in RENDITIONS:
        for fmt in (None, "webp"):
            try:
                (upload_dir() / rendition_path(path, name, fmt)).unlink()
            except (FileNotFoundError, ValueError):
                pass
    _stored.cache_clear()


def _write(folder, name, content):
    target = upload_dir() / folder
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".{name}.tmp"
    tmp.write_bytes(content)
    os.replace(tmp, target / name)
    return f"{folder}/{name}"


def _font(size):
    for path in _CJK_FONTS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size), True
    return ImageFont.load_default(size=size), False


def draw_picture(name, title, caption, colors, size=(750, 750), folder="demo"):
    """A simple poster for demo data: a two-colour gradient, a big title and a caption.

    Stored as `folder/name.jpg` (drawn again only when missing); returns the relative path.
    """
    path = upload_dir() / folder / f"{name}.jpg"
    if path.exists():
        return f"{folder}/{name}.jpg"
    width, height = size
    top, bottom = (_rgb(c) for c in colors)
    image = Image.new("RGB", size, top)
    pixels = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        pixels.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    pixels.ellipse([width * 0.55, -height * 0.15, width * 1.25, height * 0.55], fill=_mix(top, (255, 255, 255), 0.18))
    pixels.ellipse([-width * 0.2, height * 0.7, width * 0.35, height * 1.2], fill=_mix(bottom, (0, 0, 0), 0.12))
    big, has_cjk = _font(int(min(width, height) * (0.16 if width <= height else 0.2)))
    small, _ok = _font(int(min(width, height) * (0.07 if width <= height else 0.1)))
    if has_cjk:
        _centered(pixels, title, big, width, height * 0.42, (255, 255, 255))
        _centered(pixels, caption, small, width, height * 0.62, (255, 255, 255, 230))
    else:
        _centered(pixels, "POINTS MALL", small, width, height * 0.5, (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82, optimize=True)
    return _write(folder, f"{name}.jpg", out.getvalue())


def _centered(pixels, text, font, width, y, fill):
    box = pixels.textbbox((0, 0), text, font=font)
    pixels.text(((width - (box[2] - box[0])) / 2, y - (box[3] - box[1]) / 2), text, font=font, fill=fill)


def _rgb(hex_colour):
    hex_colour = hex_colour.lstrip("#")
    return tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4))


def _mix(a, b, t):
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b))


__all__ = ["ImageRefused", "MAX_SIDE", "RENDITIONS", "delete_renditions", "draw_picture", "max_upload_bytes",
           "rendition_path", "resize_image", "save_renditions", "save_upload", "store_demo_renditions", "stored_rendition",
           "upload_dir"]
