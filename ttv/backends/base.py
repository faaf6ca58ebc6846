"""The three backend interfaces (script writer, image model, video model) and what they share.

A backend is one class. It declares its stage, its name, the options it accepts (a pydantic
model, so the config is checked before anything runs) and, for video models, what it can do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from PIL import Image

    from ttv.script import Character, Script, Shot
    from ttv.store.journal import Journal

Stage = Literal["script", "keyframes", "clips"]


class NoOptions(BaseModel):
    """A backend that takes no options of its own."""

    model_config = ConfigDict(extra="forbid")


class Backend:
    """What every backend has: a stage, a registry name, options and a model id."""

    stage: ClassVar[Stage]
    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    default_model: ClassVar[str | None] = None
    paid: ClassVar[bool] = False
    preview: ClassVar[bool] = (
        False  # True for offline stand-ins that make no real footage
    )

    def __init__(self, options: BaseModel, model: str | None = None):
        self.options = options
        self.model = model or self.default_model
        self.price_overrides: dict[str, dict[str, float]] = {}

    def identity(self) -> dict[str, Any]:
        """Everything about this backend that changes what it makes (goes into cache keys)."""
        return {
            "backend": self.name,
            "model": self.model,
            "options": self.options.model_dump(
                mode="json", exclude=self.volatile_options()
            ),
        }

    def volatile_options(self) -> set[str]:
        """Options that do not change the output (latency, timeouts) and stay out of keys."""
        return set()

    def option_problems(self) -> list[tuple[str, str]]:
        """(field, message) for every option this model cannot take; checked with the config."""
        return []

    def preflight(self) -> None:
        """Check keys and settings before any work starts; raise ConfigError if unusable."""

    def verify(self) -> None:
        """Check with the provider, at no cost, that the key and model are accepted.

        Called once before the first paid call of a run that has work for this backend.
        """


@dataclass(frozen=True)
class ScriptRequest:
    """What a script writer gets: the story and the cast."""

    prompt: str
    title: str | None
    style: str
    characters: list[Character]
    default_duration: float
    shot_count: int | None = None


class ScriptWriter(Backend):
    """Turns a story prompt into a Script."""

    stage: ClassVar[Stage] = "script"

    def estimate_usd(self, request: ScriptRequest) -> float:
        """What writing this script will cost, at most (0 for free backends)."""
        return 0.0

    def write(self, request: ScriptRequest) -> Script:
        """Return the script for `request`.

        Args:
            request: the story prompt, title, style, characters and default duration.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class Reference:
    """A character's reference image, ingested (upright, RGB)."""

    character: Character
    image: Image.Image


@dataclass(frozen=True)
class KeyframeRequest:
    """One keyframe to make, image-to-image."""

    shot: Shot
    shot_index: int
    which: Literal["start", "end"]
    prompt: str  # the full prompt, filled from prompts/keyframe.txt
    text: str  # the shot's own keyframe text, as written in the script
    style: str
    previous: Image.Image | None
    references: list[Reference]
    width: int
    height: int
    seed: int

    @property
    def label(self) -> str:
        return f"shot{self.shot_index + 1:02d} {self.which}"


class ImageModel(Backend):
    """Makes keyframes from a prompt, the previous keyframe and character references."""

    stage: ClassVar[Stage] = "keyframes"

    def estimate_usd(self) -> float:
        """What one keyframe costs: the price table's `image` price for the model, or 0."""
        from ttv.pricing import price

        return price(self.model, "image", self.price_overrides) or 0.0

    def generate(self, request: KeyframeRequest) -> Image.Image:
        """Return the keyframe image (any size; the pipeline fits it to the video size).

        Args:
            request: prompt, previous keyframe (None for the first), references of the
                characters present, target size and seed.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class Capabilities:
    """What a video model can make. The pipeline plans around these before any call."""

    last_frame: bool = True
    durations: tuple[float, ...] | None = None  # None: any in [min, max]
    min_duration: float = 0.5
    max_duration: float = 60.0
    aspect_ratios: tuple[str, ...] | None = None  # None: any size

    def duration_problem(self, seconds: float) -> str | None:
        """Why this model cannot make a clip of `seconds`, or None if it can."""
        if self.durations is not None:
            if any(abs(seconds - d) < 1e-6 for d in self.durations):
                return None
            allowed = ", ".join(f"{d:g}" for d in self.durations)
            return f"this video model makes clips of {allowed} seconds only"
        if not self.min_duration <= seconds <= self.max_duration:
            return (
                f"this video model makes clips from {self.min_duration:g} to "
                f"{self.max_duration:g} seconds"
            )
        return None


@dataclass(frozen=True)
class ClipRequest:
    """One clip to make from a first frame and, where supported, a last frame."""

    shot: Shot
    shot_index: int
    prompt: str  # the full prompt, filled from prompts/clip.txt
    motion: str  # the shot's own motion text, as written in the script
    first: Image.Image
    last: Image.Image | None
    duration: float
    frames: int
    fps: int
    width: int
    height: int
    seed: int
    key: str
    journal: Journal | None = field(default=None, compare=False)
    resubmit: bool = False  # the user accepts submitting a job whose fate is unknown

    @property
    def label(self) -> str:
        return f"shot{self.shot_index + 1:02d}"


class VideoModel(Backend):
    """Makes a clip between two keyframes."""

    stage: ClassVar[Stage] = "clips"
    last_frame_refused: bool = False  # set when the provider refused one in this run

    def capabilities(self) -> Capabilities:
        """What this model supports (may depend on the model id)."""
        return Capabilities()

    def estimate_usd(self, seconds: float) -> float:
        """What one clip costs: the table's `video_second` price for the model, or 0."""
        from ttv.pricing import price

        return (
            price(self.model, "video_second", self.price_overrides) or 0.0
        ) * seconds

    def generate(self, request: ClipRequest, dest: Path) -> None:
        """Write the clip for `request` to `dest` (an MP4 path the pipeline validates).

        Args:
            request: first frame, last frame (None when unsupported), motion prompt,
                duration, frame count, fps and size. `request.journal` records remote job
                ids before polling so a resumed run never pays twice.
            dest: where to write the clip.
        """
        raise NotImplementedError
