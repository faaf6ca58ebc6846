"""Reading what a media file really contains, with PyAV (no ffprobe needed)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ttv.errors import MediaError

log = logging.getLogger(__name__)

# Demuxers that open still images or text as a "video"; a clip is never one of these.
_NOT_VIDEO_FORMATS = {"image2", "image2pipe", "tty", "lavfi"}


@dataclass(frozen=True)
class AudioInfo:
    """The audio stream of a clip."""

    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: float


@dataclass(frozen=True)
class VideoInfo:
    """What a clip contains, as probed from the file itself."""

    path: Path
    codec: str
    width: int
    height: int
    sar: Fraction
    pix_fmt: str
    fps: Fraction
    time_base: Fraction
    frame_count: int
    duration: float
    audio: AudioInfo | None

    def signature(self) -> tuple:
        """Return every parameter that must match to join clips by stream copy."""
        audio = self.audio
        return (
            self.codec,
            self.width,
            self.height,
            self.sar,
            self.pix_fmt,
            self.fps,
            self.time_base,
            None
            if audio is None
            else (audio.codec, audio.sample_rate, audio.channels, audio.layout),
        )


def probe(path: str | os.PathLike) -> VideoInfo:
    """Probe a clip; the frame count is counted by demuxing, not read from metadata."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file; check the path or re-run the step")
    try:
        with av.open(str(path)) as container:
            return _probe_open(path, container)
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file ({exc})") from exc


def _probe_open(path: Path, container: av.container.InputContainer) -> VideoInfo:
    fmt = container.format.name
    if fmt in _NOT_VIDEO_FORMATS or fmt.endswith("_pipe"):
        raise MediaError(
            f"{path}: is {container.format.long_name or fmt}, not a video clip; "
            "give a video file (e.g. MP4)"
        )
    if not container.streams.video:
        raise MediaError(f"{path}: has no video stream; give a video file with one")
    vstream = container.streams.video[0]
    astream = container.streams.audio[0] if container.streams.audio else None

    frames, stored, audio_extent = _count_packets(container, vstream, astream)
    if frames == 0:
        raise MediaError(f"{path}: has no video frames (empty or cut-off file)")
    _check_complete(path, container, vstream, stored)
    fps = _frame_rate(vstream)
    ctx = vstream.codec_context
    return VideoInfo(
        path=path,
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        sar=_sar(vstream),
        pix_fmt=ctx.pix_fmt or "unknown",
        fps=fps,
        time_base=Fraction(vstream.time_base),
        frame_count=frames,
        duration=float(frames / fps),
        audio=None if astream is None else _audio_info(astream, audio_extent),
    )


def _count_packets(
    container: av.container.InputContainer,
    vstream: av.VideoStream,
    astream: av.AudioStream | None,
) -> tuple[int, int, float | None]:
    """Count shown and stored video packets, and the audio's extent, in one pass."""
    streams = [s for s in (vstream, astream) if s is not None]
    frames = stored = 0
    first: int | None = None
    end: int | None = None
    for packet in container.demux(streams):
        # Size-0 packets are flush markers; discard-flagged ones are cut by an edit
        # list (e.g. AAC priming, or a trimmed video start) and never shown.
        if not packet.size:
            continue
        if packet.stream is vstream:
            stored += 1
        if packet.is_discard:
            continue
        if packet.stream is vstream:
            frames += 1
        elif packet.pts is not None:
            first = packet.pts if first is None else min(first, packet.pts)
            stop = packet.pts + (packet.duration or 0)
            end = stop if end is None else max(end, stop)
    if astream is None or first is None or end is None:
        return frames, stored, None
    return frames, stored, float((end - first) * astream.time_base)


def _check_complete(
    path: Path,
    container: av.container.InputContainer,
    vstream: av.VideoStream,
    stored: int,
) -> None:
    """Raise if an MP4's sample table lists more video frames than the file holds."""
    # A half-written MP4 with its index up front (+faststart) opens fine and demuxes
    # a prefix. Only MP4/MOV is checked: AVI's index also counts empty entries.
    if "mp4" not in container.format.name or not vstream.frames:
        return
    if stored < vstream.frames:
        raise MediaError(
            f"{path}: is cut off: its index lists {vstream.frames} video frames but "
            f"only {stored} are present"
        )


def _frame_rate(stream: av.VideoStream) -> Fraction:
    # guessed_rate is ffmpeg's r_frame_rate heuristic: exact (24, 30000/1001) for
    # constant-rate clips, where average_rate can be an ugly ratio of totals.
    for rate in (stream.guessed_rate, stream.average_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    raise MediaError(f"{stream.container.name}: video stream has no frame rate")


def _sar(stream: av.VideoStream) -> Fraction:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    # 0/1 means "unknown", which players treat as square pixels.
    return Fraction(sar) if sar else Fraction(1)


def _audio_info(stream: av.AudioStream, extent: float | None) -> AudioInfo:
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = extent or 0.0
    ctx = stream.codec_context
    return AudioInfo(
        codec=ctx.name,
        sample_rate=ctx.sample_rate,
        channels=ctx.channels,
        layout=ctx.layout.name,
        duration=duration,
    )
