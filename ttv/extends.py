"""`extends:`: a config that names a base config and overrides parts of it.

Relative paths are made absolute against the folder of the file that wrote them before
merging, so a base's reference images stay where the base said they are.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ttv.errors import ConfigError, Problem
from ttv.yamlsrc import Located, load

MAX_DEPTH = 5


def resolve(located: Located, path: Path, depth: int) -> dict[str, Any]:
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
    base = resolve(load(base_path), base_path, depth + 1)
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
