"""The offline animatic's keyframes and clip frames (ttv.backends.offline.render)."""

from __future__ import annotations

import dataclasses
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from ttv.backends.offline.render import (
    CameraMove,
    camera_move,
    render_clip_frames,
    render_keyframe,
)

REFERENCES = Path(__file__).resolve().parent.parent / "examples" / "references"
CARD_FRAME = (242, 238, 228)  # the cards' paper colour


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    with Image.open(REFERENCES / "astronaut.png") as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    with Image.open(REFERENCES / "chelsea.png") as image:
        return image.convert("RGB")


def keyframe(**overrides) -> Image.Image:
    arguments = {
        "prompt": "Medium shot: Eileen waves at the camera",
        "style": "warm sunset",
        "label": "shot01 start",
        "width": 160,
        "height": 90,
        "seed": 3,
        "previous": None,
        "references": [],
    }
    return render_keyframe(**(arguments | overrides))


def grey(image) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(image)).convert("L"), dtype=np.float64)


def correlation(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def mean_difference(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, np.int16)).mean())


# ---------------------------------------------------------------------------- keyframes


@pytest.mark.parametrize("size", [(160, 90), (64, 36), (90, 160), (1, 1), (400, 5)])
def test_keyframe_is_rgb_at_the_requested_size(size):
    image = keyframe(width=size[0], height=size[1])
    assert image.mode == "RGB"
    assert image.size == size


def test_same_arguments_give_identical_pixels(astronaut, chelsea):
    previous = keyframe(seed=1)
    arguments = {"previous": previous, "references": [("Eileen", astronaut)]}
    assert keyframe(**arguments).tobytes() == keyframe(**arguments).tobytes()


@pytest.mark.parametrize(
    "change",
    [{"seed": 4}, {"prompt": "Wide shot: the hangar at night"}, {"style": "noir"}],
)
def test_seed_prompt_and_style_change_the_picture(change):
    assert mean_difference(keyframe(), keyframe(**change)) > 2


def test_style_sets_the_palette():
    noir = np.asarray(keyframe(style="film noir, black and white"), dtype=np.int16)
    colourful = np.asarray(keyframe(style="neon cyberpunk"), dtype=np.int16)

    def saturation(pixels):
        return float((pixels.max(axis=2) - pixels.min(axis=2)).mean())

    assert saturation(noir) < saturation(colourful) / 2


def test_previous_keyframe_shows_through(astronaut, chelsea):
    own, other = (ImageOps.fit(image, (160, 90)) for image in (chelsea, astronaut))
    alone = grey(keyframe())
    # What the previous keyframe adds follows that picture, not some other one.
    added = grey(keyframe(previous=own)) - alone
    assert correlation(added, grey(own)) > 0.35
    assert correlation(added, grey(own)) > correlation(added, grey(other)) + 0.2


def test_previous_keyframe_of_another_size_and_mode_is_fitted(chelsea):
    previous = chelsea.convert("RGBA").resize((37, 91))
    assert keyframe(previous=previous).size == (160, 90)
    assert keyframe(previous=chelsea.convert("L")).size == (160, 90)


def card_boxes(image: Image.Image, plain: Image.Image) -> list[tuple[int, ...]]:
    """Find the cards: changed pixels of paper colour, one card per half of the frame."""
    pixels = np.asarray(image, dtype=np.int16)
    changed = np.abs(pixels - np.asarray(plain, dtype=np.int16)).sum(axis=2) > 30
    paper = np.all(np.abs(pixels - CARD_FRAME) <= 6, axis=2) & changed
    boxes = []
    for left in (0, image.width // 2):
        ys, xs = np.nonzero(paper[:, left : left + image.width // 2])
        boxes.append((left + xs.min(), ys.min(), left + xs.max() + 1, ys.max() + 1))
    return boxes


def photo_match(image: Image.Image, box, reference: Image.Image) -> float:
    """Correlate the middle of a card with the same part of the cover-cropped photo."""
    x0, y0, x1, y1 = box
    width = x1 - x0
    # Roughly where the photo sits on the card; the shift search absorbs the error.
    photo = (x0 + width * 0.05, y0 + width * 0.05, x1 - width * 0.05, y1 - width * 0.22)
    size = (round(photo[2] - photo[0]), round(photo[3] - photo[1]))
    expected = grey(ImageOps.fit(reference, size, centering=(0.5, 0.4)))
    inset_x, inset_y = size[0] // 4, size[1] // 4
    want = expected[inset_y:-inset_y, inset_x:-inset_x]
    seen = grey(image)
    best = -1.0
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            top, left = round(photo[1]) + inset_y + dy, round(photo[0]) + inset_x + dx
            got = seen[top : top + want.shape[0], left : left + want.shape[1]]
            best = max(best, correlation(got, want))
    return best


def test_reference_cards_show_the_real_photographs(astronaut, chelsea):
    plain = keyframe(width=320, height=180)
    image = keyframe(
        width=320, height=180, references=[("Eileen", astronaut), ("Chelsea", chelsea)]
    )
    left, right = card_boxes(image, plain)
    assert photo_match(image, left, astronaut) > 0.8
    assert photo_match(image, right, chelsea) > 0.8
    assert photo_match(image, left, chelsea) < 0.5
    assert photo_match(image, right, astronaut) < 0.5


def card_height(prompt: str, chelsea: Image.Image) -> int:
    kwargs = {"prompt": prompt, "width": 320, "height": 180}
    image = keyframe(references=[("Chelsea", chelsea)], **kwargs)
    pixels = np.asarray(image, dtype=np.int16)
    changed = np.abs(pixels - np.asarray(keyframe(**kwargs), np.int16)).sum(axis=2) > 30
    paper = np.all(np.abs(pixels - CARD_FRAME) <= 6, axis=2) & changed
    rows = np.nonzero(paper.any(axis=1))[0]
    return int(rows.max() - rows.min())


def test_shot_size_words_set_the_card_size(chelsea):
    close = card_height("Close-up of Chelsea's face", chelsea)
    medium = card_height("Medium shot of Chelsea", chelsea)
    wide = card_height(
        "Wide establishing shot of the valley, Chelsea far away", chelsea
    )
    assert close > medium > wide


def test_prompt_is_the_caption_along_the_bottom():
    # Without references only the caption depends on the prompt.
    one = np.asarray(keyframe(prompt="Eileen waves"), dtype=np.int16)
    other = np.asarray(keyframe(prompt="Chelsea sleeps on the sofa"), dtype=np.int16)
    changed_rows = np.nonzero(np.abs(one - other).sum(axis=(1, 2)))[0]
    assert changed_rows.size > 0
    assert changed_rows.min() > 90 * 0.6


def test_label_top_left_and_preview_tag_top_right():
    labelled = np.asarray(keyframe(label="shot03 start"), dtype=np.int16)
    unlabelled = np.asarray(keyframe(label=""), dtype=np.int16)
    ys, xs = np.nonzero(np.abs(labelled - unlabelled).sum(axis=2))
    assert ys.max() < 90 * 0.25 and xs.max() < 160 * 0.5

    image = np.asarray(keyframe(style="cold ocean", width=320, height=180), np.int16)
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    tag = (red > 180) & (green < 120) & (blue < 100)
    ys, xs = np.nonzero(tag)
    assert tag.sum() > 100
    assert ys.max() < 180 * 0.2 and xs.min() > 320 * 0.5


HARD_PROMPTS = [
    "",
    "   \n\t ",
    "word " * 2000,
    "x" * 5000,
    "宇宙飛行士が猫と話す。" * 20,
    "Eileen 👩‍🚀 meets Chelsea 🐱 🚀",
    "control \x00\x07 chars and a lone surrogate \ud800 here",
    "Zoë and José — naïve façade",
]


@pytest.mark.parametrize("prompt", HARD_PROMPTS)
@pytest.mark.parametrize("size", [(64, 36), (160, 90)])
def test_any_prompt_renders(prompt, size, chelsea):
    image = keyframe(
        prompt=prompt,
        label=prompt[:40],
        width=size[0],
        height=size[1],
        references=[(prompt[:20], chelsea)],
    )
    assert image.size == size


@pytest.mark.parametrize("size", [(64, 36), (2, 2), (320, 180), (30, 400)])
def test_many_references_of_any_mode_render(size, astronaut, chelsea):
    references = [
        ("Eileen", astronaut),
        ("Chelsea", chelsea),
        ("grey", astronaut.convert("L")),
        ("transparent", chelsea.convert("RGBA")),
        ("palette", astronaut.convert("P")),
        ("a one-pixel picture", Image.new("RGB", (1, 1), "red")),
        ("a sliver", chelsea.resize((300, 2))),
    ]
    image = keyframe(width=size[0], height=size[1], references=references)
    assert image.size == size


@pytest.mark.parametrize("size", [(0, 90), (160, 0), (-1, 5)])
def test_empty_size_is_refused(size):
    with pytest.raises(ValueError, match="at least 1x1"):
        keyframe(width=size[0], height=size[1])


# -------------------------------------------------------------------------- camera moves


@pytest.mark.parametrize(
    ("motion", "kind"),
    [
        ("slow push in", "push_in"),
        ("Dolly in on her face", "push_in"),
        ("ZOOM IN", "push_in"),
        ("the camera pushes forward", "push_in"),
        ("pull back to reveal the valley", "pull_back"),
        ("zoom out", "pull_back"),
        ("dolly out slowly", "pull_back"),
        ("pan left", "pan_left"),
        ("slow pan to the right", "pan_right"),
        ("tilt up to the sky", "tilt_up"),
        ("tilts down", "tilt_down"),
        ("push in while panning left", "push_in+pan_left"),
        ("static", "static"),
        ("locked-off tripod shot", "static"),
        ("", "drift"),
        ("handheld, nervous energy", "drift"),
        ("movement in the crowd", "drift"),
    ],
)
def test_camera_move_reads_the_motion_text(motion, kind):
    assert camera_move(motion).kind == kind


def test_camera_move_directions():
    push, pull = camera_move("push in"), camera_move("pull back")
    assert push.end_zoom > push.start_zoom
    assert pull.end_zoom < pull.start_zoom
    assert camera_move("pan left").end_pan[0] < camera_move("pan left").start_pan[0]
    assert camera_move("pan right").end_pan[0] > camera_move("pan right").start_pan[0]
    assert camera_move("tilt up").end_pan[1] < camera_move("tilt up").start_pan[1]
    assert camera_move("tilt down").end_pan[1] > camera_move("tilt down").start_pan[1]
    drift = camera_move("")
    assert drift.end_zoom > drift.start_zoom  # the default still moves, gently
    assert drift.end_zoom < push.end_zoom


def test_camera_move_is_frozen_and_checks_zoom():
    move = camera_move("pan left")
    with pytest.raises(dataclasses.FrozenInstanceError):
        move.end_zoom = 2.0
    with pytest.raises(ValueError, match="positive"):
        CameraMove("broken", start_zoom=0.0)


# --------------------------------------------------------------------------- clip frames


@pytest.fixture(scope="module")
def pair(astronaut, chelsea) -> tuple[Image.Image, Image.Image]:
    # Odd sizes catch off-by-one errors in the view boxes.
    start = keyframe(width=97, height=55, references=[("Eileen", astronaut)])
    end = keyframe(width=97, height=55, seed=9, previous=start, references=[])
    return start, end


MOTIONS = ["push in", "pull back", "pan left", "pan right", "tilt up", "tilt down"]
MOTIONS += ["static", "", "push in and pan right"]


@pytest.mark.parametrize("motion", MOTIONS)
def test_clip_starts_and_ends_exactly_on_its_keyframes(pair, motion):
    start, end = pair
    frames = list(render_clip_frames(start, end, motion=motion, frames=13))
    assert len(frames) == 13
    assert all(f.shape == (55, 97, 3) and f.dtype == np.uint8 for f in frames)
    assert np.array_equal(frames[0], np.asarray(start))
    assert np.array_equal(frames[-1], np.asarray(end))


@pytest.mark.parametrize("motion", MOTIONS)
def test_clip_without_end_keyframe_moves_over_start(pair, motion):
    start, _ = pair
    frames = list(render_clip_frames(start, None, motion=motion, frames=9))
    assert len(frames) == 9
    assert np.array_equal(frames[0], np.asarray(start))
    assert frames[-1].shape == (55, 97, 3)
    assert mean_difference(frames[-1], start) > 0.5


@pytest.mark.parametrize("end_given", [True, False])
def test_single_frame_clip_is_the_start(pair, end_given):
    start, end = pair
    frames = list(
        render_clip_frames(start, end if end_given else None, motion="", frames=1)
    )
    assert len(frames) == 1
    assert np.array_equal(frames[0], np.asarray(start))


def test_two_frame_clip_is_start_then_end(pair):
    start, end = pair
    first, last = render_clip_frames(start, end, motion="pan left", frames=2)
    assert np.array_equal(first, np.asarray(start))
    assert np.array_equal(last, np.asarray(end))


@pytest.mark.parametrize("motion", ["push in", "pan left", "pull back"])
def test_clip_moves_smoothly_and_dissolves(pair, motion):
    start, end = pair
    frames = list(render_clip_frames(start, end, motion=motion, frames=25))
    whole = mean_difference(start, end)
    steps = [mean_difference(a, b) for a, b in pairwise(frames)]
    # Eased: no step is a jump, and the clip starts and ends slowly.
    assert max(steps) < sum(steps) * 0.12
    assert steps[0] < max(steps) / 3 and steps[-1] < max(steps) / 3
    middle = frames[12]
    assert mean_difference(middle, start) > whole * 0.2
    assert mean_difference(middle, end) > whole * 0.2


@pytest.mark.parametrize("motion", MOTIONS)
@pytest.mark.parametrize("end_given", [True, False])
def test_moving_camera_never_shows_black_edges(chelsea, motion, end_given):
    start = chelsea.resize((96, 64))
    end = chelsea.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((96, 64))
    frames = render_clip_frames(
        start, end if end_given else None, motion=motion, frames=11
    )
    for frame in frames:
        edges = [frame[0], frame[-1], frame[:, 0], frame[:, -1]]
        assert min(float(edge.mean()) for edge in edges) > 40


def test_clip_frames_are_generated_lazily(pair):
    start, end = pair
    frames = render_clip_frames(start, end, motion="push in", frames=10_000)
    assert iter(frames) is frames
    assert next(frames).shape == (55, 97, 3)


def test_clip_accepts_other_image_modes(pair):
    start, end = pair
    frames = list(
        render_clip_frames(start.convert("RGBA"), end.convert("P"), motion="", frames=4)
    )
    assert np.array_equal(frames[0], np.asarray(start))
    assert all(f.shape == (55, 97, 3) for f in frames)


def test_keyframes_of_different_sizes_are_refused_at_the_call(pair):
    start, end = pair
    with pytest.raises(ValueError, match="97x55"):
        render_clip_frames(start, end.resize((96, 54)), motion="", frames=5)


@pytest.mark.parametrize("frames", [0, -3, 2.5, True, "12"])
def test_frame_count_must_be_a_positive_integer(pair, frames):
    with pytest.raises(ValueError, match="frames"):
        render_clip_frames(pair[0], None, motion="", frames=frames)


def test_numpy_frame_count_is_accepted(pair):
    frames = list(render_clip_frames(pair[0], pair[1], motion="", frames=np.int64(3)))
    assert len(frames) == 3
