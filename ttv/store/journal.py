"""The run journal: an append-only log of remote jobs, written before anyone waits on them.

A backend records a job id here the moment the provider returns it; a resumed run reads
it back and polls that job instead of paying for a new one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class Journal:
    """JSON lines in the run directory, flushed to disk on every record."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, event: str, key: str, **data: Any) -> None:
        """Append one event about the artifact `key` and make it durable."""
        line = json.dumps({"t": time.time(), "event": event, "key": key, **data})
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def entries(self, key: str | None = None) -> list[dict[str, Any]]:
        """Recorded events (for `key` only, when given), oldest first."""
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: skip it, the rest is good
            if key is None or entry.get("key") == key:
                out.append(entry)
        return out

    def latest(self, key: str, events: tuple[str, ...]) -> dict[str, Any] | None:
        """The most recent of `events` recorded for `key`, or None."""
        found = [e for e in self.entries(key) if e.get("event") in events]
        return found[-1] if found else None

    def last(self, key: str, event: str) -> dict[str, Any] | None:
        """The latest `event` recorded for `key`, or None."""
        found = [e for e in self.entries(key) if e.get("event") == event]
        return found[-1] if found else None
