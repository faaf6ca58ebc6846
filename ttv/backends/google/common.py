"""What the Google backends share: options, the client, retries and error messages.

Retries follow the provider's rules: 429, 5xx and timeouts retry with exponential
backoff and jitter (a 429's RetryInfo delay is honoured); 400, 401, 403 and 404 never
retry. The SDK's own retries stay off: they ignore RetryInfo and would resend a timed-out
Veo create, which starts (and bills) a second job.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ttv.backends.base import Backend
from ttv.config import ENV_REF, env_secret
from ttv.errors import BackendError, ConfigError
from ttv.pricing import bill_extra

log = logging.getLogger(__name__)

T = TypeVar("T")
DEVELOPER_KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
VERTEX_KEYS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")


class GoogleOptions(BaseModel):
    """Connection options every Google backend takes."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(
        None, description="an environment reference such as ${GEMINI_API_KEY}"
    )
    vertexai: bool = Field(
        False, description="use Vertex AI instead of the Developer API"
    )
    project: str | None = None
    location: str | None = None
    base_url: str | None = Field(None, description="any compatible endpoint")
    api_version: str | None = None
    timeout: float = Field(120.0, gt=0, le=3600, description="seconds per request")
    max_attempts: int = Field(5, ge=1, le=20)
    max_wait: float = Field(
        120.0, ge=0, le=3600, description="longest wait between tries"
    )

    @field_validator("api_key")
    @classmethod
    def _reference_only(cls, value: str | None) -> str | None:
        if value is not None and not ENV_REF.match(value):
            # Never echo the value: it may be a real key pasted by mistake.
            raise ValueError(
                "write an environment reference such as ${GEMINI_API_KEY}, never the "
                "key itself (the value given was not shown)"
            )
        return value


def make_client(options: GoogleOptions, *, vertex: bool, what: str):
    """A genai.Client for `options`, or ConfigError saying what to set."""
    from google import genai
    from google.genai import types

    vertex = vertex or options.vertexai
    # Express-mode Vertex keys live in GOOGLE_API_KEY; Gemini keys in GEMINI_API_KEY.
    key = env_secret(options.api_key, *(VERTEX_KEYS if vertex else DEVELOPER_KEYS))
    http = types.HttpOptions(
        base_url=options.base_url,
        api_version=options.api_version,
        timeout=int(options.timeout * 1000),
    )
    if vertex:
        project = options.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        location = options.location or os.environ.get("GOOGLE_CLOUD_LOCATION")
        if project:
            return genai.Client(
                vertexai=True,
                project=project,
                location=location or "us-central1",
                http_options=http,
            )
        if key:
            return genai.Client(vertexai=True, api_key=key, http_options=http)
        raise ConfigError(
            f"{what} runs on Vertex AI: set GOOGLE_CLOUD_PROJECT (and "
            "GOOGLE_CLOUD_LOCATION) with application default credentials, or set "
            "GOOGLE_API_KEY to a Vertex express-mode key"
        )
    if not key:
        raise ConfigError(
            f"{what} needs a Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) in "
            "the environment, or name another variable with api_key: ${VAR}"
        )
    return genai.Client(vertexai=False, api_key=key, http_options=http)


class GoogleBackend(Backend):
    """What the three Google backends share: the client, its checks, volatile options."""

    paid: ClassVar[bool] = True
    vertex: ClassVar[bool] = False  # Veo runs only on Vertex AI in google-genai 3.x
    what: ClassVar[str] = "the Google backend"

    def __init__(self, options, model=None):
        super().__init__(options, model)
        self._client = None

    def volatile_options(self) -> set[str]:
        # Where and how the API is reached does not change what it makes.
        return set(GoogleOptions.model_fields) - {"vertexai"}

    def preflight(self) -> None:
        self._client = make_client(self.options, vertex=self.vertex, what=self.what)

    def verify(self) -> None:
        """Ask for the model's metadata (free): a rejected key or unknown model fails."""
        call(
            lambda: self._client.models.get(model=self.model),
            options=self.options,
            what=f"{self.what} {self.model}",
        )


NEVER_SENT = ("ConnectError", "ConnectTimeout")  # the request never left this machine


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error, or None for transport errors."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def is_timeout(exc: BaseException) -> bool:
    """True for the HTTP library's timeouts (the SDK does not wrap them)."""
    return isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__


def is_transport(exc: BaseException) -> bool:
    """True for connection-level failures: the request may never have been sent."""
    return type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore"}


def retryable(exc: BaseException) -> bool:
    """429, 5xx, timeouts and connection failures are worth another try."""
    status = status_of(exc)
    if status is not None:
        return status == 429 or status >= 500
    return is_timeout(exc) or is_transport(exc)


def retry_delay(exc: BaseException) -> float | None:
    """The RetryInfo delay a 429 carries, in seconds, if any."""
    found = _find_key(getattr(exc, "details", None), "retryDelay")
    if isinstance(found, str):
        match = re.fullmatch(r"\s*([0-9.]+)s\s*", found)
        if match:
            return float(match.group(1))
    return None


def _find_key(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        if key in data:
            return data[key]
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            found = _find_key(item, key)
            if found is not None:
                return found
    return None


class _Wait:
    """Exponential backoff with jitter, or the server's RetryInfo delay when it gave one."""

    def __init__(self, max_wait: float):
        self.backoff = wait_exponential_jitter(initial=1, max=max_wait, jitter=1)
        self.max_wait = max_wait

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = retry_delay(exc) if exc else None
        if delay is not None:
            return delay  # the server knows when its quota refills
        return self.backoff(state)


def call(
    fn: Callable[[], T],
    *,
    options: GoogleOptions,
    what: str,
    retry_if: Callable[[BaseException], bool] = retryable,
    cost_per_try: float = 0.0,
) -> T:
    """Run one API call with the retry policy; errors come back as ttv errors.

    A try that timed out may still have been done (and billed) by the server:
    `cost_per_try` is booked for it before the next try.
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception()
        if status_of(exc) is None and type(exc).__name__ not in NEVER_SENT:
            bill_extra(cost_per_try, f"{what}: a try without an answer")
        log.warning(
            "%s: %s; retrying in %.1f s (attempt %d of %d)",
            what, describe(exc), state.upcoming_sleep, state.attempt_number + 1,
            options.max_attempts,
        )  # fmt: skip

    retrying = Retrying(
        retry=retry_if_exception(retry_if),
        wait=_Wait(options.max_wait),
        stop=stop_after_attempt(options.max_attempts),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except BackendError:
        raise
    except Exception as exc:
        raise translate(exc, what) from exc


def describe(exc: BaseException) -> str:
    """A short, key-free description of an SDK or transport error."""
    status = status_of(exc)
    if status is not None:
        label = getattr(exc, "status", None) or ""
        message = getattr(exc, "message", None) or ""
        return f"HTTP {status} {label}: {message}".strip().rstrip(":")
    if is_timeout(exc):
        return "the request timed out"
    return f"{type(exc).__name__}: {exc}"


def translate(exc: BaseException, what: str) -> Exception:
    """Turn an SDK error into a ttv error that says what to do."""
    status = status_of(exc)
    text = describe(exc)
    if status in (401, 403) or "API_KEY_INVALID" in str(getattr(exc, "details", "")):
        return ConfigError(
            f"{what}: the key was rejected ({text}); check GEMINI_API_KEY / "
            "GOOGLE_API_KEY or your Vertex credentials"
        )
    if status == 404:
        return ConfigError(f"{what}: not found ({text}); check the model id")
    if status == 400:
        return BackendError(f"{what}: the request was refused ({text})")
    if status == 429:
        return BackendError(
            f"{what}: still rate limited after retries ({text}); lower the stage's "
            "concurrency or try later; finished work is cached"
        )
    return BackendError(f"{what}: {text}; finished work is cached, run again to retry")
