"""The script: title, style, characters and shots. Written by a script writer or the config.

The script is saved as `script.yaml` in the run directory. A user may edit that file and run
again; the edited script is what gets rendered.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ttv.store import atomic

if TYPE_CHECKING:
    from ttv.backends.base import ScriptRequest
    from ttv.config import Config
    from ttv.context import RunContext

log = logging.getLogger(__name__)

# Ids end up in file names and prompts: keep them short, lower case and path-safe.
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            f"{value!r} is not a valid id: use 1-40 lower-case letters, digits, - or _, "
            "starting with a letter or digit (ids become file names)"
        )
    return value


Slug = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_slug)]
Transition = Literal["cut", "continue", "dissolve"]


class _Strict(BaseModel):
    # Numbers are fine as text ("title: 1984"); nothing else is coerced.
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True
    )


class Character(_Strict):
    """Someone (or something) whose look must hold across the story."""

    id: Slug
    name: str = ""
    description: str = ""
    reference: Path | None = None

    @property
    def label(self) -> str:
        return self.name or self.id


class Shot(_Strict):
    """One clip of the story, framed by a start and an end keyframe."""

    id: Slug | None = None
    transition: Transition = "cut"
    characters: list[str] = Field(default_factory=list)
    start: str | None = Field(None, description="prompt of the start keyframe (cuts)")
    end: str = Field(..., min_length=1, description="prompt of the end keyframe")
    motion: str = ""
    duration: float | None = Field(None, gt=0, le=120)


class Script(_Strict):
    """The whole story as shots."""

    title: str = Field(..., min_length=1)
    style: str = ""
    characters: list[Character] = Field(default_factory=list)
    shots: list[Shot] = Field(..., min_length=1)

    def character(self, cid: str) -> Character:
        return next(c for c in self.characters if c.id == cid)


def shot_name(index: int) -> str:
    """File-name stem of the shot at 0-based `index`: shot01, shot02, ..."""
    return f"shot{index + 1:02d}"


HEADER = """\
# ttv script. Edit freely and run again: the edited script is what gets rendered.
# Each shot: transition (cut | continue | dissolve), characters (ids), start and end
# keyframe prompts (a continuing shot starts on the previous shot's end keyframe, so it
# has no start), motion (camera and action between the two), duration in seconds.
# Do not edit the `source` line: it tells ttv which config this script came from.
"""


def dump(script: Script, source_key: str) -> str:
    """Render a script as the commented YAML users read and edit."""
    body = {"source": source_key, **script.model_dump(mode="json", exclude_none=True)}
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=88)
    return HEADER + text


def save(script: Script, path: Path, source_key: str) -> None:
    """Write the script file atomically."""
    atomic.write_text(path, dump(script, source_key))


def load_file(path: Path, characters_base: Path | None = None):
    """Read a script.yaml: (Script, its `source` key, Located) or ConfigError with lines."""
    from ttv.errors import ConfigError, Problem
    from ttv.yamlsrc import load, validate

    located = load(path)
    if not isinstance(located.data, dict):
        raise ConfigError([Problem(str(path), "expected a mapping")], source=str(path))
    data = dict(located.data)
    source_key = str(data.pop("source", ""))
    script, problems = validate(Script, located, data)
    if script is None:
        raise ConfigError(problems, source=str(path))
    base = characters_base or path.parent
    for character in script.characters:
        if character.reference is not None and not character.reference.is_absolute():
            character.reference = (base / character.reference).resolve()
    return script, source_key, located


@dataclass(frozen=True)
class ScriptSource:
    """Where this config's script comes from, and the key that names it."""

    key: str
    script: Script | None  # the config lists its shots
    request: ScriptRequest | None  # or the script writer is asked


def source(config: Config) -> ScriptSource:
    """The script source of a config: its own shots, or a request to the writer."""
    from ttv.backends.base import ScriptRequest
    from ttv.store.cache import digest

    model = config.model
    if model.shots:
        script = Script(
            title=model.title or "Untitled",
            style=model.style,
            characters=model.characters,
            shots=model.shots,
        )
        key = digest({"kind": "script", "from": "config", "script": _json(script)})
        return ScriptSource(key, script, None)
    request = ScriptRequest(
        prompt=model.prompt or "",
        title=model.title,
        style=model.style,
        characters=model.characters,
        default_duration=model.clips.duration,
        shot_count=model.script.shots,
    )
    recipe = {
        "kind": "script",
        "writer": config.backends["script"].identity(),
        "prompt": request.prompt,
        "title": request.title,
        "style": request.style,
        "characters": [_json(c) for c in request.characters],
        "duration": request.default_duration,
        "shots": request.shot_count,
    }
    return ScriptSource(digest(recipe), None, request)


def peek(ctx: RunContext) -> Script | None:
    """The script a run would use, if it exists without asking the writer."""
    src = source(ctx.config)
    path = ctx.run_dir.script
    for candidate in (path, _shelf(path, src.key)):
        if candidate.exists() and _source_of(candidate) == src.key:
            return load_file(candidate)[0]
    if src.script is not None:
        return src.script
    cached = ctx.cache.lookup("script", src.key, ".json", _validate_json)
    if cached is not None:
        return Script.model_validate_json(cached.read_text(encoding="utf-8"))
    return None


def ensure(ctx: RunContext) -> Script:
    """The script for this run: the run's script.yaml if it came from this config, else new.

    A script.yaml whose `source` matches the current config is used as it stands, with the
    user's edits. If the story in the config changed, a new script is written and the old
    file, edits and all, is shelved beside it until the config comes back to that story.
    """
    src = source(ctx.config)
    source_key, script, request = src.key, src.script, src.request

    path = ctx.run_dir.script
    if path.exists() and _source_of(path) != source_key:
        _shelve(path)
    shelved = _shelf(path, source_key)
    if not path.exists() and shelved.exists():
        os.replace(shelved, path)
        log.warning(
            "script: this story's earlier script.yaml is back from %s", shelved.name
        )
    if path.exists():
        existing, _, _ = load_file(path)
        log.info("script: using %s (edits to it are kept)", path)
        ctx.stats.hit("script")
        return existing

    if script is None:
        script = _write_cached(ctx, request, source_key)
    save(script, path, source_key)
    log.info("script: wrote %s (%d shots)", path, len(script.shots))
    return script


def _source_of(path: Path) -> str:
    """The `source` line of a script file, read without parsing the rest."""
    match = re.search(r"^source:\s*(\S+)", path.read_text(encoding="utf-8"), re.M)
    return match.group(1) if match else ""


def _shelf(path: Path, source_key: str) -> Path:
    return path.with_name(f"script.{source_key[:12] or 'unknown'}.yaml")


def _shelve(path: Path) -> None:
    """Keep a script made from another version of the config, edits and all."""
    shelf = _shelf(path, _source_of(path))
    os.replace(path, shelf)
    log.warning(
        "script: the config's story (prompt, title, style, cast or shot length) "
        "changed since script.yaml was written; a new script is written, and the old "
        "one, with any edits, is kept as %s (it comes back if the config does)",
        shelf.name,
    )


def _write_cached(ctx: RunContext, request, key: str) -> Script:
    """Ask the script writer, or reuse its answer to the same request from the cache."""
    from ttv.errors import ConfigError

    cached = ctx.cache.lookup("script", key, ".json", _validate_json)
    if cached is not None:
        ctx.stats.hit("script")
        log.info("script: cache hit %s", key[:12])
        return Script.model_validate_json(cached.read_text(encoding="utf-8"))
    ctx.stats.call("script")
    log.info("script: asking %s (%s)", ctx.writer.name, ctx.writer.model)
    with ctx.ledger.charge("script", ctx.writer.estimate_usd(request), "script"):
        script = ctx.writer.write(request)
    if not script.shots:
        raise ConfigError("the script writer returned no shots; give a longer prompt")
    text = script.model_dump_json(indent=1)
    ctx.cache.put(
        "script", key, ".json", lambda tmp: tmp.write_text(text), _validate_json
    )
    return script


def _validate_json(path: Path) -> None:
    try:
        Script.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise OSError(f"{path.name} is not a valid script: {exc}") from exc


def _json(model: BaseModel):
    return model.model_dump(mode="json")
