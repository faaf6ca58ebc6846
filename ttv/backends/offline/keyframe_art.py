"""Keyframe pictures for the offline preview animatic.

A keyframe is drawn, not generated: a background painted from the style and seed over
a blur of the previous keyframe, the characters' reference photographs as framed cards
placed by the shot text, the prompt as a caption and a preview tag. Deterministic, and
uses only Pillow's built-in font.
"""

from __future__ import annotations

import colorsys
import hashlib
import logging
import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice, pairwise

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from ttv.backends.offline.images import RGB, as_rgb

logger = logging.getLogger(__name__)

PREVIEW_TAG = "PREVIEW ANIMATIC"

# Weight of the blurred previous keyframe in the next one's background: enough for the
# look to carry along the chain, little enough that old captions fade within two shots.
PREVIOUS_WEIGHT = 0.45

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_CARD_FRAME: RGB = (242, 238, 228)
_CARD_TEXT: RGB = (38, 38, 44)
_TAG_FILL: RGB = (232, 72, 52)
_DARK_FILL = (10, 10, 14, 165)
# A 3:4 portrait photo plus border and label strip: card height = width * this.
_CARD_HEIGHT_PER_WIDTH = 0.92 * 4 / 3 + 0.08 + 0.17
_ELLIPSIS = "..."  # kept ASCII: the bitmap fallback font may lack the single glyph


@dataclass(frozen=True)
class _Layout:
    """Sizes that scale with the picture, so text stays legible from 64x36 to 4K."""

    width: int
    height: int
    margin: int
    caption_px: int
    label_font: _Font
    caption_font: _Font

    @classmethod
    def for_size(cls, width: int, height: int) -> _Layout:
        # The short side sets the scale, so portrait frames get the same text size.
        side = min(width, height)
        caption_px = max(7, round(6 + side * 0.03))
        return cls(
            width=width,
            height=height,
            margin=max(1, round(side * 0.03)),
            caption_px=caption_px,
            label_font=ImageFont.load_default(size=max(6, round(5 + side * 0.02))),
            caption_font=ImageFont.load_default(size=caption_px),
        )


def render_keyframe(
    *,
    prompt: str,
    style: str,
    label: str,
    width: int,
    height: int,
    seed: int,
    previous: Image.Image | None,
    references: list[tuple[str, Image.Image]],
) -> Image.Image:
    """Draw a legible preview of a shot: background, reference cards, caption, tags."""
    if width < 1 or height < 1:
        raise ValueError(f"keyframe size must be at least 1x1, got {width}x{height}")
    layout = _Layout.for_size(width, height)

    canvas = _background(width, height, _palette(style, seed), _rng("bg", style, seed))
    if previous is not None:
        soft = _soften(previous, (width, height))
        canvas = Image.blend(canvas, soft, PREVIOUS_WEIGHT)

    caption_lines, caption_top = _caption_layout(prompt, layout)
    top = _top_bar_bottom(layout) + layout.margin
    bottom = max(caption_top - layout.margin, top + (height - top) // 2)
    rng = _rng("layout", prompt, seed)
    boxes = _card_boxes(len(references), (0, top, width, bottom), prompt, rng)
    _draw_shadows(canvas, boxes)
    for box, (name, image) in zip(boxes, references, strict=True):
        _draw_card(canvas, box, name, image, layout.caption_px)

    draw = ImageDraw.Draw(canvas, "RGBA")
    _draw_caption(draw, caption_lines, caption_top, layout)
    _draw_top_bar(draw, label, layout)
    logger.debug("drew keyframe %r at %dx%d", label, width, height)
    return canvas


def _rng(*parts: object) -> random.Random:
    """Seed a private generator from the arguments (str hashing is salted per process)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8", "backslashreplace")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


# Style words that pick a hue (None: keep the seeded one), saturation and brightness.
_STYLE_LOOKS: list[tuple[str, float | None, float, float]] = [
    (r"noir|black and white|b&w|monochrome|gr[ae]yscale", None, 0.04, 0.85),
    (r"neon|cyberpunk|synthwave|vaporwave", 0.83, 0.85, 0.8),
    (r"pastel|watercolou?r|dreamy", None, 0.3, 1.0),
    (r"sunset|golden hour|warm|desert|autumn", 0.07, 0.65, 1.0),
    (r"ocean|underwater|winter|snow|cold|night|moonlit", 0.6, 0.55, 0.85),
    (r"forest|jungle|nature|spring", 0.3, 0.5, 0.9),
    (r"space|cosmic|sci-?fi|galaxy", 0.68, 0.6, 0.7),
]


def _palette(style: str, seed: int) -> list[RGB]:
    """Derive sky-top, sky-low, ground and accent colours from the style and seed."""
    rng = _rng("palette", style, seed)
    hue, saturation, value = rng.random(), rng.uniform(0.35, 0.65), 0.9
    for pattern, style_hue, style_saturation, style_value in _STYLE_LOOKS:
        if re.search(rf"\b(?:{pattern})", style.lower()):
            hue = hue if style_hue is None else style_hue + rng.uniform(-0.04, 0.04)
            saturation, value = style_saturation, style_value
            break

    def colour(h: float, s: float, v: float) -> RGB:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(1.0, s), min(1.0, v))
        return (round(r * 255), round(g * 255), round(b * 255))

    return [
        colour(hue, saturation * 0.9, value * 0.35),
        colour(hue + 0.05, saturation * 0.7, value * 0.8),
        colour(hue - 0.06, saturation, value * 0.28),
        colour(hue + 0.45, saturation * 1.2, value),
    ]


def _small_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """Scale a size so its longer side is `longest`, keeping the aspect ratio."""
    scale = longest / max(width, height)
    return max(2, round(width * scale)), max(2, round(height * scale))


def _background(width: int, height: int, palette: list[RGB], rng: random.Random):
    """Paint a gradient sky, a horizon, a glow and soft shapes, then scale it up."""
    # Painted at thumbnail size: the upscale makes every shape soft, costs nothing at
    # 1080p and gives the same composition at every resolution.
    sw, sh = _small_size(width, height, 96)
    sky_top, sky_low, ground, accent = (np.array(c, dtype=np.float32) for c in palette)
    horizon = rng.uniform(0.55, 0.72)
    y = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None]
    sky = sky_top + (sky_low - sky_top) * np.clip(y / horizon, 0, 1)
    earth = ground * (1.25 - 0.6 * np.clip((y - horizon) / (1 - horizon), 0, 1))
    pixels = np.repeat(np.where(y < horizon, sky, earth)[:, None, :], sw, axis=1)

    xs = np.arange(sw, dtype=np.float32)[None, :]
    ys = np.arange(sh, dtype=np.float32)[:, None]
    glow_x, glow_y = rng.uniform(0.15, 0.85) * sw, horizon * sh * rng.uniform(0.4, 0.9)
    glow = np.exp(-((xs - glow_x) ** 2 + (ys - glow_y) ** 2) / (2 * (0.13 * sh) ** 2))
    light = 0.55 * 255 + 0.3 * sky_low + 0.15 * accent
    pixels = pixels + (light - pixels) * (0.85 * glow[..., None])

    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(rng.randint(3, 6)):
        x, yy = rng.uniform(0, sw), rng.uniform(0.1, 1.0) * sh
        rx, ry = rng.uniform(0.08, 0.3) * sw, rng.uniform(0.05, 0.15) * sh
        tint = palette[rng.choice((1, 2, 3))]
        draw.ellipse((x - rx, yy - ry, x + rx, yy + ry), (*tint, rng.randint(30, 80)))

    # Darken the corners so the cards and caption read as the subject.
    radius2 = ((xs / (sw - 1)) * 2 - 1) ** 2 + ((ys / (sh - 1)) * 2 - 1) ** 2
    vignette = 1.0 - 0.35 * np.clip(radius2 / 2, 0, 1)
    pixels = np.asarray(image, dtype=np.float32) * vignette[..., None]
    image = Image.fromarray(pixels.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    return image.resize((width, height), Image.Resampling.BICUBIC)


def _soften(previous: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Cover-crop the previous keyframe to `size` and blur it into a base layer."""
    fitted = ImageOps.fit(as_rgb(previous), size, Image.Resampling.BILINEAR)
    # Blur by shrinking: fast at any size, and old text turns into smudges.
    small = fitted.resize(_small_size(*size, 64), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(0.8))
    return small.resize(size, Image.Resampling.BICUBIC)


# Words in the prompt that set how tall the cards are, as a share of the free space;
# the first one mentioned wins ("wide shot, then a close-up" is a wide shot).
_SHOT_SIZES: list[tuple[str, float]] = [
    (r"extreme close|ecu|macro", 1.0),
    (r"close[\s-]?up|cu|portrait|head and shoulders", 0.92),
    (r"extreme wide|establishing|aerial|panorama|landscape|long shot|bird'?s", 0.4),
    (r"wide|full shot|full body|crowd", 0.55),
    (r"medium|mid shot|waist", 0.75),
]


def _shot_scale(prompt: str) -> float:
    """Return the card height share for the shot size the prompt names first."""
    found = []
    for pattern, scale in _SHOT_SIZES:
        if match := re.search(rf"\b(?:{pattern})\b", prompt.lower()):
            found.append((match.start(), -len(match.group()), scale))
    return min(found)[2] if found else 0.75


def _card_centres(count: int, prompt: str, rng: random.Random) -> list[float]:
    """Return horizontal card centres as fractions of the width, on the thirds."""
    text = prompt.lower()
    if count == 2:
        return [1 / 3, 2 / 3]
    if count > 2:
        return [(i + 0.5) / count for i in range(count)]
    if re.search(r"\b(?:centre|center|centred|centered|middle)\b", text):
        centre = 0.5
    elif re.search(r"\bleft\b", text):
        centre = 1 / 3
    elif re.search(r"\bright\b", text):
        centre = 2 / 3
    else:
        centre = rng.choice((1 / 3, 2 / 3))
    return [centre + rng.uniform(-0.03, 0.03)]


def _card_boxes(
    count: int, region: tuple[int, int, int, int], prompt: str, rng: random.Random
) -> list[tuple[int, int, int, int]]:
    """Place `count` reference cards in the region; return (x, y, width, height)."""
    if count == 0:
        return []
    x0, y0, x1, y1 = region
    region_w, region_h = x1 - x0, y1 - y0
    scale = _shot_scale(prompt)
    centres = _card_centres(count, prompt, rng)

    # As tall as the shot size asks, but never overlapping or leaving the frame.
    spacing = min((b - a for a, b in pairwise(centres)), default=1.0)
    edge = min(min(c, 1 - c) for c in centres) * 2
    card_w = min(
        region_h * scale / _CARD_HEIGHT_PER_WIDTH,
        region_w * spacing * 0.88,
        region_w * edge * 0.94,
    )
    card_h = card_w * _CARD_HEIGHT_PER_WIDTH
    boxes = []
    for i, centre in enumerate(centres):
        if scale >= 0.9:
            top = y0 + (region_h - card_h) / 2
        else:
            # Stand the figures on the ground, staggered a little for depth.
            lift = rng.uniform(0.0, 0.06) + (0.04 if i % 2 else 0.0)
            top = y1 - card_h - region_h * lift
        top = min(max(top, y0), y1 - card_h) if card_h <= region_h else y0
        left = x0 + centre * region_w - card_w / 2
        boxes.append((round(left), round(top), round(card_w), round(card_h)))
    return boxes


def _draw_shadows(canvas: Image.Image, boxes: list[tuple[int, int, int, int]]):
    """Darken a soft offset shadow under every card."""
    if not boxes:
        return
    small_size = _small_size(*canvas.size, 240)
    sx, sy = small_size[0] / canvas.width, small_size[1] / canvas.height
    mask = Image.new("L", small_size, 0)
    draw = ImageDraw.Draw(mask)
    for x, y, w, h in boxes:
        if w < 1 or h < 1:
            continue  # no room for this card in a frame a few pixels across
        dx, dy = max(1.0, w * 0.05), max(1.0, w * 0.07)
        draw.rectangle(
            ((x + dx) * sx, (y + dy) * sy, (x + w + dx) * sx, (y + h + dy) * sy), 130
        )
    mask = mask.filter(ImageFilter.GaussianBlur(1.5))
    canvas.paste((0, 0, 0), mask=mask.resize(canvas.size, Image.Resampling.BILINEAR))


def _draw_card(
    canvas: Image.Image,
    box: tuple[int, int, int, int],
    name: str,
    image: Image.Image,
    max_text_px: int,
):
    """Draw one framed portrait card: the cover-cropped photo with its label below."""
    x, y, w, h = box
    border = max(1, round(w * 0.04))
    strip = round(w * 0.17) if w >= 24 else 0
    photo_size = (w - 2 * border, h - 2 * border - strip)
    if min(photo_size) < 1:
        return
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=_CARD_FRAME)
    # Faces sit above the middle of most portraits, so crop towards the top.
    photo = as_rgb(image, _CARD_FRAME)
    photo = ImageOps.fit(
        photo, photo_size, Image.Resampling.LANCZOS, centering=(0.5, 0.4)
    )
    canvas.paste(photo, (x + border, y + border))
    if strip:
        # Labels on close-up cards stay no larger than the caption text.
        font = ImageFont.load_default(
            size=max(6, min(round(strip * 0.62), max_text_px))
        )
        text = _truncate(_clean_text(name), font, photo_size[0])
        text_x = x + (w - font.getlength(text)) / 2
        text_y = y + h - border - strip + (strip - _line_height(font)) / 2
        draw.text((text_x, text_y), text, font=font, fill=_CARD_TEXT)


# The built-in font covers ASCII only; these read better than the box it draws instead.
_ASCII_LOOKALIKES = str.maketrans(
    {"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00df": "ss", "\u00e6": "ae"}
    | {"\u00c6": "AE", "\u0153": "oe", "\u0152": "OE", "\u00fe": "th", "\u00de": "Th"}
    | dict(zip("\u00f8\u00d8\u0142\u0141\u00f0\u0111\u0131", "oOLLddi", strict=True))
)


def _clean_text(text: str) -> str:
    """Collapse whitespace, drop controls and lone surrogates, fold accents to ASCII."""
    kept = (" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    text = unicodedata.normalize("NFC", " ".join("".join(kept).split()))
    return "".join(_ascii_fold(ch) for ch in text.translate(_ASCII_LOOKALIKES))


def _ascii_fold(ch: str) -> str:
    """Return "e" for "é" and the like; other characters stay (emoji, CJK: a box)."""
    if ch.isascii():
        return ch
    if unicodedata.combining(ch):
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return base if base and base.isascii() else ch


def _line_height(font: _Font) -> int:
    """Return the distance between baselines of two lines of text."""
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return ascent + descent
    return font.getbbox("Ag")[3] + 2


def _fitting_prefix(text: str, font: _Font, max_width: float) -> int:
    """Return the length of the longest prefix of `text` that fits in `max_width`."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid]) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _truncate(text: str, font: _Font, max_width: float, *, force: bool = False) -> str:
    """Cut `text` to `max_width` with an ellipsis; `force` adds one even if it fits."""
    if not force and font.getlength(text) <= max_width:
        return text
    room = max_width - font.getlength(_ELLIPSIS)
    if room < 0:
        return ""
    return text[: _fitting_prefix(text, font, room)].rstrip() + _ELLIPSIS


def _wrap(text: str, font: _Font, max_width: float) -> Iterator[str]:
    """Yield lines of `text` no wider than `max_width`, breaking long words anywhere."""
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= max_width:
            line = candidate
            continue
        if line:
            yield line
        # CJK runs and URLs have no spaces: split them wherever the line is full.
        while len(word) > 1 and font.getlength(word) > max_width:
            cut = max(1, _fitting_prefix(word, font, max_width))
            yield word[:cut]
            word = word[cut:]
        line = word
    if line:
        yield line


def _caption_pad(font: _Font) -> int:
    """Return the padding between the caption box's edge and its text."""
    return max(1, round(_line_height(font) * 0.4))


def _caption_layout(prompt: str, layout: _Layout) -> tuple[list[str], int]:
    """Wrap the prompt for the caption box; return its lines and the box's top edge."""
    text = _clean_text(prompt)
    if not text:
        return [], layout.height
    font = layout.caption_font
    line_h, pad = _line_height(font), _caption_pad(font)
    max_lines = max(1, min(4, int((layout.height * 0.34 - 2 * pad) // line_h)))
    max_width = layout.width - 2 * layout.margin - 2 * pad
    # islice keeps a 100 kB prompt as cheap as a short one.
    lines = list(islice(_wrap(text, font, max_width), max_lines + 1))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _truncate(lines[-1], font, max_width, force=True)
    return lines, layout.height - layout.margin - len(lines) * line_h - 2 * pad


def _draw_caption(draw: ImageDraw.ImageDraw, lines: list[str], top: int, layout):
    """Draw the wrapped prompt on a translucent box along the bottom."""
    if not lines:
        return
    font, margin = layout.caption_font, layout.margin
    line_h, pad = _line_height(font), _caption_pad(font)
    box = (margin, top, layout.width - margin - 1, layout.height - margin)
    if box[2] < box[0] or box[3] < box[1]:
        return  # a frame a few pixels across has no room for a caption
    draw.rounded_rectangle(box, radius=pad, fill=_DARK_FILL)
    for i, line in enumerate(lines):
        position = (margin + pad, top + pad + i * line_h)
        draw.text(position, line, font=font, fill=(246, 246, 246, 255))


def _pill_size(text: str, font: _Font) -> tuple[int, int, int]:
    """Return width, height and padding of a rounded label around `text`."""
    pad = max(1, round(_line_height(font) * 0.3))
    return round(font.getlength(text)) + 2 * pad, _line_height(font) + 2 * pad, pad


def _top_bar_bottom(layout: _Layout) -> int:
    """Return the y coordinate below the label and preview tag."""
    return layout.margin + _pill_size("Ag", layout.label_font)[1]


def _draw_pill(draw, xy: tuple[int, int], text: str, font: _Font, fill: tuple) -> int:
    """Draw `text` on a rounded label at `xy`; return the label's width."""
    w, h, pad = _pill_size(text, font)
    x, y = xy
    draw.rounded_rectangle((x, y, x + w - 1, y + h - 1), radius=pad, fill=fill)
    draw.text((x + pad, y + pad), text, font=font, fill=(255, 255, 255, 255))
    return w


def _draw_top_bar(draw: ImageDraw.ImageDraw, label: str, layout: _Layout):
    """Draw the preview tag top-right and the keyframe label top-left."""
    font, margin = layout.label_font, layout.margin
    tag = PREVIEW_TAG
    if _pill_size(tag, font)[0] > layout.width * 0.45:
        tag = "PREVIEW"  # narrow frames: the label needs the room more than "ANIMATIC"
    tag_x = layout.width - margin - _pill_size(tag, font)[0]
    _draw_pill(draw, (tag_x, margin), tag, font, _TAG_FILL)
    pad = _pill_size("", font)[2]
    text = _truncate(_clean_text(label), font, tag_x - 2 * margin - 2 * pad)
    if text:
        _draw_pill(draw, (margin, margin), text, font, _DARK_FILL)
