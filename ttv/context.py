"""What one run carries through its stages: config, backends, store, counters."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ttv.backends.base import ImageModel, ScriptWriter, VideoModel
from ttv.config import Config
from ttv.plan import Plan
from ttv.pricing import Ledger
from ttv.store.cache import Cache
from ttv.store.rundir import RunDir


@dataclass
class Stats:
    """Backend calls and cache hits per stage, for the summary and the tests."""

    calls: Counter = field(default_factory=Counter)
    hits: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(self, stage: str) -> None:
        with self._lock:
            self.calls[stage] += 1

    def hit(self, stage: str) -> None:
        with self._lock:
            self.hits[stage] += 1


@dataclass
class RunContext:
    """One run of the pipeline."""

    config: Config
    run_dir: RunDir
    cache: Cache
    prompts_dir: Path
    stats: Stats = field(default_factory=Stats)
    plan: Plan | None = None
    ledger: Ledger = field(default_factory=Ledger)
    resubmit: bool = False  # submit remote jobs whose earlier fate is unknown

    @property
    def writer(self) -> ScriptWriter:
        return self.config.backends["script"]  # type: ignore[return-value]

    @property
    def images(self) -> ImageModel:
        return self.config.backends["keyframes"]  # type: ignore[return-value]

    @property
    def video(self) -> VideoModel:
        return self.config.backends["clips"]  # type: ignore[return-value]

    @property
    def output(self):
        return self.config.model.output
