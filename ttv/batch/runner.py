"""Render a queue: claim pending stories, render several at once, record the outcomes.

Every story renders into its own run directory with the normal cache, so an interrupted
story resumes from its keyframes and clips. Backend limits are per process and so shared
by all stories; a batch budget is one ledger shared by all of them.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttv.batch.queue import Claim, Queue
from ttv.batch.story import find, load_story
from ttv.errors import ConfigError, TTVError
from ttv.pipeline import run
from ttv.pricing import BudgetExceeded, Ledger

log = logging.getLogger(__name__)

STORY: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "story", default=None
)


@dataclass
class BatchOptions:
    """How a batch runs."""

    jobs: int = 2
    retries: int = 2
    lease_seconds: float = 60.0
    budget_usd: float | None = None
    watch: bool = False
    poll_seconds: float = 2.0
    retry_failed: bool = False  # give stories that used up their retries another go

    @property
    def max_attempts(self) -> int:
        return self.retries + 1


@dataclass
class BatchReport:
    """How a batch ended."""

    rows: list[dict[str, Any]]
    budget_reached: bool = False
    left: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[str]:
        return [r["name"] for r in self.rows if r["status"] == "failed"]


class _StoryTag(logging.Filter):
    """Prefix log lines with the story they belong to, since stories interleave."""

    def filter(self, record: logging.LogRecord) -> bool:
        story = STORY.get()
        if story and not getattr(record, "story_tagged", False):
            record.msg = f"[{story}] {record.msg}"
            record.story_tagged = True
        return True


def run_batch(
    folder: Path, options: BatchOptions, stop: threading.Event | None = None
) -> BatchReport:
    """Render every pending story in `folder` (and, with watch, new ones as they come).

    Setting `stop` ends a watching batch the way Ctrl-C does: no new stories, the
    running ones finish.
    """
    queue = Queue(
        folder, lease_seconds=options.lease_seconds, max_attempts=options.max_attempts
    )
    if options.retry_failed:
        queue.reset_failed()
    batch = _Batch(folder, queue, options, stop or threading.Event())
    tag = _StoryTag()
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(tag)
    try:
        batch.loop()
    finally:
        for handler in handlers:
            handler.removeFilter(tag)
    # Stories another worker is rendering are not this batch's to report as left.
    left = [r["name"] for r in queue.rows() if r["status"] == "pending"]
    return BatchReport(
        queue.rows(), batch.budget_reached.is_set(), left, batch.interrupted
    )


class _Batch:
    def __init__(
        self, folder: Path, queue: Queue, options: BatchOptions, stop: threading.Event
    ):
        self.folder = folder
        self.queue = queue
        self.options = options
        self.ledger = Ledger(options.budget_usd)
        self.running: dict[Future, Claim] = {}
        self.stopping = stop
        self.interrupted = False
        self.budget_reached = threading.Event()
        self.done = threading.Event()

    def loop(self) -> None:
        heartbeat = threading.Thread(target=self._heartbeat, daemon=True)
        heartbeat.start()
        pool = ThreadPoolExecutor(self.options.jobs, "story")
        try:
            self._serve(pool)
        except KeyboardInterrupt:
            self.interrupted = True
            self._interrupted()
        finally:
            self.done.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def _serve(self, pool: ThreadPoolExecutor) -> None:
        while True:
            taking = not (self.stopping.is_set() or self.budget_reached.is_set())
            if taking:
                for name in self.queue.sync(find(self.folder)):
                    log.info("queued %s", name)
                while len(self.running) < self.options.jobs:
                    claim = self.queue.claim()
                    if claim is None:
                        break
                    log.info("rendering %s (attempt %d)", claim.name, claim.attempt)
                    self.running[pool.submit(self._render, claim)] = claim
            if not self.running and (not self.options.watch or not taking):
                return
            if not self.running:  # watching an idle queue: wait() on nothing is instant
                self.stopping.wait(self.options.poll_seconds)
                continue
            finished, _ = wait(
                self.running,
                timeout=self.options.poll_seconds,
                return_when=FIRST_COMPLETED,
            )
            for future in finished:
                self.running.pop(future)

    def _interrupted(self) -> None:
        self.stopping.set()
        names = [c.name for c in self.running.values()]
        if not names:
            return
        log.warning(
            "stopping: no new stories; finishing %s (Ctrl-C again to leave them for "
            "the next `ttv batch`, which resumes them from their cache)",
            ", ".join(names),
        )
        try:
            wait(self.running)
        except KeyboardInterrupt:
            self.queue.release(names)
            raise

    def _heartbeat(self) -> None:
        while not self.done.wait(self.options.lease_seconds / 3):
            self.queue.renew([c.name for c in list(self.running.values())])

    def _render(self, claim: Claim) -> None:
        STORY.set(claim.name)
        try:
            config = load_story(claim.path)
        except ConfigError as exc:
            log.error(
                "%s is not a valid story; skipped until the file changes:\n%s",
                claim.path.name,
                exc,
            )
            self.queue.finish(claim, "failed", error=str(exc), exhaust=True)
            return
        # Each story has its own run directory, whatever a shared base may say.
        run_dir = self.folder.resolve() / "runs" / claim.name
        if config.model.output.dir not in (None, run_dir):
            log.warning("output.dir is not used in a batch; rendering into %s", run_dir)
        try:
            result = run(
                config, run_dir=run_dir, progress=False, shared_ledger=self.ledger
            )
        except BudgetExceeded as exc:
            self.budget_reached.set()
            log.warning("batch budget reached: %s", exc)
            self.queue.finish(
                claim, "pending", error=str(exc), run_dir=run_dir, count_attempt=False
            )
        except ConfigError as exc:
            log.error("%s", exc)
            self.queue.finish(
                claim, "failed", error=str(exc), run_dir=run_dir, exhaust=True
            )
        except TTVError as exc:
            log.error("%s", exc)
            self.queue.finish(claim, "failed", error=str(exc), run_dir=run_dir)
        except Exception as exc:  # a bug in ttv must not stop the other stories
            log.exception("internal error")
            self.queue.finish(
                claim, "failed", error=f"internal error: {exc!r}", run_dir=run_dir
            )
        else:
            log.info("done: %s", result.final)
            self.queue.finish(claim, "done", run_dir=run_dir, summary=result.summary)
