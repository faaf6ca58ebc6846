"""Backend registry: a backend is one module whose class registers under a stage and a name.

Built-in backends are imported lazily (so an unused provider's SDK is never loaded) and
go through the same `register` path as third-party ones, which can also be published under
the `ttv.backends` entry-point group.
"""

from __future__ import annotations

import importlib
from importlib import metadata

from ttv.backends.base import Backend, Stage

_BUILTIN: dict[tuple[str, str], str] = {
    ("script", "offline"): "ttv.backends.offline.script_writer",
    ("keyframes", "animatic"): "ttv.backends.offline.animatic",
    ("clips", "animatic"): "ttv.backends.offline.animatic",
    ("script", "gemini"): "ttv.backends.google.gemini_script",
    ("keyframes", "gemini"): "ttv.backends.google.gemini_image",
    ("clips", "veo"): "ttv.backends.google.veo",
}
_REGISTRY: dict[tuple[str, str], type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make `cls` available as `cls.stage` / `cls.name` in configs."""
    _REGISTRY[(cls.stage, cls.name)] = cls
    return cls


def names(stage: Stage) -> list[str]:
    """Every backend name known for `stage`."""
    known = {n for s, n in _BUILTIN if s == stage} | {
        n for s, n in _REGISTRY if s == stage
    }
    known |= {ep.name.split(".", 1)[1] for ep in _entry_points(stage)}
    return sorted(known)


def get(stage: Stage, name: str) -> type[Backend] | None:
    """The backend class registered as `name` for `stage`, or None."""
    if (stage, name) not in _REGISTRY:
        module = _BUILTIN.get((stage, name))
        if module:
            importlib.import_module(module)
        for ep in _entry_points(stage):
            if ep.name == f"{stage}.{name}":
                ep.load()
    return _REGISTRY.get((stage, name))


def _entry_points(stage: str) -> list[metadata.EntryPoint]:
    eps = metadata.entry_points(group="ttv.backends")
    return [ep for ep in eps if ep.name.startswith(f"{stage}.")]
