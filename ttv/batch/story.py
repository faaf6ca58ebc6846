"""Story files: a full pipeline config, or a short one that `extends` a base config.

The merged config is validated like any other, with errors naming the story file.
Relative paths are read from the folder of the file that wrote them.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttv.config import Config, from_located
from ttv.errors import ConfigError, Problem
from ttv.yamlsrc import Located, load

STORY_SUFFIXES = (".yaml", ".yml")
MAX_DEPTH = 5


@dataclass(frozen=True)
class Story:
    """A story file in a queue: its name and a digest of everything it is made of."""

    name: str
    path: Path
    digest: str


def find(queue: Path) -> list[Story]:
    """Every story file directly in `queue`, by name."""
    stories = []
    for path in sorted(queue.iterdir()):
        hidden = path.name.startswith((".", "_"))  # _base.yaml: a base, not a story
        if path.suffix.lower() in STORY_SUFFIXES and path.is_file() and not hidden:
            stories.append(Story(path.stem, path, digest(path)))
    return stories


def digest(path: Path) -> str:
    """A digest of the story file and every base it extends (a change re-queues it)."""
    h = hashlib.sha256()
    for part in _chain(path):
        h.update(part.read_bytes())
    return h.hexdigest()


def load_story(path: Path) -> Config:
    """The validated config of a story file; ConfigError names the file and line."""
    located = load(path)
    data = _raw(located, path, depth=0)
    merged = Located(data, located.lines, located.source)
    return from_located(merged, base_dir=path.resolve().parent)


def _raw(located: Located, path: Path, depth: int) -> dict[str, Any]:
    """The file's data with its paths absolute and its base merged in underneath."""
    data = located.data
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(str(path), "expected a mapping of keys (prompt, extends, ...)")],
            source=str(path),
        )
    data = _absolute(copy.deepcopy(data), path.resolve().parent)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    where = located.where(("extends",))
    if not isinstance(base_name, str):
        raise ConfigError(
            [Problem(where, "extends takes a file name")], source=str(path)
        )
    base_path = (path.resolve().parent / base_name).resolve()
    if depth >= MAX_DEPTH:
        raise ConfigError(
            [Problem(where, f"more than {MAX_DEPTH} levels of extends; is it a loop?")],
            source=str(path),
        )
    if not base_path.is_file():
        raise ConfigError(
            [Problem(where, f"base config {base_path} does not exist; fix the path")],
            source=str(path),
        )
    base = _raw(load(base_path), base_path, depth + 1)
    return merge(base, data)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _absolute(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Make the file's relative paths absolute, so merging cannot change their meaning."""
    for character in data.get("characters") or []:
        if isinstance(character, dict) and isinstance(character.get("reference"), str):
            character["reference"] = str((folder / character["reference"]).resolve())
    output = data.get("output")
    if isinstance(output, dict):
        for key in ("dir", "cache_dir"):
            if isinstance(output.get(key), str):
                output[key] = str((folder / output[key]).resolve())
    return data


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
