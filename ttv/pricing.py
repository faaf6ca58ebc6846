"""Prices of paid backends, in one table, and the ledger that keeps a run under budget.

The table is list prices in US dollars as published by the provider; check them before
relying on an estimate. A config's `prices:` section overrides any entry by model id.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from contextlib import nullcontext as _nothing
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


@dataclass
class Ledger:
    """What a run has spent and reserved, checked before every paid call."""

    budget_usd: float | None = None
    parent: Ledger | None = None  # a batch's ledger, shared by its stories
    spent: dict[str, float] = field(default_factory=dict)
    _reserved: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> float:
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
        with parent or _nothing():
            self._reserve(estimate, what)
            try:
                yield
            except BaseException:
                with self._lock:
                    self._reserved -= estimate
                raise
            with self._lock:
                self._reserved -= estimate
                self.spent[stage] = self.spent.get(stage, 0.0) + estimate

    def _reserve(self, estimate: float, what: str) -> None:
        with self._lock:
            if (
                self.budget_usd is not None
                and self.total + self._reserved + estimate > self.budget_usd + 1e-9
            ):
                raise BudgetExceeded(
                    f"{what}: would cost about ${estimate:.2f}, and ${self.total:.2f} is "
                    f"spent of the ${self.budget_usd:.2f} budget; nothing more was "
                    "paid. Raise the budget and run again to continue from here"
                )
            self._reserved += estimate
