"""Tests of csrtouch.io: JPEG, PNG and TIFF in and out, 8 and 16 bit, metadata kept.

WebP and HEIF are tested in test_io_formats.py, RAW in test_io_raw.py, colour profiles in
test_io_colour.py, hostile bytes in test_io_fuzz.py."""

from __future__ import annotations

import errno
import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageCms, ImageOps

from csrtouch.errors import DecodeError, EncodeError, UsageError
from csrtouch.io import (
    MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    Image,
    decode,
    decode_bytes,
    encode,
    encode_bytes,
    output_suffix,
    write_atomic,
)
from csrtouch.io.metadata import load_exif, orient

EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    b'<?xpacket end="w"?>'
)
SUFFIX = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif"}
NOT_AN_IMAGE = "not an image csrtouch reads (JPEG, PNG, TIFF, WebP, HEIC/HEIF or camera RAW)"


# --- helpers ------------------------------------------------------------------------------


def random_pixels(shape: tuple[int, ...], depth: int, seed: int = 0) -> np.ndarray:
    """Full-range noise: every bit of a 16-bit sample matters, so any rounding shows."""
    dtype = np.uint16 if depth == 16 else np.uint8
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def make_image(
    h: int = 6,
    w: int = 9,
    depth: int = 8,
    *,
    alpha: bool = False,
    grayscale: bool = False,
    exif: bytes | None = None,
    icc: bytes | None = None,
    xmp: bytes | None = None,
    format: str = "png",
) -> Image:
    pixels = random_pixels((h, w, 3), depth)
    if grayscale:
        pixels = np.ascontiguousarray(np.repeat(pixels[..., :1], 3, axis=2))
    return Image(
        pixels=pixels,
        alpha=random_pixels((h, w), depth, seed=1) if alpha else None,
        format=format,
        grayscale=grayscale,
        icc_profile=icc,
        exif=exif,
        xmp=xmp,
    )


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif(orientation: int = 1) -> bytes:
    """EXIF as a camera writes it: IFD0, the Exif IFD with an Interop IFD, and GPS."""
    exif = PIL.Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    exif[0x0112] = orientation
    exif[0x8298] = "Jane Doe"
    exif_ifd = exif.get_ifd(EXIF_IFD)
    exif_ifd[0x829A] = 1 / 250  # ExposureTime
    exif_ifd[0x8827] = 400  # ISO
    exif_ifd[0x9003] = "2024:05:01 10:00:00"  # DateTimeOriginal
    exif_ifd[INTEROP_IFD] = {0x0001: "R98"}
    gps = exif.get_ifd(GPS_IFD)
    gps[0x0001] = "N"
    gps[0x0002] = (48.0, 51.0, 29.5)
    return exif.tobytes()


def pillow_bytes(image: PIL.Image.Image, format: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **params)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def photo() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.astronaut())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


# --- format table -------------------------------------------------------------------------


def test_supported_suffixes_and_output_suffix() -> None:
    readable = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".dng"}
    assert readable <= SUPPORTED_SUFFIXES
    assert [output_suffix(f) for f in ("jpeg", "png", "tiff", "JPG", "tif", "webp")] == [
        ".jpg",
        ".png",
        ".tif",
        ".jpg",
        ".tif",
        ".webp",
    ]
    with pytest.raises(UsageError, match="unknown image format 'gif'; expected one of"):
        output_suffix("gif")
    with pytest.raises(UsageError, match="csrtouch reads dng but cannot write it; write one of"):
        output_suffix("dng")


def test_image_checks_its_arrays() -> None:
    with pytest.raises(ValueError, match=r"pixels must be \(H, W, 3\) uint8 or uint16; got"):
        Image(np.zeros((4, 4, 3), np.float32), None, "png", False, None, None, None)
    with pytest.raises(ValueError, match="alpha must be"):
        Image(
            np.zeros((4, 4, 3), np.uint8),
            np.zeros((4, 4), np.uint16),
            "png",
            False,
            None,
            None,
            None,
        )


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("has_alpha", [False, True], ids=["rgb", "rgba"])
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_lossless_round_trip_is_exact(
    tmp_path: Path, fmt: str, depth: int, has_alpha: bool
) -> None:
    image = make_image(depth=depth, alpha=has_alpha, format=fmt)
    path = tmp_path / f"out{SUFFIX[fmt]}"
    encode(image, path)
    back = decode(path)
    assert back.format == fmt
    assert back.bit_depth == depth
    assert back.pixels.dtype == image.pixels.dtype
    assert back.pixels.flags.c_contiguous
    np.testing.assert_array_equal(back.pixels, image.pixels)
    if has_alpha:
        assert back.alpha is not None and back.alpha.dtype == image.pixels.dtype
        np.testing.assert_array_equal(back.alpha, image.alpha)
    else:
        assert back.alpha is None
    assert not back.grayscale


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 17),
    w=st.integers(1, 17),
    depth=st.sampled_from([8, 16]),
    fmt=st.sampled_from(["png", "tiff"]),
    has_alpha=st.booleans(),
    grayscale=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_lossless_round_trip_property(
    h: int, w: int, depth: int, fmt: str, has_alpha: bool, grayscale: bool, seed: int
) -> None:
    pixels = random_pixels((h, w, 3), depth, seed)
    if grayscale:
        pixels = np.repeat(pixels[..., :1], 3, axis=2)
    alpha = random_pixels((h, w), depth, seed + 1) if has_alpha else None
    image = Image(pixels, alpha, fmt, grayscale, None, None, None)
    back = decode_bytes(encode_bytes(image, format=fmt))
    np.testing.assert_array_equal(back.pixels, pixels)
    assert (back.alpha is None) == (alpha is None)
    if alpha is not None:
        np.testing.assert_array_equal(back.alpha, alpha)
    # Gray with alpha stays gray+alpha, but for 16-bit TIFF (RGBA: Pillow cannot read it).
    assert back.grayscale == (grayscale and not (has_alpha and fmt == "tiff" and depth == 16))


def test_views_with_reversed_strides_are_written() -> None:
    image = make_image(alpha=True)
    assert image.alpha is not None
    view = Image(image.pixels[::-1, ::-1], image.alpha[:, ::-1], "png", False, None, None, None)
    back = decode_bytes(encode_bytes(view, format="png"))
    np.testing.assert_array_equal(back.pixels, image.pixels[::-1, ::-1])


def test_jpeg_round_trip_of_a_photo(tmp_path: Path) -> None:
    pixels = photo()
    image = Image(pixels, None, "jpeg", False, None, None, None)
    encode(image, tmp_path / "a.jpg", quality=95)
    back = decode(tmp_path / "a.jpg")
    assert (back.format, back.bit_depth, back.pixels.shape) == ("jpeg", 8, pixels.shape)
    assert psnr(back.pixels, pixels) > 38


def test_jpeg_quality_option_changes_size() -> None:
    image = Image(photo(), None, "jpeg", False, None, None, None)
    assert len(encode_bytes(image, format="jpeg", quality=50)) < len(
        encode_bytes(image, format="jpeg", quality=95)
    )


def test_jpeg_drops_alpha() -> None:
    back = decode_bytes(encode_bytes(make_image(alpha=True), format="jpeg"))
    assert back.alpha is None and back.format == "jpeg"


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16_bit_from_other_writers_is_exact(fmt: str) -> None:
    rgba = random_pixels((5, 7, 4), 16)
    data = cv2.imencode(SUFFIX[fmt], rgba[..., [2, 1, 0, 3]])[1].tobytes()
    back = decode_bytes(data)
    np.testing.assert_array_equal(back.pixels, rgba[..., :3])
    np.testing.assert_array_equal(back.alpha, rgba[..., 3])


def test_16_bit_tiff_from_tifffile_is_exact() -> None:
    tifffile = pytest.importorskip("tifffile")
    rgb = random_pixels((5, 7, 3), 16)
    out = io.BytesIO()
    tifffile.imwrite(out, rgb, photometric="rgb")
    np.testing.assert_array_equal(decode_bytes(out.getvalue()).pixels, rgb)


def test_pillow_cannot_read_16_bit_rgb_png_losslessly() -> None:
    """Why 16-bit colour goes through OpenCV: Pillow opens it as 8-bit RGB."""
    data = cv2.imencode(".png", random_pixels((4, 4, 3), 16))[1].tobytes()
    assert np.asarray(PIL.Image.open(io.BytesIO(data))).dtype == np.uint8


# --- grayscale, palette, bit depth ---------------------------------------------------------


@pytest.mark.parametrize(("mode", "depth"), [("L", 8), ("I;16", 16)], ids=["gray8", "gray16"])
@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_grayscale_is_flagged_replicated_and_written_back_gray(
    fmt: str, mode: str, depth: int
) -> None:
    gray = random_pixels((5, 7), depth)
    back = decode_bytes(pillow_bytes(PIL.Image.fromarray(gray), fmt.upper()))
    assert back.grayscale and back.bit_depth == depth
    np.testing.assert_array_equal(back.pixels, np.repeat(gray[..., None], 3, axis=2))

    written = encode_bytes(back, format=fmt)
    assert PIL.Image.open(io.BytesIO(written)).mode == mode
    again = decode_bytes(written)
    assert again.grayscale
    np.testing.assert_array_equal(again.pixels, back.pixels)


def test_grayscale_jpeg_stays_grayscale() -> None:
    back = decode_bytes(encode_bytes(make_image(grayscale=True), format="jpeg"))
    assert back.grayscale
    assert PIL.Image.open(io.BytesIO(encode_bytes(back, format="jpeg"))).mode == "L"


def test_gray_with_alpha() -> None:
    la = random_pixels((5, 7, 2), 8)
    back = decode_bytes(pillow_bytes(PIL.Image.fromarray(la), "PNG"))
    assert back.grayscale
    np.testing.assert_array_equal(back.pixels[..., 2], la[..., 0])
    np.testing.assert_array_equal(back.alpha, la[..., 1])
    # Written back as gray+alpha, pixels unchanged.
    again = decode_bytes(encode_bytes(back, format="png"))
    assert again.grayscale
    np.testing.assert_array_equal(again.pixels, back.pixels)
    np.testing.assert_array_equal(again.alpha, back.alpha)


def test_16_bit_gray_with_alpha() -> None:
    """Pillow would round LA;16 to 8 bits and cannot write it; this file is built by hand."""
    la = random_pixels((5, 7, 2), 16)
    rows = np.concatenate(
        [np.zeros((5, 1), np.uint8), la.astype(">u2").view(np.uint8).reshape(5, -1)], axis=1
    )
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 5, 16, 4, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(rows.tobytes()))
        + png_chunk(b"IEND", b"")
    )
    back = decode_bytes(data)
    assert back.grayscale and back.bit_depth == 16
    np.testing.assert_array_equal(back.pixels, np.repeat(la[..., :1], 3, axis=2))
    np.testing.assert_array_equal(back.alpha, la[..., 1])


def test_palette_becomes_rgb_and_transparency_alpha() -> None:
    rgb = random_pixels((5, 7, 3), 8)
    palette = PIL.Image.fromarray(rgb).convert("P")
    back = decode_bytes(pillow_bytes(palette, "PNG"))
    np.testing.assert_array_equal(back.pixels, np.asarray(palette.convert("RGB")))
    assert back.alpha is None and not back.grayscale

    back = decode_bytes(pillow_bytes(palette, "PNG", transparency=0))
    assert back.alpha is not None
    np.testing.assert_array_equal(back.alpha == 0, np.asarray(palette) == 0)


def test_bilevel_becomes_gray() -> None:
    bits = PIL.Image.fromarray(random_pixels((5, 7), 8) > 127)
    back = decode_bytes(pillow_bytes(bits, "PNG"))
    assert back.grayscale and set(np.unique(back.pixels)) <= {0, 255}


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_bit_depth_override(fmt: str) -> None:
    image8 = make_image(depth=8, alpha=True)
    assert image8.alpha is not None
    up = decode_bytes(encode_bytes(image8, format=fmt, bit_depth=16))
    assert up.bit_depth == 16
    np.testing.assert_array_equal(up.pixels, image8.pixels.astype(np.uint16) * 257)
    np.testing.assert_array_equal(up.alpha, image8.alpha.astype(np.uint16) * 257)

    image16 = make_image(depth=16)
    down = decode_bytes(encode_bytes(image16, format=fmt, bit_depth=8))
    assert down.bit_depth == 8
    np.testing.assert_array_equal(down.pixels, np.round(image16.pixels / 257).astype(np.uint8))


def test_16_bit_image_to_jpeg_is_8_bit_unless_16_is_asked_for() -> None:
    pixels = photo()
    image16 = Image(pixels.astype(np.uint16) * 257, None, "tiff", False, None, None, None)
    back = decode_bytes(encode_bytes(image16, format="jpeg"))
    assert back.bit_depth == 8 and back.format == "jpeg"
    assert psnr(back.pixels, pixels) > 38
    with pytest.raises(UsageError, match="JPEG cannot store 16-bit"):
        encode_bytes(image16, format="jpeg", bit_depth=16)


def test_format_override_and_suffix(tmp_path: Path) -> None:
    image = make_image(depth=16, format="tiff")
    encode(image, tmp_path / "a.png")  # the suffix names the format
    assert decode(tmp_path / "a.png").format == "png"
    encode(image, tmp_path / "b.out", format="png")
    assert decode(tmp_path / "b.out").format == "png"
    encode(image, tmp_path / "c.out")  # no known suffix: the image's own format
    assert decode(tmp_path / "c.out").format == "tiff"


def test_usage_errors(tmp_path: Path) -> None:
    image16 = make_image(depth=16)
    with pytest.raises(UsageError, match=r"JPEG cannot store 16-bit images \(it stores 8-bit\)"):
        encode_bytes(image16, format="jpeg", bit_depth=16)
    with pytest.raises(UsageError, match="PNG cannot store 12-bit"):
        encode_bytes(image16, format="png", bit_depth=12)
    with pytest.raises(UsageError, match="unknown image format 'gif'"):
        encode_bytes(image16, format="gif")
    with pytest.raises(UsageError, match=r"quality \(JPEG, WebP\) must be between 1 and 100"):
        encode_bytes(make_image(), format="jpeg", quality=0)
    with pytest.raises(
        UsageError, match=r"file name ends in \.png but the format asked for is tiff"
    ):
        encode(image16, tmp_path / "x.png", format="tiff")
    assert list(tmp_path.iterdir()) == []


# --- orientation --------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_matches_pillow(orientation: int) -> None:
    pixels = random_pixels((5, 7, 3), 8)
    pil = PIL.Image.fromarray(pixels)
    pil.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(pil))
    np.testing.assert_array_equal(orient(pixels, orientation), expected)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_exif_orientation_applied_and_reset(fmt: str, orientation: int) -> None:
    pixels = random_pixels((6, 9, 3), 8)
    data = pillow_bytes(
        PIL.Image.fromarray(pixels), fmt.upper(), exif=camera_exif(orientation), quality=100
    )
    expected = np.asarray(ImageOps.exif_transpose(PIL.Image.open(io.BytesIO(data))))
    back = decode_bytes(data)
    np.testing.assert_array_equal(back.pixels, expected)
    exif = load_exif(back.exif)
    assert exif is not None and exif[0x0112] == 1
    assert exif[0x010F] == "Canon" and exif.get_ifd(EXIF_IFD)[0x8827] == 400


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_orientation_of_written_files(fmt: str, depth: int, orientation: int) -> None:
    """A TIFF's Orientation is a tag (Pillow and OpenCV apply it); a PNG's is in eXIf."""
    image = make_image(depth=depth, alpha=True, exif=camera_exif(orientation))
    back = decode_bytes(encode_bytes(image, format=fmt))
    assert image.alpha is not None and back.alpha is not None
    np.testing.assert_array_equal(back.pixels, orient(image.pixels, orientation))
    np.testing.assert_array_equal(back.alpha, orient(image.alpha, orientation))
    assert back.pixels.flags.c_contiguous and back.alpha.flags.c_contiguous
    exif = load_exif(back.exif)
    assert exif is not None and exif[0x0112] == 1


def test_unchanged_exif_is_kept_byte_for_byte() -> None:
    exif = camera_exif(1)
    data = pillow_bytes(PIL.Image.fromarray(random_pixels((4, 4, 3), 8)), "JPEG", exif=exif)
    assert decode_bytes(data).exif == exif


# --- metadata -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "depth"),
    [("jpeg", 8), ("png", 8), ("png", 16), ("tiff", 8), ("tiff", 16)],
)
def test_icc_exif_xmp_kept_and_result_stamped(tmp_path: Path, fmt: str, depth: int) -> None:
    icc = srgb_profile()
    image = make_image(depth=depth, alpha=True, exif=camera_exif(), icc=icc, xmp=XMP)
    path = tmp_path / f"out{SUFFIX[fmt]}"
    encode(image, path, software="csrtouch 0.1 (style expertC)", description="strength 0.8")

    back = decode(path)
    assert back.icc_profile == icc
    assert back.xmp == XMP
    exif = load_exif(back.exif)
    assert exif is not None
    assert exif[0x010F] == "Canon" and exif[0x0110] == "EOS R5" and exif[0x8298] == "Jane Doe"
    assert exif[0x0131] == "csrtouch 0.1 (style expertC)"
    assert exif[0x010E] == "strength 0.8"
    exif_ifd = exif.get_ifd(EXIF_IFD)
    assert exif_ifd[0x8827] == 400 and exif_ifd[0x9003] == "2024:05:01 10:00:00"
    assert float(exif_ifd[0x829A]) == pytest.approx(1 / 250)
    assert exif.get_ifd(INTEROP_IFD)[0x0001] == "R98"
    gps = exif.get_ifd(GPS_IFD)
    assert gps[0x0001] == "N" and [float(v) for v in gps[0x0002]] == [48.0, 51.0, 29.5]

    # Other readers see the stamp where they look for it.
    with PIL.Image.open(path) as pil:
        assert pil.getexif()[0x0131] == "csrtouch 0.1 (style expertC)"
        assert pil.info.get("icc_profile") == icc


def test_software_tag_without_source_exif() -> None:
    data = encode_bytes(make_image(), format="png", software="csrtouch 0.1")
    assert PIL.Image.open(io.BytesIO(data)).getexif()[0x0131] == "csrtouch 0.1"
    assert decode_bytes(encode_bytes(make_image(), format="png")).exif is None


def test_png_exif_after_image_data_is_read() -> None:
    data = encode_bytes(make_image(), format="png")
    iend = data.rindex(b"IEND") - 4
    exif = camera_exif(3)
    data = data[:iend] + png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")) + data[iend:]
    back = decode_bytes(data)
    np.testing.assert_array_equal(back.pixels, make_image().pixels[::-1, ::-1])
    parsed = load_exif(back.exif)
    assert parsed is not None and parsed[0x0112] == 1 and parsed[0x010F] == "Canon"


def test_metadata_too_long_for_jpeg() -> None:
    with pytest.raises(EncodeError, match=r"^cannot encode JPEG: EXIF data is too long$"):
        encode_bytes(make_image(), format="jpeg", description="x" * 70_000)


def test_jpeg_carries_a_large_icc_profile_in_numbered_chunks() -> None:
    """ICC.1 Annex B.4: a profile over 64 KB spans several APP2 segments; Pillow, like
    other readers, joins them back; EXIF and XMP sit beside them."""
    icc = bytes(range(256)) * 600  # 153,600 bytes: three chunks
    image = make_image(exif=camera_exif(), icc=icc, xmp=b"<x:xmpmeta>look</x:xmpmeta>")
    data = encode_bytes(image, format="jpeg")
    assert data.count(b"ICC_PROFILE\0") == 3
    with PIL.Image.open(io.BytesIO(data)) as pil:
        assert pil.info["icc_profile"] == icc and pil.info["xmp"] == image.xmp
        assert pil.getexif()[0x010F] == "Canon"


def test_tiff_written_by_us_is_a_plain_tiff() -> None:
    """Other readers agree on pixels, alpha and tags of our rebuilt TIFFs."""
    tifffile = pytest.importorskip("tifffile")
    image = make_image(depth=16, alpha=True, exif=camera_exif(), icc=srgb_profile())
    data = encode_bytes(image, format="tiff", software="csrtouch")
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        assert page.tags["Software"].value == "csrtouch"
        assert page.tags["ExtraSamples"].value == (2,)  # unassociated alpha
        assert "ExifTag" in page.tags and "InterColorProfile" in page.tags
    rgba = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert rgba is not None
    np.testing.assert_array_equal(rgba[..., [2, 1, 0]], image.pixels)
    np.testing.assert_array_equal(rgba[..., 3], image.alpha)


def smooth_16_bit(h: int, w: int) -> np.ndarray:
    """A 16-bit gradient, as a RAW renders a sky: the horizontal predictor helps it."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 1000 + y * 7, y * 1500 + x, (x + y) * 600], axis=2).astype(np.uint16)


@pytest.mark.parametrize("has_alpha", [False, True], ids=["rgb", "rgba"])
@pytest.mark.parametrize(
    ("content", "predictor"),
    # 8-bit values widened to 16 bits (a JPEG retouched to 16 bits) compress better as
    # they are; a smooth 16-bit frame better as differences. The writer picks per file.
    [("widened", 1), ("smooth", 2)],
)
def test_16_bit_tiff_reads_back_alike_everywhere_with_its_metadata(
    monkeypatch: pytest.MonkeyPatch, content: str, predictor: int, has_alpha: bool
) -> None:
    tifffile = pytest.importorskip("tifffile")
    from csrtouch.io import tiff

    monkeypatch.setattr(tiff, "STRIP_BYTES", 1000)  # many strips, the last one short
    h, w = 37, 50
    if content == "smooth":
        pixels = smooth_16_bit(h, w)
    else:
        pixels = random_pixels((h, w, 3), 8).astype(np.uint16) * 257
    alpha = random_pixels((h, w), 16, seed=1) if has_alpha else None
    icc = srgb_profile()
    image = Image(pixels, alpha, "tiff", False, icc, camera_exif(), XMP)
    data = encode_bytes(image, format="tiff", software="csrtouch", description="look")

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        assert (page.compression, page.predictor) == (8, predictor)  # Adobe Deflate ("ZIP")
        assert len(page.dataoffsets) > 10
        read = page.asarray()
        assert page.tags["Software"].value == "csrtouch"
        assert page.tags["ImageDescription"].value == "look"
        assert page.tags["InterColorProfile"].value == icc
        assert bytes(page.tags["XMP"].value) == XMP
        assert page.tags["ExifTag"].value["ISOSpeedRatings"] == 400
    rgba = np.dstack([pixels, alpha]) if has_alpha else pixels
    np.testing.assert_array_equal(read, rgba)
    opencv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(opencv, rgba[..., [2, 1, 0, 3][: rgba.shape[2]]])
    back = decode_bytes(data)
    np.testing.assert_array_equal(back.pixels, pixels)
    if has_alpha:
        np.testing.assert_array_equal(back.alpha, alpha)
    assert back.icc_profile == icc and back.xmp == XMP
    exif = load_exif(back.exif)
    assert exif is not None and exif[0x010F] == "Canon" and exif.get_ifd(GPS_IFD)[0x0001] == "N"
    with PIL.Image.open(io.BytesIO(data)) as pil:
        # Pillow reads 16-bit colour as 8-bit (the high byte), metadata in full.
        assert pil.info["icc_profile"] == icc and pil.getexif()[0x0110] == "EOS R5"
        np.testing.assert_array_equal(np.asarray(pil.convert("RGB")), (pixels >> 8).astype(np.uint8))


def test_tiff_written_to_a_file_is_the_tiff_encode_bytes_makes(tmp_path: Path) -> None:
    """Files get their strips streamed and IFD0 rewritten in place; bytes the same."""
    image = Image(smooth_16_bit(300, 400), None, "tiff", False, srgb_profile(), camera_exif(), XMP)
    encode(image, tmp_path / "out.tif", software="csrtouch")
    assert (tmp_path / "out.tif").read_bytes() == encode_bytes(image, format="tiff", software="csrtouch")


def test_tiff_structure_tags_are_not_copied_into_exif() -> None:
    data = pillow_bytes(
        PIL.Image.fromarray(random_pixels((4, 6, 3), 8)), "TIFF", exif=camera_exif()
    )
    exif = load_exif(decode_bytes(data).exif)
    assert exif is not None and exif[0x010F] == "Canon"
    assert not {256, 257, 258, 259, 273, 279} & set(exif)


# --- bad input ----------------------------------------------------------------------------


def assert_decode_error(source: Path | bytes, message: str) -> DecodeError:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out as a warning either
        with pytest.raises(DecodeError) as info:
            decode(source) if isinstance(source, Path) else decode_bytes(source, "in.x")
    assert info.value.message == message
    return info.value


def test_missing_file_and_directory(tmp_path: Path) -> None:
    error = assert_decode_error(tmp_path / "nope.jpg", "file not found")
    assert error.path == str(tmp_path / "nope.jpg")
    assert str(error) == f"{tmp_path / 'nope.jpg'}: file not found"
    assert_decode_error(tmp_path, "is a directory, not an image file")


def test_zero_bytes(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert_decode_error(tmp_path / "empty.jpg", "file is empty (0 bytes)")


def test_text_file_named_jpg(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("shopping list: milk, eggs\n")
    assert_decode_error(tmp_path / "notes.jpg", NOT_AN_IMAGE)


@pytest.mark.parametrize("depth", [8, 16])
def test_truncated_png(depth: int) -> None:
    data = encode_bytes(make_image(64, 64, depth), format="png")
    assert_decode_error(data[: len(data) // 2], "file is truncated (the image data ends early)")


def test_truncated_jpeg() -> None:
    """Pillow (libjpeg) would fill the rest with grey; a half image must not pass as a photo."""
    data = encode_bytes(Image(photo(), None, "jpeg", False, None, None, None), format="jpeg")
    for cut in (len(data) // 2, len(data) - 2):  # half the scan; only the EOI marker missing
        assert_decode_error(data[:cut], "file is truncated (the image data ends early)")


def test_truncated_jpeg_behind_a_complete_thumbnail() -> None:
    """A JPEG in a header segment (an EXIF thumbnail) has its own scan and EOI: the main
    image's must still be found missing."""
    data = encode_bytes(Image(photo(), None, "jpeg", False, None, None, None), format="jpeg")
    thumb = encode_bytes(Image(photo()[:16, :16].copy(), None, "jpeg", False, None, None, None), format="jpeg")
    comment = b"\xff\xfe" + (len(thumb) + 2).to_bytes(2, "big") + thumb
    whole = data[:2] + comment + data[2:]
    assert decode_bytes(whole).pixels.shape == photo().shape
    assert_decode_error(whole[: len(whole) - 2], "file is truncated (the image data ends early)")


@pytest.mark.parametrize(
    "options",
    [{"subsampling": 0}, {"subsampling": 1}, {"subsampling": 2}, {"progressive": True}, {"restart_marker_rows": 1}],
)
def test_jpeg_pixels_are_pillows(options) -> None:
    """Colour JPEGs are decoded by OpenCV (less memory, sooner): the same pixels as Pillow's,
    progressive and with restart markers too."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(photo()).save(buffer, "JPEG", quality=90, **options)
    expected = np.asarray(PIL.Image.open(buffer).convert("RGB"))
    np.testing.assert_array_equal(decode_bytes(buffer.getvalue()).pixels, expected)


def test_damaged_jpeg_is_refused() -> None:
    """A stray marker among the scans (a damaged file): libjpeg would grey out the rest."""
    data = bytearray(encode_bytes(Image(photo(), None, "jpeg", False, None, None, None), format="jpeg"))
    middle = len(data) // 2
    data[middle : middle + 2] = b"\xff\x14"
    assert_decode_error(bytes(data), "corrupt JPEG data (marker 0xFF14 inside the image data)")


def test_truncated_tiff() -> None:
    data = encode_bytes(make_image(64, 64, 16), format="tiff")
    # Our TIFFs put the IFD first, so a cut loses strip data.
    assert_decode_error(data[: len(data) // 2], "file is truncated (the image data ends early)")
    assert_decode_error(data[:6], "corrupt or truncated TIFF file (its header is unreadable)")


def test_corrupt_png_data() -> None:
    data = bytearray(encode_bytes(make_image(64, 64), format="png"))
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 60] = bytes(40)
    with pytest.raises(DecodeError, match=r"^in\.x: corrupt image data: "):
        decode_bytes(bytes(data), "in.x")


def test_decompression_bomb_header(capfd: pytest.CaptureFixture[str]) -> None:
    assert_decode_error(
        png_header_only(100_000, 100_000),
        "image is too large (over the 200 MP limit that guards against decompression bombs)",
    )
    # Between Pillow's warning and error thresholds: our own check, with the size.
    side = int(MAX_PIXELS**0.5) + 100
    assert_decode_error(
        png_header_only(side, side),
        f"image is too large ({side}x{side}, over the 200 MP limit that guards against "
        "decompression bombs)",
    )
    assert capfd.readouterr().err == ""


def test_unsupported_mode() -> None:
    cmyk = PIL.Image.fromarray(random_pixels((4, 4, 3), 8)).convert("CMYK")
    assert_decode_error(
        pillow_bytes(cmyk, "JPEG"),
        "unsupported colour mode CMYK (expected RGB, RGBA, grayscale or palette)",
    )
    floats = PIL.Image.fromarray(np.zeros((4, 4), np.float32))
    assert_decode_error(
        pillow_bytes(floats, "TIFF"),
        "unsupported colour mode F (expected RGB, RGBA, grayscale or palette)",
    )


def test_other_formats_are_refused() -> None:
    gif = pillow_bytes(PIL.Image.fromarray(random_pixels((4, 4, 3), 8)), "GIF")
    assert_decode_error(gif, NOT_AN_IMAGE)


# --- atomic write -------------------------------------------------------------------------


def test_write_creates_parents_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.png"
    encode(make_image(), path)
    assert [p.name for p in path.parent.iterdir()] == ["out.png"]


def test_failed_encode_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        encode(make_image(depth=16), tmp_path / "out.jpg", bit_depth=16)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_removes_temp_file_and_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"previous result")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(EncodeError) as info:
        encode(make_image(), path)
    assert info.value.message == f"cannot write the file: {os.strerror(errno.ENOSPC)}"
    assert info.value.path == str(path)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert path.read_bytes() == b"previous result"


def test_write_that_fails_partway_leaves_nothing(tmp_path: Path) -> None:
    """A file written piece by piece (a TIFF's strips) that fails halfway is removed."""

    def half_then_full(file: io.BufferedWriter) -> None:
        file.write(b"II*\0" + bytes(1000))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(EncodeError) as info:
        write_atomic(tmp_path / "out.tif", half_then_full)
    assert info.value.message == f"cannot write the file: {os.strerror(errno.ENOSPC)}"
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_removes_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        encode(make_image(), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destination(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(EncodeError, match="cannot create the output folder: "):
        encode(make_image(), blocker / "out.png")


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA", "I;16"])
def test_pixels_copied_out_in_row_bands_as_numpy_would(mode):
    from csrtouch.io.decode import _asarray

    rng = np.random.default_rng(0)
    pil = PIL.Image.fromarray(rng.integers(0, 255, (37, 29, 4), np.uint8), "RGBA").convert(mode)
    np.testing.assert_array_equal(_asarray(pil, rows=5), np.asarray(pil))
