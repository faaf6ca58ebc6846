"""Queue state in SQLite, in the queue folder: one row per story, leased while rendered.

A worker claims a story in one IMMEDIATE transaction, so two processes never take the
same story. Its lease is renewed while it works; a crashed worker's lease runs out (or,
on this machine, its process is seen to be gone) and the story is taken again.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttv.batch.story import Story
from ttv.errors import UsageError

DB_NAME = "queue.sqlite"
STATUSES = ("pending", "running", "done", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    owner TEXT,
    lease_until REAL,
    run_dir TEXT,
    rendered_digest TEXT,
    summary TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    digest TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    outcome TEXT
);
"""


@dataclass(frozen=True)
class Claim:
    """A story this worker holds the lease on."""

    name: str
    path: Path
    digest: str
    attempt: int


class Queue:
    """The state of one queue folder."""

    def __init__(
        self,
        folder: Path,
        *,
        lease_seconds: float = 60.0,
        max_attempts: int = 3,
        read_only: bool = False,
    ):
        self.folder = Path(folder).resolve()
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.read_only = read_only
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.path = self.folder / DB_NAME
        if read_only:
            return
        try:
            db = sqlite3.connect(self.path, timeout=30)
            try:
                db.execute("PRAGMA journal_mode=WAL")  # readers never block the workers
                db.executescript(SCHEMA)
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise UsageError(
                f"cannot keep the queue's state in {self.path} ({exc}); the queue "
                "folder must be writable"
            ) from exc

    @contextmanager
    def _db(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        target = f"file:{self.path}?mode=ro" if self.read_only else str(self.path)
        db = sqlite3.connect(target, timeout=30, isolation_level=None, uri=True)
        db.row_factory = sqlite3.Row
        try:
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def sync(self, stories: list[Story]) -> list[str]:
        """Add new story files, re-queue changed ones; return the names (re)queued."""
        now = time.time()
        queued = []
        present = [s.name for s in stories]
        with self._db(immediate=True) as db:
            # A story file that is gone is dropped unless it was rendered (kept as record).
            marks = ",".join("?" * len(present))
            db.execute(
                f"DELETE FROM stories WHERE status IN ('pending', 'failed') "
                f"AND name NOT IN ({marks})",
                present,
            )
            for story in stories:
                row = db.execute(
                    "SELECT digest, status FROM stories WHERE name = ?", (story.name,)
                ).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO stories (name, path, digest, updated) "
                        "VALUES (?, ?, ?, ?)",
                        (story.name, str(story.path), story.digest, now),
                    )
                    queued.append(story.name)
                elif row["digest"] != story.digest and row["status"] != "running":
                    db.execute(
                        "UPDATE stories SET digest = ?, path = ?, status = 'pending', "
                        "attempts = 0, error = NULL, updated = ? WHERE name = ?",
                        (story.digest, str(story.path), now, story.name),
                    )
                    queued.append(story.name)
                elif row["digest"] != story.digest:  # changed while rendering
                    db.execute(
                        "UPDATE stories SET digest = ?, path = ?, updated = ? "
                        "WHERE name = ?",
                        (story.digest, str(story.path), now, story.name),
                    )
                else:  # the same story, perhaps seen from another folder
                    db.execute(
                        "UPDATE stories SET path = ? WHERE name = ?",
                        (str(story.path), story.name),
                    )
        return queued

    def claim(self) -> Claim | None:
        """Take the next story to render, or None if there is none right now."""
        now = time.time()
        with self._db(immediate=True) as db:
            rows = db.execute(
                "SELECT * FROM stories WHERE status = 'pending' "
                "OR (status = 'running' AND (lease_until < ? OR owner LIKE ?)) "
                "OR (status = 'failed' AND attempts < ?) ORDER BY name",
                (now, f"{socket.gethostname()}:%", self.max_attempts),
            ).fetchall()
            for row in rows:
                held = row["status"] == "running" and row["lease_until"] >= now
                if held and _alive(row["owner"]):
                    continue  # a live worker on this machine holds it
                db.execute(
                    "UPDATE stories SET status = 'running', owner = ?, lease_until = ?, "
                    "attempts = attempts + 1, updated = ? WHERE name = ?",
                    (self.owner, now + self.lease_seconds, now, row["name"]),
                )
                db.execute(
                    "INSERT INTO history (name, owner, digest, started) VALUES (?,?,?,?)",
                    (row["name"], self.owner, row["digest"], now),
                )
                return Claim(
                    row["name"], Path(row["path"]), row["digest"], row["attempts"] + 1
                )
        return None

    def reset_failed(self) -> None:
        """Let failed stories be tried again, with a fresh count of attempts."""
        with self._db(immediate=True) as db:
            db.execute("UPDATE stories SET attempts = 0 WHERE status = 'failed'")

    def renew(self, names: list[str]) -> None:
        """Extend this worker's leases on the stories it is rendering."""
        if not names:
            return
        until = time.time() + self.lease_seconds
        with self._db(immediate=True) as db:
            db.executemany(
                "UPDATE stories SET lease_until = ? WHERE name = ? AND owner = ?",
                [(until, name, self.owner) for name in names],
            )

    def finish(
        self,
        claim: Claim,
        status: str,
        *,
        error: str | None = None,
        run_dir: Path | None = None,
        summary: dict[str, Any] | None = None,
        count_attempt: bool = True,
        exhaust: bool = False,
    ) -> None:
        """Record the outcome; a story whose file changed meanwhile goes back to pending.

        `exhaust` marks a failure no retry can fix (a bad story file): it is not
        tried again until the file changes.
        """
        now = time.time()
        with self._db(immediate=True) as db:
            row = db.execute(
                "SELECT digest, owner FROM stories WHERE name = ?", (claim.name,)
            ).fetchone()
            if row is None or row["owner"] != self.owner:
                return  # the lease was lost and another worker took the story
            if row["digest"] != claim.digest:
                status, error = "pending", None
            db.execute(
                "UPDATE stories SET status = ?, error = ?, owner = NULL, "
                "lease_until = NULL, run_dir = COALESCE(?, run_dir), "
                "rendered_digest = ?, summary = COALESCE(?, summary), "
                "attempts = CASE WHEN ? THEN ? ELSE attempts - ? END, updated = ? "
                "WHERE name = ?",
                (
                    status, error, str(run_dir) if run_dir else None, claim.digest,
                    json.dumps(summary) if summary else None, exhaust,
                    self.max_attempts, 0 if count_attempt else 1, now, claim.name,
                ),
            )  # fmt: skip
            db.execute(
                "UPDATE history SET finished = ?, outcome = ? WHERE name = ? AND "
                "owner = ? AND finished IS NULL",
                (now, status, claim.name, self.owner),
            )

    def release(self, names: list[str]) -> None:
        """Give stories back untouched (Ctrl-C): they are pending again, nothing counted."""
        with self._db(immediate=True) as db:
            db.executemany(
                "UPDATE stories SET status = 'pending', owner = NULL, lease_until = NULL,"
                " attempts = MAX(attempts - 1, 0) WHERE name = ? AND owner = ?",
                [(name, self.owner) for name in names],
            )

    def rows(self) -> list[dict[str, Any]]:
        """Every story's state, for `ttv batch status`."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM stories ORDER BY name").fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["summary"] = json.loads(row["summary"]) if row["summary"] else None
            out.append(item)
        return out

    def history(self) -> list[dict[str, Any]]:
        """Every render attempt: which worker took which story, when, with what outcome."""
        with self._db() as db:
            return [
                dict(r) for r in db.execute("SELECT * FROM history ORDER BY started")
            ]


def _alive(owner: str | None) -> bool:
    """False when `owner` names a process on this machine that no longer exists."""
    try:
        host, pid, _ = (owner or "").split(":")
    except ValueError:
        return True
    if host != socket.gethostname():
        return True  # another machine's worker: trust its lease
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
