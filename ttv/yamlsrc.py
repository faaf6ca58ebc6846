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
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)
            child = (*loc, key)
            if key in out:
                raise ConfigError(
                    [
                        Problem(
                            f"{source}:{key_node.start_mark.line + 1}",
                            f"key '{format_loc(child)}' appears twice; keep one",
                        )
                    ],
                    source=source,
                )
            lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, child, lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            child = (*loc, i)
            lines[child] = item.start_mark.line + 1
            items.append(_construct(item, child, lines, source))
        return items
    return yaml.SafeLoader(" ").construct_object(node)


def validate(
    model: type[BaseModel], located: Located, data: Any = None, prefix: Loc = ()
):
    """Validate `data` (default: all of `located`) into `model`, collecting every problem.

    Unknown keys are reported (with a close match when there is one) and then dropped,
    so the rest of the file is still checked and all problems come back together.
    Returns (instance or None, problems).
    """
    data = located.data if data is None else data
    data = copy.deepcopy(data)
    problems: list[Problem] = []
    for _ in range(20):  # each pass drops the unknown keys the previous one found
        try:
            return model.model_validate(data), problems
        except ValidationError as exc:
            unknown = [e for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not unknown:
                problems += [_problem(e, located, prefix, model) for e in exc.errors()]
                return None, problems
            for err in unknown:
                problems.append(_problem(err, located, prefix, model))
                _drop(data, err["loc"])
    return None, problems


def _problem(
    err: dict, located: Located, prefix: Loc, model: type[BaseModel]
) -> Problem:
    loc = (*prefix, *err["loc"])
    where = located.where(loc)
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, err["loc"][:-1])
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        msg = "unknown key"
        msg += f"; did you mean '{hint[0]}'?" if hint else ""
        if allowed:
            msg += f" Allowed here: {', '.join(sorted(allowed))}."
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


def _drop(data: Any, loc: Loc) -> None:
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(parent, dict):
        parent.pop(loc[-1], None)
