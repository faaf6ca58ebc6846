"""The Vertex side of the fake: Veo jobs (created, then polled) and models.get."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from .content import encode_base64, prompt_colour, render_video, video_size
from .faults import ApiError, Fault, invalid
from .validation import VeoModel, check_veo

_VIDEO_RESPONSE_TYPE = (
    "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
)


@dataclass
class Operation:
    """One Veo job: what was asked, how it is to end, and its videos once rendered."""

    name: str
    model: str
    request: dict
    fate: Fault | None
    polls_needed: int
    polls: int = 0
    videos: list | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class VertexApi:
    """Vertex answers, mixed into FakeGoogleAPI, whose settings and jobs they use."""

    veo_models: dict[str, VeoModel]
    project: str
    location: str
    polls_to_finish: int
    video_scale: float
    _lock: threading.Lock
    _operations: dict[str, Operation]
    _last_frame_refusals: dict[str, ApiError]

    def _validate_vertex(self, endpoint: str, model: str, body: dict) -> dict | None:
        if model not in self.veo_models:
            message = (
                f"Publisher Model `publishers/google/models/{model}` was not found."
            )
            raise ApiError(404, "NOT_FOUND", message)
        if endpoint in ("fetchPredictOperation", "getModel"):
            return None
        checked = check_veo(body, model, self.veo_models[model])
        if checked["last"] is not None and model in self._last_frame_refusals:
            raise self._last_frame_refusals[model]
        return checked

    def _create_operation(self, model, project, location, body, fault) -> dict:
        project, location = project or self.project, location or self.location
        with self._lock:
            number = len(self._operations) + 1
            name = (
                f"projects/{project}/locations/{location}/publishers/google/models/"
                f"{model}/operations/fake-op-{number:04d}"
            )
            self._operations[name] = Operation(
                name, model, body, fault, self.polls_to_finish
            )
        return {"name": name}

    def _poll_operation(self, model: str, body: dict) -> dict:
        name = body.get("operationName")
        if not isinstance(name, str) or not name:
            raise invalid("'operationName' is required.")
        with self._lock:
            op = self._operations.get(name)
        fate = op.fate.kind if op is not None and op.fate is not None else None
        if op is None or fate == "vanishes":
            raise ApiError(404, "NOT_FOUND", f"Operation {name} was not found.")
        if op.model != model:
            raise invalid(f"Operation {name} does not belong to model {model}.")
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

    def _video_response(self, op: Operation) -> dict:
        response = {"@type": _VIDEO_RESPONSE_TYPE}
        if op.fate is not None and op.fate.kind == "filtered":
            response["raiMediaFilteredCount"] = op.fate.params["count"]
            response["raiMediaFilteredReasons"] = op.fate.params["reasons"]
            return response
        if op.videos is None:
            op.videos = self._render_clips(op)
        response["videos"] = op.videos
        return response

    def _render_clips(self, op: Operation) -> list[dict]:
        checked = check_veo(op.request, op.model, self.veo_models[op.model])
        size = video_size(*checked["size"], self.video_scale)
        card = Image.new("RGB", size, prompt_colour(checked["prompt"]))
        fit = ImageOps.fit if checked["crop"] else ImageOps.pad  # Veo's resizeMode

        def frame(picture):
            return card if picture is None else fit(picture, size)

        first, last = frame(checked["first"]), frame(checked["last"])
        mp4 = render_video(first, last, checked["seconds"], checked["audio"])
        video = {"bytesBase64Encoded": encode_base64(mp4), "mimeType": "video/mp4"}
        return [dict(video) for _ in range(checked["samples"])]

    def _publisher_model(self, model: str) -> dict:
        """The PublisherModel resource models.get answers with in Vertex mode."""
        # The SDK keeps only name and versionId (as version) of this resource.
        return {
            "name": f"publishers/google/models/{model}",
            "versionId": "default",
            "openSourceCategory": "PROPRIETARY",
            "launchStage": "GA",
        }
