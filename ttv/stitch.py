"""The stitch stage: probe the clips and join them into final.mp4 of the planned length.

Where a shot continues from the previous one, its first frame is the previous clip's last
frame; it is dropped so the shared boundary frame appears once, not twice. A shot whose
transition is `dissolve` fades in over the end of the previous clip.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ttv.context import RunContext
from ttv.errors import MediaError
from ttv.media.concat import Segment, join
from ttv.media.probe import probe
from ttv.store.cache import digest

log = logging.getLogger(__name__)


def final_recipe(ctx: RunContext) -> dict:
    """Everything that determines final.mp4."""
    out = ctx.output
    return {
        "kind": "final",
        "clips": [
            [c.key, c.skip_first, c.kept_frames, c.crossfade] for c in ctx.plan.clips
        ],
        "width": out.width,
        "height": out.height,
        "fps": out.fps,
    }


def final_key(ctx: RunContext) -> str:
    return digest(final_recipe(ctx))


def ensure(ctx: RunContext, clips: dict[str, Path]) -> Path:
    """final.mp4 for the plan, from the cache or joined now."""
    plan = ctx.plan
    out = ctx.output
    segments = [
        Segment(
            clips[c.name],
            skip_first=c.skip_first,
            out_frames=c.kept_frames,
            crossfade=c.crossfade,
        )
        for c in plan.clips
    ]
    recipe = final_recipe(ctx)
    key = digest(recipe)

    def validate(path: Path) -> None:
        info = probe(path)
        if info.frame_count != plan.total_frames:
            raise MediaError(
                f"{path.name} has {info.frame_count} frames, {plan.total_frames} planned"
            )

    final = ctx.cache.lookup("final", key, ".mp4", validate)
    if final is None:
        ctx.stats.call("stitch")
        log.info("stitch: joining %d clips", len(segments))
        final = ctx.cache.put(
            "final",
            key,
            ".mp4",
            lambda tmp: join(
                segments, tmp, width=out.width, height=out.height, fps=out.fps
            ),
            validate,
            recipe=recipe,
        )
    else:
        ctx.stats.hit("stitch")
        log.info("stitch: cache hit")
    ctx.run_dir.publish(
        final,
        ctx.run_dir.final,
        {"kind": "final", "key": key, "clips": [c.name for c in plan.clips]},
    )
    return final
