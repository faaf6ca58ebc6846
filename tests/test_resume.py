"""A run killed mid-way resumes from its own frozen config and pays for nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import SMALL_STORY
from ttv.clips import validate_clip
from ttv.media.images import validate_image
from ttv.media.probe import probe


def ttv(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ttv", *args, "--no-progress"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def valid(paths, check):
    ok = 0
    for path in paths:
        try:
            check(path)
            ok += 1
        except Exception:
            pass
    return ok


def test_killed_run_resumes_without_repeating_work(write_config, story_dir):
    slow = SMALL_STORY.replace(
        "clips:\n  backend: animatic\n",
        "keyframes:\n  latency: 0.2\nclips:\n  backend: animatic\n  latency: 0.6\n",
    )
    config = write_config(slow)
    run_dir = story_dir / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttv", "run", str(config), "--out", str(run_dir), "-q"],
        cwd=story_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "clips" / "shot01.mp4").exists():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up handlers run: a real crash
    proc.wait()
    assert not (run_dir / "final.mp4").exists()

    cache = story_dir / "_cache"
    # Leftover temporaries of the killed run (".name.part.png") are not artifacts.
    done_keyframes = valid(cache.glob("keyframe/*/[!.]*.png"), validate_image)
    done_clips = valid(cache.glob("clip/*/[!.]*.mp4"), validate_clip)
    assert 1 <= done_clips < 4 and done_keyframes >= 2

    resumed = ttv("resume", str(run_dir), cwd=story_dir)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    calls = summary["backend_calls"]
    assert calls.get("keyframes", 0) == 6 - done_keyframes
    assert calls.get("clips", 0) == 4 - done_clips
    assert summary["cache_hits"]["clips"] == done_clips
    assert probe(run_dir / "final.mp4").frame_count == summary["frames"] == 22


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    result = ttv("resume", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "not a ttv run directory" in result.stderr
    assert "Traceback" not in result.stderr
