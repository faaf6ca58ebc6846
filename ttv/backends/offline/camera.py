"""Clip frames for the offline preview animatic: a virtual camera over keyframes.

A shot's motion text picks a camera move (push in, pull back, pan, tilt, or a slow
drift); the clip eases that move over the start keyframe and dissolves into the end one.
Deterministic, and touches neither the network nor the file system.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ttv.backends.offline.images import as_rgb

_Box = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True)
class CameraMove:
    """Where a virtual camera looks at the start and at the end of a clip.

    Zoom is a magnification (1.0 = the whole keyframe); a pan is the offset of the view
    centre as a fraction of the frame's width and height, x to the right, y down.
    """

    kind: str
    start_zoom: float = 1.0
    end_zoom: float = 1.0
    start_pan: tuple[float, float] = (0.0, 0.0)
    end_pan: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        if not (self.start_zoom > 0 and self.end_zoom > 0):
            raise ValueError(
                f"camera zoom must be positive, got {self.start_zoom} and {self.end_zoom}"
            )

    def at(self, t: float) -> tuple[float, float, float]:
        """Return (zoom, pan_x, pan_y) at progress `t` in [0, 1]."""
        # Interpolating zoom in log space makes a push feel like constant speed.
        zoom = self.start_zoom * (self.end_zoom / self.start_zoom) ** t
        pan_x = self.start_pan[0] + (self.end_pan[0] - self.start_pan[0]) * t
        pan_y = self.start_pan[1] + (self.end_pan[1] - self.start_pan[1]) * t
        return zoom, pan_x, pan_y


_MOVE_VERBS = r"(?:push|dolly|dollie|zoom|track|mov|creep)(?:e|es|s|ing|ed)?"
_ZOOM_OUT = re.compile(
    rf"\b(?:{_MOVE_VERBS}|pull(?:s|ing|ed)?)[\s-]*(?:back|out|away)\b"
    r"|\bpullback\b|\bwiden(?:s|ing)?\b"
)
_ZOOM_IN = re.compile(
    rf"\b{_MOVE_VERBS}[\s-]*(?:in|into|forward)\b|\b(?:push|zoom)(?:es|s|ing)?\b"
)
_PAN = re.compile(
    r"\b(?:pan|truck)(?:s|ning|ned|ing)?[\s-]*(?:to[\s-]+)?(?:the[\s-]+)?"
    r"(left|right)\b"
)
_TILT = re.compile(
    r"\b(?:tilt|crane|boom|pedestal)(?:s|ing|ed|d)?[\s-]*(up|down|upward|downward)\b"
)


def camera_move(motion: str) -> CameraMove:
    """Parse a shot's motion text ("slow push in", "pan left", ...) into a CameraMove."""
    text = motion.lower()
    kinds, start_zoom, end_zoom, pan_x, pan_y = [], 1.0, 1.0, 0.0, 0.0
    if _ZOOM_OUT.search(text):
        kinds.append("pull_back")
        start_zoom = 1.15
    elif _ZOOM_IN.search(text):
        kinds.append("push_in")
        end_zoom = 1.15
    if match := _PAN.search(text):
        kinds.append(f"pan_{match.group(1)}")
        pan_x = -0.06 if match.group(1) == "left" else 0.06
    if match := _TILT.search(text):
        direction = match.group(1).removesuffix("ward")
        kinds.append(f"tilt_{direction}")
        pan_y = -0.05 if direction == "up" else 0.05
    if kinds:
        return CameraMove("+".join(kinds), start_zoom, end_zoom, end_pan=(pan_x, pan_y))
    if re.search(r"\b(?:static|still|locked|fixed|stationary|tripod)\b", text):
        # Not perfectly still: an animatic that never moves reads as a frozen player.
        return CameraMove("static", 1.0, 1.02)
    return CameraMove("drift", 1.0, 1.05, end_pan=(0.012, -0.006))


def render_clip_frames(
    start: Image.Image, end: Image.Image | None, *, motion: str, frames: int
) -> Iterator[np.ndarray]:
    """Yield `frames` RGB frames: a camera move over `start` dissolving into `end`."""
    if isinstance(frames, bool):
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    try:
        frames = operator.index(frames)
    except TypeError:
        raise ValueError(f"frames must be a positive integer, got {frames!r}") from None
    if frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    start = as_rgb(start)
    if end is not None:
        if end.size != start.size:
            raise ValueError(
                f"end keyframe is {end.size[0]}x{end.size[1]} but start is "
                f"{start.size[0]}x{start.size[1]}; render both at the clip's size"
            )
        end = as_rgb(end)
    # A separate generator, so the checks above raise at the call, not at first next().
    return _clip_frames(start, end, camera_move(motion), frames)


def _smoothstep(t: float) -> float:
    """Ease in and out: zero speed at both ends, so joined clips do not jolt."""
    t = min(1.0, max(0.0, t))
    return t * t * (3 - 2 * t)


def _dissolve(t: float) -> float:
    """Return the end keyframe's weight at progress `t`."""
    # Each keyframe holds clean for a moment at its end of the clip, instead of a
    # double exposure from first frame to last.
    return _smoothstep((t - 0.15) / 0.7)


_DIM_LUT = [round(v * 0.65) for v in range(256)] * 3


def _view(anchor: tuple, state: tuple, size: tuple[int, int]) -> _Box:
    """Return the part of an image framed at camera `anchor` seen from `state`."""
    (anchor_zoom, anchor_x, anchor_y), (zoom, pan_x, pan_y) = anchor, state
    (w, h), scale = size, anchor_zoom / zoom
    left = w / 2 * (1 - scale) + (pan_x - anchor_x) * w * anchor_zoom
    top = h / 2 * (1 - scale) + (pan_y - anchor_y) * h * anchor_zoom
    return left, top, left + w * scale, top + h * scale


def _fit_inside(box: _Box, size: tuple[int, int]) -> _Box:
    """Shrink `box` about its centre until it lies inside the image, if it can."""
    centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w, half_h = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    room_x = min(centre_x, size[0] - centre_x)
    room_y = min(centre_y, size[1] - centre_y)
    if room_x <= 0 or room_y <= 0:
        return box
    factor = min(1.0, room_x / half_w, room_y / half_h)
    half_w, half_h = half_w * factor, half_h * factor
    return centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h


def _padded(image: Image.Image, views: Iterable[_Box]) -> tuple[Image.Image, int, int]:
    """Extend the image by a dim, blurred mirror of itself as far as the views reach."""
    w, h = image.size
    views = list(views)
    pad_x = 2 + math.ceil(max([0.0] + [max(-v[0], v[2] - w) for v in views]))
    pad_y = 2 + math.ceil(max([0.0] + [max(-v[1], v[3] - h) for v in views]))
    pixels = np.asarray(image)
    mirrored = np.pad(pixels, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), "symmetric")
    # Blurred and dimmed, the border reads as a soft vignette, not as stray copies of
    # the keyframe's text and cards.
    blur = ImageFilter.GaussianBlur(max(pad_x, pad_y) * 0.6)
    source = Image.fromarray(mirrored).filter(blur).point(_DIM_LUT)
    # The resize filter reads a pixel or two past its box: keep those a plain mirror so
    # views that stay inside the image get no dark edge.
    source.paste(
        Image.fromarray(np.pad(pixels, ((2, 2), (2, 2), (0, 0)), "symmetric")),
        (pad_x - 2, pad_y - 2),
    )
    return source, pad_x, pad_y


class _Framer:
    """One keyframe as the moving camera sees it, frame by frame."""

    def __init__(self, image: Image.Image, views: dict[int, _Box]):
        self.size = image.size
        self.views = views
        self.source, self.pad_x, self.pad_y = _padded(image, views.values())

    def frame(self, index: int) -> Image.Image:
        """Return the view at frame `index`."""
        # resize(box=...) is a crop and scale in one pass, ~2.5x faster than an affine
        # transform, and takes fractional boxes, so slow moves do not step.
        left, top, right, bottom = self.views[index]
        box = (
            left + self.pad_x,
            top + self.pad_y,
            right + self.pad_x,
            bottom + self.pad_y,
        )
        return self.source.resize(self.size, Image.Resampling.BILINEAR, box=box)


def _clip_frames(
    start: Image.Image, end: Image.Image | None, move: CameraMove, frames: int
) -> Iterator[np.ndarray]:
    """Generate the frames of a validated clip, one at a time."""
    # The first frame is `start` and the last is `end`, pixel for pixel: the next clip
    # starts on this one's last frame and the stitcher drops one of the two.
    yield np.asarray(start)
    if frames == 1:
        return
    last = frames - 1
    middle = range(1, last) if end is not None else range(1, frames)
    states = {i: move.at(_smoothstep(i / last)) for i in middle}
    weights = {i: _dissolve(i / last) if end is not None else 0.0 for i in middle}

    start_views = {
        i: _view(move.at(0.0), states[i], start.size) for i in middle if weights[i] < 1
    }
    if end is None and move.end_zoom >= move.start_zoom:
        # A lone image has nothing beyond its edges, so a pan also pushes in a little.
        # A pull back cannot avoid the edges and shows a blurred mirror there instead.
        start_views = {i: _fit_inside(v, start.size) for i, v in start_views.items()}
    from_start = _Framer(start, start_views)
    if end is None:
        yield from (np.asarray(from_start.frame(i)) for i in middle)
        return

    end_views = {
        i: _view(move.at(1.0), states[i], end.size) for i in middle if weights[i] > 0
    }
    from_end = _Framer(end, end_views)
    for i in middle:
        if weights[i] <= 0:
            yield np.asarray(from_start.frame(i))
        elif weights[i] >= 1:
            yield np.asarray(from_end.frame(i))
        else:
            mixed = Image.blend(from_start.frame(i), from_end.frame(i), weights[i])
            yield np.asarray(mixed)
    yield np.asarray(end)
