"""The clip stage: each shot's pair of keyframes goes to the video model, one clip back.

When the video model cannot take a last frame, a continuing shot starts on the exact last
frame of the previous clip instead of on a keyframe.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ttv.backends.base import ClipRequest
from ttv.backends.limits import limiter
from ttv.context import RunContext
from ttv.errors import BackendError, TTVError
from ttv.media.frames import last_frame
from ttv.media.images import ARTIFACT_MAX_SIDE, load_image, validate_image
from ttv.media.probe import probe
from ttv.plan import ClipStep

log = logging.getLogger(__name__)


def validate_clip(path: Path) -> None:
    """A clip is trusted only if it probes and its last frame decodes."""
    probe(path)
    last_frame(path)


def ensure(ctx: RunContext, step: ClipStep) -> Path:
    """The clip of `step` in the cache (made if missing) and in the run directory."""
    dest = ctx.run_dir.clip(step.name)
    cached = ctx.cache.lookup("clip", step.key, ".mp4", validate_clip)
    if cached is None and (ctx.run_dir.entry(dest) or {}).get("key") == step.key:
        cached = ctx.cache.adopt("clip", step.key, ".mp4", dest, validate_clip)
    if cached is None:
        cached = _make(ctx, step)
    else:
        ctx.stats.hit("clips")
        log.info("clip %s: cache hit", step.name)
    ctx.run_dir.publish(cached, dest, _entry(step))
    return cached


def _make(ctx: RunContext, step: ClipStep) -> Path:
    out = ctx.output
    first = _first_frame(ctx, step)
    last = None
    if step.last is not None:
        last = load_image(
            ctx.cache.path("keyframe", step.last.key, ".png"),
            what=f"keyframe {step.last.name}",
            max_side=ARTIFACT_MAX_SIDE,
        )
    backend = ctx.video
    request = ClipRequest(
        shot=step.shot,
        shot_index=step.shot_index,
        prompt=step.prompt,
        motion=step.shot.motion,
        first=first,
        last=last,
        duration=step.duration,
        frames=step.frames,
        fps=out.fps,
        width=out.width,
        height=out.height,
        seed=step.seed,
        key=step.key,
        journal=ctx.run_dir.journal,
        resubmit=ctx.resubmit,
    )

    def make(tmp: Path) -> None:
        ctx.stats.call("clips")
        log.info(
            "clip %s: generating with %s (%s)", step.name, backend.name, backend.model
        )
        with (
            ctx.ledger.charge(
                "clips", backend.estimate_usd(step.duration), f"clip {step.name}"
            ),
            limiter("clips", backend.name, ctx.config.model.clips.concurrency),
        ):
            try:
                backend.generate(request, tmp)
            except TTVError:
                raise
            except Exception as exc:  # a backend's own bug must still name the shot
                raise BackendError(
                    f"clip {step.name}: the {backend.name} video backend failed: {exc}"
                ) from exc
        _check_length(tmp, step)

    return ctx.cache.put("clip", step.key, ".mp4", make, validate_clip, step.recipe)


def _first_frame(ctx: RunContext, step: ClipStep):
    if step.first is not None:
        return load_image(
            ctx.cache.path("keyframe", step.first.key, ".png"),
            what=f"keyframe {step.first.name}",
            max_side=ARTIFACT_MAX_SIDE,
        )
    # First-frame-only video model: start exactly where the previous clip ended.
    previous = ctx.cache.path("clip", step.first_from.key, ".mp4")  # type: ignore[union-attr]
    frame = last_frame(previous)
    key = f"lastframe-{step.first_from.key}"  # type: ignore[union-attr]
    path = ctx.cache.put(
        "keyframe",
        key,
        ".png",
        lambda tmp: frame.save(tmp, format="PNG"),
        validate_image,
    )
    ctx.run_dir.publish(
        path,
        ctx.run_dir.keyframe(f"{step.name}_start"),
        {"kind": "keyframe", "key": key, "from_clip": step.first_from.name},  # type: ignore[union-attr]
    )
    return frame


def _check_length(path: Path, step: ClipStep) -> None:
    """A clip much shorter than planned is refused (not cached); a little short is held."""
    info = probe(path)
    seconds = info.frame_count / info.fps
    if seconds < step.duration * 0.9:
        raise BackendError(
            f"clip {step.name}: the video model returned {seconds:.2f} s for a "
            f"{step.duration:g} s shot; it was not kept. Run again, or change the "
            "shot's duration to one the model makes"
        )
    if seconds < step.duration - 0.5 / info.fps:
        log.warning(
            "clip %s: the video model returned %.2f s of %g s planned; its last frame "
            "is held to keep the planned length",
            step.name, seconds, step.duration,
        )  # fmt: skip


def _entry(step: ClipStep) -> dict:
    return {
        "kind": "clip",
        "key": step.key,
        "backend": step.recipe["backend"],
        "prompt": step.prompt,
        "first": step.first.name
        if step.first
        else f"last frame of {step.first_from.name}",  # type: ignore[union-attr]
        "last": step.last.name if step.last else None,
        "duration": step.duration,
        "frames": step.frames,
        "seed": step.seed,
    }
