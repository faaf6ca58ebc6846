"""The command line: exit codes, messages without tracebacks, the closing summary."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import SMALL_STORY


def ttv(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ttv", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_prints_summary_and_exits_0(write_config, story_dir):
    result = ttv("run", str(write_config()), "--out", "out/r1", cwd=story_dir)
    assert result.returncode == 0, result.stderr
    assert "final.mp4" in result.stdout
    assert "4 shots (2 continuing)" in result.stdout
    assert "22 frames" in result.stdout
    assert "PREVIEW ANIMATIC" in result.stdout
    assert (story_dir / "out" / "r1" / "final.mp4").is_file()


def test_bad_config_exits_2_with_every_problem(write_config, story_dir):
    text = SMALL_STORY.replace("  fps: 12", "  fsp: 12").replace(
        "width: 96", "width: 95"
    )
    result = ttv("run", str(write_config(text)), cwd=story_dir)
    assert result.returncode == 2
    assert "output.fsp" in result.stderr and "did you mean 'fps'" in result.stderr
    assert "output.width" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (story_dir / "output").exists()  # nothing ran


def test_usage_error_exits_2(story_dir):
    result = ttv("run", cwd=story_dir)
    assert result.returncode == 2
    result = ttv("run", "x.yaml", "--stop-after", "nothing", cwd=story_dir)
    assert result.returncode == 2


def test_prompt_override_and_stop_after_script(write_config, story_dir):
    config = write_config(SMALL_STORY.split("shots:")[0] + "prompt: unused\n")
    result = ttv(
        "run",
        str(config),
        "--prompt",
        "Eileen waves. Chelsea purrs.",
        "--stop-after",
        "script",
        "--out",
        "out/p",
        cwd=story_dir,
    )
    assert result.returncode == 0, result.stderr
    script = (story_dir / "out" / "p" / "script.yaml").read_text()
    assert "Eileen waves." in script and "unused" not in script
    assert not (story_dir / "out" / "p" / "keyframes").exists()
