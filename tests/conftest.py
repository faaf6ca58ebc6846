"""Shared fixtures: small real configs on the shipped reference photographs."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCES = REPO / "examples" / "references"

SMALL_STORY = """\
title: Test Story
style: flat test colours
seed: 3
characters:
  - id: eileen
    name: Eileen
    description: astronaut
    reference: refs/astronaut.png
  - id: chelsea
    name: Chelsea
    description: a cat
    reference: refs/chelsea.png
shots:
  - transition: cut
    characters: [eileen]
    start: Eileen on the beach
    end: Eileen takes off her helmet
    motion: slow push in
  - transition: continue
    characters: [eileen]
    end: Eileen looks at the sea
    motion: pan left
  - transition: cut
    characters: [chelsea]
    start: Chelsea in the hangar
    end: Chelsea looks at the door
  - transition: continue
    characters: [eileen, chelsea]
    end: Eileen greets Chelsea
clips:
  backend: animatic
  duration: 0.5
  concurrency: 2
output:
  width: 96
  height: 54
  fps: 12
"""


@pytest.fixture
def story_dir(tmp_path: Path) -> Path:
    """A folder with the shipped reference photos under refs/."""
    refs = tmp_path / "refs"
    refs.mkdir()
    for name in ("astronaut.png", "chelsea.png"):
        shutil.copy(REFERENCES / name, refs / name)
    return tmp_path


@pytest.fixture
def write_config(story_dir: Path):
    """Write YAML text (dedented) as a config file in story_dir; return its path."""

    def write(text: str = SMALL_STORY, name: str = "story.yaml") -> Path:
        path = story_dir / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


# --- media fixtures (tests/test_media_*.py) -------------------------------------------

INDEX_BITS = 8


class MediaClips:
    """Builds small real clips in a tmp dir whose frames carry their own index.

    Each frame is 8 vertical black/white blocks spelling its index in binary, which
    survives H.264 compression and any rescaling that keeps the blocks apart.
    """

    def __init__(self, root: Path):
        self.root = root

    @staticmethod
    def index_frame(index: int, width: int = 160, height: int = 90):
        import numpy as np

        frame = np.zeros((height, width, 3), np.uint8)
        block = width // INDEX_BITS
        for bit in range(INDEX_BITS):
            if index >> bit & 1:
                frame[:, bit * block : (bit + 1) * block] = 255
        return frame

    @staticmethod
    def read_index(frame) -> int:
        import numpy as np

        frame = np.asarray(frame)
        height, width = frame.shape[:2]
        block = width // INDEX_BITS
        value = 0
        for bit in range(INDEX_BITS):
            left = bit * block + block // 4
            centre = frame[height // 4 : 3 * height // 4, left : left + block // 2]
            if centre.mean() > 127:
                value |= 1 << bit
        return value

    def clip(
        self,
        name: str,
        count: int = 0,
        *,
        fps: int = 12,
        size: tuple[int, int] = (160, 90),
        first_index: int = 0,
        keyint: int | None = None,
        audio_seconds: float | None = None,
        timescale: int | None = None,
        sar: str | None = None,
        frames=None,
    ) -> Path:
        """Encode index frames (or `frames`) as H.264 MP4, optionally with a tone."""
        import subprocess

        from ttv.media.ffmpeg import ffmpeg_exe

        width, height = size
        path = self.root / name
        args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
        args += ["-r", str(fps), "-i", "-"]
        if audio_seconds:
            tone = f"sine=frequency=440:sample_rate=48000:duration={audio_seconds}"
            args += ["-f", "lavfi", "-i", tone, "-c:a", "aac", "-ac", "2"]
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(keyint or fps)]
        if sar:
            args += ["-vf", f"setsar={sar}"]
        if timescale:
            args += ["-video_track_timescale", str(timescale)]
        if frames is None:
            frames = [
                self.index_frame(first_index + i, width, height) for i in range(count)
            ]
        data = b"".join(frame.tobytes() for frame in frames)
        subprocess.run([*args, str(path)], input=data, check=True, capture_output=True)
        return path


@pytest.fixture
def media_clips(tmp_path: Path) -> MediaClips:
    """A MediaClips that writes into this test's tmp_path."""
    return MediaClips(tmp_path)
