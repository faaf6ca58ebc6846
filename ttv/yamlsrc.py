"""YAML loading that remembers where each value came from, so errors can name a line."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ttv.errors import ConfigError, Problem

Loc = tuple[str | int, ...]


class Located:
    """Parsed YAML data plus the line of every mapping key and sequence item."""

    def __init__(self, data: Any, lines: dict[Loc, int], source: str):
        self.data = data
        self.lines = lines
        self.source = source

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def where(self, loc: Loc) -> str:
        """`file:line: dotted.path` for messages."""
        line = self.line_of(loc)
        place = f"{self.source}:{line}" if line else self.source
        return f"{place}: {format_loc(loc)}" if loc else place


def format_loc(loc: Loc) -> str:
    """Render ('shots', 2, 'duration') as shots[2].duration."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load(path: Path) -> Located:
    """Read a YAML file into a Located, failing with the file and line on bad YAML."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [Problem(source, "file not found; check the path you passed")],
            source=source,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [Problem(source, f"cannot read it as UTF-8 text ({exc})")], source=source
        ) from None
    return loads(text, source)


def loads(text: str, source: str) -> Located:
    """Parse YAML text; `source` names it in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [Problem(where, f"not valid YAML ({problem}); fix the syntax there")],
            source=source,
        ) from None
    lines: dict[Loc, int] = {}
    data = _construct(node, (), lines, source) if node is not None else {}
    return Located(data, lines, source)


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], source: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`
                for part in _merge_sources(value_node):
                    for k, v in _construct(part, loc, lines, source).items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _error(key_node, source, "keys must be plain text")
            key = _scalar(key_node, source)
            child = (*loc, key)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise _error(key_node, source, "keys must be plain text")
            if key in out:
                raise _error(
                    key_node,
                    source,
                    f"key '{format_loc(child)}' appears twice; keep one",
                )
            lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, child, lines, source)
        return {**merged, **out}
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            child = (*loc, i)
            lines[child] = item.start_mark.line + 1
            items.append(_construct(item, child, lines, source))
        return items
    return _scalar(node, source)


def _merge_sources(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [node]


def _scalar(node: yaml.Node, source: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise _error(node, source, "expected a plain value here")
    try:
        return yaml.SafeLoader(" ").construct_object(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise _error(node, source, f"cannot read this value ({problem})") from None


def _error(node: yaml.Node, source: str, message: str) -> ConfigError:
    where = f"{source}:{node.start_mark.line + 1}"
    return ConfigError([Problem(where, message)], source=source)


def validate(
    model: type[BaseModel],
    located: Located,
    data: Any = None,
    prefix: Loc = (),
    known: tuple[str, ...] = (),
):
    """Validate `data` (default: all of `located`) into `model`, collecting every problem.

    Each pass reports what is wrong and drops it (an unknown key, or a bad value where
    a default can stand in), so the rest of the file is still checked and all problems
    come back together. `known` adds keys that are valid here but handled elsewhere,
    for "did you mean". Returns (instance or None, problems): an instance with
    problems means "valid once those are fixed", good for further checks only.
    """
    data = copy.deepcopy(located.data if data is None else data)
    problems: list[Problem] = []
    reported: set[Loc] = set()
    for _ in range(20):
        try:
            return model.model_validate(data), problems
        except ValidationError as exc:
            errors = [e for e in exc.errors() if not _under(tuple(e["loc"]), reported)]
            if not errors:
                return None, problems  # only what was dropped is still missing
            dropped = False
            for err in errors:
                loc = tuple(err["loc"])
                reported.add(loc)
                problems.append(_problem(err, located, prefix, model, known))
                if err["type"] != "missing":
                    dropped |= _drop(data, loc)
            if not dropped:
                return None, problems
    return None, problems


def _under(loc: Loc, reported: set[Loc]) -> bool:
    return any(loc[: len(r)] == r for r in reported)


def _problem(
    err: dict, located: Located, prefix: Loc, model: type[BaseModel], known=()
) -> Problem:
    loc = (*prefix, *err["loc"])
    where = located.where(loc)
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, err["loc"][:-1])
        if len(err["loc"]) == 1:
            allowed += list(known)
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        msg = "unknown key"
        msg += f"; did you mean '{hint[0]}'?" if hint else "."
        if allowed:
            msg += f" Allowed here: {', '.join(sorted(set(allowed)))}."
        return Problem(where, msg)
    if err["type"] == "missing":
        return Problem(where, "required but missing; add it")
    if _secret(loc):
        return Problem(where, err["msg"])  # never echo what may be a key
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return Problem(where, f"{err['msg']} (got {shown})")


def _secret(loc: Loc) -> bool:
    names = [str(p).lower() for p in loc if isinstance(p, str)]
    return any(w in n for n in names for w in ("key", "secret", "token", "password"))


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the sub-model at `loc`, best effort, for 'did you mean'."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [name for name in fields if not name.startswith("_")]


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _drop(data: Any, loc: Loc) -> bool:
    """Remove the value at `loc` from nested dicts; True if something was removed."""
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(parent, dict) and loc and loc[-1] in parent:
        del parent[loc[-1]]
        return True
    return False
