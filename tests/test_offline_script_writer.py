"""The offline script writer: sentences to shots, cast by name, cues for cuts."""

from __future__ import annotations

from ttv.backends.base import ScriptRequest
from ttv.backends.offline.script_writer import OfflineScriptOptions, OfflineScriptWriter
from ttv.script import Character

CAST = [
    Character(id="eileen", name="Commander Eileen"),
    Character(id="chelsea", name="Chelsea"),
]


def write(prompt: str, shots: int | None = None):
    writer = OfflineScriptWriter(OfflineScriptOptions())
    request = ScriptRequest(
        prompt=prompt, title=None, style="s", characters=CAST,
        default_duration=2.0, shot_count=shots,
    )  # fmt: skip
    return writer.write(request)


def test_sentences_become_shots_with_cast_and_transitions():
    script = write(
        "Dr. Eileen lands on the beach. She looks back at the sea. "
        "Later, Chelsea waits in the hangar. Eileen greets Chelsea."
    )
    # "Later" is time passing: a dissolve; a new sentence about the same cast continues.
    assert [s.transition for s in script.shots] == [
        "cut", "continue", "dissolve", "continue",
    ]  # fmt: skip
    assert script.shots[0].start.startswith("Dr. Eileen lands")
    assert [s.characters for s in script.shots] == [
        ["eileen"],
        ["eileen"],
        ["chelsea"],
        ["eileen", "chelsea"],
    ]
    assert all(s.duration == 2.0 for s in script.shots)
    assert script.shots[1].start is None  # continues from the previous end keyframe


def test_other_scripts_and_grouping():
    assert len(write("宇航员降落在海滩上。猫在等待。").shots) == 2
    assert len(write("Космонавт приземляется. Кошка ждёт.").shots) == 2
    grouped = write(" ".join(f"Eileen waves {i}." for i in range(10)), shots=3)
    assert len(grouped.shots) == 3
    assert "waves 0." in grouped.shots[0].end and "waves 9." in grouped.shots[2].end


def test_a_change_of_place_is_a_cut():
    script = write("Eileen lands. Meanwhile, Chelsea waits in the hangar.")
    assert [s.transition for s in script.shots] == ["cut", "cut"]
