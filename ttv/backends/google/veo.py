"""Clips on Veo, through Vertex AI (google-genai 3.x runs Veo only in Vertex mode).

The operation id is written to the run's journal before polling starts; a resumed run
polls the saved operation instead of paying for a new one. A create request that may
have reached the server (a timeout) is never resent blindly.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from PIL import Image
from pydantic import BaseModel, Field

from ttv.backends import register
from ttv.backends.base import Capabilities, ClipRequest, VideoModel
from ttv.backends.google.common import (
    NEVER_SENT,
    GoogleBackend,
    GoogleOptions,
    call,
    describe,
    status_of,
)
from ttv.errors import BackendError, ConfigError, LastFrameRefused, RunError
from ttv.pricing import price

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VeoModel:
    """What one Veo model id accepts (the SDK does not check any of this)."""

    last_frame: bool
    durations: tuple[float, ...]
    audio: bool
    resolutions: tuple[str, ...] = ("720p", "1080p")


VEO_MODELS: dict[str, VeoModel] = {
    "veo-3.1-generate-001": VeoModel(True, (4, 6, 8), True),
    "veo-3.1-fast-generate-001": VeoModel(True, (4, 6, 8), True),
    "veo-3.0-generate-001": VeoModel(False, (4, 6, 8), True),
    "veo-3.0-fast-generate-001": VeoModel(False, (4, 6, 8), True),
    "veo-2.0-generate-001": VeoModel(True, (5, 6, 7, 8), False, ("720p",)),
}


class ClipFiltered(BackendError):
    """The provider finished the job but returned no video (content filter; not billed)."""


class VeoOptions(GoogleOptions):
    vertexai: bool = True
    resolution: str = "720p"
    negative_prompt: str | None = None
    generate_audio: bool = False
    person_generation: str | None = None
    enhance_prompt: bool | None = None
    poll_interval: float = Field(
        10.0, gt=0, le=300, description="first wait between polls"
    )
    poll_timeout: float = Field(
        900.0, gt=0, le=6 * 3600, description="deadline per clip"
    )


@register
class VeoClips(GoogleBackend, VideoModel):
    """Clips from a Veo model, first and (where supported) last frame."""

    name: ClassVar[str] = "veo"
    Options: ClassVar[type[BaseModel]] = VeoOptions
    default_model: ClassVar[str | None] = "veo-3.1-fast-generate-001"
    what: ClassVar[str] = "the veo video model"
    vertex: ClassVar[bool] = True

    def volatile_options(self) -> set[str]:
        return super().volatile_options() | {"poll_interval", "poll_timeout"}

    @property
    def spec(self) -> VeoModel:
        found = VEO_MODELS.get(self.model or "")
        if found is None:
            known = ", ".join(VEO_MODELS)
            raise ConfigError(
                f"clips.model: unknown Veo model {self.model!r}; known: {known}"
            )
        return found

    def capabilities(self) -> Capabilities:
        spec = self.spec
        return Capabilities(
            last_frame=spec.last_frame,
            durations=spec.durations,
            aspect_ratios=("16:9", "9:16"),
        )

    def option_problems(self) -> list[tuple[str, str]]:
        spec = VEO_MODELS.get(self.model or "")
        if spec is None:
            return [
                (
                    "model",
                    f"unknown Veo model {self.model!r}; known: {', '.join(VEO_MODELS)}",
                )
            ]
        problems = []
        if self.options.resolution not in spec.resolutions:
            problems.append(
                (
                    "resolution",
                    f"got {self.options.resolution!r}; {self.model} makes "
                    f"{', '.join(spec.resolutions)}",
                )
            )
        if self.options.generate_audio and not spec.audio:
            problems.append(("generate_audio", f"{self.model} makes no audio"))
        return problems

    def estimate_usd(self, seconds: float) -> float:
        unit = (
            "video_second_with_audio" if self.options.generate_audio else "video_second"
        )
        per = (
            price(self.model, unit, self.price_overrides)
            or price(self.model, "video_second", self.price_overrides)
            or 0.0
        )
        return per * seconds

    def generate(self, request: ClipRequest, dest: Path) -> None:
        journal = request.journal
        state = journal.latest(request.key, JOB_EVENTS) if journal else None
        event = state["event"] if state else None
        if event == "operation":
            name = state["name"]
            log.info("clip %s: resuming Veo operation %s", request.label, name)
        elif event == "create_sent" and not request.resubmit:
            raise RunError(
                f"clip {request.label}: an earlier run sent this clip's create request "
                "and got no answer (a crash, a timeout or a dropped connection), so a "
                "Veo job may have started and been billed. ttv does not resend it on "
                "its own: check the provider's console, then run again with --resubmit "
                "to submit it anew"
            )
        else:
            # Nothing pending: a first try, or an earlier job that failed, was
            # filtered or was lost (none of them billed), so a new job is right.
            name = self._create(request)
        operation = self._wait(request, name)
        self._save(request, operation, dest)

    def _video_config(self, request: ClipRequest):
        """What the model is asked for, as far as this model id takes it."""
        from google.genai import types

        return types.GenerateVideosConfig(
            number_of_videos=1,
            duration_seconds=int(request.duration),
            aspect_ratio="16:9" if request.width >= request.height else "9:16",
            resolution=self.options.resolution,
            negative_prompt=self.options.negative_prompt,
            seed=request.seed,
            generate_audio=self.options.generate_audio if self.spec.audio else None,
            person_generation=self.options.person_generation,
            enhance_prompt=self.options.enhance_prompt,
            last_frame=_image(request.last) if request.last is not None else None,
        )

    def _create(self, request: ClipRequest) -> str:
        from google.genai import types

        config = self._video_config(request)

        def create():
            source = types.GenerateVideosSource(
                prompt=request.prompt, image=_image(request.first)
            )
            return self._client.models.generate_videos(
                model=self.model, source=source, config=config
            )

        journal = request.journal
        if journal:  # written first: a crash from here on leaves a trace
            journal.record("create_sent", request.key, model=self.model)
        try:
            operation = call(
                create,
                options=self.options,
                what=f"clip {request.label}",
                retry_if=_safe_to_resend,
            )
        except (BackendError, ConfigError) as exc:
            cause = exc.__cause__
            if status_of(cause) is None:  # no answer: the job may exist
                raise RunError(
                    f"clip {request.label}: the create request got no answer "
                    f"({describe(cause) if cause else exc}) and may have started a "
                    "job that will be billed; it was not resent. Check the provider's "
                    "console, then run again with --resubmit to submit it anew"
                ) from cause
            if journal:
                journal.record("create_refused", request.key, status=status_of(cause))
            if request.last is not None and _refuses_last_frame(cause):
                raise LastFrameRefused(
                    f"clip {request.label}: {self.model} refused a last frame "
                    f"({describe(cause)})"
                ) from cause
            raise
        if not operation.name:
            raise RunError(
                f"clip {request.label}: Veo answered the create request without an "
                "operation id, so the job cannot be followed; check the provider's "
                "console, then run again with --resubmit"
            )
        if journal:
            journal.record(
                "operation", request.key, name=operation.name, model=self.model
            )
        log.info("clip %s: Veo operation %s started", request.label, operation.name)
        return operation.name

    def _wait(self, request: ClipRequest, name: str):
        from google.genai import types

        deadline = time.monotonic() + self.options.poll_timeout
        interval = self.options.poll_interval
        handle = types.GenerateVideosOperation(name=name)
        while True:
            try:
                operation = call(
                    lambda: self._client.operations.get(handle),
                    options=self.options,
                    what=f"clip {request.label} (polling {name})",
                )
            except ConfigError as exc:
                if status_of(exc.__cause__) != 404:
                    raise  # a key problem: the job is still saved for the next run
                if request.journal:
                    request.journal.record("lost", request.key, name=name)
                raise BackendError(
                    f"clip {request.label}: Veo no longer knows operation {name} "
                    f"({describe(exc.__cause__)}); run again to submit the clip anew"
                ) from exc
            if operation.done:
                return operation
            if time.monotonic() + interval > deadline:
                raise RunError(
                    f"clip {request.label}: Veo operation {name} did not finish within "
                    f"{self.options.poll_timeout:g} s; it is saved in the journal, so "
                    "`ttv resume` polls it again without paying twice"
                )
            time.sleep(interval)
            interval = min(interval * 1.5, 60.0)

    def _save(self, request: ClipRequest, operation, dest: Path) -> None:
        journal = request.journal
        if operation.error:
            error = operation.error
            if journal:
                journal.record("failed", request.key, error=error)
            raise BackendError(f"clip {request.label}: Veo failed the job: {error}")
        response = operation.response or operation.result
        videos = (response.generated_videos if response else None) or []
        if not videos:
            reasons = (response.rai_media_filtered_reasons if response else None) or []
            if journal:
                journal.record("filtered", request.key, reasons=reasons)
            raise ClipFiltered(
                f"clip {request.label}: Veo returned no video (filtered by the provider, "
                f"not billed): {'; '.join(reasons) or 'no reason given'}. Rephrase the "
                "shot's motion or keyframe prompts and run again"
            )
        video = videos[0].video
        if not video or not video.video_bytes:
            raise BackendError(
                f"clip {request.label}: Veo returned a storage link ({video.uri if video else None}) "
                "instead of the video; do not set a storage uri"
            )
        dest.write_bytes(video.video_bytes)


JOB_EVENTS = (
    "create_sent",
    "create_refused",
    "operation",
    "failed",
    "filtered",
    "lost",
)


def _safe_to_resend(exc: BaseException) -> bool:
    """Resend a create only when the server said no, or the request never left."""
    status = status_of(exc)
    if status is not None:
        return status == 429 or status >= 500
    return type(exc).__name__ in NEVER_SENT


def _image(image: Image.Image):
    from google.genai import types

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return types.Image(image_bytes=buf.getvalue(), mime_type="image/png")


def _refuses_last_frame(exc: BaseException | None) -> bool:
    if exc is None or status_of(exc) not in (400, 412):
        return False
    text = describe(exc).lower()
    return any(
        s in text for s in ("last frame", "lastframe", "last_frame", "not supported",
                            "allowlist", "failed_precondition")
    )  # fmt: skip
