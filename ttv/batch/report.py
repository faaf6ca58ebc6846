"""`ttv batch status`: one line per story, as a table or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ttv.batch.queue import DB_NAME, Queue
from ttv.errors import UsageError
from ttv.store.journal import Journal


def status(folder: Path) -> list[dict[str, Any]]:
    """Each story's status, shots done, length, cost and error."""
    if not (folder / DB_NAME).is_file():
        raise UsageError(f"{folder} has no queue yet; run `ttv batch {folder}` first")
    out = []
    for row in Queue(folder, read_only=True).rows():
        summary = row["summary"] or {}
        run_dir = Path(row["run_dir"]) if row["run_dir"] else None
        done, total = _shots(run_dir) if run_dir else (0, None)
        out.append(
            {
                "story": row["name"],
                "status": row["status"],
                "attempts": row["attempts"],
                "shots_done": done,
                "shots": summary.get("shots", total),
                "seconds": summary.get("seconds") if row["status"] == "done" else None,
                "cost_usd": _spent(run_dir),
                "final": summary.get("final") if row["status"] == "done" else None,
                "error": (row["error"] or "").strip() or None,
            }
        )
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of `status` rows; errors cut to their first line."""
    head = f"{'story':<24}{'status':<9}{'shots':>7}{'length':>9}{'cost':>9}  error"
    lines = [head]
    for r in rows:
        shots = f"{r['shots_done']}/{r['shots'] if r['shots'] is not None else '?'}"
        length = f"{r['seconds']:.1f} s" if r["seconds"] is not None else "-"
        error = _first_problem(r["error"])
        lines.append(
            f"{r['story'][:23]:<24}{r['status']:<9}{shots:>7}{length:>9}"
            f"{'$' + format(r['cost_usd'] or 0, '.2f'):>9}  {error[:100]}"
        )
    return "\n".join(lines)


def _spent(run_dir: Path | None) -> float:
    """All the story's runs spent, from its journal (stopped runs write no summary)."""
    if run_dir is None:
        return 0.0
    entries = Journal(run_dir / "journal.jsonl").entries("ledger")
    return round(sum(e.get("usd", 0.0) for e in entries), 4)


def _first_problem(error: str | None) -> str:
    """The first line that says what is wrong (not a '3 problems in ...:' header)."""
    lines = [line.strip().lstrip("- ") for line in (error or "").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > 1 and lines[0].endswith(":"):
        return lines[1]
    return lines[0] if lines else ""


def _shots(run_dir: Path) -> tuple[int, int | None]:
    """(clips made, shots in the script) of a run directory, as far as it got."""
    done = len(list((run_dir / "clips").glob("*.mp4"))) if run_dir.is_dir() else 0
    try:
        script = yaml.safe_load((run_dir / "script.yaml").read_text(encoding="utf-8"))
        return done, len(script.get("shots") or [])
    except (OSError, yaml.YAMLError, AttributeError):
        return done, None
