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
