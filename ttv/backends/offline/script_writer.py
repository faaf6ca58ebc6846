"""The offline script writer: splits a story prompt into shots by its sentences, no model.

It is a structural stand-in for a language model: each sentence (or group of sentences)
becomes a shot, characters are found by name, and phrases such as "later" or "meanwhile"
mark cuts. Good for previewing pacing; a model writes far better shots.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from ttv.backends import register
from ttv.backends.base import ScriptRequest, ScriptWriter
from ttv.script import Character, Script, Shot

# Phrases that open a new scene: the shot after them is a cut, not a continuation.
# Phrases that open a new scene. Time passing makes a dissolve; a change of place, a cut.
TIME_CUES = (
    "later", "years", "that night", "that evening", "the next day", "next morning",
    "at dawn", "at dusk", "in the morning", "at night",
)  # fmt: skip
PLACE_CUES = ("meanwhile", "elsewhere", "cut to", "far away", "suddenly")
# Verbs that suggest a camera move for the shot.
MOTION_CUES = (
    (
        ("arrive", "approach", "enter", "discover", "find", "notice", "reveal"),
        "slow push in",
    ),
    (
        ("leave", "depart", "walk away", "drift", "launch", "rise", "lift"),
        "slow pull back",
    ),
    (
        ("run", "chase", "walk", "follow", "cross", "race"),
        "pan right, tracking the action",
    ),
    (("look up", "climb", "sky", "star", "tower"), "tilt up"),
    (("fall", "sink", "land", "kneel", "look down"), "tilt down"),
)
DEFAULT_MOVES = ("slow push in", "gentle drift right", "slow pull back", "pan left")


class OfflineScriptOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@register
class OfflineScriptWriter(ScriptWriter):
    """Rule-based script writer that needs no key and no network."""

    name: ClassVar[str] = "offline"
    Options: ClassVar[type[BaseModel]] = OfflineScriptOptions
    default_model: ClassVar[str | None] = "sentence-splitter-v1"
    preview: ClassVar[bool] = True

    def write(self, request: ScriptRequest) -> Script:
        """Split the prompt into shots, one per sentence group."""
        beats = _group(_sentences(request.prompt), request.shot_count)
        shots = []
        previous_cast: list[str] = []
        for i, beat in enumerate(beats):
            cast = (
                _cast(beat, request.characters)
                or previous_cast
                or [c.id for c in request.characters[:2]]
            )
            new_scene = _has_cue(beat, TIME_CUES) or _has_cue(beat, PLACE_CUES)
            continues = i > 0 and not new_scene and bool(set(cast) & set(previous_cast))
            dissolves = i > 0 and _has_cue(beat, TIME_CUES)
            shots.append(
                Shot(
                    id=f"beat{i + 1:02d}",
                    transition="continue"
                    if continues
                    else ("dissolve" if dissolves else "cut"),
                    characters=cast,
                    start=None
                    if continues
                    else f"{beat} Opening frame, {_framing(i, cast)}.",
                    end=f"{beat} Closing frame of the moment.",
                    motion=_motion(beat, i),
                    duration=request.default_duration,
                )
            )
            previous_cast = cast
        title = request.title or _title(request.prompt)
        return Script(
            title=title, style=request.style, characters=request.characters, shots=shots
        )


ABBREVIATIONS = {
    "dr",
    "mr",
    "mrs",
    "ms",
    "st",
    "prof",
    "capt",
    "col",
    "gen",
    "lt",
    "sgt",
    "vs",
    "etc",
    "no",
}


def _sentences(prompt: str) -> list[str]:
    """Split on sentence ends in any script: . ! ? … and the CJK full stops."""
    text = " ".join(prompt.split())
    pieces = re.split(r"(?<=[.!?…。！？])[\"'”’)\]]*\s*", text)
    out: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        if out and _continues(out[-1], piece):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def _continues(previous: str, piece: str) -> bool:
    """True when the split fell after an abbreviation or before a lower-case word."""
    last_word = previous.rstrip(".").rsplit(" ", 1)[-1].lower()
    return last_word in ABBREVIATIONS or piece[0].islower()


def _group(sentences: list[str], count: int | None) -> list[str]:
    """Group sentences into `count` beats (or one per sentence), in order."""
    if not count or count >= len(sentences):
        return sentences
    beats: list[str] = []
    per = len(sentences) / count
    for i in range(count):
        chunk = sentences[round(i * per) : round((i + 1) * per)]
        beats.append(" ".join(chunk))
    return beats


def _cast(text: str, characters: list[Character]) -> list[str]:
    lowered = text.lower()
    found = []
    for c in characters:
        names = {c.id.replace("_", " ").replace("-", " ")}
        if c.name:
            names |= {c.name.lower(), *c.name.lower().split()}
        if any(
            re.search(rf"\b{re.escape(n.lower())}\b", lowered)
            for n in names
            if len(n) > 2
        ):
            found.append(c.id)
    return found


def _has_cue(text: str, cues: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(cue)}\b", lowered) for cue in cues)


def _motion(text: str, index: int) -> str:
    lowered = text.lower()
    for words, move in MOTION_CUES:
        if any(w in lowered for w in words):
            return move
    return DEFAULT_MOVES[index % len(DEFAULT_MOVES)]


def _framing(index: int, cast: list[str]) -> str:
    if index == 0:
        return "wide establishing shot"
    return "medium shot" if len(cast) > 1 else "close-up"


def _title(prompt: str) -> str:
    words = (
        _sentences(prompt)[0].rstrip(".!?").split() if prompt.strip() else ["Untitled"]
    )
    return " ".join(words[:6])
