"""Prices of paid backends, in one table, and the ledger that keeps a run under budget.

The table is list prices in US dollars as published by the provider; check them before
relying on an estimate. A config's `prices:` section overrides any entry by model id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field

from ttv.errors import RunError

log = logging.getLogger(__name__)

PRICES_DATE = "2025-12-01"

# model id -> unit -> USD. Units: image (one generated image), video_second (one second
# of video; with_audio where the model charges more for sound), input_token and
# output_token (per token, thinking included in output).
PRICES: dict[str, dict[str, float]] = {
    "gemini-2.5-flash": {"input_token": 0.30e-6, "output_token": 2.50e-6},
    "gemini-2.5-pro": {"input_token": 1.25e-6, "output_token": 10.0e-6},
    "gemini-2.5-flash-image": {"image": 0.039, "input_token": 0.30e-6},
    "gemini-3-pro-image": {"image": 0.134, "input_token": 2.0e-6},
    "veo-3.1-generate-001": {"video_second": 0.20, "video_second_with_audio": 0.40},
    "veo-3.1-fast-generate-001": {
        "video_second": 0.10,
        "video_second_with_audio": 0.15,
    },
    "veo-3.0-generate-001": {"video_second": 0.20, "video_second_with_audio": 0.40},
    "veo-3.0-fast-generate-001": {
        "video_second": 0.10,
        "video_second_with_audio": 0.15,
    },
    "veo-2.0-generate-001": {"video_second": 0.35},
}


def price(model: str | None, unit: str, overrides: dict | None = None) -> float | None:
    """USD per `unit` for `model`, from the config's overrides or the table; None if unknown."""
    for table in (overrides or {}, PRICES):
        entry = table.get(model or "")
        if entry and unit in entry:
            return float(entry[unit])
    return None


class BudgetExceeded(RunError):
    """The next paid call would take the run past its budget."""


Recorder = Callable[[str, float, str], None]

# Set while a charged call runs, so a backend can book attempts it paid for on top of
# the one charged (a reply it had to ask for again).
_EXTRA: ContextVar[Callable[[float, str], None] | None] = ContextVar(
    "extra", default=None
)


def bill_extra(usd: float, what: str) -> None:
    """Book `usd` more for the call being charged now (no budget check: it is spent)."""
    book = _EXTRA.get()
    if book is not None and usd > 0:
        book(usd, what)


@dataclass
class Ledger:
    """What a run has spent and reserved, checked before every paid call.

    `prior` is what earlier runs of the same run directory spent: the budget covers
    them too. `record` makes each spend durable as it happens (the run's journal).
    """

    budget_usd: float | None = None
    parent: Ledger | None = None  # a batch's ledger, shared by its stories
    prior: float = 0.0
    record: Recorder | None = None
    spent: dict[str, float] = field(default_factory=dict)
    _reserved: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> float:
        """Spent by this run."""
        return sum(self.spent.values())

    @contextmanager
    def charge(self, stage: str, estimate: float, what: str):
        """Reserve `estimate` for one call; refuse it if the budget would be exceeded.

        The body runs the call; its cost is recorded when it returns. A call that
        raised is not recorded (providers do not bill refused or filtered requests).
        """
        if estimate <= 0:
            yield
            return
        parent = self.parent.charge(stage, estimate, what) if self.parent else None
        with parent or nullcontext():
            self._reserve(estimate, what)
            token = _EXTRA.set(lambda usd, why: self._book_extra(stage, usd, why))
            try:
                yield
            except BaseException:
                with self._lock:
                    self._reserved -= estimate
                raise
            finally:
                _EXTRA.reset(token)
            with self._lock:
                self._reserved -= estimate
            self._book(stage, estimate, what)

    def _book(self, stage: str, usd: float, what: str) -> None:
        with self._lock:
            self.spent[stage] = self.spent.get(stage, 0.0) + usd
        if self.record is not None:
            self.record(stage, usd, what)

    def _book_extra(self, stage: str, usd: float, what: str) -> None:
        self._book(stage, usd, what)
        if self.parent is not None:
            self.parent._book_extra(stage, usd, what)

    def _reserve(self, estimate: float, what: str) -> None:
        with self._lock:
            used = self.prior + self.total
            if (
                self.budget_usd is not None
                and used + self._reserved + estimate > self.budget_usd + 1e-9
            ):
                raise BudgetExceeded(
                    f"{what}: would cost about ${estimate:.3f}; ${used:.3f} is spent "
                    f"and ${self._reserved:.3f} held by calls in flight, of a "
                    f"${self.budget_usd:.3f} budget. Nothing more was paid; raise the "
                    "budget and run again to continue from here"
                )
            self._reserved += estimate
