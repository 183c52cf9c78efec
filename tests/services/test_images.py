"""Images: uploads resized with Pillow, bad files refused, demo pictures drawn."""
import io
import os

import pytest
from PIL import Image

from app.services import images
from app.services.images import ImageRefused


def encode(image, fmt, **kwargs):
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def test_large_uploads_are_fitted_into_1080_and_saved_as_jpeg(app_ctx):
    data = encode(Image.new("RGB", (4000, 2000), (200, 30, 30)), "PNG")
    path = images.save_upload(io.BytesIO(data))
    stored = os.path.join(images.upload_dir(), path)
    with Image.open(stored) as result:
        assert result.format == "JPEG" and result.size == (1080, 540)


def test_transparent_pngs_get_a_white_background_and_small_images_keep_their_size(app_ctx):
    data = encode(Image.new("RGBA", (300, 200), (0, 0, 0, 0)), "PNG")
    with Image.open(io.BytesIO(images.resize_image(data))) as result:
        assert result.size == (300, 200) and result.getpixel((10, 10)) == (255, 255, 255)


def test_exif_rotation_is_applied(app_ctx):
    image = Image.new("RGB", (400, 200), (0, 0, 255))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise
    data = encode(image, "JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(images.resize_image(data))) as result:
        assert result.size == (200, 400)


@pytest.mark.parametrize("data", [b"", b"not an image", b"GIF89a" + b"\x00" * 20, b"%PDF-1.4 fake"])
def test_what_is_not_an_image_is_refused(app_ctx, data):
    with pytest.raises(ImageRefused) as caught:
        images.save_upload(data)
    assert caught.value.field == "image"


def test_decompression_bombs_are_refused(app_ctx):
    data = encode(Image.new("1", (9000, 9000)), "PNG")
    with pytest.raises(ImageRefused, match="太大"):
        images.resize_image(data)


def test_demo_pictures_are_drawn_once(app_ctx):
    path = images.draw_picture("test-poster", "积分", "好礼", ("#ff0000", "#0000ff"), size=(300, 300))
    stored = os.path.join(images.upload_dir(), path)
    first = os.path.getmtime(stored)
    assert images.draw_picture("test-poster", "积分", "好礼", ("#ff0000", "#0000ff")) == path
    assert os.path.getmtime(stored) == first
    with Image.open(stored) as result:
        assert result.size == (300, 300)


def _png(size=(1200, 900), colour=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def test_an_upload_is_stored_in_every_rendition_as_jpeg_and_webp(app_ctx):
    path = images.save_renditions(_png())
    root = images.upload_dir()
    for name, side in images.RENDITIONS.items():
        for fmt, kind in ((None, "JPEG"), ("webp", "WEBP")):
            with Image.open(root / images.rendition_path(path, name, fmt)) as stored:
                assert stored.format == kind and max(stored.size) == side
    assert images.rendition_path("products/ab.jpg", "thumb", "webp") == "products/ab.thumb.webp"
    assert images.stored_rendition(path, "thumb", "webp") == images.rendition_path(path, "thumb", "webp")
    images.delete_renditions(path)
    assert not any(root.joinpath(images.rendition_path(path, n, f)).exists()
                   for n in images.RENDITIONS for f in (None, "webp"))
    assert images.stored_rendition(path, "thumb", "webp") is None


def test_an_image_stored_before_renditions_has_none_to_offer(app_ctx):
    old = images.save_upload(_png())  # one file, no thumb, no WebP twin
    assert images.stored_rendition(old, "thumb") is None and images.stored_rendition(old, "detail", "webp") is None
    assert images.stored_rendition(old, "detail") == old


def test_demo_products_are_illustrations_in_every_rendition_drawn_the_same_each_time(app_ctx):
    from app.seeds import pictures

    first = pictures.draw_product("test-mug", "coffee", ("#ff6b35", "#d62828"))
    data = (images.upload_dir() / first).read_bytes()
    (images.upload_dir() / first).unlink()
    assert pictures.draw_product("test-mug", "coffee", ("#ff6b35", "#d62828")) == first
    assert (images.upload_dir() / first).read_bytes() == data  # deterministic
    for name in images.RENDITIONS:
        assert (images.upload_dir() / images.rendition_path(first, name, "webp")).is_file()
    close_up = pictures.draw_product("test-mug-b", "coffee", ("#ff6b35", "#d62828"), close_up=True)
    with Image.open(images.upload_dir() / first) as a, Image.open(images.upload_dir() / close_up) as b:
        assert a.size == b.size == (750, 750) and a.tobytes() != b.tobytes()
    assert set(pictures.SHAPES) >= {"powerbank", "coffee", "voucher", "coupon", "card"}
