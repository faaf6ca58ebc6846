"""Joining clips: stream copy, boundaries, mixed formats, audio (ttv.media.concat)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ttv.errors import MediaError
from ttv.media.concat import Segment, filter_graph, fit_inside, join, plan_join
from ttv.media.frames import iter_frames
from ttv.media.probe import AudioInfo, VideoInfo, probe

GREY = 200


def video_pts_steps(path: Path) -> set[int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
    return {b - a for a, b in zip(pts, pts[1:], strict=False)}


def audio_samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray()[0] for f in container.decode(audio=0)]
    return np.concatenate(chunks)


def solid_frames(count: int, width: int, height: int) -> list[np.ndarray]:
    return [np.full((height, width, 3), GREY, np.uint8)] * count


def fake_info(name: str, *, fps=24, frames=24, audio=True, **changes) -> VideoInfo:
    fields = dict(
        path=Path(name), codec="h264", width=160, height=90, sar=Fraction(1),
        pix_fmt="yuv420p", fps=Fraction(fps), time_base=Fraction(1, 12288),
        frame_count=frames, duration=frames / fps,
        audio=AudioInfo("aac", 48000, 2, "stereo", frames / fps) if audio else None,
    )  # fmt: skip
    fields.update(changes)
    return VideoInfo(**fields)


def test_matching_clips_are_stream_copied(media_clips, tmp_path, caplog):
    a = media_clips.clip("a.mp4", 12, fps=12)
    b = media_clips.clip("b.mp4", 10, fps=12, first_index=12)
    dest = tmp_path / "joined.mp4"
    with caplog.at_level(logging.DEBUG, logger="ttv.media.concat"):
        info = join([Segment(a), Segment(b)], dest, width=160, height=90, fps=12)
    assert any("by stream copy" in r.message for r in caplog.records)
    assert info.frame_count == probe(dest).frame_count == 22
    assert [media_clips.read_index(f) for f in iter_frames(dest)] == list(range(22))
    assert video_pts_steps(dest) == {probe(dest).time_base.denominator // 12}


def test_boundary_frame_is_not_shown_twice(media_clips, tmp_path):
    # Clip B starts on clip A's last frame, as when B was generated from it.
    a = media_clips.clip("a.mp4", 20, fps=12)
    b = media_clips.clip("b.mp4", 20, fps=12, first_index=19)
    dest = tmp_path / "joined.mp4"
    info = join(
        [Segment(a), Segment(b, skip_first=1)], dest, width=160, height=90, fps=12
    )
    indexes = [media_clips.read_index(f) for f in iter_frames(dest)]
    assert info.frame_count == len(indexes) == 20 + 20 - 1
    assert all(x != y for x, y in zip(indexes, indexes[1:], strict=False))
    assert indexes == list(range(39))


def test_mixed_sizes_and_pixel_aspect_share_one_canvas(media_clips, tmp_path, caplog):
    wide = media_clips.clip(
        "wide.mp4", frames=solid_frames(3, 320, 180), size=(320, 180)
    )
    # 256x144 at SAR 4:3 displays as 341x144: letterboxed in 16:9.
    anamorphic = media_clips.clip(
        "anamorphic.mp4", frames=solid_frames(3, 256, 144), size=(256, 144), sar="4/3"
    )
    square = media_clips.clip(
        "square.mp4", frames=solid_frames(3, 90, 90), size=(90, 90)
    )
    dest = tmp_path / "joined.mp4"
    with caplog.at_level(logging.WARNING, logger="ttv.media.concat"):
        info = join(
            [Segment(wide), Segment(anamorphic), Segment(square)],
            dest, width=160, height=90, fps=12,
        )  # fmt: skip
    assert (info.width, info.height, info.sar, info.frame_count) == (160, 90, 1, 9)
    warned = " ".join(r.message for r in caplog.records)
    assert "anamorphic.mp4" in warned and "pixel aspect 4/3" in warned

    frames = list(iter_frames(dest))
    bright = [(f.mean(axis=2) > GREY / 2) for f in frames]
    # The 16:9 clip fills the canvas.
    assert bright[0].all()
    # The anamorphic one is shown whole: full width, 68 rows, black above and below.
    rows = np.flatnonzero(bright[4].all(axis=1))
    assert 66 <= len(rows) <= 70 and bright[4][rows[0] : rows[-1] + 1].all()
    assert frames[4][:8].max() < 20 and frames[4][-8:].max() < 20
    # The square one is pillarboxed: 90 bright columns in the middle.
    cols = np.flatnonzero(bright[8].all(axis=0))
    assert 88 <= len(cols) <= 92 and cols[0] >= 33
    assert frames[8][:, :30].max() < 20 and frames[8][:, -30:].max() < 20


def test_mixed_rates_time_bases_and_audio(media_clips, tmp_path, caplog):
    first = media_clips.clip("first.mp4", 12, fps=24, audio_seconds=0.5)
    slow = media_clips.clip("slow.mp4", 10, fps=16, timescale=90000)  # no audio
    last = media_clips.clip("last.mp4", 12, fps=24, audio_seconds=0.5, first_index=30)
    assert probe(first).time_base != probe(slow).time_base
    dest = tmp_path / "joined.mp4"
    with caplog.at_level(logging.WARNING, logger="ttv.media.concat"):
        info = join(
            [Segment(first), Segment(slow), Segment(last)],
            dest, width=160, height=90, fps=24,
        )  # fmt: skip

    # 10 frames at 16 fps last 0.625 s: 15 frames at 24 fps.
    assert info.frame_count == 12 + 15 + 12
    assert info.fps == 24 and len(video_pts_steps(dest)) == 1
    assert info.audio is not None and info.audio.sample_rate == 48000
    assert info.audio.duration == pytest.approx(info.duration, abs=0.03)
    warned = " ".join(r.message for r in caplog.records)
    assert "slow.mp4" in warned and "16 fps" in warned and "silence" in warned

    # Tone, then exact silence for the clip without audio, then tone again.
    samples = audio_samples(dest)
    assert len(samples) / 48000 == pytest.approx(info.duration, abs=0.03)

    def rms(start, end):
        return float(
            np.sqrt(np.mean(samples[int(start * 48000) : int(end * 48000)] ** 2))
        )

    assert rms(0.05, 0.45) > 0.03  # sine's default amplitude is 1/8
    assert rms(0.55, 1.07) < 1e-3
    assert rms(1.18, 1.58) > 0.03

    indexes = [media_clips.read_index(f) for f in iter_frames(dest)]
    assert indexes[:12] == list(range(12)) and indexes[-12:] == list(range(30, 42))
    # Resampled by time: each of the slow clip's frames shown once or twice, in order.
    assert indexes[12:27] == sorted(indexes[12:27]) and set(indexes[12:27]) == set(
        range(10)
    )


def test_audio_of_many_clips_does_not_drift(media_clips, tmp_path, caplog):
    clip = media_clips.clip("c.mp4", 12, fps=24, audio_seconds=0.5)
    dest = tmp_path / "joined.mp4"
    with caplog.at_level(logging.DEBUG, logger="ttv.media.concat"):
        info = join([Segment(clip)] * 8, dest, width=160, height=90, fps=24)
    assert "by re-encoding" in caplog.text  # copying AAC would add ~27 ms per join
    assert info.frame_count == 96
    assert len(audio_samples(dest)) == pytest.approx(4.0 * 48000, abs=1024)


def test_short_clip_is_held_on_its_last_frame(media_clips, tmp_path, caplog):
    clip = media_clips.clip("short.mp4", 8, fps=12)
    dest = tmp_path / "joined.mp4"
    with caplog.at_level(logging.WARNING, logger="ttv.media.concat"):
        info = join([Segment(clip, frames=11)], dest, width=160, height=90, fps=12)
    assert info.frame_count == 11
    assert [media_clips.read_index(f) for f in iter_frames(dest)][-4:] == [7] * 4
    assert "holding its last frame" in caplog.text


def test_segment_beyond_the_clip_is_an_error(media_clips, tmp_path):
    clip = media_clips.clip("c.mp4", 5)
    dest = tmp_path / "joined.mp4"
    with pytest.raises(MediaError, match="c.mp4.*5 frames.*skip 5"):
        join([Segment(clip, skip_first=5)], dest, width=160, height=90, fps=12)
    assert not dest.exists()


def test_unreadable_clip_fails_before_writing(media_clips, tmp_path):
    good = media_clips.clip("good.mp4", 5)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(MediaError, match="bad.mp4"):
        join(
            [Segment(good), Segment(bad)],
            tmp_path / "j.mp4",
            width=160,
            height=90,
            fps=12,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4", "good.mp4"]


def test_plan_allows_copy_only_for_whole_identical_clips():
    a, b = fake_info("a.mp4", audio=False), fake_info("b.mp4", audio=False)
    infos = {a.path: a, b.path: b}
    size = dict(width=160, height=90, fps=24)
    assert plan_join([Segment("a.mp4"), Segment("b.mp4")], infos, **size).copy
    assert plan_join(
        [Segment("a.mp4"), Segment("b.mp4", frames=24)], infos, **size
    ).copy

    trimmed = plan_join(
        [Segment("a.mp4"), Segment("b.mp4", skip_first=1)], infos, **size
    )
    assert not trimmed.copy and "b.mp4 uses frames 1..23" in trimmed.copy_blockers[0]
    assert trimmed.total_frames == 47
    assert not plan_join([Segment("a.mp4")], infos, width=320, height=180, fps=24).copy
    assert not plan_join([Segment("a.mp4")], infos, width=160, height=90, fps=25).copy

    odd_base = fake_info("c.mp4", audio=False, time_base=Fraction(1, 90000))
    infos[odd_base.path] = odd_base
    assert not plan_join([Segment("a.mp4"), Segment("c.mp4")], infos, **size).copy


def test_plan_resamples_by_duration_and_decides_audio():
    fast, slow = (
        fake_info("fast.mp4", audio=True),
        fake_info("slow.mp4", fps=16, frames=10, audio=False),
    )
    infos = {fast.path: fast, slow.path: slow}
    plan = plan_join(
        [Segment("fast.mp4"), Segment("slow.mp4")], infos, width=160, height=90, fps=24
    )
    assert [p.out_frames for p in plan.parts] == [24, 15]
    assert plan.audio and not plan.copy
    assert not plan_join(
        [Segment("slow.mp4")], infos, width=160, height=90, fps=24
    ).audio
    silent = plan_join(
        [Segment("fast.mp4")], infos, width=160, height=90, fps=24, audio=False
    )
    assert not silent.audio


def test_filter_graph_trims_before_resampling_and_times_audio_in_samples():
    clip = fake_info("c.mp4", fps=16, frames=20, audio=True)
    plan = plan_join(
        [Segment("c.mp4", skip_first=1, frames=16)], {clip.path: clip},
        width=160, height=90, fps=24,
    )  # fmt: skip
    graph = filter_graph(plan)
    video = graph.split(";")[0]
    assert video.index("trim=start_frame=1:end_frame=17") < video.index("fps=24/1")
    assert "trim=end_frame=24" in video  # 16 frames at 16 fps = 24 at 24 fps
    assert "atrim=start=0.062500:end=1.062500" in graph
    assert "apad=whole_len=48000,atrim=end_sample=48000" in graph


@pytest.mark.parametrize(
    ("clip", "expected"),
    [
        ((320, 180, Fraction(1)), (160, 90)),
        ((256, 144, Fraction(4, 3)), (160, 68)),
        ((90, 90, Fraction(1)), (90, 90)),
        ((720, 480, Fraction(8, 9)), (120, 90)),  # 4:3 NTSC
    ],
)
def test_fit_inside_keeps_the_display_aspect(clip, expected):
    assert fit_inside(*clip, 160, 90) == expected


def test_odd_output_size_is_refused(media_clips, tmp_path):
    clip = media_clips.clip("c.mp4", 3)
    with pytest.raises(MediaError, match="161x90"):
        join([Segment(clip)], tmp_path / "j.mp4", width=161, height=90, fps=12)


def test_out_frames_fill_the_planned_output_length_at_another_rate(
    media_clips, tmp_path
):
    # A provider's 24 fps clip in a 12 fps film, and a 16 fps clip continuing it.
    fast = media_clips.clip("fast.mp4", 24, fps=24, audio_seconds=1.0)
    slow = media_clips.clip("slow.mp4", 16, fps=16, first_index=40)
    dest = tmp_path / "joined.mp4"
    info = join(
        [Segment(fast, out_frames=12), Segment(slow, skip_first=1, out_frames=11)],
        dest, width=160, height=90, fps=12,
    )  # fmt: skip
    assert info.frame_count == 23 and info.fps == 12
    assert info.audio.duration == pytest.approx(info.duration, abs=0.03)
    indexes = [media_clips.read_index(f) for f in iter_frames(dest)]
    assert indexes[0] == 0 and indexes[11] >= 21  # the whole second, resampled
    assert indexes[12] > 40 and indexes == sorted(indexes)  # boundary frame dropped


def test_many_one_frame_segments_keep_every_frame(media_clips, tmp_path):
    # Continuing shots two frames long keep one frame each after the boundary drop.
    clips = [
        media_clips.clip(f"c{i}.mp4", 2, fps=8, first_index=10 * i) for i in range(4)
    ]
    segments = [Segment(clips[0])] + [Segment(c, skip_first=1) for c in clips[1:]]
    dest = tmp_path / "joined.mp4"
    info = join(segments, dest, width=160, height=90, fps=8)
    assert info.frame_count == 5
    indexes = [media_clips.read_index(f) for f in iter_frames(dest)]
    assert indexes == [0, 1, 11, 21, 31]
