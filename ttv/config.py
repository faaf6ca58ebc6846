"""The pipeline config: pydantic models, loading from YAML, and every check before a run.

All problems are collected and reported together, each with its file, line and YAML path,
the value received and what to do, before any backend is called.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ttv import backends as registry
from ttv.backends.base import Backend, Stage
from ttv.checks import ShotRules, check_references, check_shots
from ttv.errors import ConfigError, Problem
from ttv.extends import resolve
from ttv.script import Character, Shot
from ttv.store.rundir import FROZEN_MARK
from ttv.yamlsrc import Located, load, validate

log = logging.getLogger(__name__)

ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class StageConfig(BaseModel):
    """Which backend a stage uses; any other key is one of that backend's options."""

    model_config = ConfigDict(extra="allow")

    backend: str
    model: str | None = None
    concurrency: int = Field(2, ge=1, le=64)

    def backend_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ScriptStage(StageConfig):
    backend: str = "offline"
    shots: int | None = Field(None, ge=1, le=200, description="shots to aim for")


class KeyframeStage(StageConfig):
    backend: str = "animatic"


class ClipStage(StageConfig):
    backend: str = "animatic"
    duration: float = Field(4.0, gt=0, le=120, description="default shot length, s")


class OutputConfig(BaseModel):
    """Where the run goes and the shape of the video."""

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = None
    cache_dir: Path | None = None
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(360, ge=16, le=4320)
    fps: int = Field(24, ge=1, le=120)

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        # H.264 in yuv420p needs even sides; say so here rather than from ffmpeg later.
        if value % 2:
            raise ValueError(f"must be even for H.264 video; use {value + 1}")
        return value


class StitchConfig(BaseModel):
    """How clips are joined."""

    model_config = ConfigDict(extra="forbid")

    dissolve: float = Field(
        0.5, gt=0, le=10, description="length of a `dissolve` transition, s"
    )


class PipelineConfig(BaseModel):
    """The whole pipeline.yaml."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True
    )

    title: str | None = None
    prompt: str | None = None
    style: str = "cinematic, consistent characters"
    seed: int = Field(0, strict=True)
    characters: list[Character] = Field(default_factory=list)
    shots: list[Shot] | None = None
    script: ScriptStage = Field(default_factory=ScriptStage)
    keyframes: KeyframeStage = Field(default_factory=KeyframeStage)
    clips: ClipStage = Field(default_factory=ClipStage)
    stitch: StitchConfig = Field(default_factory=StitchConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    budget_usd: float | None = Field(None, ge=0, description="stop before exceeding it")
    prices: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="per model id: unit -> USD, over the table"
    )


@dataclass
class Config:
    """A validated config with its backends built, ready to run."""

    model: PipelineConfig
    source: str
    base_dir: Path
    backends: dict[Stage, Backend]

    def frozen(self) -> str:
        """The config as YAML with every path absolute: what `ttv resume` reruns."""
        data = self.model.model_dump(mode="json", exclude_none=True)
        return f"{FROZEN_MARK} for this run; `ttv resume` reads it.\n" + yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, width=88
        )


def load_config(
    path: str | os.PathLike, *, prompt: str | None = None, out: str | None = None
) -> Config:
    """Read, validate and check a pipeline config file; raise ConfigError with every problem."""
    path = Path(path)
    located = load(path)
    if isinstance(located.data, dict) and "extends" in located.data:
        data = resolve(located, path, depth=0)
        located = Located(data, located.lines, located.source)
    return from_located(located, base_dir=path.resolve().parent, prompt=prompt, out=out)


def from_located(
    located: Located,
    *,
    base_dir: Path,
    prompt: str | None = None,
    out: str | None = None,
) -> Config:
    """Validate parsed YAML into a Config, collecting all problems before raising."""
    if not isinstance(located.data, dict):
        raise ConfigError(
            [
                Problem(
                    located.source, "expected a mapping of keys (title, prompt, ...)"
                )
            ],
            source=located.source,
        )
    data = dict(located.data)
    if prompt is not None:
        data["prompt"] = prompt
    model, problems = validate(PipelineConfig, located, data)
    if model is None:
        raise ConfigError(problems, source=located.source)
    if model.shots and prompt is not None:
        problems.append(
            Problem(
                "--prompt",
                f"{located.source} lists `shots`, so there is no story prompt to "
                "replace; remove --prompt, or remove `shots` to have the script written",
            )
        )
    elif model.shots and model.prompt:
        log.warning(
            "%s: `prompt` is not used because the config lists `shots`", located.source
        )

    _resolve_paths(model, base_dir, out)
    problems += _check_story(model, located, prompt_given=prompt is not None)
    problems += check_references(
        model.characters, lambda i: located.where(("characters", i, "reference"))
    )
    built, backend_problems = _build_backends(model, located)
    problems += backend_problems
    if model.shots and "clips" in built:
        problems += check_shots(
            model.shots,
            model.characters,
            shot_rules(model, built["clips"], located.where(("clips", "duration"))),
            lambda i, f: located.where(("shots", i, f) if f else ("shots", i)),
        )
    if problems:
        raise ConfigError(problems, source=located.source)
    return Config(model=model, source=located.source, base_dir=base_dir, backends=built)


def _resolve_paths(model: PipelineConfig, base_dir: Path, out: str | None) -> None:
    """Make reference paths absolute (relative to the config file) and fix the run dir."""
    for character in model.characters:
        if character.reference is not None:
            character.reference = (
                base_dir / character.reference.expanduser()
            ).resolve()
    if out is not None:
        model.output.dir = Path(out)
    if model.output.dir is not None:
        model.output.dir = model.output.dir.expanduser().resolve()
    if model.output.cache_dir is not None:
        model.output.cache_dir = model.output.cache_dir.expanduser().resolve()


def _check_story(
    model: PipelineConfig, located: Located, prompt_given: bool
) -> list[Problem]:
    problems = []
    if not model.shots and not (model.prompt or "").strip():
        problems.append(
            Problem(
                located.where(("prompt",)),
                "no story: give `prompt` (or --prompt) for the script writer, "
                "or list `shots` directly",
            )
        )
    problems += _env_refs_outside_keys(located.data, located)
    shot_ids = [s.id for s in model.shots or [] if s.id]
    for i, shot in enumerate(model.shots or []):
        if shot.id and shot_ids.count(shot.id) > 1:
            problems.append(
                Problem(
                    located.where(("shots", i, "id")),
                    f"shot id '{shot.id}' is used twice",
                )
            )
    seen: set[str] = set()
    for i, character in enumerate(model.characters):
        if character.id in seen:
            problems.append(
                Problem(
                    located.where(("characters", i, "id")),
                    f"character id '{character.id}' is used twice; ids must be unique",
                )
            )
        seen.add(character.id)
    return problems


def _env_refs_outside_keys(data, located: Located, loc=()) -> list[Problem]:
    """`${VAR}` is for keys only; elsewhere it would be taken literally."""
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        secret = any("key" in str(p).lower() for p in loc if isinstance(p, str))
        if isinstance(data, str) and ENV_REF.match(data.strip()) and not secret:
            return [
                Problem(
                    located.where(loc),
                    f"got {data!r}; environment references are read only for keys "
                    "(api_key). Write the value itself",
                )
            ]
        return []
    problems = []
    for key, value in items:
        problems += _env_refs_outside_keys(value, located, (*loc, key))
    return problems


def _build_backends(
    model: PipelineConfig, located: Located
) -> tuple[dict[Stage, Backend], list[Problem]]:
    built: dict[Stage, Backend] = {}
    problems: list[Problem] = []
    stages: dict[Stage, StageConfig] = {
        "script": model.script,
        "keyframes": model.keyframes,
        "clips": model.clips,
    }
    for stage, stage_config in stages.items():
        cls = registry.get(stage, stage_config.backend)
        if cls is None:
            known = ", ".join(registry.names(stage))
            problems.append(
                Problem(
                    located.where((stage, "backend")),
                    f"unknown {stage} backend '{stage_config.backend}'; known: {known}",
                )
            )
            continue
        options, option_problems = validate(
            cls.Options,
            located,
            stage_config.backend_options(),
            prefix=(stage,),
            known=tuple(type(stage_config).model_fields),
        )
        problems += option_problems
        if options is not None:
            backend = cls(options, model=stage_config.model)
            backend.price_overrides = model.prices
            bad = backend.option_problems()
            problems += [Problem(located.where((stage, f)), m) for f, m in bad]
            if not bad:
                built[stage] = backend
    if "clips" in built:
        problems += _check_aspect(built["clips"], model.output, located)
    return built, problems


def _check_aspect(video, output: OutputConfig, located: Located) -> list[Problem]:
    try:
        ratios = video.capabilities().aspect_ratios
    except ConfigError as exc:
        return [Problem(located.where(("clips", "model")), str(exc))]
    if ratios is None:
        return []
    got = output.width / output.height
    for ratio in ratios:
        w, h = ratio.split(":")
        if abs(int(w) / int(h) - got) < 0.01:
            return []
    return [
        Problem(
            located.where(("output", "width")),
            f"got {output.width}x{output.height}; the {video.name} video model makes "
            f"{', '.join(ratios)} only. Pick a size of one of those shapes",
        )
    ]


def shot_rules(model: PipelineConfig, video, default_where: str) -> ShotRules:
    """The rules shots of `model` must follow with the video backend `video`."""
    return ShotRules(
        capabilities=video.capabilities(),
        default_duration=model.clips.duration,
        fps=model.output.fps,
        default_where=default_where,
    )


def env_secret(reference: str | None, *fallbacks: str) -> str | None:
    """Resolve a `${VAR}` reference (or the first set fallback variable) from the environment.

    Keys are never read from the config file itself, so they never reach a frozen config,
    a manifest or a log.
    """
    names = []
    if reference:
        match = ENV_REF.match(reference)
        if not match:
            raise ConfigError(
                "write keys as an environment reference like ${GEMINI_API_KEY}, "
                "never the key itself"
            )
        names.append(match.group(1))
    names += fallbacks
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None
