"""The demo shop's product pictures: flat illustrations of the goods drawn with Pillow (no words
pretending to be photos), stored like uploads - detail and thumb renditions, JPEG and WebP.

Each drawing works on a 100 x 100 grid scaled to the picture; the second picture of a product
is a close-up of the first in the other colourway. Deterministic and fast (a few ms each).
"""
from PIL import Image, ImageDraw

from app.services import images

SIZE = 750


def draw_product(name, shape, colors, *, close_up=False):
    """Store the illustration `shape` (a key of SHAPES) as demo/<name> renditions; returns its path."""
    path = f"demo/{name}.jpg"
    if (images.upload_dir() / path).exists():
        return path
    background, accent = (images._rgb(c) for c in (colors[::-1] if close_up else colors))
    scale = 4 if close_up else 3  # px per grid unit before the final resize: a close-up is bigger
    canvas = Image.new("RGB", (SIZE, SIZE), _mix(background, (255, 255, 255), 0.82))
    pen = ImageDraw.Draw(canvas)
    unit = SIZE / 100
    offset = 50 - 50 * scale / 3

    def box(x0, y0, x1, y1):
        return [((x0 * scale / 3) + offset) * unit, ((y0 * scale / 3) + offset) * unit,
                ((x1 * scale / 3) + offset) * unit, ((y1 * scale / 3) + offset) * unit]

    def pt(x, y):
        return ((x * scale / 3) + offset) * unit, ((y * scale / 3) + offset) * unit

    pen.ellipse(box(18, 78, 82, 90), fill=_mix(background, (0, 0, 0), 0.18))  # the shadow under the goods
    SHAPES[shape](pen, box, pt, background, accent)
    return images.store_demo_renditions(canvas, path)


def _mix(a, b, t):
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b))


WHITE, INK = (255, 255, 255), (52, 58, 64)


def _powerbank(pen, box, pt, bg, accent):
    pen.rounded_rectangle(box(30, 18, 70, 84), radius=60, fill=accent)
    pen.rounded_rectangle(box(34, 22, 66, 80), radius=48, fill=_mix(accent, WHITE, 0.15))
    pen.polygon([pt(52, 32), pt(40, 54), pt(50, 54), pt(46, 70), pt(60, 46), pt(50, 46), pt(55, 32)], fill=WHITE)
    for i in range(4):
        pen.ellipse(box(40 + i * 6, 74, 43 + i * 6, 77), fill=WHITE if i < 3 else _mix(accent, WHITE, 0.5))


def _headphones(pen, box, pt, bg, accent):
    pen.arc(box(22, 14, 78, 72), 180, 360, fill=accent, width=int(box(0, 0, 6, 0)[2] - box(0, 0, 0, 0)[2]))
    for x in (18, 64):
        pen.rounded_rectangle(box(x, 42, x + 18, 76), radius=40, fill=accent)
        pen.rounded_rectangle(box(x + 4, 46, x + 14, 72), radius=30, fill=_mix(accent, WHITE, 0.35))


def _thermos(pen, box, pt, bg, accent):
    pen.rounded_rectangle(box(36, 14, 64, 24), radius=20, fill=INK)
    pen.rounded_rectangle(box(34, 22, 66, 84), radius=36, fill=accent)
    pen.rectangle(box(34, 34, 66, 40), fill=_mix(accent, WHITE, 0.4))
    pen.rounded_rectangle(box(40, 46, 46, 76), radius=12, fill=_mix(accent, WHITE, 0.3))


def _tissues(pen, box, pt, bg, accent):
    pen.rounded_rectangle(box(20, 44, 80, 82), radius=24, fill=accent)
    pen.rounded_rectangle(box(36, 44, 64, 52), radius=12, fill=_mix(accent, INK, 0.3))
    pen.polygon([pt(40, 48), pt(44, 24), pt(54, 30), pt(62, 20), pt(60, 48)], fill=WHITE)
    pen.ellipse(box(28, 60, 40, 72), fill=_mix(accent, WHITE, 0.45))


def _rice(pen, box, pt, bg, accent):
    pen.polygon([pt(30, 30), pt(70, 30), pt(78, 82), pt(22, 82)], fill=(246, 236, 214))
    pen.polygon([pt(30, 30), pt(40, 18), pt(50, 28), pt(60, 18), pt(70, 30)], fill=(236, 222, 192))
    pen.rectangle(box(30, 28, 70, 33), fill=accent)
    pen.rounded_rectangle(box(34, 46, 66, 70), radius=20, fill=accent)
    for x, y in ((42, 54), (50, 58), (58, 54), (46, 62), (54, 62)):
        pen.ellipse(box(x - 2, y - 3, x + 2, y + 3), fill=WHITE)


def _cup(pen, box, pt, bg, accent, *, heart=False):
    pen.rounded_rectangle(box(26, 40, 66, 82), radius=28, fill=accent)
    pen.arc(box(58, 48, 80, 70), 270, 90, fill=accent, width=int(box(0, 0, 4, 0)[2] - box(0, 0, 0, 0)[2]))
    pen.ellipse(box(28, 36, 64, 46), fill=_mix(accent, INK, 0.45))
    if heart:
        pen.ellipse(box(38, 37, 46, 43), fill=WHITE)
        pen.ellipse(box(45, 37, 53, 43), fill=WHITE)
        pen.polygon([pt(38, 41), pt(53, 41), pt(45.5, 46)], fill=WHITE)
    for x in (36, 46, 56):
        pen.arc(box(x - 4, 14, x + 4, 34), 100, 260, fill=_mix(accent, WHITE, 0.3), width=8)


def _jar(pen, box, pt, bg, accent):
    pen.rounded_rectangle(box(30, 20, 70, 30), radius=16, fill=accent)
    pen.rounded_rectangle(box(26, 28, 74, 84), radius=40, fill=(250, 246, 238))
    for i, (x, y) in enumerate(((38, 48), (52, 44), (62, 56), (44, 62), (56, 70), (36, 74), (66, 74))):
        shade = _mix(accent, (150, 90, 40), 0.5 + 0.05 * (i % 3))
        pen.ellipse(box(x - 6, y - 5, x + 6, y + 5), fill=shade)


def _pods(pen, box, pt, bg, accent):
    for x, y in ((38, 46), (62, 46), (50, 66), (30, 70), (70, 70)):
        pen.ellipse(box(x - 12, y - 12, x + 12, y + 12), fill=accent)
        pen.pieslice(box(x - 12, y - 12, x + 12, y + 12), 200, 330, fill=_mix(accent, WHITE, 0.45))
        pen.ellipse(box(x - 4, y - 6, x + 2, y - 2), fill=WHITE)


def _card(pen, box, pt, bg, accent):
    pen.rounded_rectangle(box(16, 28, 84, 74), radius=30, fill=accent)
    pen.rounded_rectangle(box(24, 40, 40, 54), radius=10, fill=(236, 200, 96))
    pen.line([pt(24, 47), pt(40, 47)], fill=_mix((236, 200, 96), INK, 0.3), width=6)
    for i, w in enumerate((38, 26)):
        pen.rounded_rectangle(box(24, 60 + i * 6, 24 + w, 63 + i * 6), radius=6, fill=_mix(accent, WHITE, 0.5))
    pen.ellipse(box(62, 36, 76, 50), fill=_mix(accent, WHITE, 0.35))


def _play(pen, box, pt, bg, accent):
    pen.rounded_rectangle(box(18, 30, 82, 78), radius=30, fill=accent)
    pen.polygon([pt(44, 42), pt(44, 66), pt(62, 54)], fill=WHITE)
    pen.polygon([pt(34, 26), pt(38, 14), pt(44, 22), pt(50, 10), pt(56, 22), pt(62, 14), pt(66, 26)], fill=(240, 190, 60))


def _ticket(pen, box, pt, bg, accent, *, mark="percent"):
    pen.rounded_rectangle(box(14, 30, 86, 72), radius=20, fill=accent)
    for y in (30, 72):
        pen.ellipse(box(60, y - 5, 70, y + 5), fill=_mix(bg, WHITE, 0.82))
    for y in range(38, 66, 6):
        pen.line([pt(65, y), pt(65, y + 3)], fill=WHITE, width=5)
    if mark == "percent":
        pen.ellipse(box(26, 38, 34, 46), outline=WHITE, width=7)
        pen.ellipse(box(42, 56, 50, 64), outline=WHITE, width=7)
        pen.line([pt(46, 38), pt(30, 64)], fill=WHITE, width=8)
    else:  # a bowl for the restaurant's vouchers
        pen.chord(box(24, 40, 54, 64), 0, 180, fill=WHITE)
        pen.line([pt(44, 34), pt(56, 50)], fill=WHITE, width=6)
    pen.ellipse(box(72, 46, 80, 54), fill=_mix(accent, WHITE, 0.5))


def _bowl(pen, box, pt, bg, accent):
    pen.chord(box(18, 30, 82, 86), 0, 180, fill=accent)
    pen.rectangle(box(18, 56, 82, 60), fill=_mix(accent, INK, 0.25))
    for x in (30, 40, 50, 60, 70):
        pen.arc(box(x - 6, 46, x + 6, 62), 180, 360, fill=(246, 222, 160), width=7)
    pen.line([pt(56, 22), pt(78, 52)], fill=INK, width=9)
    pen.line([pt(62, 18), pt(82, 50)], fill=INK, width=9)
    for x in (32, 44):
        pen.arc(box(x - 4, 20, x + 4, 40), 100, 260, fill=_mix(accent, WHITE, 0.3), width=8)


def _toothbrush(pen, box, pt, bg, accent):
    pen.rounded_rectangle(box(44, 30, 56, 86), radius=22, fill=accent)
    pen.rounded_rectangle(box(47, 12, 53, 34), radius=8, fill=_mix(accent, WHITE, 0.5))
    pen.rounded_rectangle(box(42, 12, 47, 24), radius=4, fill=WHITE)
    pen.ellipse(box(47, 52, 53, 58), fill=WHITE)


def _blocks(pen, box, pt, bg, accent):
    colors = [accent, _mix(accent, (255, 200, 60), 0.6), _mix(accent, (60, 160, 255), 0.6), _mix(accent, WHITE, 0.35)]
    for i, (x0, y0, x1, y1) in enumerate(((20, 58, 48, 82), (50, 58, 80, 82), (32, 34, 64, 58), (40, 16, 58, 34))):
        pen.rounded_rectangle(box(x0, y0, x1, y1), radius=10, fill=colors[i])
        for j in range(max(1, int((x1 - x0) // 10))):
            cx = x0 + 6 + j * 10
            pen.ellipse(box(cx - 3, y0 - 3, cx + 3, y0 + 2), fill=colors[i])


SHAPES = {
    "powerbank": _powerbank, "headphones": _headphones, "thermos": _thermos, "tissues": _tissues, "rice": _rice,
    "coffee": _cup, "latte": lambda *a: _cup(*a, heart=True), "jar": _jar, "pods": _pods, "card": _card,
    "play": _play, "coupon": _ticket, "voucher": lambda *a: _ticket(*a, mark="bowl"), "bowl": _bowl,
    "toothbrush": _toothbrush, "blocks": _blocks,
}
