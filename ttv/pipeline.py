"""One run of the pipeline: script, keyframes, clips, stitch.

Keyframes are made in order (each chains off the previous one); a clip starts as soon as
its frames exist, so clips render while later keyframes are still being made.
"""

from __future__ import annotations

import logging
import os
import re
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

import ttv
from ttv import clips, keyframes, stitch
from ttv import script as script_stage
from ttv.backends.base import Reference
from ttv.checks import check_references, check_shots
from ttv.config import Config, shot_rules
from ttv.context import RunContext
from ttv.errors import ConfigError, LastFrameRefused, RunError, TTVError, UsageError
from ttv.media.ffmpeg import ffmpeg_version
from ttv.plan import ClipStep, make_plan
from ttv.pricing import BudgetExceeded, Ledger
from ttv.script import Script
from ttv.store import atomic
from ttv.store.cache import Cache
from ttv.store.rundir import RunDir, check_new_run_dir

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run made and what it cost, for the summary."""

    run_dir: Path
    final: Path | None
    summary: dict[str, Any]


def prompts_dir() -> Path:
    """The prompt templates: $TTV_PROMPTS_DIR, else the repository's prompts/ folder."""
    override = os.environ.get("TTV_PROMPTS_DIR")
    return (
        Path(override)
        if override
        else Path(ttv.__file__).resolve().parent.parent / "prompts"
    )


def default_run_dir(config: Config) -> Path:
    """output.dir from the config, else output/<config name> under the current folder."""
    if config.model.output.dir is not None:
        return config.model.output.dir
    name = Path(config.source).name
    while Path(name).suffix.lower() in (".yaml", ".yml", ".example"):
        name = Path(name).stem
    return Path("output") / (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".") or "run")


def run(
    config: Config,
    *,
    run_dir: Path | None = None,
    stop_after: str | None = None,
    progress: bool = True,
    shared_ledger: Ledger | None = None,
    resubmit: bool = False,
) -> RunResult:
    """Run the pipeline into `run_dir`, reusing whatever the cache already holds.

    `shared_ledger` is a budget over several runs (a batch); the config's own
    `budget_usd` still holds for this run.
    """
    started = time.monotonic()
    ctx = _open(config, Path(run_dir) if run_dir else default_run_dir(config))
    ctx.ledger.parent = shared_ledger
    ctx.resubmit = resubmit
    try:
        return _run(ctx, started, stop_after, progress)
    finally:
        ctx.run_dir.release()


def _run(ctx: RunContext, started: float, stop_after: str | None, progress: bool):
    script = script_stage.ensure(ctx)
    references, reference_keys = _check_script(ctx, script)
    ctx.plan = plan_for(ctx, script, reference_keys)
    _announce(ctx)
    if stop_after == "script":
        return _finish(ctx, None, started, stop_after)

    _verify(ctx, stop_after)
    try:
        made = _render(ctx, references, stop_after, progress)
    except LastFrameRefused as exc:
        _fall_back_to_first_frames(ctx, exc, reference_keys)
        made = _render(ctx, references, stop_after, progress)
    if stop_after in ("keyframes", "clips"):
        return _finish(ctx, None, started, stop_after)

    final = stitch.ensure(ctx, made)
    return _finish(ctx, final, started, None)


def _verify(ctx: RunContext, stop_after: str | None) -> None:
    """Before the first paid call, check keys and models of backends with work to do."""
    plan = ctx.plan
    pending = {
        "keyframes": any(
            not ctx.cache.has("keyframe", k.key, ".png") for k in plan.keyframes
        ),
        "clips": stop_after != "keyframes"
        and any(not ctx.cache.has("clip", c.key, ".mp4") for c in plan.clips),
    }
    for stage, has_work in pending.items():
        if has_work:
            ctx.config.backends[stage].verify()


def _fall_back_to_first_frames(ctx: RunContext, exc: Exception, reference_keys) -> None:
    """Re-plan the clips to start on the previous clip's last frame; say so once."""
    video = ctx.video
    log.warning(
        "%s; for the rest of this run, shots that continue start on the previous "
        "clip's exact last frame instead (finished keyframes and clips are kept)",
        exc,
    )
    video.last_frame_refused = True
    ctx.run_dir.journal.record(
        "last_frame_refused", video.model or "", backend=video.name
    )
    ctx.plan = plan_for(ctx, ctx.plan.script, reference_keys)


def _open(config: Config, run_dir: Path) -> RunContext:
    """Create the run directory, pick the cache and freeze the config for `ttv resume`."""
    run_dir = run_dir.resolve()
    check_new_run_dir(run_dir)
    out = config.model.output
    out.dir = run_dir
    ffmpeg_version()  # a broken ffmpeg should stop the run before anything is paid
    for stage, backend in config.backends.items():
        backend.preflight()
        log.debug("%s backend: %s (%s)", stage, backend.name, backend.model)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        rundir = RunDir(run_dir)
        rundir.acquire()
    except OSError as exc:
        raise UsageError(
            f"cannot use {run_dir} as the run directory ({exc.strerror or exc}); "
            "choose another folder (--out or output.dir)"
        ) from exc
    try:
        atomic.write_text(run_dir / "config.yaml", config.frozen())
        cache_dir = out.cache_dir or run_dir.parent / "_cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        rundir.release()
        raise UsageError(f"cannot write to {run_dir} or its cache: {exc}") from exc
    return context(config, rundir, cache_dir)


def context(config: Config, rundir: RunDir, cache_dir: Path) -> RunContext:
    """The run context, with what earlier runs in this directory learned."""
    video = config.backends["clips"]
    if rundir.journal.last(video.model or "", "last_frame_refused"):
        log.warning(
            "%s refused a last frame in an earlier run: continuing shots start on the "
            "previous clip's last frame", video.model,
        )  # fmt: skip
        video.last_frame_refused = True
    journal = rundir.journal
    spent_before = sum(e.get("usd", 0.0) for e in journal.entries("ledger"))

    def record(stage: str, usd: float, what: str) -> None:
        journal.record("spent", "ledger", stage=stage, usd=round(usd, 6), what=what)

    return RunContext(
        ledger=Ledger(config.model.budget_usd, prior=spent_before, record=record),
        config=config,
        run_dir=rundir,
        cache=Cache(cache_dir),
        prompts_dir=prompts_dir(),
    )


def _check_script(
    ctx: RunContext, script: Script
) -> tuple[dict[str, Reference], dict[str, str]]:
    """The script (perhaps edited by hand) must be renderable before anything is paid for."""
    path = ctx.run_dir.script
    where = _script_places(path)
    problems = check_shots(
        script.shots,
        script.characters,
        shot_rules(ctx.config.model, ctx.video, f"{ctx.config.source}: clips.duration"),
        lambda i, f: where(("shots", i, f) if f else ("shots", i)),
    )
    problems += check_references(
        script.characters,
        lambda i: where(("characters", i, "reference")),
        base="the run directory",
    )
    if problems:
        raise ConfigError(problems, source=str(path))
    return keyframes.load_references(script)


def _script_places(path: Path):
    from ttv.yamlsrc import load

    located = load(path) if path.exists() else None
    return lambda loc: located.where(loc) if located else f"{path}: {loc}"


def plan_for(ctx: RunContext, script: Script, reference_keys: dict[str, str]):
    out = ctx.output
    return make_plan(
        script,
        images=ctx.images,
        video=ctx.video,
        reference_keys=reference_keys,
        prompts_dir=ctx.prompts_dir,
        width=out.width,
        height=out.height,
        fps=out.fps,
        seed=ctx.config.model.seed,
        default_duration=ctx.config.model.clips.duration,
        dissolve=ctx.config.model.stitch.dissolve,
    )


def _announce(ctx: RunContext) -> None:
    plan = ctx.plan
    log.info(
        "plan: %d shots, %d keyframes, %d clips, %d frames (%.2f s at %d fps)",
        len(plan.clips),
        len(plan.keyframes),
        len(plan.clips),
        plan.total_frames,
        plan.seconds,
        plan.fps,
    )
    if not plan.last_frame and not ctx.video.last_frame_refused:
        log.warning(
            "the %s video backend (%s) cannot take a last frame: shots that continue "
            "start on the previous clip's exact last frame, and no end keyframes are made",
            ctx.video.name,
            ctx.video.model,
        )
    if any(b.preview for b in ctx.config.backends.values()):
        log.warning(
            "offline backends in use: this run makes a PREVIEW ANIMATIC of pacing and "
            "structure, not generated footage"
        )


def _render(ctx: RunContext, references, stop_after: str | None, progress: bool):
    """Make keyframes in order; start each clip as soon as its frames exist."""
    plan = ctx.plan
    want_clips = stop_after != "keyframes"
    bars = _Bars(progress, len(plan.keyframes), len(plan.clips) if want_clips else 0)
    scheduler = _ClipScheduler(ctx, plan.clips, bars)
    with ThreadPoolExecutor(ctx.config.model.clips.concurrency, "clip") as pool:
        try:
            for step in plan.keyframes:
                if scheduler.over_budget():
                    break  # no more keyframes for clips the budget cannot pay for
                keyframes.ensure(ctx, step, references)
                scheduler.keyframe_done(step.key)
                bars.keyframes.update()
                if want_clips:
                    scheduler.pump(pool, block=False)
            while want_clips and not scheduler.finished():
                if not scheduler.pump(pool, block=True):
                    break  # nothing running and nothing ready: the rest cannot start
        except BaseException as exc:
            scheduler.cancel()
            started = [f for f in scheduler.running if f.running()]
            if isinstance(exc, KeyboardInterrupt) and started:
                log.warning(
                    "stopping: waiting for %d clip(s) already being made, so they are "
                    "kept and not paid for again (Ctrl-C again to leave them; a resume "
                    "picks up their saved jobs)",
                    len(started),
                )
            raise
        finally:
            bars.close()
    scheduler.raise_failures(want_clips)
    return scheduler.done


class _ClipScheduler:
    """Submits clips whose inputs exist, collects results, keeps going past failures."""

    def __init__(self, ctx: RunContext, steps: list[ClipStep], bars):
        self.ctx = ctx
        self.steps = steps
        self.bars = bars
        self.keyframes: set[str] = set()
        self.running: dict[Future, ClipStep] = {}
        self.done: dict[str, Path] = {}
        self.failed: dict[str, BaseException] = {}
        self.submitted: set[str] = set()

    def keyframe_done(self, key: str) -> None:
        self.keyframes.add(key)

    def finished(self) -> bool:
        self._blocked()
        return len(self.done) + len(self.failed) >= len(self.steps) and not self.running

    def pump(self, pool: ThreadPoolExecutor, *, block: bool) -> bool:
        """Submit what is ready, collect what finished; False if nothing is running."""
        for step in self.steps:
            if step.name not in self.submitted and self._ready(step):
                self.submitted.add(step.name)
                self.running[pool.submit(clips.ensure, self.ctx, step)] = step
        if not self.running:
            return False
        finished, _ = wait(
            self.running, timeout=None if block else 0, return_when=FIRST_COMPLETED
        )
        for future in finished:
            step = self.running.pop(future)
            error = future.exception()
            if error is None:
                self.done[step.name] = future.result()
                self.bars.clips.update()
            else:
                self.failed[step.name] = error
                if isinstance(error, LastFrameRefused):
                    log.debug("%s", error)  # said once, by the fallback
                elif step.name in str(error):
                    log.error("%s", error)
                else:
                    log.error("clip %s failed: %s", step.name, error)
        return True

    def _ready(self, step: ClipStep) -> bool:
        frames = [f.key for f in (step.first, step.last) if f is not None]
        if not all(k in self.keyframes for k in frames):
            return False
        return step.first_from is None or step.first_from.name in self.done

    def _blocked(self) -> None:
        """A clip that chains off a failed clip fails too, with the reason."""
        for step in self.steps:
            source = step.first_from
            if source and source.name in self.failed and step.name not in self.failed:
                self.failed[step.name] = RunError(
                    f"clip {step.name} needs {source.name}"
                )
                self.submitted.add(step.name)

    def over_budget(self) -> bool:
        return any(isinstance(e, BudgetExceeded) for e in self.failed.values())

    def cancel(self) -> None:
        for future in self.running:
            future.cancel()

    def raise_failures(self, all_wanted: bool) -> None:
        if not self.failed:
            stuck = [s.name for s in self.steps if s.name not in self.done]
            if all_wanted and stuck:  # a bug, but never a silently short film
                raise RunError(f"clips {', '.join(stuck)} were never made; run again")
            return
        for kind in (LastFrameRefused, BudgetExceeded):
            found = [e for e in self.failed.values() if isinstance(e, kind)]
            if found:
                raise found[0]
        if len(self.failed) == 1:
            name, error = next(iter(self.failed.items()))
            if isinstance(error, ConfigError) or (
                isinstance(error, TTVError) and name in str(error)
            ):
                raise error
            raise RunError(f"clip {name}: {error}") from error
        lines = [f"  {name}: {error}" for name, error in sorted(self.failed.items())]
        raise RunError(
            f"{len(self.failed)} of {len(self.steps)} clips failed; finished clips are "
            "cached. Fix the cause and run again (or `ttv resume`):\n"
            + "\n".join(lines)
        )


class _Bars:
    """One tqdm bar per stage; hidden when not on a terminal or when asked."""

    def __init__(self, progress: bool, keyframes: int, clips: int):
        def bar(total: int, desc: str, unit: str, position: int) -> tqdm:
            # disable=None lets tqdm hide itself when stderr is not a terminal.
            disable = None if progress and total else True
            return tqdm(
                total=total,
                desc=desc,
                unit=unit,
                position=position,
                disable=disable,
                leave=False,
                dynamic_ncols=True,
            )

        self.keyframes = bar(keyframes, "keyframes", "kf", 0)
        self.clips = bar(clips, "clips", "clip", 1)

    def close(self) -> None:
        self.clips.close()
        self.keyframes.close()


def _expected(ctx: RunContext) -> dict[str, str]:
    """Every file the plan puts in the run directory, by name, with its key."""
    plan = ctx.plan
    names = {"final.mp4": stitch.final_key(ctx)}
    names |= {f"keyframes/{k.name}.png": k.key for k in plan.keyframes}
    names |= {f"clips/{c.name}.mp4": c.key for c in plan.clips}
    names |= {
        f"keyframes/{c.name}_start.png": f"lastframe-{c.first_from.key}"
        for c in plan.clips
        if c.first_from
    }
    return names


def _finish(
    ctx: RunContext, final: Path | None, started: float, stopped: str | None
) -> RunResult:
    plan = ctx.plan
    backends = ctx.config.backends
    # Files of an older plan (an edited shot, a shorter script) leave the run
    # directory; the cache keeps them.
    ctx.run_dir.keep_only(_expected(ctx))
    summary = {
        "run_dir": str(ctx.run_dir.root),
        "final": str(ctx.run_dir.final) if final else None,
        "title": plan.script.title,
        "shots": len(plan.clips),
        "continuing_shots": sum(1 for c in plan.clips if c.skip_first),
        "keyframes": len(plan.keyframes),
        "frames": plan.total_frames,
        "fps": plan.fps,
        "seconds": round(plan.seconds, 3),
        "stopped_after": stopped,
        "preview": any(b.preview for b in backends.values()),
        "backends": {
            s: {"name": b.name, "model": b.model} for s, b in backends.items()
        },
        "backend_calls": dict(ctx.stats.calls),
        "cache_hits": dict(ctx.stats.hits),
        "spent_usd": {k: round(v, 4) for k, v in ctx.ledger.spent.items()},
        "spent_total_usd": round(ctx.ledger.total, 4),
        "spent_run_dir_usd": round(ctx.ledger.prior + ctx.ledger.total, 4),
        "budget_usd": ctx.ledger.budget_usd,
        "elapsed_seconds": round(time.monotonic() - started, 2),
    }
    ctx.run_dir.write_summary(summary)
    return RunResult(
        run_dir=ctx.run_dir.root,
        final=ctx.run_dir.final if final else None,
        summary=summary,
    )
