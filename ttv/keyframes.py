"""The keyframe stage: character references in, a chain of keyframes out.

Each keyframe is made image-to-image from the previous keyframe plus the reference images
of the characters in its shot, so faces, costumes and style carry through the story.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from ttv.backends.base import KeyframeRequest, Reference
from ttv.backends.limits import limiter
from ttv.context import RunContext
from ttv.errors import BackendError, TTVError
from ttv.media.images import (
    ARTIFACT_MAX_SIDE,
    fit,
    load_image,
    load_reference,
    validate_image,
)
from ttv.plan import KeyframeStep
from ttv.script import Script
from ttv.store.cache import file_digest

log = logging.getLogger(__name__)


def load_references(script: Script) -> tuple[dict[str, Reference], dict[str, str]]:
    """Ingest every character's reference image: (references by id, content keys by id)."""
    references: dict[str, Reference] = {}
    keys: dict[str, str] = {}
    for character in script.characters:
        if character.reference is None:
            continue
        image = load_reference(
            character.reference, what=f"reference image of character '{character.id}'"
        )
        references[character.id] = Reference(character=character, image=image)
        keys[character.id] = file_digest(character.reference)
    return references, keys


def ensure(
    ctx: RunContext, step: KeyframeStep, references: dict[str, Reference]
) -> Path:
    """The keyframe of `step` in the cache (made if missing) and in the run directory."""
    dest = ctx.run_dir.keyframe(step.name)
    cached = _find(ctx, step, dest)
    if cached is None:
        cached = _make(ctx, step, references)
    else:
        ctx.stats.hit("keyframes")
        log.info("keyframe %s: cache hit", step.name)
    ctx.run_dir.publish(cached, dest, _entry(step))
    return cached


def _find(ctx: RunContext, step: KeyframeStep, dest: Path) -> Path | None:
    found = ctx.cache.lookup("keyframe", step.key, ".png", validate_image)
    if found is None and (ctx.run_dir.entry(dest) or {}).get("key") == step.key:
        # The cache was cleared but the run directory still has this exact keyframe.
        found = ctx.cache.adopt("keyframe", step.key, ".png", dest, validate_image)
    return found


def _make(
    ctx: RunContext, step: KeyframeStep, references: dict[str, Reference]
) -> Path:
    out = ctx.output
    previous = None
    if step.previous is not None:
        previous_path = ctx.cache.path("keyframe", step.previous.key, ".png")
        previous = load_image(
            previous_path,
            what=f"keyframe {step.previous.name}",
            max_side=ARTIFACT_MAX_SIDE,
        )
    request = KeyframeRequest(
        shot=ctx.plan.script.shots[step.shot_index],
        shot_index=step.shot_index,
        which=step.which,
        prompt=step.prompt,
        text=step.text,
        style=ctx.plan.script.style,
        previous=previous,
        references=[references[c] for c in step.cast if c in references],
        width=out.width,
        height=out.height,
        seed=step.seed,
    )
    backend = ctx.images
    log.info(
        "keyframe %s: generating with %s (%s)", step.name, backend.name, backend.model
    )
    ctx.stats.call("keyframes")
    with (
        ctx.ledger.charge("keyframes", backend.estimate_usd(), f"keyframe {step.name}"),
        limiter("keyframes", backend.name, ctx.config.model.keyframes.concurrency),
    ):
        try:
            image = backend.generate(request)
        except TTVError:
            raise
        except Exception as exc:  # a backend's own bug must still name the shot
            raise BackendError(
                f"keyframe {step.name}: the {backend.name} image backend failed: {exc}"
            ) from exc
    image = _to_frame(image, out.width, out.height, step.name)
    return ctx.cache.put(
        "keyframe",
        step.key,
        ".png",
        lambda tmp: image.save(tmp, format="PNG"),
        validate_image,
        recipe=step.recipe,
    )


def _to_frame(image: Image.Image, width: int, height: int, name: str) -> Image.Image:
    """Fit a model's image to the video size; both keyframes of a clip must match."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (width, height):
        log.info(
            "keyframe %s: fitting %dx%d to the video size %dx%d (centre crop)",
            name,
            *image.size,
            width,
            height,
        )
        image = fit(image, width, height)
    return image


def _entry(step: KeyframeStep) -> dict:
    return {
        "kind": "keyframe",
        "key": step.key,
        "backend": step.recipe["backend"],
        "prompt": step.prompt,
        "previous": step.previous.name if step.previous else None,
        "characters": step.cast,
        "seed": step.seed,
    }
