"""The animatic backends: offline keyframes and clips that preview a story's structure.

They are not generated footage. Keyframes are composed from the characters' reference
photographs, the shot text and the previous keyframe; clips move a camera across the
start keyframe and dissolve into the end keyframe. Deterministic for a given seed, so a
preview made twice is the same preview.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from ttv.backends import register
from ttv.backends.base import (
    Capabilities,
    ClipRequest,
    ImageModel,
    KeyframeRequest,
    VideoModel,
)
from ttv.backends.offline import render
from ttv.media.encode import ClipWriter


class AnimaticImageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency: float = Field(
        0.0,
        ge=0,
        le=60,
        description="seconds to wait per call, to preview a remote pace",
    )


class AnimaticClipOptions(AnimaticImageOptions):
    last_frame: bool = Field(
        True,
        description="take the end keyframe as the last frame; false previews how a "
        "first-frame-only video model chains shots",
    )


@register
class AnimaticImages(ImageModel):
    """Keyframes composed from references, shot text and the previous keyframe."""

    name: ClassVar[str] = "animatic"
    Options: ClassVar[type[BaseModel]] = AnimaticImageOptions
    default_model: ClassVar[str | None] = "animatic-v1"
    preview: ClassVar[bool] = True

    def volatile_options(self) -> set[str]:
        return {"latency"}

    def generate(self, request: KeyframeRequest) -> Image.Image:
        time.sleep(self.options.latency)
        return render.render_keyframe(
            prompt=request.text,
            style=request.style,
            label=request.label,
            width=request.width,
            height=request.height,
            seed=request.seed,
            previous=request.previous,
            references=[(r.character.label, r.image) for r in request.references],
        )


@register
class AnimaticClips(VideoModel):
    """Clips that move a camera from the start keyframe and dissolve into the end one."""

    name: ClassVar[str] = "animatic"
    Options: ClassVar[type[BaseModel]] = AnimaticClipOptions
    default_model: ClassVar[str | None] = "animatic-v1"
    preview: ClassVar[bool] = True

    def volatile_options(self) -> set[str]:
        return {"latency"}

    def capabilities(self) -> Capabilities:
        return Capabilities(last_frame=self.options.last_frame, min_duration=0.25)

    def generate(self, request: ClipRequest, dest: Path) -> None:
        time.sleep(self.options.latency)
        frames = render.render_clip_frames(
            request.first, request.last, motion=request.motion, frames=request.frames
        )
        with ClipWriter(
            dest, width=request.width, height=request.height, fps=request.fps
        ) as writer:
            for frame in frames:
                writer.write(frame)
