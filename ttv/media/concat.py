"""Joining clips into one video: stream copy when that is safe, else one re-encode.

Clips from different backends differ in size, SAR, frame rate, time base, codec and
audio (F1); the timeline is worked out in frames, not seconds, so nothing drifts over
many clips (F2); a segment can drop a boundary frame it shares with the clip before
it (F3), or dissolve in from it. The filter graph itself is built in `ttv.media.graph`.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ttv.errors import MediaError
from ttv.media.encode import check_size, rate_arg, x264_args
from ttv.media.ffmpeg import run_ffmpeg
from ttv.media.graph import SAMPLE_RATE, filter_graph, half_up, seconds
from ttv.media.graph import fit_inside as fit_inside  # re-exported for callers
from ttv.media.probe import VideoInfo, probe
from ttv.store.atomic import atomic_path

log = logging.getLogger(__name__)

AUDIO_BITRATE = "192k"
CRF = 18

# Longer graphs go to a file: one command-line argument is capped at 128 KiB on Linux.
_MAX_INLINE_GRAPH = 64_000


@dataclass(frozen=True)
class Segment:
    """Use `frames` frames of a clip after skipping `skip_first` (None: all the rest).

    skip_first=1 drops a first frame that repeats the previous clip's last frame.
    `frames` counts the clip's own frames; `out_frames`, when given instead, is the
    exact number of output-rate frames the segment must contribute (a clip at another
    rate is resampled to fill exactly that many). `crossfade` is the number of output
    frames over which the segment dissolves in from the previous one (0: a hard cut);
    those frames are shared, so the joined video is that much shorter.
    """

    path: Path
    skip_first: int = 0
    frames: int | None = None
    out_frames: int | None = None
    crossfade: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.skip_first < 0:
            raise MediaError(
                f"{self.path}: skip_first must be >= 0, got {self.skip_first}"
            )
        if self.crossfade < 0:
            raise MediaError(
                f"{self.path}: crossfade must be >= 0 frames, got {self.crossfade}"
            )
        for name in ("frames", "out_frames"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise MediaError(f"{self.path}: {name} must be >= 1, got {value}")
        if self.frames is not None and self.out_frames is not None:
            raise MediaError(f"{self.path}: give frames or out_frames, not both")


@dataclass(frozen=True)
class Part:
    """A segment resolved against its probed clip: which frames, and how many out.

    `count` frames from `start` are used; `held` more source frames' worth of time is
    filled by holding the last one, when the segment asks for more than the clip has.
    The first `crossfade` of the `out_frames` overlap the previous part's last ones.
    """

    info: VideoInfo
    start: int
    count: int
    held: int
    out_frames: int
    crossfade: int = 0

    @property
    def whole(self) -> bool:
        """True if the part is exactly the whole clip."""
        return (self.start, self.count, self.held) == (0, self.info.frame_count, 0)


@dataclass(frozen=True)
class JoinPlan:
    """What `join` will do; built by `plan_join` from probed clips, without ffmpeg."""

    parts: tuple[Part, ...]
    width: int
    height: int
    fps: Fraction
    audio: bool
    copy_blockers: tuple[str, ...] = field(default=())

    @property
    def copy(self) -> bool:
        """True if the clips can be joined by stream copy, without re-encoding."""
        return not self.copy_blockers

    @property
    def total_frames(self) -> int:
        """The exact number of video frames the joined video will have."""
        return sum(p.out_frames - p.crossfade for p in self.parts)


def join(
    segments: list[Segment],
    dest: str | os.PathLike,
    *,
    width: int,
    height: int,
    fps: int | Fraction,
    audio: bool | None = None,
) -> VideoInfo:
    """Join clip segments into `dest` (H.264 MP4) and return the validated result.

    audio=None gives the output audio if any clip has some; clips without audio then
    contribute silence. The frame count is checked against the plan.
    """
    if not segments:
        raise MediaError(f"{dest}: nothing to join; give at least one segment")
    infos = {s.path: probe(s.path) for s in segments}
    plan = plan_join(segments, infos, width=width, height=height, fps=fps, audio=audio)
    dest = Path(dest)
    if plan.copy:
        try:
            info = _run_join(plan, dest, copy=True)
        except MediaError as exc:
            log.warning("stream copy of %s failed (%s); re-encoding instead", dest, exc)
        else:
            log.debug("joined %d clips into %s by stream copy", len(plan.parts), dest)
            return info
    else:
        log.debug(
            "re-encoding the join into %s: %s", dest, _summary(plan.copy_blockers)
        )
    _warn_normalised(plan)
    info = _run_join(plan, dest, copy=False)
    log.debug("joined %d clips into %s by re-encoding", len(plan.parts), dest)
    return info


def plan_join(
    segments: list[Segment],
    infos: dict[Path, VideoInfo],
    *,
    width: int,
    height: int,
    fps: int | Fraction,
    audio: bool | None = None,
) -> JoinPlan:
    """Resolve segments against probed clips and decide between copy and re-encode."""
    check_size(width, height, what="joined video")
    fps = Fraction(rate_arg(fps))
    parts = tuple(_resolve(s, infos[s.path], fps) for s in segments)
    _check_crossfades(parts)
    if audio is None:
        audio = any(p.info.audio is not None for p in parts)
    plan = JoinPlan(parts, width, height, fps, audio)
    return JoinPlan(parts, width, height, fps, audio, tuple(_copy_blockers(plan)))


def differences(info: VideoInfo, plan: JoinPlan) -> list[str]:
    """Describe how a clip differs from the joined video's format, for warnings."""
    return _video_differences(info, plan) + _audio_differences(info, plan)


def _video_differences(info: VideoInfo, plan: JoinPlan) -> list[str]:
    diffs = []
    if (info.width, info.height) != (plan.width, plan.height):
        fitted = fit_inside(info.width, info.height, info.sar, plan.width, plan.height)
        how = (
            "scaled" if fitted == (plan.width, plan.height) else "scaled to fit, padded"
        )
        diffs.append(
            f"size {info.width}x{info.height} (output {plan.width}x{plan.height}, {how})"
        )
    if info.sar != 1:
        diffs.append(f"pixel aspect {info.sar} (output square pixels)")
    if info.fps != plan.fps:
        diffs.append(f"{_rate(info.fps)} fps (output {_rate(plan.fps)}, resampled)")
    if info.codec != "h264" or info.pix_fmt != "yuv420p":
        diffs.append(f"{info.codec} {info.pix_fmt} (output h264 yuv420p)")
    return diffs


def _audio_differences(info: VideoInfo, plan: JoinPlan) -> list[str]:
    audio = info.audio
    if not plan.audio:
        return [] if audio is None else ["audio dropped (audio=False)"]
    if audio is None:
        return ["no audio (silence added)"]
    if (audio.codec, audio.sample_rate, audio.channels) == ("aac", SAMPLE_RATE, 2):
        return []
    return [
        f"audio {audio.codec} {audio.sample_rate} Hz {audio.layout} "
        f"(output aac {SAMPLE_RATE} Hz stereo)"
    ]


def _resolve(segment: Segment, info: VideoInfo, fps: Fraction) -> Part:
    available = info.frame_count - segment.skip_first
    if available < 1:
        raise MediaError(
            f"{segment.path}: has {info.frame_count} frames, cannot skip "
            f"{segment.skip_first}; fix the segment"
        )
    wanted = available if segment.frames is None else segment.frames
    if segment.out_frames is not None:
        # Source frames covering the requested output duration, rounded up.
        wanted = max(1, math.ceil(segment.out_frames * info.fps / fps))
    count = min(wanted, available)
    if wanted > available:
        log.warning(
            "clip %s has %d frames after skipping %d, %d wanted: holding its last "
            "frame for %d more",
            segment.path,
            available,
            segment.skip_first,
            wanted,
            wanted - available,
        )
    # Same duration at the output rate, rounded half up: a frame-rate change
    # resamples (drops or repeats frames), it never relabels.
    out_frames = wanted if info.fps == fps else half_up(wanted * fps / info.fps)
    if segment.out_frames is not None:
        out_frames = segment.out_frames
    return Part(
        info,
        segment.skip_first,
        count,
        wanted - count,
        max(1, out_frames),
        segment.crossfade,
    )


def _check_crossfades(parts: tuple[Part, ...]) -> None:
    """Raise MediaError unless every dissolve fits inside both segments it joins."""
    first = parts[0]
    if first.crossfade:
        raise MediaError(
            f"{first.info.path}: the first segment cannot dissolve in (crossfade="
            f"{first.crossfade}); there is no clip before it, use crossfade=0"
        )
    for previous, part in zip(parts, parts[1:], strict=False):
        shortest = min(previous.out_frames, part.out_frames)
        if part.crossfade >= shortest:
            raise MediaError(
                f"{part.info.path}: crossfade of {part.crossfade} frames must be "
                f"shorter than this segment ({part.out_frames} output frames) and the "
                f"one before it, {previous.info.path} ({previous.out_frames}); "
                f"use at most {shortest - 1}"
            )


def _copy_blockers(plan: JoinPlan):
    """Yield every reason the clips cannot simply be stream-copied together."""
    first = plan.parts[0].info
    for diff in _video_differences(first, plan):
        yield f"{first.path.name}: {diff}"
    for part in plan.parts:
        name = part.info.path.name
        if not part.whole:
            last = part.start + part.count - 1
            held = f" and holds the last for {part.held} more" if part.held else ""
            yield f"{name} uses frames {part.start}..{last}{held}"
        if part.crossfade:
            yield f"{name} dissolves in over {part.crossfade} frames"
        if part.info.signature() != first.signature():
            yield f"{name} differs in format from {first.path.name}"
    if plan.audio:
        # AAC clips copied back to back keep their encoder priming and padding: each
        # join adds ~27 ms of audio the video doesn't have, and the drift accumulates.
        yield "the output has audio, which must be re-timed clip by clip"


def _warn_normalised(plan: JoinPlan) -> None:
    seen = set()
    for part in plan.parts:
        diffs = differences(part.info, plan)
        if diffs and part.info.path not in seen:
            seen.add(part.info.path)
            log.warning(
                "clip %s differs from the output: %s", part.info.path, "; ".join(diffs)
            )


def _run_join(plan: JoinPlan, dest: Path, *, copy: bool) -> VideoInfo:
    def validate(tmp: Path) -> None:
        _validate(probe(tmp), plan, dest)

    with (
        tempfile.TemporaryDirectory(prefix="ttv-join-") as scratch,
        atomic_path(dest, validate=validate) as tmp,
    ):
        scratch = Path(scratch)
        args = (
            copy_args(plan, scratch, tmp) if copy else reencode_args(plan, scratch, tmp)
        )
        run_ffmpeg(args, what=f"joining {len(plan.parts)} clips into {dest}")
    return probe(dest)


def _validate(info: VideoInfo, plan: JoinPlan, dest: Path) -> None:
    if info.frame_count != plan.total_frames:
        raise MediaError(
            f"{dest}: joined video has {info.frame_count} frames, planned "
            f"{plan.total_frames}"
        )
    if info.fps != plan.fps:
        raise MediaError(f"{dest}: joined video runs at {info.fps} fps, not {plan.fps}")
    if plan.audio:
        if info.audio is None:
            raise MediaError(f"{dest}: joined video has no audio stream")
        # One AAC frame (1024 samples) is the granularity of the audio's length.
        if abs(info.audio.duration - info.duration) > 1024 / SAMPLE_RATE + 1e-3:
            raise MediaError(
                f"{dest}: joined audio lasts {info.audio.duration:.3f} s but the "
                f"video {info.duration:.3f} s"
            )


def copy_args(plan: JoinPlan, scratch: Path, out: Path) -> list[str]:
    """Return ffmpeg arguments that stream-copy the clips with the concat demuxer."""
    lines = ["ffconcat version 1.0"]
    for part in plan.parts:
        quoted = str(part.info.path.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        # Offset the next clip by the video's own length, not the container's.
        lines.append(
            f"duration {seconds(Fraction(part.info.frame_count) / part.info.fps)}"
        )
    listing = scratch / "clips.ffconcat"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    audio = ["-c:a", "copy"] if plan.audio else ["-an"]
    return [
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-map", "0:v:0", *(["-map", "0:a:0"] if plan.audio else []),
        "-c:v", "copy", *audio,
        "-movflags", "+faststart",
        str(out),
    ]  # fmt: skip


def reencode_args(plan: JoinPlan, scratch: Path, out: Path) -> list[str]:
    """Return ffmpeg arguments that normalise every segment and join them."""
    inputs: list[str] = []
    for part in plan.parts:
        # Absolute paths: ffmpeg would read "name:with-colon.mp4" as a protocol.
        inputs += ["-i", str(part.info.path.resolve())]
    graph = filter_graph(plan)
    if len(graph) <= _MAX_INLINE_GRAPH:
        graph_args = ["-filter_complex", graph]
    else:
        script = scratch / "graph.txt"
        script.write_text(graph, encoding="utf-8")
        # "-/option file" reads the value from a file (ffmpeg >= 7; the older
        # -filter_complex_script is gone in ffmpeg 9).
        graph_args = ["-/filter_complex", str(script)]
    audio = ["-an"]
    if plan.audio:
        audio = ["-map", "[aout]", "-c:a", "aac", "-b:a", AUDIO_BITRATE]
        audio += ["-ar", str(SAMPLE_RATE)]
    return [
        *inputs,
        *graph_args,
        "-map", "[vout]",
        *x264_args(plan.fps, CRF),
        *audio,
        str(out),
    ]  # fmt: skip


def _summary(reasons: tuple[str, ...], limit: int = 3) -> str:
    more = len(reasons) - limit
    return "; ".join(reasons[:limit]) + (f"; and {more} more" if more > 0 else "")


def _rate(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.3f}"
