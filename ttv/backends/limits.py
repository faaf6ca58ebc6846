"""Concurrency limits per backend, shared by every run in the process.

Two runs in one process (a batch) that use the same backend share its limit instead of
multiplying it, which is what a provider's rate limit needs.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

_lock = threading.Lock()
_limits: dict[tuple[str, str], tuple[int, threading.BoundedSemaphore]] = {}


def limiter(stage: str, backend: str, concurrency: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore for (stage, backend); the first caller sets its size."""
    with _lock:
        found = _limits.get((stage, backend))
        if found is None:
            found = (concurrency, threading.BoundedSemaphore(concurrency))
            _limits[(stage, backend)] = found
        elif found[0] != concurrency:
            log.debug(
                "%s backend %s already limited to %d at once; keeping that, not %d",
                stage,
                backend,
                found[0],
                concurrency,
            )
        return found[1]
