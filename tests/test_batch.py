"""Batch rendering of a queue folder, on the offline backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REFERENCES
from ttv.batch.queue import Queue
from ttv.batch.report import status
from ttv.batch.runner import BatchOptions, run_batch
from ttv.clips import validate_clip
from ttv.media.images import validate_image
from ttv.media.probe import probe

BASE = """\
style: test
characters:
  - {{id: eileen, name: Eileen, reference: {refs}/astronaut.png}}
  - {{id: chelsea, name: Chelsea, reference: {refs}/chelsea.png}}
clips: {{duration: 0.5, latency: {latency}}}
output: {{width: 64, height: 36, fps: 8}}
{extra}"""


def make_queue(folder: Path, names=("a", "b", "c"), latency=0.0, extra="") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = BASE.format(refs=REFERENCES, latency=latency, extra=extra)
    (folder / "_base.yaml").write_text(base)
    for name in names:
        story = f"extends: _base.yaml\ntitle: Story {name}\n"
        story += f"prompt: Eileen lands {name}. She waves. Later, Chelsea waits.\n"
        (folder / f"{name}.yaml").write_text(story)
    return folder


def peak_overlap(history) -> int:
    events = [(h["started"], 1) for h in history] + [
        (h["finished"], -1) for h in history
    ]
    running = peak = 0
    for _, step in sorted(events):
        running += step
        peak = max(peak, running)
    return peak


def test_queue_renders_concurrently_and_skips_a_bad_story(tmp_path):
    queue = make_queue(tmp_path / "q", latency=0.2)
    (queue / "bad.yaml").write_text(
        "extends: _base.yaml\nprompt: x\noutput: {widht: 3}\n"
    )
    report = run_batch(queue, BatchOptions(jobs=2, poll_seconds=0.1))
    rows = {r["story"]: r for r in status(queue)}
    assert {n: rows[n]["status"] for n in rows} == {
        "a": "done", "b": "done", "c": "done", "bad": "failed",
    }  # fmt: skip
    assert "bad.yaml:3" in rows["bad"]["error"] and "widht" in rows["bad"]["error"]
    assert report.failed == ["bad"]
    for name in "abc":
        summary = json.loads((queue / "runs" / name / "summary.json").read_text())
        # 3 shots of 4 frames; the second continues (-1), the third dissolves in (-2).
        assert summary["frames"] == 4 + 3 + 4 - 2
        assert probe(Path(rows[name]["final"])).frame_count == summary["frames"]
    history = [h for h in Queue(queue).history() if h["name"] != "bad"]
    assert peak_overlap(history) == 2


def test_changed_story_is_rendered_again(tmp_path):
    queue = make_queue(tmp_path / "q")
    run_batch(queue, BatchOptions(poll_seconds=0.1))
    path = queue / "b.yaml"
    path.write_text(path.read_text().replace("She waves.", "She dances."))
    run_batch(queue, BatchOptions(poll_seconds=0.1))
    renders = [h["name"] for h in Queue(queue).history()]
    assert sorted(renders) == ["a", "b", "b", "c"]
    script = (queue / "runs" / "b" / "script.yaml").read_text()
    assert "She dances." in script


def test_failed_story_retries_are_bounded(tmp_path, monkeypatch):
    from ttv.media.ffmpeg import ffmpeg_exe

    queue = make_queue(tmp_path / "q", names=("a",))
    monkeypatch.setenv("TTV_FFMPEG", "/bin/false")  # runs, but is no ffmpeg
    ffmpeg_exe.cache_clear()
    run_batch(queue, BatchOptions(retries=1, poll_seconds=0.1))
    (row,) = status(queue)
    assert row["status"] == "failed" and row["attempts"] == 2
    assert "TTV_FFMPEG" in row["error"]
    monkeypatch.delenv("TTV_FFMPEG")
    ffmpeg_exe.cache_clear()
    run_batch(queue, BatchOptions(retries=1, poll_seconds=0.1))
    assert status(queue)[0]["status"] == "failed"  # no silent third attempt
    run_batch(queue, BatchOptions(retries=1, poll_seconds=0.1, retry_failed=True))
    assert status(queue)[0]["status"] == "done"


def test_batch_budget_stops_new_paid_calls(tmp_path):
    extra = "prices: {animatic-v1: {image: 0.01}}\n"
    queue = make_queue(tmp_path / "q", extra=extra)
    report = run_batch(queue, BatchOptions(jobs=1, budget_usd=0.05, poll_seconds=0.1))
    assert report.budget_reached
    rows = status(queue)
    spent = sum(r["cost_usd"] for r in rows)
    assert spent <= 0.05 + 1e-9
    assert report.left and all(r["status"] != "failed" for r in rows)
    # Raising the budget finishes the queue.
    report = run_batch(queue, BatchOptions(jobs=1, budget_usd=1.0, poll_seconds=0.1))
    assert not report.left and {r["status"] for r in status(queue)} == {"done"}


def batch_process(queue: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ttv", "batch", str(queue), "-q", "--no-progress", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_two_processes_never_render_one_story_twice(tmp_path):
    queue = make_queue(tmp_path / "q", names=("a", "b", "c", "d"), latency=0.2)
    Queue(queue)  # create the database before both start
    first, second = batch_process(queue), batch_process(queue)
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    history = Queue(queue).history()
    assert sorted(h["name"] for h in history) == ["a", "b", "c", "d"]
    assert len({h["owner"] for h in history}) == 2  # both took work
    assert {r["status"] for r in status(queue)} == {"done"}


def valid(paths, check) -> int:
    count = 0
    for path in paths:
        try:
            check(path)
            count += 1
        except Exception:
            pass
    return count


def test_killed_batch_restarts_without_repeating_work(tmp_path):
    queue = make_queue(tmp_path / "q", latency=0.4)
    proc = batch_process(queue, "--jobs", "1")
    deadline = time.monotonic() + 120
    while not (queue / "runs" / "a" / "final.mp4").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # let it get into story b
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cache = queue / "runs" / "_cache"
    kept_keyframes = valid(cache.glob("keyframe/*/[!.]*.png"), validate_image)
    kept_clips = valid(cache.glob("clip/*/[!.]*.mp4"), validate_clip)

    report = run_batch(queue, BatchOptions(jobs=1, poll_seconds=0.1))
    assert not report.left and not report.failed
    history = Queue(queue).history()
    restart = history[-1]["owner"]
    rendered_again = {h["name"] for h in history if h["owner"] == restart}
    assert "a" not in rendered_again  # finished before the kill
    rows = {r["name"]: r["summary"] for r in Queue(queue).rows()}
    calls = {"keyframes": 0, "clips": 0}
    for name in rendered_again:
        for stage in calls:
            calls[stage] += rows[name]["backend_calls"].get(stage, 0)
    # Everything the killed batch finished was reused; only the rest was made.
    assert (
        calls["keyframes"]
        == sum(r["keyframes"] for r in rows.values()) - kept_keyframes
    )
    assert calls["clips"] == sum(r["shots"] for r in rows.values()) - kept_clips


@pytest.mark.parametrize("as_json", [True, False])
def test_status_command(tmp_path, as_json):
    queue = make_queue(tmp_path / "q", names=("a",))
    run_batch(queue, BatchOptions(poll_seconds=0.1))
    args = ["batch", "status", str(queue)] + (["--json"] if as_json else [])
    out = subprocess.run(
        [sys.executable, "-m", "ttv", *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    if as_json:
        (row,) = json.loads(out.stdout)
        assert (
            row["story"] == "a" and row["status"] == "done" and row["shots_done"] == 3
        )
    else:
        assert out.stdout.splitlines()[1].split()[:3] == ["a", "done", "3/3"]


def test_watch_takes_stories_as_they_arrive(tmp_path):
    import threading

    queue = make_queue(tmp_path / "q", names=("a",))
    stop = threading.Event()
    options = BatchOptions(watch=True, poll_seconds=0.1)
    worker = threading.Thread(target=run_batch, args=(queue, options, stop))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not (queue / "runs" / "a" / "final.mp4").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (queue / "b.yaml").write_text(
            (queue / "a.yaml").read_text().replace(" a", " b")
        )
        while not (queue / "runs" / "b" / "final.mp4").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (queue / "gone.yaml").write_text(
            "extends: _base.yaml\nprompt: x\noutput: {bad: 1}\n"
        )
        time.sleep(0.5)
        (queue / "gone.yaml").unlink()
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert {r["story"]: r["status"] for r in status(queue)} == {
        "a": "done",
        "b": "done",
    }


def test_a_changed_reference_image_queues_the_story_again(tmp_path):
    import shutil

    queue = tmp_path / "q"
    queue.mkdir()
    shutil.copy(REFERENCES / "astronaut.png", queue / "hero.png")
    base = BASE.format(refs=REFERENCES, latency=0, extra="")
    (queue / "_base.yaml").write_text(
        base.replace(f"{REFERENCES}/astronaut.png", "hero.png")
    )
    (queue / "a.yaml").write_text("extends: _base.yaml\nprompt: Eileen waves.\n")
    run_batch(queue, BatchOptions(poll_seconds=0.1))
    shutil.copy(REFERENCES / "chelsea.png", queue / "hero.png")  # a new photo
    run_batch(queue, BatchOptions(poll_seconds=0.1))
    assert [h["name"] for h in Queue(queue).history()] == ["a", "a"]
