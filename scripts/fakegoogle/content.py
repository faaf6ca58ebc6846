"""What the fake sends and reads: base64, real PNGs and MP4s, and schema-shaped JSON."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageStat

from .faults import ApiError, invalid

log = logging.getLogger(__name__)

FPS = 24
FFMPEG_TIMEOUT_S = 120

# Output sizes of gemini-2.5-flash-image by aspect ratio, at imageSize 1K.
IMAGE_SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
IMAGE_SIZE_FACTORS = {"1K": 1, "2K": 2, "4K": 4}
IMAGE_MIME_TYPES = {"image/png", "image/jpeg", "image/webp"}
VIDEO_SIZES = {
    ("16:9", "720p"): (1280, 720),
    ("9:16", "720p"): (720, 1280),
    ("16:9", "1080p"): (1920, 1080),
    ("9:16", "1080p"): (1080, 1920),
}

STORY_REPLY = {
    "title": "The Fake Voyage",
    "style": "flat pastel colours",
    "characters": [{"id": "hero", "name": "Hero", "description": "a small robot"}],
    "shots": [
        {
            "transition": "cut",
            "characters": ["hero"],
            "start": "Hero stands on a beach at dawn",
            "end": "Hero looks up at the sky",
            "motion": "slow push in",
        },
        {
            "transition": "continue",
            "characters": ["hero"],
            "end": "Hero waves at a passing ship",
            "motion": "pan right",
        },
    ],
}


# -- media ---------------------------------------------------------------------------

_B64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def decode_base64(text: Any, where: str, *, urlsafe: bool) -> bytes:
    """Decode like protobuf JSON: padding optional, URL-safe alphabet if allowed."""
    error = invalid(f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed")
    if not isinstance(text, str) or not text or not _B64.match(text):
        raise error
    if not urlsafe and ("-" in text or "_" in text):
        raise error
    core = text.rstrip("=").translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise error from None


def decode_image(data: bytes, mime_type: Any, where: str) -> Image.Image:
    """The decoded RGB picture, or 400 like the service when it is not one."""
    if not isinstance(mime_type, str) or not mime_type:
        raise invalid(f"'{where}.mimeType' is required.")
    if mime_type not in IMAGE_MIME_TYPES:
        raise invalid(f"Unsupported MIME type at '{where}': {mime_type}")
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.convert("RGB")
    except Exception:
        raise invalid(f"Unable to process input image at '{where}'.") from None


def prompt_colour(text: str) -> tuple[int, int, int]:
    """The background colour of a fake image for this prompt text."""
    digest = hashlib.sha256(text.encode()).digest()
    return (32 + digest[0] % 192, 32 + digest[1] % 192, 32 + digest[2] % 192)


def average_colour(picture: Image.Image) -> tuple[int, int, int]:
    """Mean RGB of a picture, rounded."""
    r, g, b = ImageStat.Stat(picture.convert("RGB")).mean
    return (round(r), round(g), round(b))


def patch_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Where a fake image shows its first input image's average colour (inclusive)."""
    return (width // 4, height // 4, width - width // 4 - 1, height - height // 4 - 1)


def image_size(
    aspect_ratio: str | None, size: str | None = None, scale: float = 1.0
) -> tuple[int, int]:
    """Pixel size of a generated image, as gemini-2.5-flash-image sizes them."""
    width, height = IMAGE_SIZES[aspect_ratio or "1:1"]
    factor = IMAGE_SIZE_FACTORS[size or "1K"] * scale
    return (max(1, round(width * factor)), max(1, round(height * factor)))


def video_size(
    aspect_ratio: str, resolution: str, scale: float = 1.0
) -> tuple[int, int]:
    """Pixel size of a generated clip; even numbers, as yuv420p needs."""
    width, height = VIDEO_SIZES[(aspect_ratio, resolution)]
    return (max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2))


def nearest_aspect_ratio(picture: Image.Image) -> str:
    """The listed aspect ratio closest to a picture's (edits keep the input's shape)."""
    ratio = picture.width / picture.height
    return min(
        IMAGE_SIZES, key=lambda k: abs(IMAGE_SIZES[k][0] / IMAGE_SIZES[k][1] - ratio)
    )


def render_image(text: str, first_input, size: tuple[int, int]) -> bytes:
    """PNG: prompt colour, with the first input image's average colour in the middle."""
    picture = Image.new("RGB", size, prompt_colour(text))
    if first_input is not None:
        ImageDraw.Draw(picture).rectangle(
            patch_box(*size), fill=average_colour(first_input)
        )
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def render_video(first, last, seconds: int, audio: bool) -> bytes:
    """MP4 at FPS of exactly seconds*FPS frames, dissolving from `first` to `last`."""
    import imageio_ffmpeg

    frames = seconds * FPS
    with tempfile.TemporaryDirectory(prefix="fake-veo-") as tmp:
        first.save(Path(tmp, "first.png"))
        last.save(Path(tmp, "last.png"))
        out = Path(tmp, "clip.mp4")
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error"]
        for name in ("first.png", "last.png"):
            cmd += ["-loop", "1", "-framerate", str(FPS), "-i", str(Path(tmp, name))]
        if audio:
            cmd += ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
        # N is the frame number: frame 0 is exactly `first`, the last frame `last`.
        mix = f"A*(1-N/{frames - 1})+B*N/{frames - 1}"
        graph = f"[0:v][1:v]blend=all_expr='{mix}',format=yuv420p[v]"
        cmd += ["-filter_complex", graph, "-map", "[v]", "-frames:v", str(frames)]
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-r", str(FPS)]
        if audio:
            cmd += ["-map", "2:a", "-c:a", "aac", "-t", str(seconds)]
        cmd += ["-movflags", "+faststart", str(out)]
        log.debug("fake Veo: %s", " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise ApiError(500, "INTERNAL", f"fake Veo: ffmpeg failed: {tail}")
        return out.read_bytes()


def encode_base64(data: bytes) -> str:
    """Standard base64, as the service sends bytes."""
    return base64.b64encode(data).decode("ascii")


# -- structured replies --------------------------------------------------------------


def _resolve(schema: Any, root: Any) -> dict:
    for _ in range(32):
        if not isinstance(schema, dict) or "$ref" not in schema:
            break
        node = root
        for key in schema["$ref"].lstrip("#/").split("/"):
            node = node.get(key, {}) if isinstance(node, dict) else {}
        schema = node
    return schema if isinstance(schema, dict) else {}


def _kind(schema: dict) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if kind:
        return str(kind).lower()  # OpenAPI-style responseSchema uses upper case
    return "object" if "properties" in schema else "array" if "items" in schema else ""


def example_from_schema(schema: Any, name: str = "value", root: Any = None, depth=0):
    """A small value satisfying a JSON Schema or an OpenAPI-style responseSchema."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [
            s for s in schema.get(key) or [] if _kind(_resolve(s, root)) != "null"
        ]
        if options:
            return example_from_schema(options[0], name, root, depth + 1)
    kind = _kind(schema)
    if kind == "object":
        props = schema.get("properties") or {}
        wanted = schema.get("required", list(props))
        return {
            k: example_from_schema(s, k, root, depth + 1)
            for k, s in props.items()
            if k in wanted
        }
    if kind == "array":
        count = 0 if depth > 8 else max(1, int(schema.get("minItems", 1)))
        items = schema.get("items") or {}
        return [example_from_schema(items, name, root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        value = schema.get("minimum", 1)
        return int(value) if kind == "integer" else float(value)
    if kind in ("boolean", "null"):
        return False if kind == "boolean" else None
    text = f"fake {name}".ljust(int(schema.get("minLength", 0)), "x")
    return text[: int(schema.get("maxLength", len(text)))]


def _conform(value: Any, schema: Any, root: Any, name: str) -> Any:
    """`value` with keys the schema lacks dropped and required ones filled in."""
    schema = _resolve(schema, root)
    kind = _kind(schema)
    if kind == "object" and isinstance(value, dict):
        required = set(schema.get("required", []))
        return {
            k: _conform(value[k], s, root, k)
            if k in value
            else example_from_schema(s, k, root)
            for k, s in (schema.get("properties") or {}).items()
            if k in value or k in required
        }
    if kind == "array" and isinstance(value, list):
        return [_conform(v, schema.get("items") or {}, root, name) for v in value]
    return value


def default_script_reply(request: dict) -> dict:
    """The JSON object a structured-output request gets unless a test sets one."""
    config = request.get("generationConfig") or {}
    schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
    props = _resolve(schema, schema).get("properties") or {}
    if {"title", "shots"} <= set(props):
        return _conform(STORY_REPLY, schema, schema, "script")
    value = example_from_schema(schema) if schema else {"reply": "fake"}
    return value if isinstance(value, dict) else {"value": value}


def default_text_reply(request: dict) -> str:
    """Plain-text reply: names the prompt so tests can see what was sent."""
    return "fake reply to: " + prompt_text(request)[:80]


def prompt_text(request: dict) -> str:
    """Every text part of the request's contents, one per line."""
    texts = []
    for content in request.get("contents") or []:
        for part in content.get("parts") or []:
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def usage_metadata(prompt_tokens: int, output_tokens: int) -> dict:
    """The usageMetadata of a generateContent reply."""
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
    }
