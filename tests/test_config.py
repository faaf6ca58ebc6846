"""Config errors: every problem found at once, each with file, line, path, value and fix."""

from __future__ import annotations

import pytest

from tests.conftest import SMALL_STORY
from ttv.config import load_config
from ttv.errors import ConfigError


def problems_of(path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_example_config_is_valid():
    from tests.conftest import REPO

    config = load_config(REPO / "pipeline.yaml.example")
    assert config.model.characters[0].reference.is_file()
    assert {s: b.name for s, b in config.backends.items()} == {
        "script": "offline",
        "keyframes": "animatic",
        "clips": "animatic",
    }


def test_typo_missing_reference_and_bad_duration_reported_together(write_config):
    text = SMALL_STORY.replace("    motion: pan left", "    motoin: pan left")
    text = text.replace("refs/chelsea.png", "refs/chelsie.png")
    text = text.replace(
        "    end: Chelsea looks at the door\n",
        "    end: Chelsea looks at the door\n    duration: 0.1\n",  # below the minimum
    )
    path = write_config(text)
    problems = problems_of(path)
    assert len(problems) == 3, problems
    typo, missing, duration = problems
    lines = text.splitlines()
    assert "shots[1].motoin" in typo and "did you mean 'motion'" in typo
    assert f"story.yaml:{lines.index('    motoin: pan left') + 1}:" in typo
    assert "characters[1].reference" in missing and "chelsie.png" in missing
    assert "does not exist" in missing
    assert "duration" in duration and "got 0.1" in duration


def test_wrong_type_names_value_and_line(write_config):
    path = write_config(SMALL_STORY.replace("  width: 96", "  width: wide"))
    (problem,) = problems_of(path)
    assert "output.width" in problem and "'wide'" in problem
    assert f"story.yaml:{SMALL_STORY.splitlines().index('  width: 96') + 1}" in problem


def test_odd_width_is_refused_with_the_fix(write_config):
    (problem,) = problems_of(
        write_config(SMALL_STORY.replace("width: 96", "width: 97"))
    )
    assert "must be even" in problem and "98" in problem


def test_unknown_character_and_continue_first(write_config):
    text = SMALL_STORY.replace(
        "  - transition: cut\n    characters: [eileen]\n",
        "  - transition: continue\n    characters: [eileen, bob]\n",
        1,
    )
    problems = problems_of(write_config(text))
    assert any("first shot cannot continue" in p for p in problems)
    assert any(
        "'bob' is not defined" in p and "shots[0].characters" in p for p in problems
    )


def test_unknown_backend_lists_known_ones(write_config):
    (problem,) = problems_of(
        write_config(SMALL_STORY.replace("  backend: animatic", "  backend: sora"))
    )
    assert "unknown clips backend 'sora'" in problem and "animatic" in problem


def test_unknown_backend_option(write_config):
    text = SMALL_STORY.replace(
        "  concurrency: 2", "  concurrency: 2\n  lastframe: false"
    )
    (problem,) = problems_of(write_config(text))
    assert "clips.lastframe" in problem and "last_frame" in problem


def test_no_story(write_config):
    (problem,) = problems_of(write_config("title: x\n"))
    assert "no story" in problem


def test_bad_yaml_and_duplicate_keys(write_config):
    (problem,) = problems_of(write_config("title: [unclosed\n"))
    assert "not valid YAML" in problem and "story.yaml:" in problem
    (problem,) = problems_of(write_config("title: a\ntitle: b\nprompt: x\n"))
    assert "appears twice" in problem and "story.yaml:2" in problem


def test_reference_that_is_not_an_image(write_config, story_dir):
    (story_dir / "refs" / "chelsea.png").write_text("not an image")
    (problem,) = problems_of(write_config())
    assert "characters[1].reference" in problem and "chelsea.png" in problem


def test_missing_config_file(tmp_path):
    (problem,) = problems_of(tmp_path / "nope.yaml")
    assert "nope.yaml" in problem and "not found" in problem


def test_a_bad_value_does_not_hide_the_other_problems(write_config):
    text = SMALL_STORY.replace("refs/chelsea.png", "refs/gone.png")
    text = text.replace("  - transition: cut\n", "  - transition: continue\n", 1)
    text = text.replace("characters: [chelsea]", "characters: [bob]")
    text = text.replace("    start: Chelsea in the hangar\n", "    duration: 0\n")
    problems = " | ".join(problems_of(write_config(text)))
    assert "shots[2].duration" in problems and "greater than 0" in problems
    assert "gone.png" in problems
    assert "first shot cannot continue" in problems
    assert "'bob' is not defined" in problems
    assert "a cut needs a `start`" in problems


def test_stage_key_typo_suggests_the_stage_key(write_config):
    text = SMALL_STORY.replace("  duration: 0.5", "  duraton: 0.5")
    (problem,) = problems_of(write_config(text))
    assert "clips.duraton" in problem and "did you mean 'duration'" in problem


def test_prompt_flag_with_listed_shots_is_refused(write_config):
    with pytest.raises(ConfigError, match="--prompt.*lists `shots`"):
        load_config(write_config(), prompt="a different story")


def test_too_short_continuing_shot(write_config):
    text = SMALL_STORY.replace("  duration: 0.5", "  duration: 0.1")
    text = text.replace("  fps: 12", "  fps: 8")  # 0.1 s at 8 fps: 1 frame
    problems = problems_of(write_config(text))
    assert any("shots[1].duration" in p and "at least 2" in p for p in problems)
