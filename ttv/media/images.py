"""Reading user and model images safely, and writing keyframes that can be trusted.

Every image leaves `load_image` as plain 8-bit RGB, upright, at most `max_side` pixels
on its longer side, so nothing downstream has to care about the odd files users have.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ttv.errors import MediaError
from ttv.store.atomic import atomic_path

log = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 2048

# Used when Pillow's own limit (Image.MAX_IMAGE_PIXELS, ~89 MP) has been switched off.
MAX_PIXELS = 100_000_000

# Transparent areas become white: how viewers and model UIs show transparency, and
# cut-out references (characters, logos) are usually drawn to sit on white.
BACKGROUND = (255, 255, 255)

# Formats that a given extension may legitimately hold (phones write MPO as .jpg).
_SAME_FORMAT = {"MPO": "JPEG"}

# Signatures of common formats Pillow cannot read, for a helpful message.
_UNREADABLE_SIGNATURES = {
    b"ftypheic": "HEIC",
    b"ftypheix": "HEIC",
    b"ftypmif1": "HEIF",
    b"ftypavif": "AVIF",
}

# Our own keyframes are read back at full size (the config allows up to 8K video).
ARTIFACT_MAX_SIDE = 8192

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError)


def load_image(
    path: str | os.PathLike, *, what: str, max_side: int = DEFAULT_MAX_SIDE
) -> Image.Image:
    """Load any image users or models hand us as upright 8-bit RGB, fully decoded."""
    path = Path(path)
    if path.is_dir():
        raise MediaError(f"{what}: {path} is a folder, not an image; name the file")
    if not path.is_file():
        raise MediaError(f"{what}: {path} does not exist; check the path")
    try:
        with _bomb_guard(), Image.open(path) as img:
            _check_pixels(img, path, what)
            _warn_on_extension(img, path, what)
            declared = img.size
            # JPEG only (a no-op elsewhere): decode at 1/2..1/8 scale when the image is
            # far larger than needed, which saves most of the time and memory.
            img.draft(None, (max_side, max_side))
            img.load()
            upright = _exif_upright(img, path, what)
            rgb = _to_rgb(upright, path, what)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(path, what, exc) from exc
    except UnidentifiedImageError as exc:
        raise MediaError(
            f"{what}: {path} is not an image ttv can read{_guess_format(path)}; "
            "convert it to PNG or JPEG"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise MediaError(
            f"{what}: {path} is truncated or corrupt ({exc}); "
            "re-export or re-download it"
        ) from exc
    return _limit_size(rgb, max_side, declared, path, what)


def load_reference(path: str | os.PathLike, *, what: str) -> Image.Image:
    """load_image for a user's reference photo, decoded once per process and version.

    The config check and the run both need it; the file is read again only if it
    changed. Callers must not modify the image they get.
    """
    stat = Path(path).stat()
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size, what)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int, size: int, what: str) -> Image.Image:
    return load_image(path, what=what)


def fit(img: Image.Image, width: int, height: int) -> Image.Image:
    """Scale `img` to cover width x height, then centre-crop to exactly that size."""
    if width <= 0 or height <= 0:
        raise MediaError(f"fit: size must be positive, got {width}x{height}")
    return ImageOps.fit(img, (width, height), method=Image.Resampling.LANCZOS)


def save_png(img: Image.Image, dest: str | os.PathLike) -> Path:
    """Write `img` as PNG atomically, after checking the written file decodes fully."""
    dest = Path(dest)

    def check(tmp: Path) -> None:
        size = validate_image(tmp)
        if size != img.size:
            raise MediaError(f"{dest}: wrote {size}, expected {img.size}")

    with atomic_path(dest, validate=check) as tmp:
        img.save(tmp, format="PNG")
    log.debug("wrote %s (%dx%d)", dest, *img.size)
    return dest


def validate_image(path: str | os.PathLike) -> tuple[int, int]:
    """Fully decode an image file and return its (width, height); MediaError if bad."""
    path = Path(path)
    try:
        with _bomb_guard():
            # verify() checks what load() may let through (PNG chunk CRCs, and a
            # missing end even when ImageFile.LOAD_TRUNCATED_IMAGES is switched on).
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                img.load()
                return img.size
    except FileNotFoundError as exc:
        raise MediaError(f"{path}: no such image file") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(path, "image", exc) from exc
    except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
        raise MediaError(f"{path}: truncated or corrupt image ({exc})") from exc


@contextlib.contextmanager
def _bomb_guard() -> Iterator[None]:
    """Turn Pillow's decompression-bomb warning into an error we report."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _pixel_limit() -> int:
    return Image.MAX_IMAGE_PIXELS or MAX_PIXELS


def _too_large(path: Path, what: str, exc: Exception | None = None) -> MediaError:
    limit = _pixel_limit() / 1e6
    return MediaError(
        f"{what}: {path} is too large to load safely (limit {limit:.0f} megapixels"
        f"{'; ' + str(exc) if exc else ''}); downscale it first"
    )


def _check_pixels(img: Image.Image, path: Path, what: str) -> None:
    width, height = img.size
    if width * height > _pixel_limit():
        raise _too_large(path, what)


def _warn_on_extension(img: Image.Image, path: Path, what: str) -> None:
    expected = Image.registered_extensions().get(path.suffix.lower())
    actual = _SAME_FORMAT.get(img.format, img.format)
    if expected and actual and expected != actual:
        log.warning(
            "%s: %s has extension %s but contains %s data; reading it as %s",
            what,
            path,
            path.suffix,
            img.format,
            img.format,
        )


def _guess_format(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return ""
    for signature, name in _UNREADABLE_SIGNATURES.items():
        if signature in head[:16]:
            return f" (it looks like {name})"
    if b"<svg" in head or b"<?xml" in head:
        return " (it looks like SVG, a vector format)"
    return ""


def _exif_upright(img: Image.Image, path: Path, what: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # a malformed EXIF block must not lose the picture
        log.warning(
            "%s: %s has unreadable EXIF (%s); orientation ignored", what, path, exc
        )
        return img.copy()


def _to_rgb(img: Image.Image, path: Path, what: str) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB with correct colours, flattening alpha."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _deep_to_rgb(img)
    if img.has_transparency_data:
        return _flatten_alpha(img, path, what)
    if img.mode in ("RGB", "CMYK") and img.info.get("icc_profile"):
        converted = _icc_to_srgb(img, path)
        if converted is not None:
            return converted
    if img.mode == "RGB":
        return img
    # CMYK without a profile: Pillow's naive formula (and Adobe's inverted CMYK is
    # already undone by the JPEG decoder). Also L, 1, YCbCr, LAB, HSV.
    return img.convert("RGB")


def _deep_to_rgb(img: Image.Image) -> Image.Image:
    # Image.convert("RGB") clips 16-bit values at 255, turning most pictures white.
    values = np.asarray(img, dtype=np.float64)
    peak = values.max(initial=0)
    if img.mode.startswith("I;16") or peak > 255:
        scale = 65535.0
    elif img.mode == "F" and peak <= 1.0:
        scale = 1.0
    else:
        scale = 255.0
    grey = np.clip(values / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")


def _flatten_alpha(img: Image.Image, path: Path, what: str) -> Image.Image:
    rgba = img.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return rgba.convert("RGB")
    log.warning(
        "%s: %s has transparent areas; flattened onto white (%d,%d,%d)",
        what,
        path,
        *BACKGROUND,
    )
    flat = Image.new("RGB", rgba.size, BACKGROUND)
    flat.paste(rgba, mask=alpha)
    return flat


def _icc_to_srgb(img: Image.Image, path: Path) -> Image.Image | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        return ImageCms.profileToProfile(
            img, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.debug("%s: embedded colour profile unusable (%s); ignoring it", path, exc)
        return None


def _limit_size(
    img: Image.Image, max_side: int, declared: tuple[int, int], path: Path, what: str
) -> Image.Image:
    # `declared` is the stored size: draft() may already have shrunk a JPEG.
    if max(declared) <= max_side:
        return img
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    log.warning(
        "%s: %s is %dx%d; downsized to %dx%d (max side %d)",
        what,
        path,
        *declared,
        *img.size,
        max_side,
    )
    return img
