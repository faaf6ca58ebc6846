"""The errors ttv raises. Library code raises these; only the CLI maps them to exit codes.

Every message names the file, field or shot involved, the value received and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass


class TTVError(Exception):
    """Base of every error ttv reports to a user."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, what was received, what to do."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(TTVError):
    """The config, script or command line is wrong. Carries every problem found at once."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str, *, source: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(source or "config", problems)]
        self.problems = list(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) in {source}" if source else "bad input"
        lines = [head + ":"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class UsageError(TTVError):
    """The command line asks for something that cannot be done."""

    exit_code = 2


class MediaError(TTVError):
    """A media file could not be read, written or validated."""


class BackendError(TTVError):
    """A backend call failed in a way a retry will not fix."""


class RunError(TTVError):
    """A run could not finish; the run directory stays resumable."""


class LastFrameRefused(BackendError):
    """A video model refused a last frame; the run switches to first-frame chaining."""
