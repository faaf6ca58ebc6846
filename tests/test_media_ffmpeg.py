"""Finding and running ffmpeg (ttv.media.ffmpeg)."""

from __future__ import annotations

import stat
from pathlib import Path

import imageio_ffmpeg
import pytest

from ttv.errors import MediaError
from ttv.media.ffmpeg import ffmpeg_exe, run_ffmpeg, stderr_tail
from ttv.media.probe import probe


@pytest.fixture(autouse=True)
def fresh_lookup():
    """ffmpeg_exe() caches its answer; each test here changes the environment."""
    ffmpeg_exe.cache_clear()
    yield
    ffmpeg_exe.cache_clear()


@pytest.fixture
def fake_path_ffmpeg(tmp_path: Path, monkeypatch) -> Path:
    """An executable named ffmpeg, alone on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("TTV_FFMPEG", raising=False)
    return fake


def test_env_var_wins_over_path(fake_path_ffmpeg, monkeypatch):
    real = imageio_ffmpeg.get_ffmpeg_exe()
    monkeypatch.setenv("TTV_FFMPEG", real)
    assert ffmpeg_exe() == real


def test_path_wins_over_bundled_binary(fake_path_ffmpeg):
    assert ffmpeg_exe() == str(fake_path_ffmpeg)


def test_bundled_binary_is_the_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TTV_FFMPEG", raising=False)
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_bogus_env_var_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TTV_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(MediaError, match="TTV_FFMPEG.*no-such-ffmpeg"):
        ffmpeg_exe()


def test_lookup_is_cached_until_cleared(fake_path_ffmpeg, monkeypatch):
    assert ffmpeg_exe() == str(fake_path_ffmpeg)
    monkeypatch.setenv("TTV_FFMPEG", imageio_ffmpeg.get_ffmpeg_exe())
    assert ffmpeg_exe() == str(fake_path_ffmpeg)
    ffmpeg_exe.cache_clear()
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_run_ffmpeg_writes_a_file(tmp_path):
    out = tmp_path / "tone.mp4"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x36:r=12:d=0.5",
            "-c:v",
            "libx264",
            str(out),
        ],
        what="making a test clip",
    )
    assert probe(out).frame_count == 6


def test_run_ffmpeg_failure_carries_what_and_ffmpegs_reason(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(MediaError) as caught:
        run_ffmpeg(["-i", str(missing), str(tmp_path / "out.mp4")], what="converting")
    message = str(caught.value)
    assert message.startswith("converting failed: ")
    assert "missing.mp4" in message and "No such file" in message


def test_stderr_tail_keeps_the_last_meaningful_lines():
    stderr = b"first\n\nreal cause here\nConversion failed!\n"
    assert stderr_tail(stderr, lines=1) == "real cause here"
    assert stderr_tail(stderr) == "first | real cause here"
