"""Decoding frames out of clips: the first, the exact last, or all of them."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ttv.errors import MediaError

log = logging.getLogger(__name__)

# How far before the video's end the fast path of last_frame() seeks. The backward
# seek then lands on the keyframe before that point, however far back it is.
_TAIL_SECONDS = 2


def first_frame(path: str | os.PathLike) -> Image.Image:
    """Return the first video frame of a clip as an RGB image."""
    with _open_video(path) as (container, stream):
        for frame in container.decode(stream):
            return frame.to_image()
    raise MediaError(f"{path}: no video frame could be decoded; re-create the clip")


def last_frame(path: str | os.PathLike) -> Image.Image:
    """Return the exact last video frame of a clip as an RGB image."""
    frame = _last_frame_by_seek(path)
    if frame is None:
        log.debug("%s: tail seek not conclusive; decoding the whole clip", path)
        frame = _last_frame_by_full_decode(path)
    return frame.to_image()


def iter_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yield every video frame of a clip as an HxWx3 uint8 RGB array."""
    with _open_video(path) as (container, stream):
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")


@contextlib.contextmanager
def _open_video(
    path: str | os.PathLike,
) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """Open a clip for decoding its video; turn every failure into a MediaError."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file; check the path or re-run the step")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield container, stream
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot be decoded ({exc})") from exc


def _last_frame_by_seek(path: str | os.PathLike) -> av.VideoFrame | None:
    """Seek to a keyframe shortly before the end and decode to the end, or None.

    ffmpeg's own `-sseof` (and naive seeking to the end) returns an earlier frame, or
    exits 0 with no frame at all, when the audio outlasts the video, because the
    container duration is the audio's. So we seek on the video stream's own clock,
    backward to a keyframe, and accept the result only if the last decoded frame is
    the one with the highest timestamp in the stream's tail.
    """
    with _open_video(path) as (container, stream):
        target = _tail_seek_target(container, stream)
        if target is None:
            return None
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            log.debug("%s: seek failed (%s)", path, exc)
            return None

        last = None
        newest_pts = None
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard and packet.pts is not None:
                newest_pts = max(packet.pts, newest_pts or packet.pts)
            for frame in packet.decode():
                last = frame
    if last is None or newest_pts is None or last.pts != newest_pts:
        return None
    return last


def _tail_seek_target(
    container: av.container.InputContainer, stream: av.VideoStream
) -> int | None:
    """Return a timestamp (stream time base) ~2 s before the video ends, or None."""
    if not stream.time_base:
        return None
    start = stream.start_time or 0
    if stream.duration:
        end = start + stream.duration
    elif container.duration:
        # Container duration is in microseconds and may be the audio's (longer);
        # a backward seek from there still lands on the video's last keyframe.
        end = int(container.duration / 1_000_000 / stream.time_base)
    else:
        return None
    target = end - int(_TAIL_SECONDS / stream.time_base)
    # Near the start a full decode is just as cheap and has no seek to get wrong.
    return target if target > start else None


def _last_frame_by_full_decode(path: str | os.PathLike) -> av.VideoFrame:
    last = None
    with _open_video(path) as (container, stream):
        for frame in container.decode(stream):
            last = frame
    if last is None:
        raise MediaError(f"{path}: no video frame could be decoded; re-create the clip")
    return last
