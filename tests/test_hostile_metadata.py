"""Metadata and channel layouts that csrtouch must keep as they were: gray+alpha, a JPEG's
missing alpha, the user's EXIF and XMP beside csrtouch's provenance, and 16-bit pixels
under a colour profile made of lookup tables only."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from csrtouch.batch import Job, provenance, retouch_file
from csrtouch.io import Image, colour, decode, decode_bytes, encode, encode_bytes, stream
from csrtouch.io.encode import JPEG_FLATTENED, band_rows, encode_bands
from csrtouch.io.metadata import load_exif, stamp
from csrtouch.io.xmp import NAMESPACE, with_provenance

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
CAPTION, ARTIST, COPYRIGHT, SOFTWARE = 0x010E, 0x013B, 0x8298, 0x0131
USER_COMMENT, MAKER_NOTE = 0x9286, 0x927C
SUFFIX = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif", "webp": ".webp"}
PROVENANCE = {"Version": "9.9", "Style": "expertC:0.7,mine:0.3", "Strength": "0.8", "Network": "ab12", "ConditionShared": "False"}
USER_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
    '    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4" xmp:CreatorTool="Darktable">\n'
    '   <dc:subject><rdf:Bag><rdf:li>harbour</rdf:li><rdf:li>dusk</rdf:li></rdf:Bag></dc:subject>\n'
    '   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Boats, xmp:CreatorTool="not a tag" &amp; gulls</rdf:li></rdf:Alt></dc:description>\n'
    "   <!-- </rdf:RDF> in a comment -->\n"
    "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n" + " " * 200 + '\n<?xpacket end="w"?>'
).encode()


def rng_pixels(shape: tuple[int, ...], dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def user_exif(caption: bool = True, little_endian: bool = False) -> bytes:
    """EXIF as a camera and a photo manager leave it, maker note and all."""
    exif = PIL.Image.Exif()
    exif.endian = "<" if little_endian else ">"
    if caption:
        exif[CAPTION] = "Harbour at dusk"
    exif[0x010F] = "Canon"
    exif[ARTIST] = "Jane Doe"
    exif[COPYRIGHT] = "(c) 2026 Jane Doe"
    exif[0x0112] = 1
    exif[SOFTWARE] = "Camera firmware 1.2"
    exif_ifd = exif.get_ifd(EXIF_IFD)
    exif_ifd[0x8827] = 400
    exif_ifd[USER_COMMENT] = b"ASCII\0\0\0a comment from the user"
    exif_ifd[MAKER_NOTE] = b"Canon\0" + bytes(range(256)) * 3
    gps = exif.get_ifd(GPS_IFD)
    gps[0x0001] = "N"
    gps[0x0002] = (48.0, 51.0, 29.5)
    return exif.tobytes()


def user_tags(exif: PIL.Image.Exif) -> dict:
    tags = {t: exif.get(t) for t in (CAPTION, 0x010F, ARTIST, COPYRIGHT)}
    tags["exif"] = {t: exif.get_ifd(EXIF_IFD).get(t) for t in (0x8827, USER_COMMENT, MAKER_NOTE)}
    tags["gps"] = dict(exif.get_ifd(GPS_IFD))
    return tags


def xmp_of(data: bytes) -> bytes:
    with PIL.Image.open(io.BytesIO(data)) as pil:
        value = pil.info["xmp"]
    return value.encode() if isinstance(value, str) else bytes(value)


def assert_provenance(packet: bytes, creator: str = "csrtouch 9.9") -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(packet.decode().rstrip(" \0"))
    ours = {k.split("}")[1]: v for e in root.iter() for k, v in e.attrib.items() if k.startswith(f"{{{NAMESPACE}}}")}
    assert ours == PROVENANCE
    tools = [v for e in root.iter() for k, v in e.attrib.items() if k == "{http://ns.adobe.com/xap/1.0/}CreatorTool"]
    assert tools == [creator]


# --- 1. gray + alpha -------------------------------------------------------------------


def gray_alpha_image(depth: int) -> Image:
    dtype = np.uint16 if depth == 16 else np.uint8
    gray, alpha = rng_pixels((13, 21), dtype), rng_pixels((13, 21), dtype, seed=1)
    return Image(np.repeat(gray[..., None], 3, axis=2), alpha, "png", True, None, None, None)


def png_header(data: bytes) -> tuple[int, int]:
    """IHDR's bit depth and colour type."""
    return data[24], data[25]


@pytest.mark.parametrize("depth", [8, 16])
def test_gray_alpha_png_stays_gray_alpha_at_its_depth(depth: int) -> None:
    image = gray_alpha_image(depth)
    data = encode_bytes(image, format="png")
    assert png_header(data) == (depth, 4)  # colour type 4: gray + alpha
    back = decode_bytes(data)
    assert back.grayscale and back.bit_depth == depth
    np.testing.assert_array_equal(back.pixels, image.pixels)
    np.testing.assert_array_equal(back.alpha, image.alpha)
    if depth == 8:
        with PIL.Image.open(io.BytesIO(data)) as pil:
            assert pil.mode == "LA"
            np.testing.assert_array_equal(np.asarray(pil)[..., 1], image.alpha)


def test_gray_alpha_png_from_pillow_round_trips_with_its_metadata() -> None:
    la = rng_pixels((40, 300, 2))
    source = io.BytesIO()
    PIL.Image.fromarray(la).save(source, "PNG")
    image = decode_bytes(source.getvalue())
    image.exif = user_exif()
    data = encode_bytes(image, format="png", software="csrtouch 9.9", provenance=PROVENANCE)
    assert png_header(data) == (8, 4)
    with PIL.Image.open(io.BytesIO(data)) as pil:
        np.testing.assert_array_equal(np.asarray(pil), la)
        assert pil.getexif()[ARTIST] == "Jane Doe"
    assert_provenance(xmp_of(data))


@pytest.mark.parametrize(("depth", "mode"), [(8, "LA"), (16, "RGBA")])
def test_gray_alpha_tiff(depth: int, mode: str) -> None:
    """8-bit gray+alpha TIFFs stay so; 16-bit ones go out as RGBA, which Pillow and OpenCV
    read (neither reads a 16-bit gray+alpha TIFF), at 16 bits."""
    image = gray_alpha_image(depth)
    data = encode_bytes(image, format="tiff")
    back = decode_bytes(data)
    assert back.bit_depth == depth and back.grayscale == (mode == "LA")
    np.testing.assert_array_equal(back.pixels, image.pixels)
    np.testing.assert_array_equal(back.alpha, image.alpha)
    if depth == 8:
        with PIL.Image.open(io.BytesIO(data)) as pil:
            assert pil.mode == mode


def test_gray_alpha_webp_is_rgba() -> None:
    """WebP has no grayscale: RGBA, the channels equal."""
    image = gray_alpha_image(8)
    with PIL.Image.open(io.BytesIO(encode_bytes(image, format="webp", quality=100))) as pil:
        assert pil.mode == "RGBA"


@pytest.mark.parametrize(("fmt", "depth"), [("png", 8), ("png", 16), ("tiff", 8), ("tiff", 16), ("jpeg", 8)])
def test_plain_gray_stays_gray(fmt: str, depth: int) -> None:
    image = gray_alpha_image(depth)
    image.alpha = None
    data = encode_bytes(image, format=fmt)
    with PIL.Image.open(io.BytesIO(data)) as pil:
        assert pil.mode in ("L", "I;16", "I;16B")
    back = decode_bytes(data)
    assert back.grayscale and back.alpha is None and back.bit_depth == depth
    if fmt != "jpeg":
        np.testing.assert_array_equal(back.pixels, image.pixels)


def test_palette_with_transparency_becomes_rgba() -> None:
    """Retouching changes the colours, which a palette of 256 cannot hold: RGBA."""
    rgb = rng_pixels((9, 11, 3))
    palette = PIL.Image.fromarray(rgb).quantize(16)
    source = io.BytesIO()
    palette.save(source, "PNG", transparency=3)
    image = decode_bytes(source.getvalue())
    data = encode_bytes(image, format="png")
    assert png_header(data) == (8, 6)  # RGBA
    back = decode_bytes(data)
    np.testing.assert_array_equal(back.alpha == 0, np.asarray(palette) == 3)
    np.testing.assert_array_equal(back.pixels, np.asarray(palette.convert("RGB")))


# --- 2. alpha to JPEG ------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "gray"), [(8, False), (16, False), (8, True)])
def test_transparency_to_jpeg_is_flattened_onto_white_with_a_warning(depth: int, gray: bool) -> None:
    dtype = np.uint16 if depth == 16 else np.uint8
    top = np.iinfo(dtype).max
    pixels = np.zeros((16, 16, 3), dtype)  # black under every pixel
    alpha = np.full((16, 16), top, dtype)
    alpha[:8] = 0  # the top half transparent, the bottom opaque
    image = Image(pixels, alpha, "png", gray, None, None, None)
    back = decode_bytes(encode_bytes(image, format="jpeg", quality=100))
    assert image.warnings == [JPEG_FLATTENED]
    assert back.alpha is None and back.grayscale == gray
    assert back.pixels[:6].min() >= 250 and back.pixels[10:].max() <= 5  # white over black
    np.testing.assert_array_equal(image.pixels, pixels)  # the caller's pixels untouched


def test_half_transparency_is_blended_and_opaque_alpha_says_nothing() -> None:
    pixels = np.full((16, 16, 3), 100, np.uint8)
    image = Image(pixels, np.full((16, 16), 128, np.uint8), "png", False, None, None, None)
    back = decode_bytes(encode_bytes(image, format="jpeg", quality=100))
    assert abs(int(back.pixels.mean()) - round((100 * 128 + 255 * 127) / 255)) <= 1
    opaque = Image(pixels, np.full((16, 16), 255, np.uint8), "png", False, None, None, None)
    encode_bytes(opaque, format="jpeg")
    assert opaque.warnings == []


def test_retouch_file_reports_the_flattened_transparency(tmp_path: Path) -> None:
    from csrtouch.engine import Retoucher

    rgba = rng_pixels((32, 32, 4))
    rgba[..., 3] = 0
    PIL.Image.fromarray(rgba).save(tmp_path / "a.png")
    warnings = retouch_file(Job(tmp_path / "a.png", tmp_path / "out" / "a.jpg"), Retoucher(), format="jpeg")
    assert warnings == [JPEG_FLATTENED]
    assert decode(tmp_path / "out" / "a.jpg").pixels.min() >= 250
    assert retouch_file(Job(tmp_path / "a.png", tmp_path / "out" / "a.png"), Retoucher()) == []


# --- 3. the user's EXIF and XMP beside csrtouch's provenance ---------------------------


@pytest.mark.parametrize("fmt", ["jpeg", "png", "tiff", "webp"])
@pytest.mark.parametrize("xmp", [None, USER_XMP], ids=["no-xmp", "user-xmp"])
def test_user_exif_and_xmp_kept_and_provenance_added(fmt: str, xmp: bytes | None) -> None:
    exif = user_exif()
    image = Image(rng_pixels((24, 40, 3)), None, fmt, False, None, exif, xmp)
    data = encode_bytes(image, format=fmt, software="csrtouch 9.9", provenance=PROVENANCE)
    with PIL.Image.open(io.BytesIO(data)) as pil:
        written = pil.getexif()
    assert user_tags(written) == user_tags(load_exif(exif))
    assert written[SOFTWARE] == "csrtouch 9.9"
    packet = xmp_of(data)
    assert_provenance(packet)
    if xmp is not None:
        text = packet.decode()
        for kept in ("<rdf:li>harbour</rdf:li>", 'xmp:Rating="4"', 'Boats, xmp:CreatorTool="not a tag" &amp; gulls', "in a comment"):
            assert kept in text
        assert "Darktable" not in text  # CreatorTool follows EXIF Software
    if fmt != "tiff":  # a TIFF's IFD0 is its own; elsewhere the block keeps its layout
        raw = data[data.index(exif[6:10]) :]
        assert raw[8 : len(exif) - 6] == exif[14:]  # every byte after the header where it was


@pytest.mark.parametrize("fmt", ["jpeg", "png", "tiff", "webp"])
def test_no_caption_is_invented(fmt: str) -> None:
    image = Image(rng_pixels((8, 8, 3)), None, fmt, False, None, user_exif(caption=False), None)
    with PIL.Image.open(io.BytesIO(encode_bytes(image, format=fmt, software="csrtouch 9.9", provenance=PROVENANCE))) as pil:
        assert CAPTION not in pil.getexif() and pil.getexif()[ARTIST] == "Jane Doe"
    bare = Image(rng_pixels((8, 8, 3)), None, fmt, False, None, None, None)
    with PIL.Image.open(io.BytesIO(encode_bytes(bare, format=fmt, software="csrtouch 9.9", provenance=PROVENANCE))) as pil:
        assert dict(pil.getexif()).get(SOFTWARE) == "csrtouch 9.9" and CAPTION not in pil.getexif()


def test_provenance_replaces_an_earlier_runs() -> None:
    first = with_provenance(USER_XMP, "csrtouch 9.8", {"Style": "old", "Extra": "gone"})
    again = with_provenance(first, "csrtouch 9.9", PROVENANCE)
    assert again is not None and again.count(f'xmlns:csrtouch="{NAMESPACE}"'.encode()) == 1
    assert_provenance(again)
    assert b"<rdf:li>dusk</rdf:li>" in again


@pytest.mark.parametrize(
    "packet",
    [
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">look</x:xmpmeta>',  # no rdf:RDF
        b"<x:xmpmeta><unclosed>",  # not well-formed
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
        "<x:xmpmeta>caf\xe9</x:xmpmeta>".encode("latin-1"),  # not UTF-8
    ],
)
def test_xmp_that_cannot_be_edited_safely_is_kept_as_it_was(packet: bytes) -> None:
    assert with_provenance(packet, "csrtouch 9.9", PROVENANCE) == packet


def test_hostile_values_are_escaped() -> None:
    hostile = {"Style": 'a"/><rdf:li>x</rdf:li>&\x01\n'}
    packet = with_provenance(None, 'tool"<', hostile)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(packet.decode())
    values = {k.split("}")[1]: v for e in root.iter() for k, v in e.attrib.items() if "}" in k}
    assert values["Style"] == 'a"/><rdf:li>x</rdf:li>&?\n' and values["CreatorTool"] == 'tool"<'


@pytest.mark.parametrize("little_endian", [False, True])
def test_exif_stamp_keeps_every_other_byte(little_endian: bool) -> None:
    exif = user_exif(little_endian=little_endian)
    tiff = exif[6:]
    assert tiff[:2] == (b"II" if little_endian else b"MM")
    stamped = stamp(tiff, {SOFTWARE: "csrtouch 9.9 \u00e9"})
    assert stamped[8 : len(tiff)] == tiff[8:]
    parsed = load_exif(stamped)
    assert parsed[SOFTWARE] == "csrtouch 9.9 ?" and user_tags(parsed) == user_tags(load_exif(exif))
    assert stamp(b"\0garbage", {SOFTWARE: "x"}).startswith(b"Exif\0\0")  # unreadable: a new block


@pytest.mark.parametrize("fmt", ["jpeg", "tiff"])
def test_bands_write_the_metadata_the_whole_frame_does(tmp_path: Path, fmt: str) -> None:
    pixels = rng_pixels((300, 200, 3))
    meta = {"icc_profile": None, "exif": user_exif(), "xmp": USER_XMP}
    kwargs = {"software": "csrtouch 9.9", "provenance": PROVENANCE}
    rows = band_rows(200)
    bands = (pixels[t : t + rows].copy() for t in range(0, 300, rows))
    encode_bands(bands, tmp_path / f"b{SUFFIX[fmt]}", 200, 300, format=fmt, **meta, **kwargs)
    encode(Image(pixels, None, fmt, False, None, meta["exif"], USER_XMP), tmp_path / f"w{SUFFIX[fmt]}", **kwargs)
    banded, whole = ((tmp_path / f"{n}{SUFFIX[fmt]}").read_bytes() for n in "bw")
    assert xmp_of(banded) == xmp_of(whole)
    assert_provenance(xmp_of(banded))
    with PIL.Image.open(io.BytesIO(banded)) as a, PIL.Image.open(io.BytesIO(whole)) as b:
        assert dict(a.getexif()) == dict(b.getexif()) and a.getexif()[CAPTION] == "Harbour at dusk"
    if fmt == "tiff":
        assert banded == whole


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_retouch_file_keeps_the_caption_and_records_the_style(tmp_path: Path, monkeypatch, streamed: bool) -> None:
    from csrtouch.engine import Retoucher

    monkeypatch.setattr(stream, "STREAM_PIXELS", 1 if streamed else 10**12)
    path = tmp_path / "a.jpg"
    PIL.Image.fromarray(rng_pixels((64, 96, 3))).save(path, quality=90, exif=user_exif(), xmp=USER_XMP)
    retoucher = Retoucher(strength=0.8)
    retouch_file(Job(path, tmp_path / "out.jpg"), retoucher)
    data = (tmp_path / "out.jpg").read_bytes()
    with PIL.Image.open(io.BytesIO(data)) as pil:
        assert user_tags(pil.getexif()) == user_tags(load_exif(user_exif()))
        assert pil.getexif()[SOFTWARE] == provenance(retoucher)["software"]
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xmp_of(data).decode().rstrip(" \0"))
    ours = {k.split("}")[1]: v for e in root.iter() for k, v in e.attrib.items() if k.startswith(f"{{{NAMESPACE}}}")}
    assert ours == provenance(retoucher)["provenance"]
    assert ours["Strength"] == "0.8" and ours["Style"] == retoucher.name


# --- 4. 16-bit pixels under a lookup-table profile -------------------------------------


def lut_profile(primaries=((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), name: str = "P3 as tables") -> bytes:
    """An ICC v2 RGB profile of lut16 (mft2) tags only, A2B0 and B2A0: Display P3 as
    lookup tables, no matrix/TRC. RGB -> curves -> linear -> a 2-point grid to XYZ (linear,
    so exact), and back through lut16's matrix, an identity grid and the inverse curves."""
    to_xyz, _ = colour._primaries_to_d50(primaries, colour.D65_XY)
    codes = np.linspace(0, 1, 4096)

    def u16(values: np.ndarray) -> bytes:
        return np.round(np.clip(values, 0, 1) * 65535).astype(">u2").tobytes()

    def mft2(matrix: np.ndarray, curve_in: np.ndarray, grid: np.ndarray, curve_out: np.ndarray) -> bytes:
        head = b"mft2" + bytes(4) + bytes((3, 3, 2, 0))
        head += b"".join(struct.pack(">i", round(v * 65536)) for v in matrix.ravel())
        return head + struct.pack(">HH", len(curve_in), len(curve_out)) + u16(curve_in) * 3 + u16(grid) + u16(curve_out) * 3

    corners = np.array([[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)], float)
    a2b0 = mft2(np.eye(3), colour.SRGB_CURVE.forward(codes), corners @ to_xyz.T * 32768 / 65535, codes)
    b2a0 = mft2(np.linalg.inv(to_xyz) * 65535 / 32768, codes, corners, colour.SRGB_CURVE.inverse(codes))
    desc = name.encode() + b"\0"
    s15 = b"".join(struct.pack(">i", round(v * 65536)) for v in colour.D50)
    tags = [
        (b"desc", b"desc" + bytes(4) + struct.pack(">I", len(desc)) + desc + bytes(78)),
        (b"wtpt", b"XYZ " + bytes(4) + s15),
        (b"A2B0", a2b0),
        (b"B2A0", b2a0),
    ]
    start = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        table += struct.pack(">4sII", sig, start + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = struct.pack(">I4sI4s4s4s", start + len(body), bytes(4), 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(28) + s15 + bytes(48)
    return header + table + body


LUT = lut_profile()


def photo_in_p3(astronaut: np.ndarray, depth: int) -> np.ndarray:
    p3 = colour.read_profile(colour.rgb_profile("P3", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), colour.SRGB_CURVE))
    pixels = astronaut.astype(np.uint16) * 257 if depth == 16 else astronaut
    return colour._convert(pixels, colour.SRGB, p3.shaper)


def test_the_profile_is_lookup_tables_only() -> None:
    profile = colour.read_profile(LUT)
    assert profile.shaper is None and profile.space == "RGB" and profile.description == "P3 as tables"


def to_8(pixels: np.ndarray) -> np.ndarray:
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.int32)


def test_16_bit_under_a_lookup_table_profile_is_converted_like_8_bit(astronaut: np.ndarray) -> None:
    sixteen = Image(photo_in_p3(astronaut, 16), None, "png", False, LUT, None, None)
    eight = Image(photo_in_p3(astronaut, 8), None, "png", False, LUT, None, None)
    colour.to_srgb(sixteen)
    colour.to_srgb(eight)
    assert sixteen.warnings == [] and sixteen.from_profile and sixteen.pixels.dtype == np.uint16
    diff = np.abs(to_8(sixteen.pixels) - eight.pixels)
    assert diff.max() <= 2 and diff.mean() < 0.2
    # And it is the photo in sRGB again, to a level.
    truth = np.abs(to_8(sixteen.pixels) - astronaut)
    assert truth.max() <= 4 and truth.mean() < 0.05


def test_16_bit_lookup_table_image_goes_back_into_its_profile(astronaut: np.ndarray) -> None:
    pixels = photo_in_p3(astronaut, 16)[:64, :96]
    source = Image(pixels, None, "png", False, LUT, None, None)
    image = decode_bytes(encode_bytes(source, format="png"))
    assert image.warnings == [] and image.from_profile and image.bit_depth == 16
    written = decode_bytes(encode_bytes(image, format="tiff"))
    assert written.icc_profile == LUT
    import cv2

    stored = cv2.imdecode(np.frombuffer(encode_bytes(image, format="png"), np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert np.abs(stored.astype(np.int32) - pixels).max() <= 2 * 257  # a round trip through LittleCMS


def test_8_bit_pixels_retouched_to_16_go_back_through_the_tables(astronaut: np.ndarray) -> None:
    image = Image(photo_in_p3(astronaut, 8)[:32, :32].copy(), None, "png", False, LUT, None, None)
    colour.to_srgb(image)
    image.pixels = image.pixels.astype(np.uint16) * 257
    out = colour.from_srgb(image)
    assert out.dtype == np.uint16 and np.abs(to_8(out) - photo_in_p3(astronaut, 8)[:32, :32]).max() <= 2
