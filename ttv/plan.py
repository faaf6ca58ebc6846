"""The plan: every keyframe and clip a script needs, in order, each with its cache key.

Keys chain: a keyframe's key includes the previous keyframe's key and its references'
content hashes; a clip's key includes the keys of its frames. So the whole plan, and what
a rerun will find cached, is known before anything is made.
"""

from __future__ import annotations

import logging
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
        return sum(c.kept_frames for c in self.clips)

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
) -> Plan:
    """Lay out the keyframe chain and the clips for `script`."""
    # A model that refused a last frame in this run (or an earlier one) keeps its end
    # keyframes, so the chain's keys (and the cache) stay as they were.
    end_keyframes = video.capabilities().last_frame
    last_frame = end_keyframes and not video.last_frame_refused
    templates = _templates(prompts_dir)
    keyframes: list[KeyframeStep] = []
    clips: list[ClipStep] = []
    size = {"width": width, "height": height}

    def keyframe(i: int, shot: Shot, which: str, text: str) -> KeyframeStep:
        step = KeyframeStep(
            name=f"{shot_name(i)}_{which}",
            shot_index=i,
            which=which,  # type: ignore[arg-type]
            text=text,
            prompt=_fill(
                templates["keyframe"], script, shot, i, which=which, text=text
            ),
            cast=list(shot.characters),
            previous=keyframes[-1] if keyframes else None,
            seed=seed + len(keyframes),
        )
        step.recipe = {
            "kind": "keyframe",
            "backend": images.identity(),
            "prompt": step.prompt,
            "seed": step.seed,
            **size,
            "previous": step.previous.key if step.previous else None,
            "references": [reference_keys.get(c, "") for c in step.cast],
        }
        step.key = digest(step.recipe)
        keyframes.append(step)
        return step

    previous_end: KeyframeStep | None = None
    for i, shot in enumerate(script.shots):
        duration = shot.duration or default_duration
        continues = shot.transition == "continue" and i > 0
        previous_clip = clips[-1] if clips else None
        first = first_from = None
        if continues and last_frame:
            first = previous_end
        elif continues:
            first_from = previous_clip
        else:
            first = keyframe(i, shot, "start", shot.start or shot.end)
        end = keyframe(i, shot, "end", shot.end) if end_keyframes else None
        last = end if last_frame else None
        start_text = first.text if first else "the previous shot's last frame"
        clip = ClipStep(
            name=shot_name(i),
            shot_index=i,
            shot=shot,
            prompt=_fill(
                templates["clip"],
                script,
                shot,
                i,
                start_text=start_text,
                end_text=shot.end,
            ),
            duration=duration,
            frames=max(1, round(duration * fps)),
            skip_first=1 if continues else 0,
            seed=seed + i,
            first=first,
            first_from=first_from,
            last=last,
        )
        clip.recipe = {
            "kind": "clip",
            "backend": video.identity(),
            "prompt": clip.prompt,
            "duration": duration,
            "frames": clip.frames,
            "fps": fps,
            "seed": clip.seed,
            **size,
            "first": first.key if first else f"last-frame-of:{first_from.key}",  # type: ignore[union-attr]
            "last": last.key if last else None,
        }
        clip.key = digest(clip.recipe)
        clips.append(clip)
        previous_end = end
    return Plan(
        script=script, keyframes=keyframes, clips=clips, fps=fps, last_frame=last_frame
    )


def _templates(prompts_dir: Path) -> dict[str, str]:
    from ttv.errors import ConfigError

    out = {}
    for name in ("keyframe", "clip"):
        path = prompts_dir / f"{name}.txt"
        try:
            out[name] = path.read_text(encoding="utf-8")
        except OSError:
            raise ConfigError(
                f"prompt template {path} is missing; restore it from the ttv repository "
                "or point `prompts_dir` at a folder that has keyframe.txt and clip.txt"
            ) from None
    return out


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
    return template.format_map(_Missing(fields)).strip()


class _Missing(dict):
    """format_map that leaves unknown {fields} in a user's template as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
