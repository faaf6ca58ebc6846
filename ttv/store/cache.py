"""The content-addressed cache: every artifact lives under a key derived from its recipe.

A recipe is everything that determines an artifact: backend, model, parameters, prompt
text and the keys of its inputs (reference images by their content hash). Equal recipes
give equal keys, so a rerun finds its work done, and an edit changes exactly the keys of
what depends on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ttv.errors import MediaError
from ttv.store import atomic

log = logging.getLogger(__name__)

KEY_VERSION = 1  # bump when the meaning of a recipe changes, to invalidate old entries


def digest(recipe: Any) -> str:
    """The key of a recipe: sha256 of its canonical JSON."""
    text = json.dumps(
        {"v": KEY_VERSION, "recipe": recipe}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


Validator = Callable[[Path], object]


class Cache:
    """Artifacts by key under one folder, shared by every run that points at it."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, kind: str, key: str, ext: str) -> Path:
        return self.root / kind / key[:2] / f"{key}{ext}"

    def has(self, kind: str, key: str, ext: str) -> bool:
        """True if an artifact is stored under `key` (not checked: for plans and counts)."""
        return self.path(kind, key, ext).exists()

    def lookup(self, kind: str, key: str, ext: str, validate: Validator) -> Path | None:
        """The cached artifact if present and valid; a damaged one is removed."""
        path = self.path(kind, key, ext)
        if not path.exists():
            return None
        try:
            # The bytes were decoded and checked when written; their hash says they
            # are still those bytes (a cut or scribbled file can still half-decode).
            expected = _read(_sum_path(path))
            if not expected:  # written before sums were kept: decode it once
                validate(path)
                _write_sum(path)
            elif file_digest(path) != expected:
                raise MediaError("its bytes changed since it was written and checked")
        except (MediaError, OSError) as exc:
            log.warning(
                "cached %s %s is damaged (%s); making it again", kind, key[:12], exc
            )
            path.unlink(missing_ok=True)
            return None
        return path

    def put(
        self,
        kind: str,
        key: str,
        ext: str,
        make: Callable[[Path], None],
        validate: Validator,
        recipe: Any = None,
    ) -> Path:
        """Make an artifact into the cache atomically; it is validated before it lands."""
        path = self.path(kind, key, ext)
        with atomic.atomic_path(path, validate) as tmp:
            make(tmp)
        _write_sum(path)
        if recipe is not None:
            atomic.write_text(path.with_suffix(".json"), json.dumps(recipe, indent=1))
        return path

    def adopt(
        self, kind: str, key: str, ext: str, source: Path, validate: Validator
    ) -> Path | None:
        """Take a valid file made earlier (a run directory's copy) back into the cache."""
        try:
            validate(source)
        except (MediaError, OSError):
            return None
        path = self.path(kind, key, ext)
        link_or_copy(source, path)
        _write_sum(path)
        return path


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _write_sum(path: Path) -> None:
    atomic.write_text(_sum_path(path), file_digest(path) + "\n")


def link_or_copy(source: Path, dest: Path) -> None:
    """Put `source` at `dest` atomically: a hard link where possible, else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(source, dest):
        return  # already there; rename() between two links of one file does nothing
    tmp = dest.with_name(f".{dest.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        with atomic.atomic_path(dest) as part:
            part.write_bytes(source.read_bytes())
        return
    os.replace(tmp, dest)
