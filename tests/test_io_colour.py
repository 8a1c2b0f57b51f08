"""Tests of colour management: profiles other than sRGB are converted to sRGB on decode and
back on encode, never silently reinterpreted; LittleCMS (Pillow's ImageCms) is the reference.
"""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import PIL.Image
import pytest
from PIL import ImageCms

from csrtouch.errors import EncodeError
from csrtouch.io import Image, colour, decode_bytes, encode_bytes
from csrtouch.io.colour import Curve, read_profile, rgb_profile

P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_PRIMARIES = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
DISPLAY_P3 = rgb_profile("Display P3", P3_PRIMARIES, colour.SRGB_CURVE)
ADOBE_RGB = rgb_profile("Adobe RGB (1998)", ADOBE_PRIMARIES, Curve.gamma(563 / 256))
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def gray_profile(gamma: float) -> bytes:
    """A minimal ICC v2 gray profile: a gamma 'curv' kTRC and a white point."""
    desc = b"desc\0\0\0\0" + struct.pack(">I", 9) + b"Gray 2.2\0" + bytes(4 + 4 + 2 + 1 + 67)
    wtpt = b"XYZ \0\0\0\0" + struct.pack(">3i", 63190, 65536, 54061)
    ktrc = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"kTRC", ktrc)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        table += struct.pack(">4sII", sig, offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x02100000, b"mntr", b"GRAY", b"XYZ ")
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + struct.pack(">3i", 63190, 65536, 54061)
        + bytes(128 - 80)
    )
    return header + table + body


def littlecms(pixels: np.ndarray, source: bytes, target: bytes) -> np.ndarray:
    transform = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(source)),
        ImageCms.ImageCmsProfile(io.BytesIO(target)),
        "RGB",
        "RGB",
    )
    out = ImageCms.applyTransform(PIL.Image.fromarray(pixels), transform)
    assert out is not None
    return np.asarray(out)


def colours(depth: int = 8, seed: int = 0) -> np.ndarray:
    dtype = np.uint8 if depth == 8 else np.uint16
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, (24, 32, 3), dtype=dtype, endpoint=True)


def in_srgb_gamut(profile: bytes, depth: int = 8) -> np.ndarray:
    """Colours in ``profile``'s encoding that are inside sRGB, so a round trip can keep them."""
    top = np.iinfo(np.uint8 if depth == 8 else np.uint16).max
    srgb = (colours(depth).astype(np.float64) * 0.8 + 0.1 * top).astype(colours(depth).dtype)
    space = read_profile(profile).shaper
    assert space is not None
    return colour._convert(srgb, colour.SRGB, space)


def stored(data: bytes) -> np.ndarray:
    """The RGB values as written in a file, read without any colour management."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert array is not None
    return np.ascontiguousarray(array[..., 2::-1])


def png_with(pixels: np.ndarray, icc: bytes | None) -> bytes:
    data = cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]))[1].tobytes()
    image = decode_bytes(data)
    image.icc_profile = icc
    return encode_bytes(image, format="png")


# --- profiles ---------------------------------------------------------------------------


@pytest.mark.parametrize(("icc", "name"), [(DISPLAY_P3, "Display P3"), (ADOBE_RGB, "Adobe RGB (1998)")])
def test_made_profiles_are_valid_for_littlecms(icc: bytes, name: str) -> None:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert ImageCms.getProfileDescription(profile).strip() == name
    parsed = read_profile(icc)
    assert parsed.space == "RGB" and parsed.description == name and parsed.shaper is not None
    assert not parsed.shaper.is_srgb()


def test_srgb_profiles_are_recognised() -> None:
    for icc in (SRGB, rgb_profile("sRGB", colour.SRGB_PRIMARIES, colour.SRGB_CURVE)):
        shaper = read_profile(icc).shaper
        assert shaper is not None and shaper.is_srgb()


@pytest.mark.parametrize("icc", [DISPLAY_P3, ADOBE_RGB], ids=["p3", "adobe"])
def test_numpy_conversion_matches_littlecms(icc: bytes) -> None:
    shaper = read_profile(icc).shaper
    assert shaper is not None
    pixels = colours()
    to_srgb = colour._convert(pixels, shaper, colour.SRGB).astype(int)
    assert np.abs(to_srgb - littlecms(pixels, icc, SRGB)).max() <= 1
    from_srgb = colour._convert(pixels, colour.SRGB, shaper).astype(int)
    assert np.abs(from_srgb - littlecms(pixels, SRGB, icc)).max() <= 1


def test_curve_tags() -> None:
    x = np.linspace(0, 1, 101)
    gamma = colour._curve(b"curv\0\0\0\0" + struct.pack(">IH", 1, 563))
    np.testing.assert_allclose(gamma.forward(x), x ** (563 / 256))
    table = (np.linspace(0, 1, 1024) ** 2.2 * 65535).round().astype(">u2")
    sampled = colour._curve(b"curv\0\0\0\0" + struct.pack(">I", 1024) + table.tobytes())
    np.testing.assert_allclose(sampled.forward(x), x**2.2, atol=1e-3)
    # Where the table is flat (the first few samples round to 0) any inverse will do.
    np.testing.assert_allclose(sampled.forward(sampled.inverse(x)), x, atol=2e-3)
    identity = colour._curve(b"curv\0\0\0\0" + struct.pack(">I", 0))
    np.testing.assert_allclose(identity.forward(x), x)
    y = colour.SRGB_CURVE.forward(x)
    np.testing.assert_allclose(colour.SRGB_CURVE.inverse(y), x, atol=1e-9)
    with pytest.raises(ValueError, match="malformed or unsupported curve tag"):
        colour._curve(b"mAB \0\0\0\0")


# --- decode and encode ------------------------------------------------------------------


@pytest.mark.parametrize("icc", [DISPLAY_P3, ADOBE_RGB], ids=["p3", "adobe"])
def test_8_bit_wide_gamut_is_converted_and_written_back(icc: bytes) -> None:
    pixels = in_srgb_gamut(icc)
    image = decode_bytes(png_with(pixels, icc))
    assert image.from_profile and image.icc_profile == icc and image.warnings == []
    assert np.abs(image.pixels.astype(int) - littlecms(pixels, icc, SRGB)).max() <= 1
    for fmt in ("png", "tiff", "jpeg", "webp"):
        written = encode_bytes(image, format=fmt, quality=100)
        with PIL.Image.open(io.BytesIO(written)) as pil:
            assert pil.info.get("icc_profile") == icc
        back = decode_bytes(written)
        assert back.from_profile and back.icc_profile == icc
        if fmt in ("png", "tiff"):
            # In the file: the original encoding, give or take the 8-bit sRGB step between.
            assert np.abs(stored(written).astype(int) - pixels).max() <= 2


def test_16_bit_wide_gamut_round_trip_is_nearly_exact() -> None:
    pixels = in_srgb_gamut(DISPLAY_P3, depth=8).astype(np.uint16) * 257
    data = cv2.imencode(".tif", np.ascontiguousarray(pixels[..., ::-1]))[1].tobytes()
    image = decode_bytes(data)
    image.icc_profile = DISPLAY_P3
    tagged = encode_bytes(image, format="tiff")

    decoded = decode_bytes(tagged)
    assert decoded.from_profile and decoded.bit_depth == 16
    reference = littlecms((pixels // 257).astype(np.uint8), DISPLAY_P3, SRGB).astype(float)
    assert np.abs(decoded.pixels / 257 - reference).max() < 1
    written = encode_bytes(decoded, format="tiff")
    assert np.abs(stored(written).astype(int) - pixels).max() <= 2  # of 65535


def test_colours_outside_srgb_are_clipped_not_shifted() -> None:
    """P3's pure green is outside sRGB: it reaches the model as sRGB's greenest green."""
    green = np.zeros((4, 4, 3), np.uint8)
    green[..., 1] = 255
    image = decode_bytes(png_with(green, DISPLAY_P3))
    assert image.pixels[0, 0, 1] == 255 and image.pixels[0, 0, 0] == 0
    back = stored(encode_bytes(image, format="png"))
    assert back[0, 0, 1] > back[0, 0, 0] + 100 and back[0, 0, 1] > back[0, 0, 2] + 100


def test_srgb_tagged_pixels_are_untouched() -> None:
    pixels = colours()
    image = decode_bytes(png_with(pixels, SRGB))
    assert not image.from_profile and image.warnings == []
    np.testing.assert_array_equal(image.pixels, pixels)


def test_gray_profile() -> None:
    gray = np.repeat(colours()[..., :1], 3, axis=2)
    icc = gray_profile(2.2)
    data = encode_bytes(Image(gray, None, "png", True, icc, None, None), format="png")
    image = decode_bytes(data)
    assert image.grayscale and image.from_profile and image.warnings == []
    assert (image.pixels[..., 0] == image.pixels[..., 1]).all()
    expected = colour.SRGB_CURVE.inverse((gray[..., 0] / 255) ** (563 / 256)) * 255
    assert np.abs(image.pixels[..., 0] - expected).max() <= 0.51
    written = encode_bytes(image, format="png")
    assert PIL.Image.open(io.BytesIO(written)).mode == "L"
    back = np.asarray(PIL.Image.open(io.BytesIO(written))).astype(int)
    error = np.abs(back - gray[..., 0])
    # sRGB has fewer 8-bit codes than gamma 2.2 for the darkest grays: those merge.
    assert error[gray[..., 0] >= 32].max() <= 1 and error.max() <= 8


@pytest.mark.parametrize(
    ("icc", "warning"),
    [
        (
            gray_profile(2.2),
            "its ICC colour profile ('Gray 2.2') is for GRAY data, not RGB; ignored, colours taken as sRGB",
        ),
        (
            b"not a profile at all",
            "its ICC colour profile is unreadable (not an ICC profile); colours taken as sRGB",
        ),
        (
            ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),
            "its ICC colour profile ('Lab identity built-in') is for Lab data, not RGB; ignored, colours taken as sRGB",
        ),
    ],
    ids=["gray-on-rgb", "garbage", "lab"],
)
def test_profiles_that_cannot_apply_warn_and_are_kept(icc: bytes, warning: str) -> None:
    pixels = colours()
    image = decode_bytes(png_with(pixels, icc))
    assert image.warnings == [warning]
    assert not image.from_profile
    np.testing.assert_array_equal(image.pixels, pixels)
    assert decode_bytes(encode_bytes(image, format="png")).icc_profile == icc


def test_lookup_table_profiles_go_through_littlecms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiles without a matrix/TRC: LittleCMS, through ImageCms at 8 bits and libvips at 16."""
    real = read_profile

    def without_shaper(icc: bytes) -> colour.Profile:
        return colour.Profile(real(icc).space, real(icc).description, None)

    monkeypatch.setattr(colour, "read_profile", without_shaper)
    pixels = in_srgb_gamut(DISPLAY_P3)
    image = decode_bytes(png_with(pixels, DISPLAY_P3))
    assert image.from_profile
    assert np.abs(image.pixels.astype(int) - littlecms(pixels, DISPLAY_P3, SRGB)).max() <= 1
    raw = stored(encode_bytes(image, format="png"))
    assert np.abs(raw.astype(int) - pixels).max() <= 2

    sixteen = Image(in_srgb_gamut(DISPLAY_P3, 16), None, "tiff", False, DISPLAY_P3, None, None)
    decoded = decode_bytes(encode_bytes(sixteen, format="tiff"))
    assert decoded.warnings == [] and decoded.from_profile
    raw16 = stored(encode_bytes(decoded, format="tiff"))
    assert np.abs(raw16.astype(int) - sixteen.pixels).max() <= 2 * 257
    # Pixels that decode converted at 8 bits go back at 16 too.
    image.pixels = image.pixels.astype(np.uint16) * 257
    assert np.abs(stored(encode_bytes(image, format="png")).astype(int) // 257 - pixels).max() <= 2


def test_hand_made_image_in_its_profile_is_written_as_is() -> None:
    """An Image built by a caller, not decode, holds pixels in its profile's own space."""
    pixels = colours()
    image = Image(pixels, None, "png", False, DISPLAY_P3, None, None)
    raw = stored(encode_bytes(image, format="png"))
    np.testing.assert_array_equal(raw, pixels)
