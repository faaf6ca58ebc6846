"""Errors in Google's shape, and the faults a test queues to make the fake misbehave."""

from __future__ import annotations

from dataclasses import dataclass, field


class ApiError(Exception):
    """An error answer in Google's shape: {"error": {code, status, message, ...}}."""

    def __init__(self, code: int, status: str, message: str, details=()):
        super().__init__(message)
        self.code, self.status, self.details = code, status, list(details)

    def body(self) -> dict:
        error = {"code": self.code, "message": str(self), "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class RawReply(ApiError):
    """A Fault.raw with a non-200 status: sent as given, not in Google's shape."""

    def __init__(self, status: int, body: dict):
        super().__init__(status, "", "raw fault")
        self._raw = body

    def body(self) -> dict:
        return self._raw


def invalid(message: str) -> ApiError:
    """400 INVALID_ARGUMENT, the service's answer to a malformed request."""
    return ApiError(400, "INVALID_ARGUMENT", message)


ANY_ENDPOINT = frozenset(
    {"generateContent", "predictLongRunning", "fetchPredictOperation", "getModel"}
)
FAULT_ENDPOINTS = {
    "error": ANY_ENDPOINT,
    "slow": ANY_ENDPOINT,
    "raw": ANY_ENDPOINT,
    "hang_up": ANY_ENDPOINT,
    "text_only": {"generateContent"},
    "image_finish": {"generateContent"},
    "prompt_blocked": {"generateContent"},
    "invalid_json": {"generateContent"},
    "empty_reply": {"generateContent"},
    "never_finishes": {"predictLongRunning"},
    "filtered": {"predictLongRunning"},
    "operation_error": {"predictLongRunning"},
    "vanishes": {"predictLongRunning"},
}


@dataclass(frozen=True)
class Fault:
    """One misbehaviour; build it with the class methods, queue it with fail_next."""

    kind: str
    params: dict = field(default_factory=dict)

    @classmethod
    def error(cls, code: int, status: str, message: str, details=()) -> Fault:
        """Any HTTP error in Google's shape."""
        return cls("error", {"error": ApiError(code, status, message, details)})

    @classmethod
    def rate_limited(cls, retry_delay: str = "2s") -> Fault:
        """429 RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail."""
        retry = {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": retry_delay,
        }
        message = "You exceeded your current quota. Please retry later."
        return cls.error(429, "RESOURCE_EXHAUSTED", message, [retry])

    @classmethod
    def unavailable(cls, message: str = "The model is overloaded.") -> Fault:
        """503 UNAVAILABLE."""
        return cls.error(503, "UNAVAILABLE", message)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally after `seconds` (capped by the fake's max_sleep)."""
        return cls("slow", {"seconds": float(seconds)})

    @classmethod
    def hang_up(cls) -> Fault:
        """Do the work (a Veo job starts), then close the connection with no answer."""
        return cls("hang_up")

    @classmethod
    def raw(cls, body: dict, status: int = 200) -> Fault:
        """Answer with exactly this JSON body and status."""
        return cls("raw", {"body": body, "status": status})

    @classmethod
    def text_only(cls, text: str = "I can't draw that.") -> Fault:
        """Image request answered with text parts only and finishReason STOP."""
        return cls("text_only", {"text": text})

    @classmethod
    def image_finish(cls, reason: str = "IMAGE_SAFETY") -> Fault:
        """A candidate with this finishReason and `content: {"role": "model"}` only."""
        return cls("image_finish", {"reason": reason})

    @classmethod
    def prompt_blocked(cls, reason: str = "SAFETY") -> Fault:
        """No candidates; promptFeedback.blockReason set."""
        return cls("prompt_blocked", {"reason": reason})

    @classmethod
    def invalid_json(cls, text: str = '{"title": "unterminated') -> Fault:
        """A structured-output reply whose text is not JSON."""
        return cls("invalid_json", {"text": text})

    @classmethod
    def empty_reply(cls, finish_reason: str = "STOP") -> Fault:
        """A candidate with no parts at all (response.text is None)."""
        return cls("empty_reply", {"reason": finish_reason})

    @classmethod
    def never_finishes(cls) -> Fault:
        """The Veo operation stays running on every poll."""
        return cls("never_finishes")

    @classmethod
    def filtered(cls, reasons=("The prompt was filtered.",), count: int = 1) -> Fault:
        """The Veo operation finishes with raiMediaFilteredCount and no videos."""
        return cls("filtered", {"reasons": list(reasons), "count": count})

    @classmethod
    def operation_error(cls, code: int = 13, message: str = "Internal error.") -> Fault:
        """The Veo operation finishes with `error: {code, message}`."""
        return cls("operation_error", {"code": code, "message": message})

    @classmethod
    def vanishes(cls) -> Fault:
        """Polling the Veo operation answers 404 NOT_FOUND."""
        return cls("vanishes")


@dataclass
class QueuedFault:
    """A fault waiting in fail_next's queue; `remaining` None means forever."""

    endpoint: str
    model: str | None
    fault: Fault
    remaining: int | None
