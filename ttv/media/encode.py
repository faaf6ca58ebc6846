"""Encoding frames we generated ourselves into an H.264 MP4 clip."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from ttv.errors import MediaError
from ttv.media.ffmpeg import ffmpeg_command, stderr_tail
from ttv.media.probe import VideoInfo, probe
from ttv.store.atomic import atomic_path

log = logging.getLogger(__name__)


def check_size(width: int, height: int, *, what: str) -> None:
    """Raise MediaError unless width x height is a positive, even yuv420p size."""
    if width <= 0 or height <= 0:
        raise MediaError(f"{what}: size must be positive, got {width}x{height}")
    if width % 2 or height % 2:
        raise MediaError(
            f"{what}: size {width}x{height} has an odd side; yuv420p (what players "
            "need) stores colour per 2x2 block, so use even width and height"
        )


def rate_arg(fps: int | Fraction) -> str:
    """Format a frame rate for ffmpeg, exactly (24000/1001, not 23.976)."""
    fps = Fraction(fps)
    if fps <= 0:
        raise MediaError(f"frame rate must be positive, got {fps}")
    return f"{fps.numerator}/{fps.denominator}"


def x264_args(fps: int | Fraction, crf: int) -> list[str]:
    """Return the output options every clip and joined video is encoded with."""
    return [
        "-c:v", "libx264",
        "-crf", str(crf),
        "-pix_fmt", "yuv420p",
        # A keyframe every second keeps seeking (last_frame, players) cheap.
        "-g", str(max(1, round(Fraction(fps)))),
        # Tag what we convert to, so players don't guess BT.601 vs BT.709.
        "-colorspace", "bt709",
        "-color_primaries", "bt709",
        "-color_trc", "bt709",
        "-movflags", "+faststart",
    ]  # fmt: skip


class ClipWriter:
    """Stream RGB frames into ffmpeg; on exit, validate the clip and move it into place.

    Use as a context manager. If the block raises, ffmpeg is killed and no file is left.
    """

    def __init__(
        self,
        dest: str | os.PathLike,
        *,
        width: int,
        height: int,
        fps: int | Fraction,
        crf: int = 18,
    ):
        check_size(width, height, what=f"clip {dest}")
        self.dest = Path(dest)
        self.width = width
        self.height = height
        self.fps = Fraction(fps)
        self.crf = crf
        self.frames_written = 0
        self.info: VideoInfo | None = None
        self._rate = rate_arg(fps)
        self._proc: subprocess.Popen | None = None
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._stderr = None

    def __enter__(self) -> ClipWriter:
        self._atomic = atomic_path(self.dest, validate=self._validate)
        tmp = self._atomic.__enter__()
        try:
            self._start(tmp)
        except BaseException as exc:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Send one HxWx3 uint8 RGB frame to the encoder."""
        if self._proc is None or self._proc.stdin.closed:
            raise MediaError(f"{self.dest}: ClipWriter.write() outside its with-block")
        expected = (self.height, self.width, 3)
        if frame.shape != expected or frame.dtype != np.uint8:
            raise MediaError(
                f"{self.dest}: frame {self.frames_written} is {frame.shape} "
                f"{frame.dtype}; expected {expected} uint8 RGB"
            )
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError as exc:
            self._proc.wait()
            raise MediaError(f"encoding {self.dest} failed: {self._errors()}") from exc
        self.frames_written += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._atomic is not None and self._proc is not None
        error = exc
        if error is None:
            try:
                self._finish()
            except BaseException as finish_error:
                error = finish_error
        if error is not None:
            self._kill()
        self._stderr.close()

        if error is None:
            # Validates with probe() and renames; removes the temporary if invalid.
            self._atomic.__exit__(None, None, None)
            self.info = dataclasses.replace(self.info, path=self.dest)
            log.debug("wrote %s (%d frames)", self.dest, self.frames_written)
            return False
        # Removes the temporary file, then the error propagates.
        self._atomic.__exit__(type(error), error, error.__traceback__)
        if error is not exc:
            raise error
        return False

    def _start(self, tmp: Path) -> None:
        # stderr goes to a file: a pipe nobody reads until the end can fill and
        # deadlock ffmpeg while we are still writing frames.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        args = [
            "-f", "rawvideo",
            "-pix_fmt", "rgb24",
            "-s", f"{self.width}x{self.height}",
            "-r", self._rate,
            "-i", "-",
            "-an",
            "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
            *x264_args(self.fps, self.crf),
            str(tmp),
        ]  # fmt: skip
        cmd = ffmpeg_command(args)
        log.debug("encoding %s: %s", self.dest, shlex.join(cmd))
        try:
            self._proc = subprocess.Popen(  # own session: see run_ffmpeg
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,
            )
        except OSError as exc:
            msg = f"encoding {self.dest} failed: cannot run ffmpeg: {exc}"
            raise MediaError(msg) from exc

    def _finish(self) -> None:
        if self.frames_written == 0:
            raise MediaError(f"{self.dest}: no frames were written; nothing to encode")
        # A broken pipe means ffmpeg already exited; its return code says why.
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise MediaError(f"encoding {self.dest} failed: {self._errors()}")

    def _validate(self, tmp: Path) -> None:
        info = probe(tmp)
        if info.frame_count != self.frames_written:
            raise MediaError(
                f"{self.dest}: encoder wrote {info.frame_count} frames, expected "
                f"{self.frames_written}"
            )
        self.info = info

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        self._proc.wait()

    def _errors(self) -> str:
        self._stderr.seek(0)
        return stderr_tail(self._stderr.read()) or f"exit code {self._proc.returncode}"


def encode_frames(
    frames: Iterable[np.ndarray],
    dest: str | os.PathLike,
    *,
    width: int,
    height: int,
    fps: int | Fraction,
) -> VideoInfo:
    """Encode RGB frames into an H.264 MP4 clip at `dest` and return its probe."""
    with ClipWriter(dest, width=width, height=height, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.info is not None
    return writer.info
