"""Keyframes on Gemini image models: the previous keyframe and references, labelled.

Every way of getting no image back is its own clear error naming the shot and the
reason: a blocked prompt, a safety finish with no parts, or a text-only answer.
"""

from __future__ import annotations

import io
import logging
from typing import ClassVar

from PIL import Image
from pydantic import BaseModel, Field

from ttv.backends import register
from ttv.backends.base import ImageModel, KeyframeRequest
from ttv.backends.google.common import GoogleBackend, GoogleOptions, call
from ttv.errors import BackendError

log = logging.getLogger(__name__)

ASPECT_RATIOS = (
    "1:1",
    "2:3",
    "3:2",
    "3:4",
    "4:3",
    "4:5",
    "5:4",
    "9:16",
    "16:9",
    "21:9",
)
IMAGE_SIZES = {"gemini-3-pro-image": ("1K", "2K", "4K")}


class NoImageError(BackendError):
    """The image model answered without an image."""

    def __init__(self, label: str, reason: str, detail: str = ""):
        self.reason = reason
        text = f"keyframe {label}: no image came back ({reason})"
        if detail:
            text += f": {detail}"
        text += ". Rephrase the shot's prompt in script.yaml, or set keyframes.soften_retries"
        super().__init__(text)


class GeminiImageOptions(GoogleOptions):
    image_size: str | None = Field(
        None, description="1K, 2K or 4K where the model has it"
    )
    soften_retries: int = Field(
        0, ge=0, le=3, description="retries with a softened prompt after a refusal"
    )


@register
class GeminiImages(GoogleBackend, ImageModel):
    """Keyframes from a Gemini image model, image-to-image."""

    name: ClassVar[str] = "gemini"
    Options: ClassVar[type[BaseModel]] = GeminiImageOptions
    default_model: ClassVar[str | None] = "gemini-2.5-flash-image"
    what: ClassVar[str] = "the gemini image model"

    def option_problems(self) -> list[tuple[str, str]]:
        sizes = IMAGE_SIZES.get(self.model or "", ())
        if self.options.image_size and self.options.image_size not in sizes:
            return [
                (
                    "image_size",
                    f"got {self.options.image_size!r}; {self.model} takes "
                    f"{', '.join(sizes) or 'no image_size'}",
                )
            ]
        return []

    def generate(self, request: KeyframeRequest) -> Image.Image:
        from ttv.pipeline import prompts_dir

        prompt = request.prompt
        for attempt in range(self.options.soften_retries + 1):
            try:
                return self._ask(request, prompt)
            except NoImageError as exc:
                if attempt == self.options.soften_retries:
                    raise
                soften = (prompts_dir() / "soften.txt").read_text(encoding="utf-8")
                prompt = f"{soften.strip()}\n{request.prompt}"
                log.warning(
                    "keyframe %s: %s; retrying with a softened prompt (%d of %d)",
                    request.label, exc.reason, attempt + 1, self.options.soften_retries,
                )  # fmt: skip
        raise AssertionError("unreachable")

    def _ask(self, request: KeyframeRequest, prompt: str) -> Image.Image:
        from google.genai import types

        image_config = types.ImageConfig(
            aspect_ratio=nearest_ratio(request.width, request.height),
            image_size=self.options.image_size,
        )
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"], image_config=image_config
        )
        response = call(
            lambda: self._client.models.generate_content(
                model=self.model, contents=_parts(request, prompt), config=config
            ),
            options=self.options,
            what=f"keyframe {request.label}",
            cost_per_try=self.estimate_usd(),
        )
        return _image_of(response, request.label)


def _parts(request: KeyframeRequest, prompt: str) -> list:
    """Text and images, each image introduced by a line saying what it is."""
    from google.genai import types

    parts: list = []
    if request.previous is not None:
        parts.append("Previous keyframe (continue from its look and light):")
        parts.append(
            types.Part.from_bytes(data=_png(request.previous), mime_type="image/png")
        )
    for ref in request.references:
        c = ref.character
        parts.append(
            f"Reference image of {c.label} (id {c.id}): {c.description}".strip()
        )
        parts.append(types.Part.from_bytes(data=_png(ref.image), mime_type="image/png"))
    parts.append(prompt)
    return parts


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _image_of(response, label: str) -> Image.Image:
    feedback = getattr(response, "prompt_feedback", None)
    candidates = response.candidates or []
    if not candidates:
        reason = getattr(feedback, "block_reason", None)
        raise NoImageError(
            label, f"prompt blocked: {_name(reason) or 'no reason given'}"
        )
    candidate = candidates[0]
    texts = []
    for part in (candidate.content.parts if candidate.content else None) or []:
        data = part.inline_data
        if (
            data is not None
            and data.data
            and (data.mime_type or "").startswith("image/")
        ):
            try:
                image = Image.open(io.BytesIO(data.data))
                image.load()
            except OSError as exc:
                raise BackendError(
                    f"keyframe {label}: the image that came back does not decode ({exc})"
                ) from exc
            return image.convert("RGB")
        if part.text:
            texts.append(part.text.strip())
    finish = _name(candidate.finish_reason)
    if texts:
        raise NoImageError(
            label, "text only", f"the model said: {' '.join(texts)[:200]!r}"
        )
    raise NoImageError(label, f"finish reason {finish or 'unknown'}")


def _name(value) -> str | None:
    if value is None:
        return None
    return getattr(value, "name", None) or str(value)


def nearest_ratio(width: int, height: int) -> str:
    """The supported aspect ratio closest to width:height."""
    target = width / height

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(int(w) / int(h) - target)

    return min(ASPECT_RATIOS, key=distance)
