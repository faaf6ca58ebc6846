"""Pure rendering for the offline preview animatic: keyframe pictures and clip frames.

The offline backends draw an animatic, not generated footage, so that a machine with no
API keys still runs the whole pipeline. Everything here is deterministic, uses only
Pillow's built-in font and touches neither the network nor the file system.

This module is the public face of the renderer; the drawing lives in `keyframe_art`
(keyframe pictures) and `camera` (camera moves and clip frames).
"""

from ttv.backends.offline.camera import CameraMove, camera_move, render_clip_frames
from ttv.backends.offline.keyframe_art import (
    PREVIEW_TAG,
    PREVIOUS_WEIGHT,
    render_keyframe,
)

__all__ = [
    "PREVIEW_TAG",
    "PREVIOUS_WEIGHT",
    "CameraMove",
    "camera_move",
    "render_clip_frames",
    "render_keyframe",
]
