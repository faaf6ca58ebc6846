"""Decoding first, last and all frames (ttv.media.frames)."""

from __future__ import annotations

import logging

import pytest

from ttv.errors import MediaError
from ttv.media.ffmpeg import run_ffmpeg
from ttv.media.frames import first_frame, iter_frames, last_frame
from ttv.media.probe import probe


def test_last_frame_is_exact_with_one_keyframe(media_clips):
    # keyint > frame count: the only keyframe is frame 0, far before the tail.
    path = media_clips.clip("a.mp4", 37, fps=12, keyint=100)
    image = last_frame(path)
    assert image.mode == "RGB" and image.size == (160, 90)
    assert media_clips.read_index(image) == 36


def test_last_frame_is_exact_with_many_keyframes(media_clips):
    path = media_clips.clip("a.mp4", 61, fps=12, keyint=5)
    assert media_clips.read_index(last_frame(path)) == 60


def test_last_frame_when_audio_outlasts_video(media_clips):
    # The container's duration is the audio's 6 s; the video ends at ~3.1 s.
    path = media_clips.clip("a.mp4", 37, fps=12, keyint=100, audio_seconds=6)
    assert probe(path).audio.duration > probe(path).duration + 2
    assert media_clips.read_index(last_frame(path)) == 36


def test_last_frame_of_a_very_short_clip(media_clips):
    path = media_clips.clip("a.mp4", 2, fps=24, audio_seconds=1)
    assert media_clips.read_index(last_frame(path)) == 1


def test_first_frame_and_iter_frames(media_clips):
    path = media_clips.clip("a.mp4", 9, first_index=5)
    assert media_clips.read_index(first_frame(path)) == 5
    frames = list(iter_frames(path))
    assert [media_clips.read_index(f) for f in frames] == list(range(5, 14))
    assert frames[0].shape == (90, 160, 3) and frames[0].dtype == "uint8"


def test_undecodable_file_is_a_media_error(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="junk.mp4"):
        last_frame(path)
    with pytest.raises(MediaError, match="missing.mp4"):
        first_frame(tmp_path / "missing.mp4")


@pytest.mark.parametrize("container", ["mkv", "ts", "mov"])
def test_last_frame_in_other_containers(media_clips, container):
    # Matroska has no per-stream duration and MPEG-TS no index: seeking differs.
    source = media_clips.clip("a.mp4", 61, fps=12, keyint=5, audio_seconds=9)
    remuxed = source.with_suffix(f".{container}")
    run_ffmpeg(["-i", str(source), "-c", "copy", str(remuxed)], what="remuxing")
    assert probe(remuxed).frame_count == 61
    assert media_clips.read_index(last_frame(remuxed)) == 60


def test_last_frame_decodes_only_the_tail(media_clips, caplog):
    path = media_clips.clip("a.mp4", 61, fps=12, keyint=5, audio_seconds=9)
    with caplog.at_level(logging.DEBUG, logger="ttv.media.frames"):
        assert media_clips.read_index(last_frame(path)) == 60
    assert "decoding the whole clip" not in caplog.text
