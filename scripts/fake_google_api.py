"""Loopback fake of Google's generative API, for ttv's tests and offline trials.

It serves, on 127.0.0.1 only, what the real google-genai SDK calls for ttv's Google
backends: Developer API `generateContent` (text, structured JSON, images) and Veo in
Vertex express mode (`predictLongRunning`, polled with `fetchPredictOperation`). The
images are real PNGs (Pillow) and the videos real MP4s (the ffmpeg of imageio-ffmpeg).

    with FakeGoogleAPI() as fake:
        options = types.HttpOptions(base_url=fake.base_url, api_version="v1beta")
        client = genai.Client(api_key=fake.api_key, http_options=options)
        fake.fail_next("generateContent", Fault.rate_limited(retry_delay="2s"))

From the command line: `python scripts/fake_google_api.py --port 8765`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import io
import json
import logging
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw, ImageOps, ImageStat

log = logging.getLogger(__name__)

FPS = 24
MAX_BODY_BYTES = 64 * 1024 * 1024
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
TEXT_MODELS = frozenset(
    {
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.5-pro",
        "gemini-3-flash-preview",
        "gemini-3-pro-preview",
    }
)
IMAGE_MODELS = frozenset(
    {"gemini-2.5-flash-image", "gemini-3-pro-image", "gemini-3-pro-image-preview"}
)


@dataclass(frozen=True)
class VeoModel:
    """What one Veo model accepts; the SDK checks none of it, the service does."""

    durations: tuple[int, ...]
    resolutions: tuple[str, ...] = ("720p", "1080p")
    audio: bool = True
    reference_images: bool = False


_VEO3 = VeoModel(durations=(4, 6, 8))
VEO_MODELS = {
    "veo-3.1-generate-001": VeoModel((4, 6, 8), reference_images=True),
    "veo-3.1-fast-generate-001": VeoModel((4, 6, 8), reference_images=True),
    "veo-3.0-generate-001": _VEO3,
    "veo-3.0-fast-generate-001": _VEO3,
    "veo-2.0-generate-001": VeoModel((5, 6, 7, 8), ("720p",), audio=False),
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


class ApiError(Exception):
    """An error answer in Google's shape: {"error": {code, status, message, ...}}."""

    def __init__(self, code: int, status: str, message: str, details=()):
        super().__init__(message)
        self.code, self.status, self.details = code, status, list(details)

    def body(self) -> dict:
        error = {"code": self.code, "message": str(self), "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


# -- faults --------------------------------------------------------------------------

ANY_ENDPOINT = frozenset(
    {"generateContent", "predictLongRunning", "fetchPredictOperation"}
)
_FAULT_ENDPOINTS = {
    "error": ANY_ENDPOINT,
    "slow": ANY_ENDPOINT,
    "raw": ANY_ENDPOINT,
    "text_only": {"generateContent"},
    "image_finish": {"generateContent"},
    "prompt_blocked": {"generateContent"},
    "invalid_json": {"generateContent"},
    "empty_reply": {"generateContent"},
    "never_finishes": {"predictLongRunning"},
    "filtered": {"predictLongRunning"},
    "operation_error": {"predictLongRunning"},
    "vanishes": {"predictLongRunning"},
}


@dataclass(frozen=True)
class Fault:
    """One misbehaviour; build it with the class methods, queue it with fail_next."""

    kind: str
    params: dict = field(default_factory=dict)

    @classmethod
    def error(cls, code: int, status: str, message: str, details=()) -> Fault:
        """Any HTTP error in Google's shape."""
        return cls("error", {"error": ApiError(code, status, message, details)})

    @classmethod
    def rate_limited(cls, retry_delay: str = "2s") -> Fault:
        """429 RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail."""
        retry = {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": retry_delay,
        }
        message = "You exceeded your current quota. Please retry later."
        return cls.error(429, "RESOURCE_EXHAUSTED", message, [retry])

    @classmethod
    def unavailable(cls, message: str = "The model is overloaded.") -> Fault:
        """503 UNAVAILABLE."""
        return cls.error(503, "UNAVAILABLE", message)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally after `seconds` (capped by the fake's max_sleep)."""
        return cls("slow", {"seconds": float(seconds)})

    @classmethod
    def raw(cls, body: dict, status: int = 200) -> Fault:
        """Answer with exactly this JSON body and status."""
        return cls("raw", {"body": body, "status": status})

    @classmethod
    def text_only(cls, text: str = "I can't draw that.") -> Fault:
        """Image request answered with text parts only and finishReason STOP."""
        return cls("text_only", {"text": text})

    @classmethod
    def image_finish(cls, reason: str = "IMAGE_SAFETY") -> Fault:
        """A candidate with this finishReason and `content: {"role": "model"}` only."""
        return cls("image_finish", {"reason": reason})

    @classmethod
    def prompt_blocked(cls, reason: str = "SAFETY") -> Fault:
        """No candidates; promptFeedback.blockReason set."""
        return cls("prompt_blocked", {"reason": reason})

    @classmethod
    def invalid_json(cls, text: str = '{"title": "unterminated') -> Fault:
        """A structured-output reply whose text is not JSON."""
        return cls("invalid_json", {"text": text})

    @classmethod
    def empty_reply(cls, finish_reason: str = "STOP") -> Fault:
        """A candidate with no parts at all (response.text is None)."""
        return cls("empty_reply", {"reason": finish_reason})

    @classmethod
    def never_finishes(cls) -> Fault:
        """The Veo operation stays running on every poll."""
        return cls("never_finishes")

    @classmethod
    def filtered(cls, reasons=("The prompt was filtered.",), count: int = 1) -> Fault:
        """The Veo operation finishes with raiMediaFilteredCount and no videos."""
        return cls("filtered", {"reasons": list(reasons), "count": count})

    @classmethod
    def operation_error(cls, code: int = 13, message: str = "Internal error.") -> Fault:
        """The Veo operation finishes with `error: {code, message}`."""
        return cls("operation_error", {"code": code, "message": message})

    @classmethod
    def vanishes(cls) -> Fault:
        """Polling the Veo operation answers 404 NOT_FOUND."""
        return cls("vanishes")


@dataclass
class _QueuedFault:
    endpoint: str
    model: str | None
    fault: Fault
    remaining: int | None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it. The API key itself is never kept."""

    method: str
    path: str
    endpoint: str | None
    model: str | None
    body: Any
    headers: dict[str, str]
    api_key_present: bool
    api_key_valid: bool
    status: int
    received: float = 0.0  # time.monotonic() when the request arrived


# -- content helpers -----------------------------------------------------------------

_B64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def decode_base64(text: Any, where: str, *, urlsafe: bool) -> bytes:
    """Decode like protobuf JSON: padding optional, URL-safe alphabet if allowed."""
    error = _invalid(f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed")
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
        raise _invalid(f"'{where}.mimeType' is required.")
    if mime_type not in IMAGE_MIME_TYPES:
        raise _invalid(f"Unsupported MIME type at '{where}': {mime_type}")
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.convert("RGB")
    except Exception:
        raise _invalid(f"Unable to process input image at '{where}'.") from None


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
    return "fake reply to: " + _prompt_text(request)[:80]


def _prompt_text(request: dict) -> str:
    texts = []
    for content in request.get("contents") or []:
        for part in content.get("parts") or []:
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def _usage(prompt_tokens: int, output_tokens: int) -> dict:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
    }


# -- request validation --------------------------------------------------------------


def _parts_of(request: dict) -> list[tuple[str, dict]]:
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _invalid("* GenerateContentRequest.contents: contents is not specified")
    found = []
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise _invalid(
                f"* GenerateContentRequest.contents[{i}].parts: must not be empty"
            )
        if content.get("role", "user") not in ("user", "model"):
            raise _invalid(f"Please use a valid role: user, model (contents[{i}]).")
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                raise _invalid(f"'contents[{i}].parts[{j}]' must be an object.")
            found.append((f"contents[{i}].parts[{j}]", part))
    return found


def _input_images(request: dict) -> list[Image.Image]:
    """Every inlineData picture, decoded; 400 on bad base64, mimeType or bytes."""
    pictures = []
    for where, part in _parts_of(request):
        blob = part.get("inlineData", part.get("inline_data"))
        if not isinstance(blob, dict):
            if not {"text", "fileData"} & set(part):
                raise _invalid(f"'{where}' has no data (text, inlineData or fileData).")
            continue
        data = decode_base64(
            blob.get("data"), f"{where}.inline_data.data", urlsafe=True
        )
        mime = blob.get("mimeType", blob.get("mime_type"))
        if isinstance(mime, str) and not mime.startswith("image/"):
            continue
        pictures.append(decode_image(data, mime, f"{where}.inline_data"))
    return pictures


def _check_generation_config(config: dict, wants_image: bool) -> None:
    mime = config.get("responseMimeType", "text/plain")
    if config.get("responseSchema") and config.get("responseJsonSchema"):
        raise _invalid("Set only one of responseSchema and responseJsonSchema.")
    has_schema = config.get("responseSchema") or config.get("responseJsonSchema")
    if has_schema and mime != "application/json":
        raise _invalid(
            "responseMimeType must be application/json with a response schema."
        )
    aspect = (config.get("imageConfig") or {}).get("aspectRatio")
    if aspect is not None and aspect not in IMAGE_SIZES:
        raise _invalid(f"Unsupported aspect ratio: {aspect}")
    size = (config.get("imageConfig") or {}).get("imageSize")
    if size is not None and size not in IMAGE_SIZE_FACTORS:
        raise _invalid(f"Unsupported image size: {size}")
    if wants_image and mime == "application/json":
        raise _invalid("JSON mode is not supported with the IMAGE modality.")


def _veo_image(instance: dict, key: str, where: str) -> Image.Image | None:
    blob = instance.get(key)
    if blob is None:
        return None
    if not isinstance(blob, dict) or "gcsUri" in blob:
        raise _invalid(
            f"'{where}': send bytesBase64Encoded (the fake cannot read gcsUri)."
        )
    data = decode_base64(blob.get("bytesBase64Encoded"), where, urlsafe=False)
    return decode_image(data, blob.get("mimeType"), where)


def _check_veo(body: dict, model: str, spec: VeoModel) -> dict:
    """Validated essentials of a predictLongRunning body; 400 like Vertex when wrong."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1:
        raise _invalid("'instances' must hold exactly one instance.")
    instance = instances[0] if isinstance(instances[0], dict) else {}
    prompt = instance.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("'instances[0].prompt' is required.")
    first = _veo_image(instance, "image", "instances[0].image")
    last = _veo_image(instance, "lastFrame", "instances[0].lastFrame")
    if last is not None and first is None:
        raise _invalid("'instances[0].lastFrame' needs 'instances[0].image'.")
    references = instance.get("referenceImages") or []
    for i, ref in enumerate(references):
        _veo_image(ref, "image", f"instances[0].referenceImages[{i}].image")
    if references and (not spec.reference_images or first is not None):
        raise _invalid(f"referenceImages are not supported here by {model}.")
    params = body.get("parameters") or {}
    seconds = params.get("durationSeconds", max(spec.durations))
    if seconds not in spec.durations:
        allowed = ", ".join(map(str, spec.durations))
        raise _invalid(
            f"durationSeconds {seconds!r} is not supported by {model}: {allowed}"
        )
    aspect = params.get("aspectRatio", "16:9")
    if aspect not in ("16:9", "9:16"):
        raise _invalid(f"aspectRatio {aspect!r} is not supported; use 16:9 or 9:16.")
    resolution = params.get("resolution", "720p")
    if resolution not in spec.resolutions:
        raise _invalid(f"resolution {resolution!r} is not supported by {model}.")
    if params.get("generateAudio") and not spec.audio:
        raise _invalid(f"generateAudio is not supported by {model}.")
    if params.get("storageUri"):
        raise _invalid("storageUri: the fake cannot write to Cloud Storage.")
    samples = params.get("sampleCount", 1)
    if samples not in (1, 2, 3, 4):
        raise _invalid(f"sampleCount {samples!r} must be 1 to 4.")
    return {
        "first": first,
        "last": last,
        "seconds": int(seconds),
        "size": (aspect, resolution),
        "audio": bool(params.get("generateAudio", spec.audio)),
        "samples": samples,
        "crop": params.get("resizeMode") == "crop",
        "prompt": prompt,
    }


@dataclass
class _Operation:
    name: str
    model: str
    request: dict
    fate: Fault | None
    polls_needed: int
    polls: int = 0
    videos: list | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- routing -------------------------------------------------------------------------

_GENERATE = re.compile(r"^/(v1|v1beta)/models/([^/:]+):(generateContent)$")
_VEO = re.compile(
    r"^/(v1|v1beta1)/(?:projects/([^/]+)/locations/([^/]+)/)?"
    r"publishers/google/models/([^/:]+):(predictLongRunning|fetchPredictOperation)$"
)


def _route(path: str) -> tuple[str, str, str | None, str | None] | None:
    """(endpoint, model, project, location) for a path the fake serves, else None."""
    if m := _GENERATE.match(path):
        return m.group(3), m.group(2), None, None
    if m := _VEO.match(path):
        return m.group(5), m.group(4), m.group(2), m.group(3)
    return None


class FakeGoogleAPI:
    """A loopback server speaking enough of Google's API for the google-genai SDK.

    Set `script_reply(request) -> dict` / `text_reply(request) -> str` to choose text
    replies; queue misbehaviour with `fail_next`; read `requests` and `count`.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        port: int = 0,
        polls_to_finish: int = 1,
        image_scale: float = 1.0,
        video_scale: float = 1.0,
        max_sleep: float = 10.0,
        project: str = "fake-project",
        location: str = "us-central1",
    ):
        self.api_key, self.port = api_key, port
        self.polls_to_finish = polls_to_finish
        self.image_scale, self.video_scale = image_scale, video_scale
        self.max_sleep = max_sleep
        self.project, self.location = project, location
        self.text_models = set(TEXT_MODELS)
        self.image_models = set(IMAGE_MODELS)
        self.veo_models = dict(VEO_MODELS)
        self.script_reply: Callable[[dict], dict] = default_script_reply
        self.text_reply: Callable[[dict], str] = default_text_reply
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._log: list[RecordedRequest] = []
        self._in_flight = 0
        self._faults: list[_QueuedFault] = []
        self._operations: dict[str, _Operation] = {}
        self._last_frame_refusals: dict[str, ApiError] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeGoogleAPI:
        """Bind 127.0.0.1 and serve on a background thread."""
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self._server, self.port = server, server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; wake sleeping handlers and wait for every thread to end."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeGoogleAPI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """What to pass as HttpOptions(base_url=...)."""
        return f"http://127.0.0.1:{self.port}"

    # -- configuration

    def fail_next(
        self, endpoint: str, fault: Fault, *, model: str | None = None, times=1
    ) -> None:
        """Queue `fault` for the next `times` valid requests to `endpoint` (None: all).

        Requests that fail validation do not consume a fault. Faults are tried in the
        order queued; the first one whose endpoint and model match is used.
        """
        if endpoint not in _FAULT_ENDPOINTS[fault.kind]:
            raise ValueError(f"fault {fault.kind!r} does not apply to {endpoint!r}")
        with self._lock:
            self._faults.append(_QueuedFault(endpoint, model, fault, times))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def refuse_last_frame(
        self, model: str, status: str = "FAILED_PRECONDITION", message: str = ""
    ) -> None:
        """Make `model` answer 400 whenever instances[0].lastFrame is sent."""
        message = message or (
            f"The use case of generating a video from a first and a last frame is "
            f"not supported by {model}."
        )
        self._last_frame_refusals[model] = ApiError(400, status, message)

    # -- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def in_flight(self) -> int:
        """How many requests are being answered right now (e.g. sleeping)."""
        with self._lock:
            return self._in_flight

    def count(self, endpoint: str) -> int:
        """How many requests reached `endpoint` (e.g. "predictLongRunning")."""
        return sum(1 for r in self.requests if r.endpoint == endpoint)

    # -- request handling (called from handler threads)

    def handle(self, method: str, raw_path: str, headers, raw_body: bytes):
        """Answer one HTTP request: (status, JSON body). Records it."""
        received = time.monotonic()
        url = urlsplit(raw_path)
        key = headers.get("x-goog-api-key") or parse_qs(url.query).get("key", [None])[0]
        route = _route(url.path)
        endpoint, model = (route[0], route[1]) if route else (None, None)
        body: Any = None
        with self._lock:
            self._in_flight += 1
        try:
            body = self._parse(method, route, key, raw_body)
            status, reply = 200, self._answer(route, body)
        except ApiError as error:
            status, reply = error.code, error.body()
        finally:
            with self._lock:
                self._in_flight -= 1
        kept = {k.lower(): v for k, v in headers.items()}
        kept.pop("x-goog-api-key", None)
        kept.pop("authorization", None)
        record = RecordedRequest(
            method=method,
            path=url.path,
            endpoint=endpoint,
            model=model,
            body=body,
            headers=kept,
            api_key_present=key is not None,
            api_key_valid=key == self.api_key,
            status=status,
            received=received,
        )
        with self._lock:
            self._log.append(record)
        return status, reply

    def _parse(self, method, route, key, raw_body: bytes) -> dict:
        if route is None or method != "POST":
            raise ApiError(404, "NOT_FOUND", "The requested URL was not found.")
        if key is None:
            message = "Request is missing required authentication credential: API key."
            raise ApiError(401, "UNAUTHENTICATED", message)
        if key != self.api_key:
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
            message = "API key not valid. Please pass a valid API key."
            raise ApiError(403, "PERMISSION_DENIED", message, [info])
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            raise _invalid("Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise _invalid("Invalid JSON payload received: expected an object.")
        return body

    def _take_fault(self, endpoint: str, model: str) -> Fault | None:
        with self._lock:
            for queued in self._faults:
                if queued.endpoint == endpoint and queued.model in (None, model):
                    if queued.remaining is not None:
                        queued.remaining -= 1
                        if queued.remaining <= 0:
                            self._faults.remove(queued)
                    return queued.fault
        return None

    def _answer(self, route, body: dict) -> dict:
        endpoint, model, project, location = route
        checked = self._validate(endpoint, model, body)
        fault = self._take_fault(endpoint, model)
        if fault is not None and fault.kind == "error":
            raise fault.params["error"]
        if fault is not None and fault.kind == "raw":
            if fault.params["status"] != 200:
                raise _RawReply(fault.params["status"], fault.params["body"])
            return fault.params["body"]
        if fault is not None and fault.kind == "slow":
            self._stopping.wait(min(fault.params["seconds"], self.max_sleep))
            fault = None
        if endpoint == "generateContent":
            return self._generate_content(model, body, checked, fault)
        if endpoint == "predictLongRunning":
            return self._create_operation(model, project, location, body, fault)
        return self._poll_operation(model, body)

    def _validate(self, endpoint: str, model: str, body: dict):
        if endpoint == "generateContent":
            if model not in self.text_models | self.image_models:
                message = (
                    f"models/{model} is not found or does not support generateContent."
                )
                raise ApiError(404, "NOT_FOUND", message)
            images = _input_images(body)
            config = body.get("generationConfig") or {}
            wants_image = self._wants_image(model, config)
            if wants_image and model not in self.image_models:
                raise _invalid(
                    f"{model} does not support the requested response modalities: image"
                )
            _check_generation_config(config, wants_image)
            return images
        if model not in self.veo_models:
            message = (
                f"Publisher Model `publishers/google/models/{model}` was not found."
            )
            raise ApiError(404, "NOT_FOUND", message)
        if endpoint == "fetchPredictOperation":
            return None
        checked = _check_veo(body, model, self.veo_models[model])
        if checked["last"] is not None and model in self._last_frame_refusals:
            raise self._last_frame_refusals[model]
        return checked

    def _wants_image(self, model: str, config: dict) -> bool:
        modalities = config.get("responseModalities")
        if modalities is None:
            return model in self.image_models
        unknown = set(modalities) - {"TEXT", "IMAGE", "AUDIO"}
        if unknown:
            raise _invalid(f"Unknown responseModalities: {sorted(unknown)}")
        return "IMAGE" in modalities

    # -- generateContent

    def _generate_content(self, model, body, images, fault: Fault | None) -> dict:
        config = body.get("generationConfig") or {}
        text = _prompt_text(body)
        prompt_tokens = len(text) // 4 + 258 * len(images) + 1
        reply = {"modelVersion": model, "responseId": f"fake-{len(self._log) + 1}"}
        if fault is not None and fault.kind == "prompt_blocked":
            feedback = {"blockReason": fault.params["reason"]}
            usage = _usage(prompt_tokens, 0)
            return {**reply, "promptFeedback": feedback, "usageMetadata": usage}
        if fault is not None and fault.kind in ("image_finish", "empty_reply"):
            candidate = {"content": {"role": "model"}, "index": 0}
            candidate["finishReason"] = fault.params["reason"]
        else:
            parts = self._reply_parts(model, body, config, images, fault)
            content = {"role": "model", "parts": parts}
            candidate = {"content": content, "finishReason": "STOP", "index": 0}
        output_tokens = 1290 if self._wants_image(model, config) else 20
        usage = _usage(prompt_tokens, output_tokens)
        return {**reply, "candidates": [candidate], "usageMetadata": usage}

    def _reply_parts(self, model, body, config, images, fault) -> list[dict]:
        if fault is not None and fault.kind in ("text_only", "invalid_json"):
            return [{"text": fault.params["text"]}]
        if not self._wants_image(model, config):
            if config.get("responseMimeType") == "application/json":
                return [{"text": json.dumps(self.script_reply(body))}]
            return [{"text": self.text_reply(body)}]
        image_config = config.get("imageConfig") or {}
        aspect = image_config.get("aspectRatio")
        if aspect is None and images:
            aspect = nearest_aspect_ratio(images[0])
        size = image_size(aspect, image_config.get("imageSize"), self.image_scale)
        png = render_image(_prompt_text(body), images[0] if images else None, size)
        parts = [{"inlineData": {"mimeType": "image/png", "data": _b64(png)}}]
        if "TEXT" in config.get("responseModalities", ["TEXT"]):
            parts.insert(0, {"text": "Here is the image you asked for."})
        return parts

    # -- Veo

    def _create_operation(self, model, project, location, body, fault) -> dict:
        project, location = project or self.project, location or self.location
        with self._lock:
            number = len(self._operations) + 1
            name = (
                f"projects/{project}/locations/{location}/publishers/google/models/"
                f"{model}/operations/fake-op-{number:04d}"
            )
            self._operations[name] = _Operation(
                name, model, body, fault, self.polls_to_finish
            )
        return {"name": name}

    def _poll_operation(self, model: str, body: dict) -> dict:
        name = body.get("operationName")
        if not isinstance(name, str) or not name:
            raise _invalid("'operationName' is required.")
        with self._lock:
            op = self._operations.get(name)
        fate = op.fate.kind if op is not None and op.fate is not None else None
        if op is None or fate == "vanishes":
            raise ApiError(404, "NOT_FOUND", f"Operation {name} was not found.")
        if op.model != model:
            raise _invalid(f"Operation {name} does not belong to model {model}.")
        with op.lock:
            op.polls += 1
            if fate == "never_finishes" or op.polls < op.polls_needed:
                return {"name": name}
            if fate == "operation_error":
                error = {
                    "code": op.fate.params["code"],
                    "message": op.fate.params["message"],
                }
                return {"name": name, "done": True, "error": error}
            return {"name": name, "done": True, "response": self._video_response(op)}

    def _video_response(self, op: _Operation) -> dict:
        response = {"@type": _VIDEO_RESPONSE_TYPE}
        if op.fate is not None and op.fate.kind == "filtered":
            response["raiMediaFilteredCount"] = op.fate.params["count"]
            response["raiMediaFilteredReasons"] = op.fate.params["reasons"]
            return response
        if op.videos is None:
            op.videos = self._render_clips(op)
        response["videos"] = op.videos
        return response

    def _render_clips(self, op: _Operation) -> list[dict]:
        checked = _check_veo(op.request, op.model, self.veo_models[op.model])
        size = video_size(*checked["size"], self.video_scale)
        card = Image.new("RGB", size, prompt_colour(checked["prompt"]))
        fit = ImageOps.fit if checked["crop"] else ImageOps.pad  # Veo's resizeMode

        def frame(picture):
            return card if picture is None else fit(picture, size)

        first, last = frame(checked["first"]), frame(checked["last"])
        mp4 = render_video(first, last, checked["seconds"], checked["audio"])
        video = {"bytesBase64Encoded": _b64(mp4), "mimeType": "video/mp4"}
        return [dict(video) for _ in range(checked["samples"])]


_VIDEO_RESPONSE_TYPE = (
    "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _RawReply(ApiError):
    """A Fault.raw with a non-200 status: sent as given, not in Google's shape."""

    def __init__(self, status: int, body: dict):
        super().__init__(status, "", "raw fault")
        self._raw = body

    def body(self) -> dict:
        return self._raw


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, so server_close() waits for each to finish.
    daemon_threads = False
    block_on_close = True
    fake: FakeGoogleAPI


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive thread outlives
    # close(). A stalled client is dropped after `timeout` seconds.
    protocol_version = "HTTP/1.0"
    server_version = "FakeGoogleAPI/1"
    timeout = 30

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"error": {"code": 413, "message": "Request too large."}})
            return
        raw = self.rfile.read(length)
        try:
            status, reply = self.server.fake.handle(
                self.command, self.path, self.headers, raw
            )
        except Exception as exc:  # a bug in the fake: say so instead of hanging up
            log.exception("fake Google API failed on %s", self.path)
            status, reply = 500, ApiError(500, "INTERNAL", f"fake: {exc!r}").body()
        self._send(status, reply)

    def _send(self, status: int, reply: dict) -> None:
        data = json.dumps(reply).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (
            OSError
        ):  # the client gave up (its timeout was shorter than a slow fault)
            pass

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.address_string(), format % args)


def main(argv: list[str] | None = None) -> int:
    """Serve the fake from the command line until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-key", default="test-key", help="the key clients must send"
    )
    parser.add_argument(
        "--polls", type=int, default=1, help="polls until a Veo job is done"
    )
    parser.add_argument("--image-scale", type=float, default=1.0)
    parser.add_argument("--video-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    fake = FakeGoogleAPI(
        api_key=args.api_key,
        port=args.port,
        polls_to_finish=args.polls,
        image_scale=args.image_scale,
        video_scale=args.video_scale,
    )
    with fake:
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
