"""Loopback fake of Google's generative API, for ttv's tests and offline trials.

It serves, on 127.0.0.1 only, what the real google-genai SDK calls for ttv's Google
backends: Developer API `generateContent` (text, structured JSON, images) and Veo in
Vertex express mode (`predictLongRunning`, polled with `fetchPredictOperation`), and in
both modes the model resource `models.get` reads (endpoint "getModel"), which costs
nothing. The images are real PNGs (Pillow) and the videos real MP4s (the ffmpeg of
imageio-ffmpeg).

    with FakeGoogleAPI() as fake:
        options = types.HttpOptions(base_url=fake.base_url, api_version="v1beta")
        client = genai.Client(api_key=fake.api_key, http_options=options)
        fake.fail_next("generateContent", Fault.rate_limited(retry_delay="2s"))

Modules: `server` (FakeGoogleAPI, routing, keys, the request log), `gemini` (Developer
API answers), `vertex` (Veo jobs, publisher models), `validation` (model tables,
request checks), `content` (base64, PNG and MP4 rendering, schema examples), `faults`
(Fault, ApiError), `cli` (`python scripts/fake_google_api.py --port 8765`).
"""

from .cli import main
from .content import (
    FFMPEG_TIMEOUT_S,
    FPS,
    IMAGE_MIME_TYPES,
    IMAGE_SIZE_FACTORS,
    IMAGE_SIZES,
    STORY_REPLY,
    VIDEO_SIZES,
    average_colour,
    decode_base64,
    decode_image,
    default_script_reply,
    default_text_reply,
    example_from_schema,
    image_size,
    nearest_aspect_ratio,
    patch_box,
    prompt_colour,
    render_image,
    render_video,
    video_size,
)
from .faults import ANY_ENDPOINT, ApiError, Fault
from .server import MAX_BODY_BYTES, FakeGoogleAPI, RecordedRequest
from .validation import IMAGE_MODELS, TEXT_MODELS, VEO_MODELS, VeoModel

__all__ = [
    "ANY_ENDPOINT",
    "FFMPEG_TIMEOUT_S",
    "FPS",
    "IMAGE_MIME_TYPES",
    "IMAGE_MODELS",
    "IMAGE_SIZES",
    "IMAGE_SIZE_FACTORS",
    "MAX_BODY_BYTES",
    "STORY_REPLY",
    "TEXT_MODELS",
    "VEO_MODELS",
    "VIDEO_SIZES",
    "ApiError",
    "FakeGoogleAPI",
    "Fault",
    "RecordedRequest",
    "VeoModel",
    "average_colour",
    "decode_base64",
    "decode_image",
    "default_script_reply",
    "default_text_reply",
    "example_from_schema",
    "image_size",
    "main",
    "nearest_aspect_ratio",
    "patch_box",
    "prompt_colour",
    "render_image",
    "render_video",
    "video_size",
]
