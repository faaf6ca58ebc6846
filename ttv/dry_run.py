"""`ttv plan`: the shots, the calls a run would make and what they would cost.

Nothing is generated and nothing is paid: the plan's keys are looked up in the cache, so
the estimate counts only what a run (or a resume) would still have to make.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ttv import script as script_stage
from ttv.config import Config
from ttv.pipeline import context, default_run_dir, plan_for
from ttv.script import Script, Shot
from ttv.store.cache import file_digest
from ttv.store.rundir import RunDir

log = logging.getLogger(__name__)

ASSUMED_SHOTS = 6  # a paid writer's shot count is unknown until it has written


def dry_run(config: Config, run_dir: Path | None = None) -> dict[str, Any]:
    """What `ttv run` would do with `config`, as a dict for printing or JSON."""
    run_dir = (run_dir or default_run_dir(config)).resolve()
    cache_dir = config.model.output.cache_dir or run_dir.parent / "_cache"
    ctx = context(config, RunDir(run_dir), cache_dir)
    script, writer_call, known = _script(ctx)
    keys = {
        c.id: file_digest(c.reference)
        for c in script.characters
        if c.reference is not None and c.reference.is_file()
    }
    plan = plan_for(ctx, script, keys)
    images, video = ctx.images, ctx.video
    keyframe_cost = images.estimate_usd()
    rows = []
    for clip in plan.clips:
        frames = [k for k in plan.keyframes if k.shot_index == clip.shot_index]
        new_frames = [k for k in frames if not ctx.cache.has("keyframe", k.key, ".png")]
        clip_new = not ctx.cache.has("clip", clip.key, ".mp4")
        cost = len(new_frames) * keyframe_cost
        cost += video.estimate_usd(clip.duration) if clip_new else 0.0
        rows.append(
            {
                "shot": clip.name,
                "transition": clip.shot.transition,
                "characters": clip.shot.characters,
                "seconds": clip.duration,
                "frames": clip.kept_frames,
                "new_keyframes": len(new_frames),
                "new_clip": clip_new,
                "cost_usd": round(cost, 4),
            }
        )
    script_cost = (
        ctx.writer.estimate_usd(script_stage.source(config).request)
        if (writer_call)
        else 0.0
    )
    total = script_cost + sum(r["cost_usd"] for r in rows)
    spent_before = ctx.ledger.prior
    return {
        "run_dir": str(run_dir),
        "title": script.title,
        "script_known": known,
        "script_call": writer_call,
        "script_cost_usd": round(script_cost, 4),
        "shots": rows,
        "frames": plan.total_frames,
        "seconds": round(plan.seconds, 3),
        "fps": plan.fps,
        "last_frame": plan.last_frame,
        "calls": {
            "script": int(writer_call),
            "keyframes": sum(r["new_keyframes"] for r in rows),
            "clips": sum(r["new_clip"] for r in rows),
        },
        "cost_usd": round(total, 4),
        "spent_before_usd": round(spent_before, 4),
        "budget_usd": config.model.budget_usd,
        "backends": {
            s: {"name": b.name, "model": b.model} for s, b in config.backends.items()
        },
        "preview": any(b.preview for b in config.backends.values()),
    }


def _script(ctx) -> tuple[Script, bool, bool]:
    """(script, writer call needed, script known): a stand-in if only a paid call knows."""
    found = script_stage.peek(ctx)
    if found is not None:
        return found, False, True
    src = script_stage.source(ctx.config)
    if not ctx.writer.paid:
        return ctx.writer.write(src.request), True, True
    model = ctx.config.model
    count = model.script.shots or ASSUMED_SHOTS
    cast = [c.id for c in model.characters]
    shots = [
        Shot(start="(to be written)", end="(to be written)", characters=cast)
    ] * count
    stand_in = Script(
        title=model.title or "(script not written yet)",
        style=model.style,
        characters=model.characters,
        shots=shots,
    )
    return stand_in, True, False
