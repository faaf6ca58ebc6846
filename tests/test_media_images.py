"""Image ingest and keyframe files (ttv.media.images)."""

from __future__ import annotations

import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ttv.errors import MediaError
from ttv.media.images import BACKGROUND, fit, load_image, save_png, validate_image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def close_to(pixel, colour, tolerance=12) -> bool:
    return max(abs(int(a) - b) for a, b in zip(pixel, colour, strict=True)) <= tolerance


def noise_image(width=64, height=64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), np.uint8))


def png_declaring(path, width, height):
    """A PNG whose header declares width x height; only the header is ever read."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", rows)
        + chunk(b"IEND", b"")
    )
    return path


def test_exif_orientation_is_applied(tmp_path):
    # Stored landscape with a red marker top-left; orientation 6 = rotate 90 CW.
    img = Image.new("RGB", (80, 40), WHITE)
    img.paste(RED, (0, 0, 12, 12))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)

    loaded = load_image(path, what="reference")
    assert loaded.size == (40, 80)
    assert close_to(loaded.getpixel((35, 4)), RED)  # now top-right
    assert close_to(loaded.getpixel((4, 4)), WHITE)


def test_cmyk_jpeg_has_correct_colours(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(path, quality=95)
    loaded = load_image(path, what="reference")
    assert loaded.mode == "RGB"
    assert close_to(loaded.getpixel((16, 16)), RED)


def test_transparent_areas_are_flattened_with_a_warning(tmp_path, caplog):
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 20, 40))
    path = tmp_path / "cutout.png"
    img.save(path)

    with caplog.at_level(logging.WARNING, logger="ttv.media.images"):
        loaded = load_image(path, what="reference for 'mara'")
    assert loaded.mode == "RGB"
    assert loaded.getpixel((5, 20)) == BLUE
    assert loaded.getpixel((35, 20)) == BACKGROUND == WHITE
    assert any(
        "'mara'" in r.message and "transparent" in r.message for r in caplog.records
    )


def test_opaque_alpha_channel_is_dropped_silently(tmp_path, caplog):
    path = tmp_path / "opaque.png"
    Image.new("RGBA", (8, 8), (10, 20, 30, 255)).save(path)
    with caplog.at_level(logging.WARNING, logger="ttv.media.images"):
        assert load_image(path, what="x").getpixel((1, 1)) == (10, 20, 30)
    assert not caplog.records


def test_palette_with_transparency_is_flattened(tmp_path):
    img = Image.new("P", (20, 20), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    img.paste(1, (0, 0, 10, 20))
    path = tmp_path / "palette.png"
    img.save(path, transparency=0)
    loaded = load_image(path, what="x")
    assert loaded.getpixel((2, 10)) == RED
    assert loaded.getpixel((15, 10)) == BACKGROUND


def test_16_bit_png_keeps_its_tones(tmp_path):
    values = np.full((10, 20), 16448, np.uint16)  # a quarter of full scale
    values[:, :10] = 65535
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as stored:
        assert stored.mode.startswith("I")
    loaded = load_image(path, what="x")
    assert loaded.getpixel((2, 5)) == WHITE
    assert close_to(loaded.getpixel((15, 5)), (64, 64, 64), tolerance=1)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "I", "F", "RGB", "CMYK"])
def test_every_common_mode_loads_as_rgb(tmp_path, mode):
    path = tmp_path / "img.tiff"
    Image.new("RGB", (30, 20), (200, 100, 50)).convert(mode).save(path)
    loaded = load_image(path, what="x")
    assert loaded.mode == "RGB" and loaded.size == (30, 20)


def test_wrong_extension_loads_by_content_with_a_warning(tmp_path, caplog):
    path = tmp_path / "actually-jpeg.png"
    Image.new("RGB", (16, 16), RED).save(path, format="JPEG")
    with caplog.at_level(logging.WARNING, logger="ttv.media.images"):
        loaded = load_image(path, what="x")
    assert close_to(loaded.getpixel((8, 8)), RED)
    assert any("contains JPEG" in r.message for r in caplog.records)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_a_media_error(tmp_path, fmt):
    path = tmp_path / f"half.{fmt.lower()}"
    noise_image().save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=f"'mara'.*half.{fmt.lower()}.*truncated"):
        load_image(path, what="reference for 'mara'")
    with pytest.raises(MediaError, match=f"half.{fmt.lower()}"):
        validate_image(path)


def test_decompression_bomb_is_refused(tmp_path):
    path = png_declaring(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(MediaError, match="bomb.png.*too large.*megapixels"):
        load_image(path, what="x")
    with pytest.raises(MediaError, match="too large"):
        validate_image(path)


def test_large_image_is_downsized_with_a_warning(tmp_path, caplog):
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 200), RED).save(path)
    with caplog.at_level(logging.WARNING, logger="ttv.media.images"):
        loaded = load_image(path, what="x", max_side=100)
    assert loaded.size == (100, 50)
    assert any("400x200" in r.message and "100x50" in r.message for r in caplog.records)


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path, caplog):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 400), BLUE).save(path)
    with caplog.at_level(logging.WARNING, logger="ttv.media.images"):
        loaded = load_image(path, what="x", max_side=100)
    assert loaded.size == (100, 50)
    assert close_to(loaded.getpixel((50, 25)), BLUE)
    assert any("800x400" in r.message for r in caplog.records)


def test_unreadable_format_says_what_it_looks_like(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100)
    with pytest.raises(MediaError, match="photo.jpg.*HEIC.*convert it to PNG or JPEG"):
        load_image(path, what="x")


def test_missing_image_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match="'mara'.*gone.png"):
        load_image(tmp_path / "gone.png", what="reference for 'mara'")


def test_fit_covers_then_centre_crops(tmp_path):
    img = Image.new("RGB", (200, 100), RED)
    img.paste(BLUE, (100, 0, 200, 100))
    fitted = fit(img, 50, 50)
    assert fitted.size == (50, 50)
    assert close_to(fitted.getpixel((5, 25)), RED)
    assert close_to(fitted.getpixel((45, 25)), BLUE)
    assert fit(img, 64, 16).size == (64, 16)


def test_save_png_is_atomic_and_validated(tmp_path):
    img = noise_image(48, 32)
    dest = save_png(img, tmp_path / "keyframes" / "k1.png")
    assert validate_image(dest) == (48, 32)
    with Image.open(dest) as written:
        assert np.array_equal(np.asarray(written), np.asarray(img))
    assert [p.name for p in dest.parent.iterdir()] == ["k1.png"]
