"""Probing clips by content, counting frames (ttv.media.probe)."""

from __future__ import annotations

import shutil
from fractions import Fraction

import pytest
from PIL import Image

from ttv.errors import MediaError
from ttv.media.ffmpeg import run_ffmpeg
from ttv.media.probe import probe


def test_probe_counts_frames_and_reads_audio(media_clips):
    path = media_clips.clip("a.mp4", 30, fps=12, audio_seconds=2)
    info = probe(path)
    assert (info.codec, info.width, info.height) == ("h264", 160, 90)
    assert info.frame_count == 30
    assert info.fps == 12 and info.duration == pytest.approx(2.5)
    assert info.sar == 1 and info.pix_fmt == "yuv420p"
    assert info.audio is not None
    assert (info.audio.codec, info.audio.sample_rate) == ("aac", 48000)
    assert (info.audio.channels, info.audio.layout) == (2, "stereo")
    assert info.audio.duration == pytest.approx(2.0, abs=0.03)


def test_probe_reads_sar_and_time_base(media_clips):
    path = media_clips.clip("s.mp4", 4, fps=16, sar="4/3", timescale=90000)
    info = probe(path)
    assert info.sar == Fraction(4, 3)
    assert info.time_base == Fraction(1, 90000)
    assert info.fps == 16 and info.audio is None


def test_signature_tells_stream_copy_compatible_clips_apart(media_clips):
    a = probe(media_clips.clip("a.mp4", 3))
    b = probe(media_clips.clip("b.mp4", 5))
    c = probe(media_clips.clip("c.mp4", 3, timescale=90000))
    assert a.signature() == b.signature()
    assert a.signature() != c.signature()


def test_video_with_wrong_extension_probes_by_content(media_clips):
    path = media_clips.clip("a.mp4", 6)
    disguised = path.with_name("looks-like-a.png")
    shutil.copy(path, disguised)
    assert probe(disguised).frame_count == 6


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(MediaError, match="nope.mp4.*no such file"):
        probe(tmp_path / "nope.mp4")


def test_text_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError, match="notes.mp4.*not a readable media file"):
        probe(path)


def test_still_image_is_not_a_clip(tmp_path):
    path = tmp_path / "still.png"
    Image.new("RGB", (16, 16), "red").save(path)
    with pytest.raises(MediaError, match="still.png.*not a video clip"):
        probe(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=d=0.2", str(path)], what="making audio")
    with pytest.raises(MediaError, match="tone.m4a.*no video stream"):
        probe(path)


def test_half_written_clip_is_detected(media_clips):
    # With the index up front (+faststart) the first half opens and demuxes fine.
    path = media_clips.root / "full.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=s=160x90:r=12:d=2", "-c:v", "libx264"]
        + ["-movflags", "+faststart", str(path)],
        what="making a clip",
    )
    data = path.read_bytes()
    cut = path.with_name("cut.mp4")
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="cut.mp4.*cut off"):
        probe(cut)
