"""Script writer on Gemini text models, through structured output.

The script schema is sent with the request and the reply is validated back into it; an
invalid or empty reply is asked for again, a bounded number of times.
"""

from __future__ import annotations

import json
import logging
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ttv.backends import register
from ttv.backends.base import ScriptRequest, ScriptWriter
from ttv.backends.google.common import GoogleBackend, GoogleOptions, call
from ttv.errors import BackendError
from ttv.pricing import bill_extra, price
from ttv.script import Character, Script, Shot

log = logging.getLogger(__name__)


class GeminiScriptOptions(GoogleOptions):
    thinking_budget: int | None = Field(
        None, ge=-1, le=32768, description="thinking tokens (-1 dynamic, 0 off)"
    )
    temperature: float | None = Field(None, ge=0, le=2)
    invalid_reply_attempts: int = Field(3, ge=1, le=10)


class _DraftShot(BaseModel):
    # Plain types only: the SDK refuses bounds, Literals and the like in schemas.
    model_config = ConfigDict(extra="ignore")

    transition: str
    characters: list[str]
    start: str | None = None
    end: str
    motion: str
    duration: float


class _Draft(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str
    shots: list[_DraftShot]


@register
class GeminiScriptWriter(GoogleBackend, ScriptWriter):
    """Writes the script with a Gemini text model."""

    name: ClassVar[str] = "gemini"
    Options: ClassVar[type[BaseModel]] = GeminiScriptOptions
    default_model: ClassVar[str | None] = "gemini-2.5-flash"
    what: ClassVar[str] = "the gemini script writer"

    def estimate_usd(self, request: ScriptRequest) -> float:
        """A rough upper estimate: prompt in, a few thousand tokens out."""
        inp = price(self.model, "input_token", self.price_overrides) or 0.0
        out = price(self.model, "output_token", self.price_overrides) or 0.0
        return (len(request.prompt) / 3 + 1500) * inp + 4000 * out

    def write(self, request: ScriptRequest) -> Script:
        from google.genai import types

        system, user = self._prompts(request)
        config = types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_json_schema=_Draft.model_json_schema(),
            temperature=self.options.temperature,
            thinking_config=(
                types.ThinkingConfig(thinking_budget=self.options.thinking_budget)
                if self.options.thinking_budget is not None
                else None
            ),
        )
        problem = "no reply"
        for attempt in range(1, self.options.invalid_reply_attempts + 1):
            response = call(
                lambda: self._client.models.generate_content(
                    model=self.model, contents=user, config=config
                ),
                options=self.options,
                what=f"script writer {self.model}",
                cost_per_try=self.estimate_usd(request),
            )
            try:
                return self._to_script(response.text, request)
            except (ValueError, ValidationError, TypeError) as exc:
                problem = str(exc).splitlines()[0][:200]
                if attempt == self.options.invalid_reply_attempts:
                    break
                bill_extra(self.estimate_usd(request), "script: an invalid reply")
                log.warning(
                    "script writer %s: invalid reply (%s); asking again (try %d of %d)",
                    self.model, problem, attempt + 1, self.options.invalid_reply_attempts,
                )  # fmt: skip
        raise BackendError(
            f"the script writer {self.model} gave no valid script after "
            f"{self.options.invalid_reply_attempts} tries (last problem: {problem}); "
            "try again, change the model, or write the shots in the config"
        )

    def _prompts(self, request: ScriptRequest) -> tuple[str, str]:
        from ttv.pipeline import prompts_dir

        folder = prompts_dir()
        system = (folder / "script_system.txt").read_text(encoding="utf-8")
        cast = "\n".join(
            f"- {c.id}: {c.name or c.id}. {c.description}".rstrip()
            for c in request.characters
        )
        user = (
            (folder / "script_user.txt")
            .read_text(encoding="utf-8")
            .format(
                prompt=request.prompt,
                style=request.style,
                cast=cast or "- (no recurring characters)",
                shot_count=request.shot_count or "between 4 and 8",
                durations=f"{request.default_duration:g}",
            )
        )
        return system, user

    def _to_script(self, text: str | None, request: ScriptRequest) -> Script:
        if not text or not text.strip():
            raise ValueError("empty reply")
        draft = _Draft.model_validate(json.loads(text))
        if not draft.shots:
            raise ValueError("the reply has no shots")
        shots = []
        for i, s in enumerate(draft.shots):
            transition: Literal["cut", "continue", "dissolve"] = (
                s.transition
                if s.transition in ("continue", "dissolve") and i
                else "cut"
            )
            shots.append(
                Shot(
                    transition=transition,
                    characters=_cast(s.characters, request.characters, i),
                    start=None if transition == "continue" else (s.start or s.end),
                    end=s.end,
                    motion=s.motion,
                    duration=request.default_duration,
                )
            )
        return Script(
            title=request.title or draft.title,
            style=request.style,
            characters=request.characters,
            shots=shots,
        )


def _cast(names: list[str], characters: list[Character], index: int) -> list[str]:
    """Map what the model wrote (ids, names, "Chelsea the cat") to character ids."""
    found: list[str] = []
    for written in names:
        text = written.strip().lower()
        match = next(
            (
                c.id
                for c in characters
                if text in (c.id, c.name.lower())
                or c.id in text.split()
                or (c.name and c.name.lower() in text)
            ),
            None,
        )
        if match is None:
            log.warning(
                "script: shot %d names %r, who is not in the cast (%s); left out, so no "
                "reference image is sent for it",
                index + 1, written, ", ".join(c.id for c in characters) or "no cast",
            )  # fmt: skip
        elif match not in found:
            found.append(match)
    return found
