"""The models the fake knows, and the checks it makes on a request before answering."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from .content import IMAGE_SIZE_FACTORS, IMAGE_SIZES, decode_base64, decode_image
from .faults import invalid

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


# -- request checks ------------------------------------------------------------------


def _parts_of(request: dict) -> list[tuple[str, dict]]:
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    found = []
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise invalid(
                f"* GenerateContentRequest.contents[{i}].parts: must not be empty"
            )
        if content.get("role", "user") not in ("user", "model"):
            raise invalid(f"Please use a valid role: user, model (contents[{i}]).")
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                raise invalid(f"'contents[{i}].parts[{j}]' must be an object.")
            found.append((f"contents[{i}].parts[{j}]", part))
    return found


def input_images(request: dict) -> list[Image.Image]:
    """Every inlineData picture, decoded; 400 on bad base64, mimeType or bytes."""
    pictures = []
    for where, part in _parts_of(request):
        blob = part.get("inlineData", part.get("inline_data"))
        if not isinstance(blob, dict):
            if not {"text", "fileData"} & set(part):
                raise invalid(f"'{where}' has no data (text, inlineData or fileData).")
            continue
        data = decode_base64(
            blob.get("data"), f"{where}.inline_data.data", urlsafe=True
        )
        mime = blob.get("mimeType", blob.get("mime_type"))
        if isinstance(mime, str) and not mime.startswith("image/"):
            continue
        pictures.append(decode_image(data, mime, f"{where}.inline_data"))
    return pictures


def check_generation_config(config: dict, wants_image: bool) -> None:
    """400 for a generationConfig the service would refuse."""
    mime = config.get("responseMimeType", "text/plain")
    if config.get("responseSchema") and config.get("responseJsonSchema"):
        raise invalid("Set only one of responseSchema and responseJsonSchema.")
    has_schema = config.get("responseSchema") or config.get("responseJsonSchema")
    if has_schema and mime != "application/json":
        raise invalid(
            "responseMimeType must be application/json with a response schema."
        )
    aspect = (config.get("imageConfig") or {}).get("aspectRatio")
    if aspect is not None and aspect not in IMAGE_SIZES:
        raise invalid(f"Unsupported aspect ratio: {aspect}")
    size = (config.get("imageConfig") or {}).get("imageSize")
    if size is not None and size not in IMAGE_SIZE_FACTORS:
        raise invalid(f"Unsupported image size: {size}")
    if wants_image and mime == "application/json":
        raise invalid("JSON mode is not supported with the IMAGE modality.")


def _veo_image(instance: dict, key: str, where: str) -> Image.Image | None:
    blob = instance.get(key)
    if blob is None:
        return None
    if not isinstance(blob, dict) or "gcsUri" in blob:
        raise invalid(
            f"'{where}': send bytesBase64Encoded (the fake cannot read gcsUri)."
        )
    data = decode_base64(blob.get("bytesBase64Encoded"), where, urlsafe=False)
    return decode_image(data, blob.get("mimeType"), where)


def check_veo(body: dict, model: str, spec: VeoModel) -> dict:
    """Validated essentials of a predictLongRunning body; 400 like Vertex when wrong."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1:
        raise invalid("'instances' must hold exactly one instance.")
    instance = instances[0] if isinstance(instances[0], dict) else {}
    prompt = instance.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("'instances[0].prompt' is required.")
    first = _veo_image(instance, "image", "instances[0].image")
    last = _veo_image(instance, "lastFrame", "instances[0].lastFrame")
    if last is not None and first is None:
        raise invalid("'instances[0].lastFrame' needs 'instances[0].image'.")
    references = instance.get("referenceImages") or []
    for i, ref in enumerate(references):
        _veo_image(ref, "image", f"instances[0].referenceImages[{i}].image")
    if references and (not spec.reference_images or first is not None):
        raise invalid(f"referenceImages are not supported here by {model}.")
    params = body.get("parameters") or {}
    seconds = params.get("durationSeconds", max(spec.durations))
    if seconds not in spec.durations:
        allowed = ", ".join(map(str, spec.durations))
        raise invalid(
            f"durationSeconds {seconds!r} is not supported by {model}: {allowed}"
        )
    aspect = params.get("aspectRatio", "16:9")
    if aspect not in ("16:9", "9:16"):
        raise invalid(f"aspectRatio {aspect!r} is not supported; use 16:9 or 9:16.")
    resolution = params.get("resolution", "720p")
    if resolution not in spec.resolutions:
        raise invalid(f"resolution {resolution!r} is not supported by {model}.")
    if params.get("generateAudio") and not spec.audio:
        raise invalid(f"generateAudio is not supported by {model}.")
    if params.get("storageUri"):
        raise invalid("storageUri: the fake cannot write to Cloud Storage.")
    samples = params.get("sampleCount", 1)
    if samples not in (1, 2, 3, 4):
        raise invalid(f"sampleCount {samples!r} must be 1 to 4.")
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
