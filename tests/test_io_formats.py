"""Tests of WebP (in and out) and HEIC/HEIF (in), and of which format a result is written in."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import PIL.Image
import pillow_heif
import pytest
from PIL import ImageCms

from csrtouch.errors import DecodeError, UsageError
from csrtouch.io import (
    SUPPORTED_SUFFIXES,
    Image,
    decode,
    decode_bytes,
    default_output_format,
    encode,
    encode_bytes,
)
from csrtouch.io import heif as heif_module
from csrtouch.io.colour import read_profile
from csrtouch.io.metadata import EXIF_IFD, load_exif, orient

XMP = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/>'


def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[::4, ::4])  # 128x128


def psnr(a: np.ndarray, b: np.ndarray, top: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(top**2 / mse))


def exif_block(orientation: int = 1) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15"
    exif[0x0112] = orientation
    exif.get_ifd(EXIF_IFD)[0x8827] = 125
    return exif.tobytes()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --- format table -----------------------------------------------------------------------


def test_suffixes() -> None:
    for suffix in (".webp", ".heic", ".heif", ".hif", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"):
        assert suffix in SUPPORTED_SUFFIXES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", "jpeg"),
        ("a.PNG", "png"),
        ("a.tiff", "tiff"),
        ("a.webp", "webp"),
        ("a.heic", "tiff"),
        ("a.CR3", "tiff"),
    ],
)
def test_default_output_format_of_names(name: str, expected: str) -> None:
    assert default_output_format(name) == expected


def test_default_output_format_of_unknown_suffix() -> None:
    with pytest.raises(UsageError, match="no image format csrtouch reads has the suffix '.gif'"):
        default_output_format("a.gif")


# --- WebP -------------------------------------------------------------------------------


def test_webp_round_trip_keeps_metadata(tmp_path: Path) -> None:
    pixels = photo()
    image = Image(pixels, None, "png", False, srgb_icc(), exif_block(), XMP)
    encode(image, tmp_path / "a.webp", quality=90, software="csrtouch test")
    back = decode(tmp_path / "a.webp")
    assert back.format == "webp" and back.bit_depth == 8 and back.warnings == []
    assert psnr(back.pixels, pixels) > 30
    assert back.icc_profile == srgb_icc() and back.xmp == XMP
    exif = load_exif(back.exif)
    assert exif is not None and exif[0x0110] == "iPhone 15" and exif[0x0131] == "csrtouch test"
    assert default_output_format(back) == "webp"


def test_webp_quality_and_alpha() -> None:
    pixels = photo()
    alpha = np.tile(np.linspace(0, 255, pixels.shape[1]).astype(np.uint8), (pixels.shape[0], 1))
    image = Image(pixels, alpha, "png", False, None, None, None)
    small, large = (encode_bytes(image, format="webp", quality=q) for q in (30, 95))
    assert len(small) < len(large)
    back = decode_bytes(large)
    assert back.alpha is not None and np.abs(back.alpha.astype(int) - alpha).max() <= 2


def test_webp_is_8_bit_and_rgb() -> None:
    sixteen = Image(photo().astype(np.uint16) * 257, None, "tiff", False, None, None, None)
    assert decode_bytes(encode_bytes(sixteen, format="webp")).bit_depth == 8
    with pytest.raises(UsageError, match=r"WEBP cannot store 16-bit images \(it stores 8-bit\)"):
        encode_bytes(sixteen, format="webp", bit_depth=16)
    gray = Image(np.repeat(photo()[..., :1], 3, axis=2), None, "png", True, None, None, None)
    assert not decode_bytes(encode_bytes(gray, format="webp")).grayscale  # WebP has no gray


@pytest.mark.parametrize("orientation", [3, 6])
def test_webp_exif_orientation_is_applied(orientation: int) -> None:
    pixels = photo()[:, :96]
    out = io.BytesIO()
    PIL.Image.fromarray(pixels).save(out, "WEBP", lossless=True, exif=exif_block(orientation))
    back = decode_bytes(out.getvalue())
    np.testing.assert_array_equal(back.pixels, orient(pixels, orientation))
    exif = load_exif(back.exif)
    assert exif is not None and exif[0x0112] == 1


def test_animated_webp_keeps_the_first_frame_and_says_so() -> None:
    frames = [PIL.Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    back = decode_bytes(out.getvalue())
    assert back.warnings == ["the file holds 2 images (pages or frames); only the first is kept"]
    assert (back.pixels == 10).all()


def test_truncated_webp() -> None:
    data = encode_bytes(Image(photo(), None, "png", False, None, None, None), format="webp")
    for cut in (len(data) // 2, len(data) - 1):
        with pytest.raises(DecodeError, match=r"^in: file is truncated \(the image data ends early\)$"):
            decode_bytes(data[:cut], "in")


# --- HEIC/HEIF --------------------------------------------------------------------------


def heic(pixels: np.ndarray, **info: object) -> bytes:
    mode = "RGB;16" if pixels.dtype == np.uint16 else "RGB"
    size = (pixels.shape[1], pixels.shape[0])
    heif_file = pillow_heif.from_bytes(mode=mode, size=size, data=pixels.tobytes())
    for key, value in info.items():
        heif_file.info[key] = value
    out = io.BytesIO()
    heif_file.save(out, quality=95)
    return out.getvalue()


def test_heic_8_bit() -> None:
    pixels = photo()
    image = decode_bytes(heic(pixels, exif=exif_block(), xmp=XMP), "a.heic")
    assert image.format == "heif" and image.bit_depth == 8 and image.warnings == []
    assert psnr(image.pixels, pixels) > 30
    exif = load_exif(image.exif)
    assert exif is not None and exif[0x0110] == "iPhone 15"
    assert image.xmp == XMP
    assert default_output_format(image) == "tiff"


def test_heic_10_bit_keeps_its_bits(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64 * 48 * 3).reshape(48, 64, 3).astype(np.uint16)
    data = heic(ramp)
    assert pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False).info["bit_depth"] == 10
    image = decode_bytes(data, "a.heic")
    assert image.bit_depth == 16
    # Full range: 10-bit white is 65535, not 65472 (1023 << 6).
    assert image.pixels.max() == 65535
    assert psnr(image.pixels, ramp, 65535.0) > 40
    # More than 256 levels survive, so 8 bits would have lost some.
    assert len(np.unique(image.pixels[..., 0])) > 256
    # Its default output is a 16-bit TIFF that keeps them.
    encode(image, tmp_path / "out")
    back = decode(tmp_path / "out")
    assert back.format == "tiff" and back.bit_depth == 16
    np.testing.assert_array_equal(back.pixels, image.pixels)


def test_heic_rotation_is_applied_once() -> None:
    """libheif applies the HEIF rotation; the EXIF Orientation beside it is only reset."""
    pixels = photo()[:, :96]
    with_rotation = heic(pixels, exif=exif_block(6))
    # pillow-heif turns EXIF Orientation 6 into the HEIF rotation box when saving.
    image = decode_bytes(with_rotation, "a.heic")
    assert image.pixels.shape == (96, 128, 3)
    assert psnr(image.pixels, orient(pixels, 6)) > 30
    exif = load_exif(image.exif)
    assert exif is not None and exif[0x0112] == 1


def test_heic_icc_profile_is_applied() -> None:
    from test_io_colour import DISPLAY_P3

    image = decode_bytes(heic(photo(), icc_profile=DISPLAY_P3), "a.heic")
    assert image.icc_profile == DISPLAY_P3 and image.from_profile


@pytest.mark.parametrize(
    ("primaries", "transfer", "profile", "warning"),
    [
        (1, 13, None, None),
        (2, 2, None, None),
        (12, 13, "Display P3", None),
        (9, 14, "Rec. 2020", None),
        (9, 16, None, "HDR HEIF (PQ transfer) is not tone-mapped; its colours and brightness will look wrong"),
        (5, 13, None, "HEIF colour description (primaries 5, transfer 13) is not supported; colours taken as sRGB"),
    ],
)
def test_heif_nclx_colour_descriptions(primaries: int, transfer: int, profile: str | None, warning: str | None) -> None:
    image = Image(photo(), None, "heif", False, None, None, None)
    heif_module._apply_nclx(image, {"color_primaries": primaries, "transfer_characteristics": transfer})
    if profile is None:
        assert image.icc_profile is None
    else:
        assert image.icc_profile is not None
        assert read_profile(image.icc_profile).description == profile
    assert image.warnings == ([warning] if warning else [])


def test_corrupt_heic() -> None:
    data = heic(photo())
    for cut in (len(data) // 2, 40):
        with pytest.raises(DecodeError, match=r"^a.heic: file is truncated \(the image data ends early\)$"):
            decode_bytes(data[:cut], "a.heic")
    with pytest.raises(DecodeError, match="^a.heic: corrupt or unsupported HEIF file: .*meta"):
        decode_bytes(data[:300], "a.heic")


def test_writing_heic_is_refused(tmp_path: Path) -> None:
    image = decode_bytes(heic(photo()), "a.heic")
    with pytest.raises(UsageError, match="csrtouch cannot write .heic files; name the output out.tif or give a format"):
        encode(image, tmp_path / "out.heic")
    encode(image, tmp_path / "out.heic.jpg")
    assert decode(tmp_path / "out.heic.jpg").format == "jpeg"
