"""Checks of shots and references, for a config's shots and an edited script alike.

Run before anything is paid for; each problem names its place in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ttv.errors import Problem
from ttv.plan import frame_count
from ttv.script import Character, Shot


def check_references(
    characters: list[Character], where, base: str = "the config file's folder"
) -> list[Problem]:
    """Every reference image exists and decodes as an image."""
    from ttv.errors import MediaError
    from ttv.media.images import load_reference  # media loads PyAV; keep import lazy

    problems = []
    for i, character in enumerate(characters):
        ref = character.reference
        if ref is None:
            continue
        if not ref.exists():
            problems.append(
                Problem(
                    where(i),
                    f"reference image '{ref}' does not exist; fix the path "
                    f"(relative paths are read from {base})",
                )
            )
            continue
        try:
            load_reference(ref, what=f"reference image of character '{character.id}'")
        except MediaError as exc:
            problems.append(Problem(where(i), str(exc)))
    return problems


@dataclass(frozen=True)
class ShotRules:
    """What shots are checked against: the video model, the frame rate, defaults."""

    capabilities: Any
    default_duration: float
    fps: int
    default_where: str = "clips.duration"


def check_shots(
    shots: list[Shot], characters: list[Character], rules: ShotRules, where
) -> list[Problem]:
    """Cross-field checks on shots: transitions, cast, lengths the video model can make.

    `where(index, field)` names the place of a shot's field in its file.
    """
    problems = []
    ids = {c.id for c in characters}
    for i, shot in enumerate(shots):
        problems += _transition_problems(i, shot, where)
        problems += [
            Problem(
                where(i, "characters"),
                f"character '{cid}' is not defined "
                f"(characters: {', '.join(sorted(ids)) or 'none defined'})",
            )
            for cid in shot.characters
            if cid not in ids
        ]
        problems += _length_problems(i, shots, rules, where)
    if any(s.duration is None for s in shots):
        why = rules.capabilities.duration_problem(rules.default_duration)
        if why:
            problems.append(
                Problem(
                    rules.default_where,
                    f"got {rules.default_duration:g} (the length of every shot that "
                    f"gives none); {why}. Change it or the clips backend",
                )
            )
    return problems


def _transition_problems(i: int, shot: Shot, where) -> list[Problem]:
    if shot.transition == "cut" or (shot.transition == "dissolve" and i > 0):
        if shot.start:
            return []
        return [
            Problem(
                where(i, None),
                f"a {shot.transition} needs a `start` keyframe prompt; add one or set "
                "transition: continue",
            )
        ]
    if i == 0:
        return [
            Problem(
                where(i, "transition"),
                f"the first shot cannot {shot.transition}; use cut",
            )
        ]
    if shot.start:  # a continuing shot
        return [
            Problem(
                where(i, "start"),
                "a continuing shot starts on the previous shot's end keyframe, so "
                "it takes no `start` prompt; remove it or make the shot a cut",
            )
        ]
    return []


def _length_problems(
    i: int, shots: list[Shot], rules: ShotRules, where
) -> list[Problem]:
    shot = shots[i]
    problems = []
    seconds = shot.duration or rules.default_duration
    frames = frame_count(seconds, rules.fps)
    needed = 2 if shot.transition == "continue" and i > 0 else 1
    if frames < needed:
        problems.append(
            Problem(
                where(i, "duration"),
                f"{seconds:g} s at {rules.fps} fps is {frames} frame(s); this shot "
                f"needs at least {needed} (a continuing shot gives its first frame "
                "to the join). Make it longer",
            )
        )
    if shot.duration is not None:
        why = rules.capabilities.duration_problem(shot.duration)
        if why:
            problems.append(
                Problem(
                    where(i, "duration"),
                    f"got {shot.duration:g}; {why}. Change the shot's duration or "
                    "the clips backend",
                )
            )
    return problems
