"""The Developer API side of the fake: generateContent and models.get."""

from __future__ import annotations

import json
from collections.abc import Callable

from PIL import Image

from .content import (
    encode_base64,
    image_size,
    nearest_aspect_ratio,
    prompt_text,
    render_image,
    usage_metadata,
)
from .faults import ApiError, Fault, invalid
from .validation import check_generation_config, input_images


class DeveloperApi:
    """Developer API answers, mixed into FakeGoogleAPI, whose settings they read."""

    text_models: set[str]
    image_models: set[str]
    image_scale: float
    script_reply: Callable[[dict], dict]
    text_reply: Callable[[dict], str]
    _log: list

    def _validate_gemini(
        self, endpoint: str, model: str, body: dict
    ) -> list[Image.Image] | None:
        if model not in self.text_models | self.image_models:
            message = f"models/{model} is not found"
            if endpoint != "getModel":
                message += " or does not support generateContent"
            raise ApiError(404, "NOT_FOUND", message + ".")
        if endpoint == "getModel":
            return None
        images = input_images(body)
        config = body.get("generationConfig") or {}
        wants_image = self._wants_image(model, config)
        if wants_image and model not in self.image_models:
            raise invalid(
                f"{model} does not support the requested response modalities: image"
            )
        check_generation_config(config, wants_image)
        return images

    def _wants_image(self, model: str, config: dict) -> bool:
        modalities = config.get("responseModalities")
        if modalities is None:
            return model in self.image_models
        unknown = set(modalities) - {"TEXT", "IMAGE", "AUDIO"}
        if unknown:
            raise invalid(f"Unknown responseModalities: {sorted(unknown)}")
        return "IMAGE" in modalities

    def _generate_content(self, model, body, images, fault: Fault | None) -> dict:
        config = body.get("generationConfig") or {}
        text = prompt_text(body)
        prompt_tokens = len(text) // 4 + 258 * len(images) + 1
        reply = {"modelVersion": model, "responseId": f"fake-{len(self._log) + 1}"}
        if fault is not None and fault.kind == "prompt_blocked":
            feedback = {"blockReason": fault.params["reason"]}
            usage = usage_metadata(prompt_tokens, 0)
            return {**reply, "promptFeedback": feedback, "usageMetadata": usage}
        if fault is not None and fault.kind in ("image_finish", "empty_reply"):
            candidate = {"content": {"role": "model"}, "index": 0}
            candidate["finishReason"] = fault.params["reason"]
        else:
            parts = self._reply_parts(model, body, config, images, fault)
            content = {"role": "model", "parts": parts}
            candidate = {"content": content, "finishReason": "STOP", "index": 0}
        output_tokens = 1290 if self._wants_image(model, config) else 20
        usage = usage_metadata(prompt_tokens, output_tokens)
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
        png = render_image(prompt_text(body), images[0] if images else None, size)
        parts = [{"inlineData": {"mimeType": "image/png", "data": encode_base64(png)}}]
        if "TEXT" in config.get("responseModalities", ["TEXT"]):
            parts.insert(0, {"text": "Here is the image you asked for."})
        return parts

    def _gemini_model(self, model: str) -> dict:
        """The Model resource models.get answers with in the Developer API."""
        image = model in self.image_models
        methods = ["generateContent", "countTokens", "batchGenerateContent"]
        title = model.replace("-", " ").title()
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": title,
            "description": f"{title}, as served by ttv's loopback fake.",
            "inputTokenLimit": 32768 if image else 1048576,
            "outputTokenLimit": 32768 if image else 65536,
            "supportedGenerationMethods": methods,
            "temperature": 1.0,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2.0,
            "thinking": not image,
        }
