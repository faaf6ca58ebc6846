"""Story files: a full pipeline config, or a short one that `extends` a base config.

The merged config is validated like any other, with errors naming the story file.
Relative paths are read from the folder of the file that wrote them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ttv.config import Config, load_config
from ttv.errors import ConfigError
from ttv.extends import MAX_DEPTH
from ttv.yamlsrc import load

log = logging.getLogger(__name__)

STORY_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Story:
    """A story file in a queue: its name and a digest of everything it is made of."""

    name: str
    path: Path
    digest: str


def find(queue: Path) -> list[Story]:
    """Every story file directly in `queue`, by name."""
    stories: dict[str, Story] = {}
    for path in sorted(queue.resolve().iterdir()):
        hidden = path.name.startswith((".", "_"))  # _base.yaml: a base, not a story
        if path.suffix.lower() not in STORY_SUFFIXES or hidden or not path.is_file():
            continue
        name = path.stem
        if name.lower() in {n.lower() for n in stories}:
            log.error(
                "%s: another story file is already named %s (%s); rename one of them",
                path.name, name, stories[name].path.name if name in stories else "?",
            )  # fmt: skip
            continue
        try:
            stories[name] = Story(name, path, digest(path))
        except OSError:
            continue  # removed while the folder was read (a watched queue)
    return list(stories.values())


def digest(path: Path) -> str:
    """A digest of the story file, the bases it extends and the reference images they
    name: a change to any of them re-queues the story."""
    h = hashlib.sha256()
    for part in _chain(path):
        h.update(part.read_bytes())
        for image in _references(part):
            h.update(str(image).encode())
            h.update(image.read_bytes() if image.is_file() else b"missing")
    return h.hexdigest()


def _references(path: Path) -> list[Path]:
    """The reference image paths a config file names, resolved against its folder."""
    try:
        data = load(path).data
    except ConfigError:
        return []
    characters = data.get("characters") if isinstance(data, dict) else None
    refs = []
    for character in characters if isinstance(characters, list) else []:
        ref = character.get("reference") if isinstance(character, dict) else None
        if isinstance(ref, str):
            refs.append((path.resolve().parent / ref).resolve())
    return refs


def load_story(path: Path) -> Config:
    """The validated config of a story file; ConfigError names the file and line."""
    return load_config(path)


def _chain(path: Path) -> list[Path]:
    """The story file and the bases it extends, as far as they can be read."""
    chain = [path]
    for _ in range(MAX_DEPTH):
        try:
            data = load(chain[-1]).data
        except ConfigError:
            break
        base = data.get("extends") if isinstance(data, dict) else None
        if not isinstance(base, str):
            break
        nxt = (chain[-1].resolve().parent / base).resolve()
        if not nxt.is_file() or nxt in chain:
            break
        chain.append(nxt)
    return chain
