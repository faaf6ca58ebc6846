"""Pure rendering for the offline preview animatic: keyframe pictures and clip frames.

The offline backends draw an animatic, not generated footage, so that a machine with no
API keys still runs the whole pipeline. Everything here is deterministic, uses only
Pillow's built-in font and never touches the network or the file system.
"""

from __future__ import annotations

import colorsys
import hashlib
import logging
import math
import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice, pairwise

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

logger = logging.getLogger(__name__)

PREVIEW_TAG = "PREVIEW ANIMATIC"

# Weight of the blurred previous keyframe in the next one's background: enough for the
# look to carry along the chain, little enough that old captions fade within two shots.
PREVIOUS_WEIGHT = 0.45

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_RGB = tuple[int, int, int]

_CARD_FRAME: _RGB = (242, 238, 228)
_CARD_TEXT: _RGB = (38, 38, 44)
_TAG_FILL: _RGB = (232, 72, 52)
# A 3:4 portrait photo plus border and label strip: card height = width * this.
_CARD_HEIGHT_PER_WIDTH = 0.92 * 4 / 3 + 0.08 + 0.17
_ELLIPSIS = "..."  # the built-in font has no single-glyph ellipsis


# ---------------------------------------------------------------------------- keyframes


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
        raise ValueError(
            f"keyframe size must be at least 1x1 pixels, got {width}x{height}"
        )
    layout = _Layout.for_size(width, height)
    rng = _rng("layout", prompt, seed)

    canvas = _background(width, height, _palette(style, seed), _rng("bg", style, seed))
    if previous is not None:
        canvas = Image.blend(
            canvas, _soften(previous, (width, height)), PREVIOUS_WEIGHT
        )

    caption_lines, caption_top = _caption_layout(prompt, layout)
    top = _top_bar_bottom(layout) + layout.margin
    bottom = max(caption_top - layout.margin, top + (height - top) // 2)
    boxes = _card_boxes(len(references), (0, top, width, bottom), prompt, rng)
    _draw_shadows(canvas, boxes)
    for box, (name, image) in zip(boxes, references, strict=True):
        _draw_card(canvas, box, name, image, layout.caption_px)

    draw = ImageDraw.Draw(canvas, "RGBA")
    _draw_caption(draw, caption_lines, caption_top, layout)
    _draw_top_bar(draw, label, layout)
    logger.debug(
        "drew keyframe %r (%dx%d, %d reference(s))",
        label,
        width,
        height,
        len(references),
    )
    return canvas


def _rng(*parts: object) -> random.Random:
    """Seed a private generator from the arguments (str hashing is salted per process)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8", "backslashreplace")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


# Style words that pick a hue family, saturation and brightness; other styles hash.
_STYLE_LOOKS: list[tuple[str, float | None, float, float]] = [
    (r"noir|black and white|b&w|monochrome|grayscale|greyscale", None, 0.04, 0.85),
    (r"neon|cyberpunk|synthwave|vaporwave", 0.83, 0.85, 0.8),
    (r"pastel|watercolou?r|dreamy|soft", None, 0.3, 1.0),
    (r"sunset|golden hour|warm|desert|autumn", 0.07, 0.65, 1.0),
    (r"ocean|underwater|winter|snow|ice|cold|night|moon", 0.6, 0.55, 0.85),
    (r"forest|jungle|nature|spring", 0.3, 0.5, 0.9),
    (r"space|cosmic|sci-?fi|galaxy", 0.68, 0.6, 0.7),
]


def _palette(style: str, seed: int) -> list[_RGB]:
    """Derive sky-top, sky-low, ground and accent colours from the style and seed."""
    rng = _rng("palette", style, seed)
    hue, saturation, value = rng.random(), rng.uniform(0.35, 0.65), 0.9
    for pattern, style_hue, style_saturation, style_value in _STYLE_LOOKS:
        if re.search(pattern, style.lower()):
            hue = hue if style_hue is None else style_hue + rng.uniform(-0.04, 0.04)
            saturation, value = style_saturation, style_value
            break

    def colour(h: float, s: float, v: float) -> _RGB:
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


def _background(width: int, height: int, palette: list[_RGB], rng: random.Random):
    """Paint a gradient sky, a horizon and soft glowing shapes, then scale it up."""
    # Painted at thumbnail size: the upscale makes every shape soft, costs nothing at
    # 1080p and gives the same composition at every resolution.
    sw, sh = _small_size(width, height, 96)
    sky_top, sky_low, ground, accent = (np.array(c, dtype=np.float32) for c in palette)
    horizon = rng.uniform(0.55, 0.72)
    y = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None]
    sky = sky_top + (sky_low - sky_top) * np.clip(y / horizon, 0, 1)
    earth = ground * (1.25 - 0.6 * np.clip((y - horizon) / (1 - horizon), 0, 1))
    rows = np.where(y < horizon, sky, earth)
    pixels = np.repeat(rows[:, None, :], sw, axis=1)

    # A soft sun or lamp above the horizon gives the frame a light source.
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
    xs = np.linspace(-1.0, 1.0, sw, dtype=np.float32)[None, :]
    ys = np.linspace(-1.0, 1.0, sh, dtype=np.float32)[:, None]
    vignette = 1.0 - 0.35 * np.clip((xs**2 + ys**2) / 2, 0, 1)
    pixels = np.asarray(image, dtype=np.float32) * vignette[..., None]
    image = Image.fromarray(pixels.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    return image.resize((width, height), Image.Resampling.BICUBIC)


def _as_rgb(image: Image.Image, matte: _RGB = (0, 0, 0)) -> Image.Image:
    """Return the image as RGB, laying any transparency over `matte`."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, matte)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _soften(previous: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Cover-crop the previous keyframe to `size` and blur it to a base layer."""
    fitted = ImageOps.fit(_as_rgb(previous), size, Image.Resampling.BILINEAR)
    # Blur by shrinking: fast at any size, and old text turns into smudges.
    small = fitted.resize(_small_size(*size, 64), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(0.8))
    return small.resize(size, Image.Resampling.BICUBIC)


# Words in the prompt that set how tall the cards are, as a share of the free space.
_SHOT_SIZES: list[tuple[str, float]] = [
    (r"extreme close|\becu\b|macro", 1.0),
    (r"close[\s-]?up|\bcu\b|portrait|face|head and shoulders", 0.92),
    (r"extreme wide|establishing|aerial|panorama|landscape|long shot|bird'?s", 0.4),
    (r"\bwide\b|full shot|full body|crowd", 0.55),
    (r"medium|mid shot|waist", 0.75),
]


def _card_boxes(
    count: int, region: tuple[int, int, int, int], prompt: str, rng: random.Random
) -> list[tuple[int, int, int, int]]:
    """Place `count` reference cards in the region; return (x, y, width, height) boxes."""
    if count == 0:
        return []
    x0, y0, x1, y1 = region
    region_w, region_h = x1 - x0, y1 - y0
    text = prompt.lower()
    scale = next((s for p, s in _SHOT_SIZES if re.search(p, text)), 0.75)

    if count == 1:
        if re.search(r"\b(centre|center|centred|centered|middle)\b", text):
            centres = [0.5]
        elif re.search(r"\bleft\b", text):
            centres = [1 / 3]
        elif re.search(r"\bright\b", text):
            centres = [2 / 3]
        else:
            centres = [rng.choice((1 / 3, 2 / 3))]
        centres = [centres[0] + rng.uniform(-0.03, 0.03)]
    elif count == 2:
        centres = [1 / 3, 2 / 3]
    else:
        centres = [(i + 0.5) / count for i in range(count)]

    # Cards as tall as the shot size asks, but never overlapping or leaving the frame.
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
        offset = max(1.0, w * 0.05)
        box = (x + offset, y + offset * 1.4, x + w + offset, y + h + offset * 1.4)
        draw.rectangle((box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy), fill=130)
    mask = mask.filter(ImageFilter.GaussianBlur(1.5))
    canvas.paste((0, 0, 0), mask=mask.resize(canvas.size, Image.Resampling.BILINEAR))


def _draw_card(
    canvas: Image.Image,
    box: tuple[int, int, int, int],
    name: str,
    image: Image.Image,
    cap: int,
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
    photo = ImageOps.fit(
        _as_rgb(image, _CARD_FRAME),
        photo_size,
        Image.Resampling.LANCZOS,
        centering=(0.5, 0.4),
    )
    canvas.paste(photo, (x + border, y + border))
    if strip:
        # Labels on close-up cards stay no larger than the caption text.
        font = ImageFont.load_default(size=max(6, min(round(strip * 0.62), cap)))
        text = _truncate(_clean_text(name), font, photo_size[0])
        text_x = x + (w - font.getlength(text)) / 2
        text_y = y + h - border - strip + (strip - _line_height(font)) / 2
        draw.text((text_x, text_y), text, font=font, fill=_CARD_TEXT)


# The built-in font covers ASCII only; these read better than the box it draws instead.
_ASCII_LOOKALIKES = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u00df": "ss",
        "\u00f8": "o",
        "\u00d8": "O",
        "\u00e6": "ae",
        "\u00c6": "AE",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u0142": "l",
        "\u0141": "L",
        "\u00f0": "d",
        "\u0111": "d",
        "\u00fe": "th",
        "\u0131": "i",
    }
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
    base = "".join(
        c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
    )
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


def _caption_layout(prompt: str, layout: _Layout) -> tuple[list[str], int]:
    """Wrap the prompt for the caption box; return its lines and the box's top edge."""
    text = _clean_text(prompt)
    font = layout.caption_font
    pad = max(1, round(_line_height(font) * 0.4))
    if not text:
        return [], layout.height
    line_h = _line_height(font)
    max_lines = max(1, min(4, int((layout.height * 0.34 - 2 * pad) // line_h)))
    max_width = layout.width - 2 * layout.margin - 2 * pad
    lines = list(islice(_wrap(text, font, max_width), max_lines + 1))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _truncate(lines[-1], font, max_width, force=True)
    return lines, layout.height - layout.margin - len(lines) * line_h - 2 * pad


def _draw_caption(
    draw: ImageDraw.ImageDraw, lines: list[str], top: int, layout: _Layout
):
    """Draw the wrapped prompt on a translucent box along the bottom."""
    if not lines:
        return
    font = layout.caption_font
    line_h = _line_height(font)
    pad = max(1, round(line_h * 0.4))
    box = (
        layout.margin,
        top,
        layout.width - layout.margin - 1,
        layout.height - layout.margin,
    )
    draw.rounded_rectangle(box, radius=pad, fill=(10, 10, 14, 170))
    for i, line in enumerate(lines):
        position = (layout.margin + pad, top + pad + i * line_h)
        draw.text(position, line, font=font, fill=(246, 246, 246, 255))


def _pill_size(text: str, font: _Font) -> tuple[int, int, int]:
    """Return width, height and padding of a rounded label around `text`."""
    pad = max(1, round(_line_height(font) * 0.3))
    return round(font.getlength(text)) + 2 * pad, _line_height(font) + 2 * pad, pad


def _top_bar_bottom(layout: _Layout) -> int:
    """Return the y coordinate below the label and preview tag."""
    return layout.margin + _pill_size("Ag", layout.label_font)[1]


def _draw_top_bar(draw: ImageDraw.ImageDraw, label: str, layout: _Layout):
    """Draw the keyframe label top-left and the preview tag top-right."""
    font, margin = layout.label_font, layout.margin
    tag = PREVIEW_TAG
    tag_w, pill_h, pad = _pill_size(tag, font)
    if tag_w > layout.width * 0.45:
        tag = "PREVIEW"
        tag_w = _pill_size(tag, font)[0]
    tag_x = layout.width - margin - tag_w
    draw.rounded_rectangle(
        (tag_x, margin, tag_x + tag_w - 1, margin + pill_h - 1),
        radius=pad,
        fill=_TAG_FILL,
    )
    draw.text((tag_x + pad, margin + pad), tag, font=font, fill=(255, 255, 255, 255))

    text = _truncate(_clean_text(label), font, tag_x - 2 * margin - 2 * pad)
    if text:
        label_w = _pill_size(text, font)[0]
        draw.rounded_rectangle(
            (margin, margin, margin + label_w - 1, margin + pill_h - 1),
            radius=pad,
            fill=(10, 10, 14, 160),
        )
        draw.text((margin + pad, margin + pad), text, font=font, fill=(255, 255, 255))


# -------------------------------------------------------------------------- clip frames


@dataclass(frozen=True)
class CameraMove:
    """Where a virtual camera looks at the start and end of a clip.

    Zoom is a magnification (1.0 = the whole keyframe); a pan is the offset of the view
    centre as a fraction of the frame's width and height, x to the right, y down.
    """

    kind: str
    start_zoom: float = 1.0
    end_zoom: float = 1.0
    start_pan: tuple[float, float] = (0.0, 0.0)
    end_pan: tuple[float, float] = (0.0, 0.0)

    def at(self, t: float) -> tuple[float, float, float]:
        """Return (zoom, pan_x, pan_y) at progress `t` in [0, 1]."""
        # Interpolating zoom in log space makes a push feel like constant speed.
        zoom = self.start_zoom * (self.end_zoom / self.start_zoom) ** t
        pan_x = self.start_pan[0] + (self.end_pan[0] - self.start_pan[0]) * t
        pan_y = self.start_pan[1] + (self.end_pan[1] - self.start_pan[1]) * t
        return zoom, pan_x, pan_y


_ZOOM_IN = re.compile(
    r"\b(?:(?:push|dolly|dollies|zoom|track|move|creep)\w*[\s-]*(?:in|into|forward)\b"
    r"|push\b|pushes\b|pushing\b)"
)
_ZOOM_OUT = re.compile(
    r"\b(?:(?:pull|dolly|dollies|zoom|track|move)\w*[\s-]*(?:back|out|away)\b"
    r"|pullback|widens?\b|widening\b)"
)
_PAN = re.compile(r"\b(?:pan|truck)\w*[\s-]*(?:to[\s-]+(?:the[\s-]+)?)?(left|right)\b")
_TILT = re.compile(r"\b(?:tilt|crane|pedestal|boom)\w*[\s-]*(up|down)\b")


def camera_move(motion: str) -> CameraMove:
    """Parse a shot's motion text ("slow push in", "pan left", ...) into a CameraMove."""
    text = motion.lower()
    kinds = []
    start_zoom = end_zoom = 1.0
    pan_x = pan_y = 0.0
    if _ZOOM_OUT.search(text):
        kinds.append("pull_back")
        start_zoom = 1.15
    elif _ZOOM_IN.search(text):
        kinds.append("push_in")
        end_zoom = 1.15
    if match := _PAN.search(text):
        kinds.append(f"pan_{match.group(1)}")
        pan_x = -0.08 if match.group(1) == "left" else 0.08
    if match := _TILT.search(text):
        kinds.append(f"tilt_{match.group(1)}")
        pan_y = -0.06 if match.group(1) == "up" else 0.06
    if kinds:
        return CameraMove(
            "+".join(kinds), start_zoom, end_zoom, (0.0, 0.0), (pan_x, pan_y)
        )
    if re.search(r"\b(static|still|locked|fixed|stationary|tripod)\b", text):
        # An animatic that does not move at all reads as a frozen player.
        return CameraMove("static", 1.0, 1.02)
    return CameraMove("drift", 1.0, 1.05, (0.0, 0.0), (0.012, -0.006))


def render_clip_frames(
    start: Image.Image, end: Image.Image | None, *, motion: str, frames: int
) -> Iterator[np.ndarray]:
    """Yield `frames` RGB frames: a camera move over `start` dissolving into `end`.

    Frame 0 is exactly `start` and, when `end` is given, the last frame is exactly
    `end`, so consecutive clips join on a shared frame.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    start = _as_rgb(start)
    if end is not None:
        if end.size != start.size:
            raise ValueError(
                f"start and end keyframes differ in size: {start.size[0]}x"
                f"{start.size[1]} vs {end.size[0]}x{end.size[1]}; render both at the "
                "clip's size"
            )
        end = _as_rgb(end)
    # Validated above, frames come from a separate generator so errors raise here.
    return _clip_frames(start, end, camera_move(motion), frames)


def _smoothstep(t: float) -> float:
    """Ease in and out: zero speed at both ends, so joined clips do not jolt."""
    t = min(1.0, max(0.0, t))
    return t * t * (3 - 2 * t)


def _dissolve(t: float) -> float:
    """Return the end keyframe's weight at progress `t`."""
    # Hold each keyframe clean for a moment at both ends instead of a double exposure
    # across the whole clip.
    return _smoothstep((t - 0.15) / 0.7)


_Affine = tuple[float, float, float]  # scale, x offset, y offset: x_in = a * x_out + c


def _affine(anchor: tuple, state: tuple, size: tuple[int, int]) -> _Affine:
    """Map output pixels at camera `state` into an image framed at camera `anchor`."""
    (zoom_a, pan_ax, pan_ay), (zoom, pan_x, pan_y) = anchor, state
    (w, h), scale = size, zoom_a / zoom
    return (
        scale,
        w / 2 * (1 - scale) + (pan_x - pan_ax) * w * zoom_a,
        h / 2 * (1 - scale) + (pan_y - pan_ay) * h * zoom_a,
    )


def _fit_inside(affine: _Affine, size: tuple[int, int]) -> _Affine:
    """Zoom in just enough that the view stays inside the image, if that is possible."""
    scale, cx, cy = affine
    factor = 1.0
    for offset, length in ((cx, size[0]), (cy, size[1])):
        centre, half = offset + scale * length / 2, scale * length / 2
        room = min(centre, length - centre)
        if room <= 0:
            return affine
        factor = min(factor, room / half)
    new_scale = scale * factor
    return (
        new_scale,
        cx + (scale - new_scale) * size[0] / 2,
        cy + (scale - new_scale) * size[1] / 2,
    )


def _padding(affines: list[_Affine], size: tuple[int, int]) -> tuple[int, int]:
    """Return how many pixels the views reach beyond the image, per axis."""
    w, h = size
    pad_x = max((max(-c, a * w + c - w) for a, c, _ in affines), default=0.0)
    pad_y = max((max(-c, a * h + c - h) for a, _, c in affines), default=0.0)
    return max(0, math.ceil(pad_x)) + 2, max(0, math.ceil(pad_y)) + 2


def _padded(image: Image.Image, pad: tuple[int, int]) -> Image.Image:
    """Extend the image by a blurred mirror of its edges for views beyond the frame."""
    pad_x, pad_y = pad
    pixels = np.pad(
        np.asarray(image), ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), "symmetric"
    )
    mirrored = Image.fromarray(pixels)
    blurred = mirrored.filter(ImageFilter.BoxBlur(max(1, min(pad) // 2)))
    blurred.paste(image, (pad_x, pad_y))
    return blurred


class _Framer:
    """Renders one keyframe as seen through the moving camera."""

    def __init__(self, image: Image.Image, affines: dict[int, _Affine]):
        self.size = image.size
        self.affines = affines
        self.pad = _padding(list(affines.values()), image.size)
        self.source = _padded(image, self.pad)

    def frame(self, index: int) -> Image.Image:
        """Return the view of the image at frame `index`."""
        a, cx, cy = self.affines[index]
        data = (a, 0.0, cx + self.pad[0], 0.0, a, cy + self.pad[1])
        return self.source.transform(
            self.size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR
        )


def _clip_frames(
    start: Image.Image, end: Image.Image | None, move: CameraMove, frames: int
) -> Iterator[np.ndarray]:
    """Generate the frames of a validated clip, one at a time."""
    yield np.asarray(start)
    if frames == 1:
        return
    last = frames - 1
    middle = range(1, last) if end is not None else range(1, frames)
    states = {i: move.at(_smoothstep(i / last)) for i in middle}
    weights = {i: _dissolve(i / last) if end is not None else 0.0 for i in middle}
    start_affines = {
        i: _affine(move.at(0.0), states[i], start.size)
        for i in middle
        if weights[i] < 1
    }
    if end is None and move.end_zoom >= move.start_zoom:
        # A single image has nothing beyond its edges, so pans also push in a little.
        # A pull back cannot avoid the edges and shows a blurred mirror there instead.
        start_affines = {
            i: _fit_inside(a, start.size) for i, a in start_affines.items()
        }
    from_start = _Framer(start, start_affines)
    from_end = None
    if end is not None:
        end_affines = {
            i: _affine(move.at(1.0), states[i], end.size)
            for i in middle
            if weights[i] > 0
        }
        from_end = _Framer(end, end_affines)

    for i in middle:
        weight = weights[i]
        if weight <= 0:
            yield np.asarray(from_start.frame(i))
        elif weight >= 1:
            yield np.asarray(from_end.frame(i))
        else:
            mixed = Image.blend(from_start.frame(i), from_end.frame(i), weight)
            yield np.asarray(mixed)
    if end is not None:
        yield np.asarray(end)
