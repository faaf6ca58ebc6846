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
