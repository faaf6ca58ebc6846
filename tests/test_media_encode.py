"""Encoding our own frames into clips (ttv.media.encode)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from ttv.errors import MediaError
from ttv.media.encode import ClipWriter, encode_frames
from ttv.media.ffmpeg import ffmpeg_exe
from ttv.media.frames import iter_frames
from ttv.media.probe import probe


def test_clip_writer_writes_every_frame(media_clips, tmp_path):
    dest = tmp_path / "out" / "clip.mp4"
    with ClipWriter(dest, width=160, height=90, fps=12) as writer:
        for i in range(25):
            writer.write(media_clips.index_frame(i))
    info = probe(dest)
    assert info.frame_count == writer.frames_written == 25
    assert (info.width, info.height, info.fps, info.pix_fmt) == (160, 90, 12, "yuv420p")
    assert writer.info == info
    indexes = [media_clips.read_index(f) for f in iter_frames(dest)]
    assert indexes == list(range(25))
    assert sorted(p.name for p in dest.parent.iterdir()) == ["clip.mp4"]


def test_colours_survive_encoding(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)]
    frames = [np.full((36, 64, 3), c, np.uint8) for c in colours]
    info = encode_frames(frames, tmp_path / "c.mp4", width=64, height=36, fps=24)
    assert info.path == tmp_path / "c.mp4"
    for frame, colour in zip(iter_frames(info.path), colours, strict=True):
        assert np.abs(frame[18, 32].astype(int) - colour).max() <= 6


def test_exception_in_block_leaves_no_file(media_clips, tmp_path):
    dest = tmp_path / "clip.mp4"
    writer = ClipWriter(dest, width=160, height=90, fps=12)
    with pytest.raises(RuntimeError, match="backend died"), writer:
        writer.write(media_clips.index_frame(0))
        raise RuntimeError("backend died")
    assert list(tmp_path.iterdir()) == []
    assert writer._proc.returncode is not None  # ffmpeg is gone, not left running


def test_odd_size_is_refused_before_encoding(tmp_path):
    with pytest.raises(MediaError, match="161x90.*even"):
        ClipWriter(tmp_path / "clip.mp4", width=161, height=90, fps=12)


def test_frame_of_wrong_size_is_an_error_and_leaves_no_file(media_clips, tmp_path):
    writer = ClipWriter(tmp_path / "clip.mp4", width=160, height=90, fps=12)
    with pytest.raises(MediaError, match=r"frame 1 is \(90, 150, 3\)"), writer:
        writer.write(media_clips.index_frame(0))
        writer.write(np.zeros((90, 150, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_no_frames_is_an_error(tmp_path):
    writer = ClipWriter(tmp_path / "clip.mp4", width=64, height=36, fps=12)
    with pytest.raises(MediaError, match="no frames"), writer:
        pass
    assert list(tmp_path.iterdir()) == []


def test_fractional_frame_rate_is_exact(tmp_path):
    frames = [np.zeros((36, 64, 3), np.uint8)] * 5
    info = encode_frames(
        frames, tmp_path / "d.mp4", width=64, height=36, fps=Fraction(30000, 1001)
    )
    assert info.fps == Fraction(30000, 1001) and info.frame_count == 5


@pytest.fixture
def failing_ffmpeg(tmp_path, monkeypatch):
    """TTV_FFMPEG pointing at a fake ffmpeg that reports an error and exits."""
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "x264 [error]: out of cheese" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("TTV_FFMPEG", str(fake))
    ffmpeg_exe.cache_clear()
    yield
    ffmpeg_exe.cache_clear()


@pytest.mark.parametrize("count", [1, 2000])  # exits before or while frames stream
def test_encoder_failure_carries_its_message(failing_ffmpeg, tmp_path, count):
    out = tmp_path / "out"
    frame = np.zeros((36, 64, 3), np.uint8)
    writer = ClipWriter(out / "clip.mp4", width=64, height=36, fps=12)
    expected = "clip.mp4 failed: x264 .*out of cheese"
    with pytest.raises(MediaError, match=expected), writer:
        for _ in range(count):
            writer.write(frame)
    assert list(out.iterdir()) == []
