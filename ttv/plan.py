"""The plan: every keyframe and clip a script needs, in order, each with its cache key.

Keys chain: a keyframe's key includes the previous keyframe's key and its references'
content hashes; a clip's key includes the keys of its frames. So the whole plan, and what
a rerun will find cached, is known before anything is made.
"""

from __future__ import annotations

import logging
import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ttv.backends.base import ImageModel, VideoModel
from ttv.script import Script, Shot, shot_name
from ttv.store.cache import digest

log = logging.getLogger(__name__)

STOP_POINTS = ("script", "keyframes", "clips")  # stages a run may stop after


@dataclass
class KeyframeStep:
    """One keyframe to generate, image-to-image from `previous`."""

    name: str
    shot_index: int
    which: Literal["start", "end"]
    text: str
    prompt: str
    cast: list[str]
    previous: KeyframeStep | None
    seed: int
    key: str = ""
    recipe: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClipStep:
    """One clip: first frame from a keyframe or the previous clip's last frame."""

    name: str
    shot_index: int
    shot: Shot
    prompt: str
    duration: float
    frames: int
    skip_first: int
    crossfade: int  # output frames over which this clip dissolves in
    seed: int
    first: KeyframeStep | None
    first_from: ClipStep | None
    last: KeyframeStep | None
    key: str = ""
    recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def kept_frames(self) -> int:
        return self.frames - self.skip_first


@dataclass
class Plan:
    """Everything a run will make, and the length of the film."""

    script: Script
    keyframes: list[KeyframeStep]
    clips: list[ClipStep]
    fps: int
    last_frame: bool

    @property
    def total_frames(self) -> int:
        return sum(c.kept_frames - c.crossfade for c in self.clips)

    @property
    def seconds(self) -> float:
        return self.total_frames / self.fps


def make_plan(
    script: Script,
    *,
    images: ImageModel,
    video: VideoModel,
    reference_keys: dict[str, str],
    prompts_dir: Path,
    width: int,
    height: int,
    fps: int,
    seed: int,
    default_duration: float,
    dissolve: float = 0.5,
) -> Plan:
    """Lay out the keyframe chain and the clips for `script`."""
    planner = _Planner(
        script, images, video, reference_keys, _templates(prompts_dir),
        {"width": width, "height": height}, fps, seed,
    )  # fmt: skip
    for i, shot in enumerate(script.shots):
        planner.add_shot(i, shot, shot.duration or default_duration, dissolve)
    return Plan(
        script=script,
        keyframes=planner.keyframes,
        clips=planner.clips,
        fps=fps,
        last_frame=planner.last_frame,
    )


class _Planner:
    """Builds the plan shot by shot; each step's key chains off the steps before it."""

    def __init__(
        self, script, images, video, reference_keys, templates, size, fps, seed
    ):
        self.script = script
        self.images = images
        self.video = video
        self.reference_keys = reference_keys
        self.templates = templates
        self.size = size
        self.fps = fps
        self.seed = seed
        # A model that refused a last frame in this run (or an earlier one) keeps its
        # end keyframes, so the chain's keys (and the cache) stay as they were.
        self.end_keyframes = video.capabilities().last_frame
        self.last_frame = self.end_keyframes and not video.last_frame_refused
        self.keyframes: list[KeyframeStep] = []
        self.clips: list[ClipStep] = []
        self.previous_end: KeyframeStep | None = None

    def add_shot(self, i: int, shot: Shot, duration: float, dissolve: float) -> None:
        continues = shot.transition == "continue" and i > 0
        first = first_from = None
        if continues and self.last_frame:
            first = self.previous_end
        elif continues:
            first_from = self.clips[-1]
        else:
            first = self._keyframe(i, shot, "start", shot.start or shot.end)
        end = self._keyframe(i, shot, "end", shot.end) if self.end_keyframes else None
        clip = self._clip(i, shot, duration, first, first_from, end)
        clip.skip_first = 1 if continues else 0
        if shot.transition == "dissolve" and self.clips:
            wanted = frame_count(dissolve, self.fps)
            clip.crossfade = _dissolve_frames(self.clips[-1], clip, wanted)
        self.clips.append(clip)
        self.previous_end = end

    def _keyframe(self, i: int, shot: Shot, which: str, text: str) -> KeyframeStep:
        previous = self.keyframes[-1] if self.keyframes else None
        step = KeyframeStep(
            name=f"{shot_name(i)}_{which}",
            shot_index=i,
            which=which,  # type: ignore[arg-type]
            text=text,
            prompt=_fill(
                self.templates["keyframe"], self.script, shot, i, which=which, text=text
            ),
            cast=list(shot.characters),
            previous=previous,
            seed=self.seed + len(self.keyframes),
        )
        step.recipe = {
            "kind": "keyframe",
            "backend": self.images.identity(),
            "prompt": step.prompt,
            "text": text,
            "cast": step.cast,
            "seed": step.seed,
            **self.size,
            "previous": previous.key if previous else None,
            "references": [self.reference_keys.get(c, "") for c in step.cast],
        }
        step.key = digest(step.recipe)
        self.keyframes.append(step)
        return step

    def _clip(self, i, shot, duration, first, first_from, end) -> ClipStep:
        last = end if self.last_frame else None
        start_text = first.text if first else "the previous shot's last frame"
        clip = ClipStep(
            name=shot_name(i),
            shot_index=i,
            shot=shot,
            prompt=_fill(
                self.templates["clip"],
                self.script,
                shot,
                i,
                start_text=start_text,
                end_text=shot.end,
            ),  # fmt: skip
            duration=duration,
            frames=max(1, frame_count(duration, self.fps)),
            skip_first=1
            if first_from or (first is not None and first is self.previous_end)
            else 0,
            crossfade=0,
            seed=self.seed + i,
            first=first,
            first_from=first_from,
            last=last,
        )
        clip.recipe = {
            "kind": "clip",
            "backend": self.video.identity(),
            "prompt": clip.prompt,
            "motion": shot.motion,
            "duration": duration,
            "frames": clip.frames,
            "fps": self.fps,
            "seed": clip.seed,
            **self.size,
            "first": first.key if first else f"last-frame-of:{first_from.key}",
            "last": last.key if last else None,
        }
        clip.key = digest(clip.recipe)
        return clip


def _dissolve_frames(before: ClipStep, clip: ClipStep, wanted: int) -> int:
    """Frames a dissolve overlaps, shortened (with a warning) to fit both clips."""
    room = min(before.kept_frames, clip.kept_frames) - 1
    if wanted <= room:
        return wanted
    log.warning(
        "%s: the dissolve is %d frames but the shots leave room for %d; using %d%s",
        clip.name, wanted, room, max(room, 0), " (a cut)" if room < 1 else "",
    )  # fmt: skip
    return max(room, 0)


def frame_count(seconds: float, fps: int) -> int:
    """Frames in a shot of `seconds` at `fps`, rounded half up."""
    return math.floor(seconds * fps + 0.5)


def _templates(prompts_dir: Path) -> dict[str, str]:
    from ttv.errors import ConfigError

    out = {}
    for name in ("keyframe", "clip"):
        path = prompts_dir / f"{name}.txt"
        try:
            out[name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ConfigError(
                f"prompt template {path} is missing or unreadable; restore it from the "
                "ttv repository, or set TTV_PROMPTS_DIR to a folder that has "
                "keyframe.txt and clip.txt"
            ) from None
        _check_template(path, out[name])
    return out


TEMPLATE_FIELDS = {
    "style", "title", "shot_number", "transition", "motion", "cast", "which", "text",
    "start_text", "end_text",
}  # fmt: skip


def _check_template(path: Path, text: str) -> None:
    """Only plain {name} fields that ttv fills; anything else is a clear error."""
    from ttv.errors import ConfigError

    try:
        parsed = [
            (name, spec, conv)
            for _, name, spec, conv in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as exc:
        raise ConfigError(
            f"prompt template {path}: {exc}; write a literal brace as {{{{ or }}}}"
        ) from None
    for name, spec, conv in parsed:
        if name not in TEMPLATE_FIELDS or spec or conv:
            known = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
            raise ConfigError(
                f"prompt template {path}: unsupported field {{{name}}}; use one of {known}"
            )


def _fill(template: str, script: Script, shot: Shot, index: int, **values: str) -> str:
    cast = [script.character(c) for c in shot.characters]
    lines = [f"{c.label}: {c.description}".rstrip(": ") for c in cast]
    fields = {
        "style": script.style,
        "title": script.title,
        "shot_number": str(index + 1),
        "transition": shot.transition,
        "motion": shot.motion or "a gentle camera move",
        "cast": "Characters in frame: " + "; ".join(lines)
        if lines
        else "No characters.",
        **values,
    }
    return template.format_map(fields).strip()
