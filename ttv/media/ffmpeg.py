"""Finding and running the ffmpeg binary.

Probing never needs ffprobe (a pip-only install has none); see `ttv.media.probe`.
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from ttv.errors import MediaError

log = logging.getLogger(__name__)

ENV_VAR = "TTV_FFMPEG"

INSTALL_HINT = (
    "install ffmpeg (e.g. `apt install ffmpeg` or `brew install ffmpeg`), or "
    "`pip install imageio-ffmpeg`, or set TTV_FFMPEG to the path of an ffmpeg binary"
)

# Messages ffmpeg prints at -loglevel error that say nothing about the cause.
_NOISE = (
    "conversion failed!",
    "error while filtering",
    "nothing was written into output file",
)


@functools.cache
def ffmpeg_exe() -> str:
    """Return the ffmpeg binary to use: $TTV_FFMPEG, then PATH, then imageio-ffmpeg."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise MediaError(
                f"{ENV_VAR}={configured!r} is not a file; point it at an ffmpeg binary "
                f"or unset it to use the one on PATH"
            )
        if not os.access(path, os.X_OK):
            raise MediaError(f"{ENV_VAR}={configured!r} is not executable; chmod +x it")
        return str(path)

    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path

    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # ImportError, or RuntimeError when it has no binary
        raise MediaError(f"no ffmpeg binary found ({exc}); {INSTALL_HINT}") from exc


def ffmpeg_version() -> str:
    """Check that the chosen binary runs and is ffmpeg; return its version line."""
    exe = ffmpeg_exe()
    return _version(exe, f"{ENV_VAR}={exe}" if os.environ.get(ENV_VAR) else exe)


@functools.cache
def _version(exe: str, source: str) -> str:
    try:
        proc = subprocess.run(
            [exe, "-hide_banner", "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MediaError(
            f"cannot run ffmpeg ({source}): {exc}; {INSTALL_HINT}"
        ) from exc
    first = proc.stdout.decode(errors="replace").splitlines()[:1]
    if proc.returncode != 0 or not first or not first[0].startswith("ffmpeg version"):
        raise MediaError(
            f"{source} does not answer like ffmpeg (`-version` gave exit code "
            f"{proc.returncode}); {INSTALL_HINT}"
        )
    log.debug("using %s: %s", exe, first[0])
    return first[0]


def ffmpeg_command(args: list[str]) -> list[str]:
    """Return the full command line for running ffmpeg with `args`."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]


def run_ffmpeg(args: list[str], *, what: str) -> None:
    """Run ffmpeg with `args`; raise MediaError carrying ffmpeg's last error lines."""
    cmd = ffmpeg_command(args)
    log.debug("%s: %s", what, shlex.join(cmd))
    try:
        # Own session: a terminal's Ctrl-C reaches ttv, which lets running work finish;
        # it must not kill ffmpeg in the middle of that work.
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, start_new_session=True
        )
    except OSError as exc:
        msg = f"{what} failed: cannot run {cmd[0]}: {exc}; {INSTALL_HINT}"
        raise MediaError(msg) from exc
    if proc.returncode != 0:
        detail = stderr_tail(proc.stderr) or f"exit code {proc.returncode}"
        raise MediaError(f"{what} failed: {detail}")


def stderr_tail(stderr: bytes | str, lines: int = 3) -> str:
    """Return the last meaningful lines of ffmpeg's stderr, joined with ' | '."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", errors="replace")
    meaningful = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and line.strip().lower() not in _NOISE
    ]
    return " | ".join(meaningful[-lines:])
