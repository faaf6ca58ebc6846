"""Small Pillow helpers shared by the offline keyframe and clip renderers."""

from __future__ import annotations

from PIL import Image

RGB = tuple[int, int, int]


def as_rgb(image: Image.Image, matte: RGB = (0, 0, 0)) -> Image.Image:
    """Return the image as RGB, laying any transparency over `matte`."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, matte)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")
