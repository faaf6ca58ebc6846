"""Joining clips: stream copy, boundaries, mixed formats, audio (ttv.media.concat)."""

from __future__ import annotations

import logging
import re
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


# --- crossfades ----------------------------------------------------------------------


def block_levels(frame) -> list[float]:
    """Mean brightness of the centre of each of the 8 index blocks (see read_index)."""
    frame = np.asarray(frame)
    height, width = frame.shape[:2]
    block = width // 8
    return [
        float(
            frame[
                height // 4 : 3 * height // 4,
                bit * block + block // 4 : bit * block + 3 * block // 4,
            ].mean()
        )
        for bit in range(8)
    ]


def test_crossfade_blends_every_shared_frame(media_clips, tmp_path, caplog):
    a = media_clips.clip("a.mp4", 12, fps=12)
    b = media_clips.clip("b.mp4", 12, fps=12, first_index=100)
    dest = tmp_path / "joined.mp4"
    with caplog.at_level(logging.DEBUG, logger="ttv.media.concat"):
        info = join(
            [Segment(a), Segment(b, crossfade=4)], dest, width=160, height=90, fps=12
        )
    assert "b.mp4 dissolves in over 4 frames" in caplog.text  # never stream copy
    assert info.frame_count == 20 and len(video_pts_steps(dest)) == 1

    frames = list(iter_frames(dest))
    indexes = [media_clips.read_index(f) for f in frames]
    assert indexes[:8] == list(range(8)) and indexes[-8:] == list(range(104, 112))
    # Frames 8..11 mix a's 8..11 with b's 100..103 (b's first frame is not lost).
    # Bit 3 is set in a's and clear in b's, bit 6 the other way round, and bits 0-1
    # agree, so each middle frame is a true blend, in step, fading linearly.
    levels = [block_levels(f) for f in frames[8:12]]
    fading_out = [lv[3] for lv in levels]
    fading_in = [lv[6] for lv in levels]
    assert fading_out == sorted(fading_out, reverse=True)
    assert fading_in == sorted(fading_in)
    for k in range(4):
        weight = (k + 1) / 5
        assert fading_in[k] == pytest.approx(255 * weight, abs=20)
        assert fading_out[k] == pytest.approx(255 * (1 - weight), abs=20)
        assert indexes[8 + k] & 0b11 == k


def test_crossfade_between_rates_keeps_audio_in_step(media_clips, tmp_path):
    fast = media_clips.clip("fast.mp4", 24, fps=24, audio_seconds=1.0)
    slow = media_clips.clip("slow.mp4", 16, fps=16, timescale=90000)  # no audio
    dest = tmp_path / "joined.mp4"
    info = join(
        [Segment(fast), Segment(slow, crossfade=6)], dest, width=160, height=90, fps=24
    )
    # 16 frames at 16 fps fill 24 at 24 fps; 6 of them overlap the first clip.
    assert info.frame_count == 24 + 24 - 6 and info.fps == 24
    assert len(video_pts_steps(dest)) == 1
    assert info.audio is not None
    assert info.audio.duration == pytest.approx(info.duration, abs=0.03)
    samples = audio_samples(dest)
    assert len(samples) / 48000 == pytest.approx(info.duration, abs=0.03)

    def rms(start, end):
        return float(
            np.sqrt(np.mean(samples[int(start * 48000) : int(end * 48000)] ** 2))
        )

    # Tone, fading out over 0.75..1.0 s, then the silent clip's silence.
    assert rms(0.05, 0.7) > 0.03 and rms(1.05, 1.7) < 1e-3
    assert rms(0.75, 0.85) > rms(0.9, 1.0) > 1e-3


@pytest.mark.parametrize("order", ["dissolve, then cut", "cut, then dissolve"])
def test_cuts_and_crossfades_mix(media_clips, tmp_path, order):
    a = media_clips.clip("a.mp4", 12, fps=12, audio_seconds=1.0)
    # b starts on a's last frame and drops it; c is a new shot.
    b = media_clips.clip("b.mp4", 12, fps=12, first_index=11)
    c = media_clips.clip("c.mp4", 12, fps=12, first_index=50)
    if order == "dissolve, then cut":
        segments = [Segment(c), Segment(a, crossfade=3), Segment(b, skip_first=1)]
    else:
        segments = [Segment(a), Segment(b, skip_first=1), Segment(c, crossfade=3)]
    dest = tmp_path / "joined.mp4"
    info = join(segments, dest, width=160, height=90, fps=12)

    assert info.frame_count == 12 + 11 + 12 - 3
    assert info.audio.duration == pytest.approx(info.duration, abs=0.03)
    indexes = [media_clips.read_index(f) for f in iter_frames(dest)]
    if order == "dissolve, then cut":
        assert indexes[:9] == list(range(50, 59)) and indexes[-20:] == list(
            range(3, 23)
        )
    else:
        assert indexes[:20] == list(range(20)) and indexes[-9:] == list(range(53, 62))


def test_invalid_crossfades_name_the_clip():
    a, b = fake_info("a.mp4", audio=False), fake_info("b.mp4", frames=8, audio=False)
    infos = {a.path: a, b.path: b}
    size = dict(width=160, height=90, fps=24)
    with pytest.raises(MediaError, match="a.mp4.*first segment.*crossfade=2"):
        plan_join([Segment("a.mp4", crossfade=2), Segment("b.mp4")], infos, **size)
    with pytest.raises(
        MediaError, match=r"b.mp4.*crossfade of 8 .*\(8 output.*at most 7"
    ):
        plan_join([Segment("a.mp4"), Segment("b.mp4", crossfade=8)], infos, **size)
    # Longer than the segment before it.
    with pytest.raises(MediaError, match=r"a.mp4.*10 frames.*b.mp4 \(8\)"):
        plan_join([Segment("b.mp4"), Segment("a.mp4", crossfade=10)], infos, **size)
    with pytest.raises(MediaError, match="b.mp4.*crossfade must be >= 0.*-1"):
        Segment("b.mp4", crossfade=-1)

    fits = plan_join([Segment("a.mp4"), Segment("b.mp4", crossfade=7)], infos, **size)
    assert fits.total_frames == 24 + 8 - 7
    assert not fits.copy and "b.mp4 dissolves in over 7 frames" in fits.copy_blockers


def test_invalid_crossfade_fails_before_writing(media_clips, tmp_path):
    a, b = media_clips.clip("a.mp4", 6), media_clips.clip("b.mp4", 6)
    with pytest.raises(MediaError, match="b.mp4.*crossfade of 6"):
        join(
            [Segment(a), Segment(b, crossfade=6)],
            tmp_path / "j.mp4", width=160, height=90, fps=12,
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]


def test_filter_graph_places_dissolves_by_frame_count():
    # Probed durations that disagree with the frame counts must not matter.
    infos = {
        info.path: info
        for info in (
            fake_info("a.mp4", frames=24, duration=1.37),
            fake_info("b.mp4", fps=16, frames=16, audio=False, duration=0.9),
            fake_info("c.mp4", frames=24, duration=0.5),
            fake_info("d.mp4", frames=24),
        )
    }
    segments = [
        Segment("a.mp4"),
        Segment("b.mp4", crossfade=6),  # 16 frames at 16 fps: 24 at 24 fps
        Segment("c.mp4", skip_first=1),  # a hard cut: 23 frames
        Segment("d.mp4", crossfade=4),
    ]
    plan = plan_join(segments, infos, width=160, height=90, fps=24)
    assert plan.total_frames == 24 + 24 + 23 + 24 - 6 - 4 == 85
    graph = filter_graph(plan)

    # a, then the run b+c (one concat), then d: b starts at output frame 24 - 6 = 18
    # and d at 24 + 24 + 23 - 6 - 4 = 61. Each ramp runs from the frame before the
    # overlap (the first clip alone) over crossfade+1 frame steps.
    assert "[v1][a1][v2][a2]concat=n=2:v=1:a=1[vr1][ar1]" in graph
    assert "xfade=transition=fade:duration=0.291667:offset=0.708333" in graph  # 7, 17
    assert "xfade=transition=fade:duration=0.208333:offset=2.500000" in graph  # 5, 60
    assert "[vr1]tpad=start=1:start_mode=clone,settb=1/24,setpts=N" in graph
    # The audio overlaps exactly as long, in samples: 6 and 4 frames at 2000 each.
    assert "[a0][ar1]acrossfade=ns=12000:c1=tri:c2=tri[ax1]" in graph
    assert "[ax1][a3]acrossfade=ns=8000:c1=tri:c2=tri[aout]" in graph
    # Each segment's audio covers its own frames, overlap included: 85 frames in all.
    lengths = [int(n) for n in re.findall(r"atrim=end_sample=(\d+)", graph)]
    assert lengths == [48000, 48000, 46000, 48000]
    assert sum(lengths) - 12000 - 8000 == 85 * 2000
    assert graph.endswith("[vcat]settb=1/24,setpts=N[vout]")


def test_audio_shorter_or_longer_than_its_clip_is_fitted_to_the_video(
    media_clips, tmp_path
):
    # 12 frames at 12 fps = 1 s of video; audio of 0.3 s and of 2.5 s.
    short = media_clips.clip("short_audio.mp4", 12, audio_seconds=0.3)
    long = media_clips.clip("long_audio.mp4", 12, audio_seconds=2.5, first_index=20)
    assert probe(long).audio.duration > 2.0
    dest = tmp_path / "joined.mp4"
    info = join([Segment(short), Segment(long)], dest, width=160, height=90, fps=12)
    assert info.frame_count == 24
    samples = audio_samples(dest)
    assert len(samples) / 48000 == pytest.approx(2.0, abs=0.03)

    def rms(start, end):
        part = samples[int(start * 48000) : int(end * 48000)]
        return float(np.sqrt(np.mean(part**2)))

    assert rms(0.05, 0.25) > 0.03  # the short tone
    assert rms(0.4, 0.95) < 1e-3  # then silence to the end of its clip
    assert rms(1.05, 1.95) > 0.03  # the long tone, cut where its clip ends
    indexes = [media_clips.read_index(f) for f in iter_frames(dest)]
    assert indexes == list(range(12)) + list(range(20, 32))
