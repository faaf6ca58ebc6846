"""A run directory: human-readable names for a run's artifacts, and the manifest.

    RUN_DIR/config.yaml          the frozen config (`ttv resume` reads it)
    RUN_DIR/script.yaml          the script (edit it and run again)
    RUN_DIR/keyframes/shot03_start.png
    RUN_DIR/clips/shot03.mp4
    RUN_DIR/final.mp4
    RUN_DIR/manifest.json        what made each artifact: backend, model, prompt, inputs
    RUN_DIR/journal.jsonl        remote job ids, written before polling
    RUN_DIR/summary.json         the last run's summary

The files are hard links into the cache where the file system allows it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any

from ttv.errors import UsageError
from ttv.store import atomic
from ttv.store.cache import link_or_copy
from ttv.store.journal import Journal

FROZEN_MARK = "# Frozen by ttv"


def is_run_dir(path: Path) -> bool:
    """True for a folder that ttv made (it has a manifest or a frozen config)."""
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if isinstance(manifest, dict) and isinstance(manifest.get("artifacts"), dict):
            return manifest.get("format") == 1
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    config = path / "config.yaml"
    try:
        return config.read_text(encoding="utf-8").startswith(FROZEN_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def check_new_run_dir(path: Path) -> None:
    """Refuse a run directory that would overwrite files that are not ttv's."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"the run directory {path} is a file; choose a folder (--out)")
    if path.is_dir() and not is_run_dir(path):
        others = [p.name for p in path.iterdir() if not p.name.startswith(".")]
        if others:
            raise UsageError(
                f"the run directory {path} already holds files that ttv did not make "
                f"({', '.join(sorted(others)[:3])}...); choose an empty or new folder "
                "(--out or output.dir)"
            )


class RunDir:
    """One run's folder and its manifest."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.journal = Journal(self.root / "journal.jsonl")
        self._lock = threading.Lock()
        self._manifest: dict[str, Any] = self._load_manifest()
        self._lock_fd: int | None = None

    def acquire(self) -> None:
        """Take the run directory for this process; another run on it fails at once."""
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(
                f"another ttv run (process {holder}) is writing to {self.root}; wait "
                "for it to finish or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the lock
            self._lock_fd = None

    config = property(lambda self: self.root / "config.yaml")
    script = property(lambda self: self.root / "script.yaml")
    final = property(lambda self: self.root / "final.mp4")
    manifest_path = property(lambda self: self.root / "manifest.json")
    summary_path = property(lambda self: self.root / "summary.json")

    def keyframe(self, name: str) -> Path:
        return self.root / "keyframes" / f"{name}.png"

    def clip(self, name: str) -> Path:
        return self.root / "clips" / f"{name}.mp4"

    def publish(self, cached: Path, dest: Path, entry: dict[str, Any]) -> None:
        """Show a cached artifact under its readable name and record what made it."""
        link_or_copy(cached, dest)
        name = dest.relative_to(self.root).as_posix()
        with self._lock:
            self._manifest["artifacts"][name] = entry
            self._save_manifest()

    def entry(self, dest: Path) -> dict[str, Any] | None:
        """What the manifest says made the file at `dest`."""
        name = dest.relative_to(self.root).as_posix()
        return self._manifest["artifacts"].get(name)

    def keep_only(self, expected: dict[str, str]) -> None:
        """Remove files whose name or key is not in `expected` (name -> key)."""
        with self._lock:
            for name, entry in list(self._manifest["artifacts"].items()):
                if expected.get(name) != entry.get("key"):
                    del self._manifest["artifacts"][name]
                    (self.root / name).unlink(missing_ok=True)
            self._save_manifest()

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic.write_text(self.summary_path, json.dumps(summary, indent=2) + "\n")
        with self._lock:
            by_stage: dict[str, float] = {}
            for entry in self.journal.entries("ledger"):
                stage = entry.get("stage", "?")
                by_stage[stage] = by_stage.get(stage, 0.0) + entry.get("usd", 0.0)
            self._manifest["spent_usd"] = {k: round(v, 4) for k, v in by_stage.items()}
            self._save_manifest()

    def _load_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("artifacts"), dict):
                return data
        except (OSError, json.JSONDecodeError):
            pass
        return {"format": 1, "artifacts": {}}

    def _save_manifest(self) -> None:
        text = json.dumps(self._manifest, indent=1, sort_keys=True) + "\n"
        atomic.write_text(self.manifest_path, text)
