"""Atomic, validated file writes: write to a temporary name, check it, then rename.

A crash at any point leaves either the old file or no file, never a half-written one
that a later resume would trust.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


@contextlib.contextmanager
def atomic_path(
    dest: str | os.PathLike, validate: Callable[[Path], object] | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success validate it and move it into place.

    The temporary name keeps `dest`'s suffix so tools that pick a format by extension
    (ffmpeg, Pillow) still do. If the body or `validate` raises, the temporary is removed
    and `dest` is untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.stem}.", suffix=f".part{dest.suffix}", dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if validate is not None:
            validate(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; artifacts are ordinary files
        _fsync(tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    """Write bytes atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_bytes(dest, text.encode("utf-8"))


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
