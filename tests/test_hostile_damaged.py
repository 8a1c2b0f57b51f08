"""Damaged files that decoders fill with grey or black and pass as good (issue 14): a JPEG cut
short and closed with an end-of-image marker, a header that claims more rows than the data
holds, a progressive JPEG cut mid-way, PNGs and TIFFs cut or corrupted, a WebP cut. Each
must fail with one line naming the file; valid files from usual encoders must not."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest
from typer.testing import CliRunner

from csrtouch.batch import Job, retouch_file
from csrtouch.engine import Retoucher
from csrtouch.errors import DecodeError
from csrtouch.io import Image, decode, decode_bytes, encode_bytes, stream

ENDS_EARLY = r"damaged JPEG: the image data ends early \(libjpeg: Corrupt JPEG data: premature end of data segment\)"


def jpeg(pixels: np.ndarray, **options: object) -> bytes:
    out = io.BytesIO()
    PIL.Image.fromarray(pixels).save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def cv2_jpeg(pixels: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]), list(params))
    assert ok
    return data.tobytes()


def cut_with_eoi(data: bytes, fraction: float) -> bytes:
    """The file cut ``fraction`` of the way through its scan data, then closed with EOI."""
    scan = data.index(b"\xff\xda")
    cut = scan + int((len(data) - scan) * fraction)
    return data[:cut].rstrip(b"\xff") + b"\xff\xd9"


def taller(data: bytes, rows: int) -> bytes:
    """The JPEG with its SOF claiming ``rows`` more rows than its data holds."""
    out = bytearray(data)
    sof = out.index(b"\xff\xc0")
    height = int.from_bytes(out[sof + 5 : sof + 7], "big")
    out[sof + 5 : sof + 7] = (height + rows).to_bytes(2, "big")
    return bytes(out)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    PIL.Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def assert_refused(data: bytes, message: str, name: str = "photo.jpg") -> None:
    with pytest.raises(DecodeError, match=rf"^{re.escape(name)}: {message}$"):
        decode_bytes(data, name)


# --- JPEG -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.7, 0.99, 0.999])
def test_jpeg_cut_short_and_closed_with_eoi_is_refused(astronaut, fraction) -> None:
    assert_refused(cut_with_eoi(jpeg(astronaut), fraction), ENDS_EARLY)


@pytest.mark.parametrize("rows", [1, 8, 64, 512])
def test_jpeg_header_claiming_more_rows_than_its_data_is_refused(astronaut, rows) -> None:
    assert_refused(taller(jpeg(astronaut), rows), ENDS_EARLY)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.95])
def test_progressive_jpeg_cut_mid_scan_is_refused(astronaut, fraction) -> None:
    assert_refused(cut_with_eoi(jpeg(astronaut, progressive=True), fraction), "damaged JPEG: the image data ends early .*")


def test_progressive_jpeg_cut_between_scans_is_refused(astronaut) -> None:
    """libjpeg decodes the scans there are, blurred, without a word: the marker walk sees
    that the coefficients never reach full precision."""
    data = jpeg(astronaut, progressive=True)
    scans = [m.start() for m in re.finditer(b"\xff\xda", data)]
    assert len(scans) > 3
    for scan in scans[1:]:
        assert_refused(
            data[:scan] + b"\xff\xd9",
            r"damaged JPEG: the image data ends early \(its progressive scans stop before the last\)",
        )


def test_jpeg_with_restart_markers_missing_bytes_mid_file_is_refused(astronaut) -> None:
    """libjpeg resynchronises at the next restart marker and greys out what it lost."""
    data = jpeg(astronaut, restart_marker_rows=1)
    middle = len(data) // 2
    assert_refused(data[:middle] + data[middle + 300 :], ENDS_EARLY)


def test_grayscale_jpeg_cut_short_is_refused(astronaut) -> None:
    assert_refused(cut_with_eoi(jpeg(astronaut[..., 1]), 0.5), ENDS_EARLY)


def test_jpeg_with_junk_inside_its_scan_is_refused(astronaut) -> None:
    """Bytes where a restart interval should end: its data ran past its blocks."""
    data = jpeg(astronaut, restart_marker_rows=1)
    rst = data.index(b"\xff\xd3")
    assert_refused(
        data[:rst] + b"\x12\x34\x56" + data[rst:],
        r"corrupt image data \(libjpeg: Corrupt JPEG data: 3 extraneous bytes before marker 0xd3\)",
    )


def _harmless(astronaut: np.ndarray) -> dict[str, tuple[bytes, str]]:
    """Files libjpeg warns about whose pixels are whole, and its words."""
    data = jpeg(astronaut)
    jfif = bytearray(data)
    jfif[jfif.index(b"JFIF\x00") + 5] = 2  # JFIF 2.01: there is no such version
    dqt = data.index(b"\xff\xdb")
    return {
        "jfif": (bytes(jfif), "Warning: unknown JFIF revision number 2.01"),
        "junk": (data[:dqt] + b"\x00\x00" + data[dqt:], "Corrupt JPEG data: 2 extraneous bytes before marker 0xdb"),
    }


@pytest.mark.parametrize("kind", ["jfif", "junk"])
def test_harmless_libjpeg_warnings_pass_with_a_warning(astronaut, kind) -> None:
    data, said = _harmless(astronaut)[kind]
    image = decode_bytes(data, "photo.jpg")
    assert image.warnings == [f"libjpeg: {said} (the image data is whole)"]
    np.testing.assert_array_equal(image.pixels, decode_bytes(jpeg(astronaut)).pixels)


# --- valid files are not refused ------------------------------------------------------------


def _valid(astronaut: np.ndarray) -> dict[str, bytes]:
    exif = PIL.Image.Exif()
    exif[0x010F] = "Canon"
    thumb = jpeg(astronaut[::8, ::8])
    return {
        "pillow 4:4:4": jpeg(astronaut, subsampling=0),
        "pillow 4:2:2": jpeg(astronaut, subsampling=1),
        "pillow 4:2:0 with EXIF": jpeg(astronaut, subsampling=2, exif=exif.tobytes()),
        "pillow optimised": jpeg(astronaut, optimize=True),
        "pillow progressive": jpeg(astronaut, progressive=True),
        "pillow restart markers": jpeg(astronaut, restart_marker_blocks=3),
        "pillow odd size": jpeg(np.ascontiguousarray(astronaut[:301, :199])),
        "pillow grayscale": jpeg(astronaut[..., 0]),
        "pillow grayscale progressive": jpeg(astronaut[..., 0], progressive=True),
        "opencv q95": cv2_jpeg(astronaut, cv2.IMWRITE_JPEG_QUALITY, 95),
        "opencv q100 4:4:4": cv2_jpeg(astronaut, cv2.IMWRITE_JPEG_QUALITY, 100, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
        "opencv progressive": cv2_jpeg(astronaut, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "opencv restart interval": cv2_jpeg(astronaut, cv2.IMWRITE_JPEG_RST_INTERVAL, 4),
        "opencv optimised progressive": cv2_jpeg(astronaut, cv2.IMWRITE_JPEG_OPTIMIZE, 1, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "csrtouch": encode_bytes(Image(astronaut.copy(), None, "jpeg", False, None, None, None), format="jpeg"),
        # A JPEG thumbnail in a comment has scans and an EOI of its own; trailing bytes after
        # the EOI (a motion photo's video) are not the image's.
        "thumbnail inside, data after EOI": jpeg(astronaut)[:2]
        + b"\xff\xfe" + (len(thumb) + 2).to_bytes(2, "big") + thumb
        + jpeg(astronaut)[2:] + b"\x00" * 100,
    }


@pytest.mark.parametrize("kind", list(_valid(np.zeros((8, 8, 3), np.uint8))))
def test_valid_jpegs_are_not_refused(astronaut, kind) -> None:
    data = _valid(astronaut)[kind]
    image = decode_bytes(data, "photo.jpg")
    assert image.warnings == []
    expected = np.asarray(PIL.Image.open(io.BytesIO(data)).convert("RGB"))  # libjpeg-turbo's pixels
    np.testing.assert_array_equal(image.pixels, expected)


# --- PNG, TIFF, WebP, HEIC -----------------------------------------------------------------


def test_png_cut_short_or_without_iend_is_refused(astronaut) -> None:
    data = png(astronaut)
    iend = data.rindex(b"IEND") - 4
    for cut in (len(data) // 3, iend + 3, iend):  # in the image data; in IEND; all of IEND gone
        assert_refused(data[:cut], r"file is truncated \(the image data ends early\)", "photo.png")


def test_png_with_image_data_missing_is_refused(astronaut) -> None:
    """Every chunk whole and IEND there, but half the compressed image data gone."""
    data = png(astronaut)
    first = data.index(b"IDAT") - 4
    compressed = b"".join(
        data[m.start() + 4 : m.start() + 4 + struct.unpack(">I", data[m.start() - 4 : m.start()])[0]]
        for m in re.finditer(b"IDAT", data)
    )
    short = data[:first] + chunk(b"IDAT", compressed[: len(compressed) // 2]) + chunk(b"IEND", b"")
    assert_refused(short, r"file is truncated \(the image data ends early\)", "photo.png")


@pytest.mark.parametrize("where", ["data", "crc"])
def test_png_failing_its_crc_is_refused(astronaut, where) -> None:
    data = bytearray(png(astronaut))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + (100 if where == "data" else length)] ^= 0x10
    assert_refused(bytes(data), r"corrupt image data: the PNG's IDAT chunk fails its CRC check \(a damaged file\)", "photo.png")


def test_16_bit_png_failing_its_crc_is_refused(astronaut) -> None:
    data = bytearray(encode_bytes(Image(astronaut.astype(np.uint16) * 257, None, "png", False, None, None, None), format="png"))
    data[data.index(b"IDAT") + 200] ^= 0x01
    assert_refused(bytes(data), r"corrupt image data: the PNG's IDAT chunk fails its CRC check \(a damaged file\)", "photo.png")


def _strips(data: bytes) -> tuple[list[int], list[int]]:
    pil = PIL.Image.open(io.BytesIO(data))
    return list(pil.tag_v2[273]), list(pil.tag_v2[279])


@pytest.mark.parametrize(("writer", "depth"), [("csrtouch", 8), ("csrtouch", 16), ("pillow", 8)])
def test_tiff_with_a_strip_cut_short_is_refused(astronaut, writer, depth) -> None:
    """A Deflate strip cut short, or its end zeroed (a file whose tail was never written):
    libtiff takes what the damaged stream gives, black, as the strip's rows."""
    pixels = astronaut.astype(np.uint16) * 257 if depth == 16 else astronaut.copy()
    if writer == "csrtouch":
        data = encode_bytes(Image(pixels, None, "tiff", False, None, None, None), format="tiff")
    else:  # Pillow writes no 16-bit RGB TIFF
        out = io.BytesIO()
        PIL.Image.fromarray(pixels).save(out, "TIFF", compression="tiff_adobe_deflate")
        data = out.getvalue()
    offsets, counts = _strips(data)
    i = len(offsets) // 2
    zeroed = bytearray(data)
    zeroed[offsets[i] + counts[i] // 2 : offsets[i] + counts[i]] = bytes(counts[i] - counts[i] // 2)
    assert_refused(bytes(zeroed), "damaged TIFF: a strip's compressed data is corrupt or ends early", "photo.tif")
    # The strip's stored length cut to half: the same stream, ending early.
    count_at = data.index(struct.pack("<I", counts[i]), data.index(struct.pack("<I", counts[0])))
    short = data[:count_at] + struct.pack("<I", counts[i] // 2) + data[count_at + 4 :]
    assert_refused(short, "damaged TIFF: a strip's compressed data is corrupt or ends early", "photo.tif")
    # The file cut in the last strip (Pillow writes the IFD after the strips, which goes too).
    assert_refused(
        data[: offsets[-1] + counts[-1] // 2],
        r"(file is truncated \(the image data ends early\)|corrupt or truncated TIFF file \(its header is unreadable\))",
        "photo.tif",
    )


@pytest.mark.parametrize("compression", ["tiff_lzw", "packbits"])
def test_other_tiffs_with_a_damaged_strip_are_refused(astronaut, compression) -> None:
    """libtiff itself fails LZW and PackBits strips whose data is cut or zeroed."""
    out = io.BytesIO()
    PIL.Image.fromarray(astronaut).save(out, "TIFF", compression=compression)
    data = out.getvalue()
    offsets, counts = _strips(data)
    zeroed = bytearray(data)
    i = len(offsets) // 2
    zeroed[offsets[i] + counts[i] // 2 : offsets[i] + counts[i]] = bytes(counts[i] - counts[i] // 2)
    with pytest.raises(DecodeError, match=r"^photo\.tif: corrupt image data"):
        decode_bytes(bytes(zeroed), "photo.tif")


@pytest.mark.parametrize("options", [{"quality": 90}, {"lossless": True}])
def test_webp_cut_short_is_refused(astronaut, options) -> None:
    """Cut, with its RIFF and VP8 chunk sizes made to fit the cut, so that only the decoder
    can tell."""
    out = io.BytesIO()
    PIL.Image.fromarray(astronaut).save(out, "WEBP", **options)
    data = out.getvalue()
    for fraction in (0.5, 0.95):
        cut = bytearray(data[: int(len(data) * fraction)])
        cut[4:8] = struct.pack("<I", len(cut) - 8)
        cut[16:20] = struct.pack("<I", len(cut) - 20)
        with pytest.raises(DecodeError, match=r"^photo\.webp: corrupt image data: "):
            decode_bytes(bytes(cut), "photo.webp")


def test_heic_cut_short_is_refused(astronaut) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    heif = pillow_heif.from_bytes(mode="RGB", size=(512, 512), data=astronaut.tobytes())
    out = io.BytesIO()
    heif.save(out, quality=90)
    data = out.getvalue()
    for cut in (len(data) // 2, len(data) - 100):
        assert_refused(data[:cut], r"file is truncated \(the image data ends early\)", "photo.heic")


def test_damaged_files_leave_stderr_clean(astronaut, capfd) -> None:
    for data in (cut_with_eoi(jpeg(astronaut), 0.5), taller(jpeg(astronaut), 8), *[d for d, _ in _harmless(astronaut).values()]):
        try:
            decode_bytes(data)
        except DecodeError:
            pass
    assert capfd.readouterr().err == ""


# --- the streamed path reaches the whole-frame verdict ---------------------------------------


def _verdict(call) -> str:
    try:
        call()
    except DecodeError as e:
        return e.message
    return "ok"


def test_streamed_jpegs_get_the_whole_frame_verdict(astronaut, tmp_path, monkeypatch) -> None:
    """Large JPEGs are read in bands by libvips; the same damage fails them in the same
    words, and a harmless warning passes them (decoded whole, which says so)."""
    pytest.importorskip("pyvips")
    monkeypatch.setattr(stream, "STREAM_PIXELS", 1)
    big = np.ascontiguousarray(cv2.resize(astronaut, (1200, 800), interpolation=cv2.INTER_CUBIC))
    good = jpeg(big)
    rst = jpeg(big, restart_marker_rows=1)
    rng = np.random.default_rng(14)
    cases = {
        "good": good,
        "cut+eoi": cut_with_eoi(good, 0.6),
        "cut+eoi late": cut_with_eoi(good, 0.999),
        "taller": taller(good, 16),
        "rst hole": rst[: len(rst) // 2] + rst[len(rst) // 2 + 500 :],
        **{k: d for k, (d, _) in _harmless(big).items()},
    }
    # Random damage anywhere in the scan: cut off and closed with an EOI (always caught),
    # bytes cut out or overwritten (caught when libjpeg runs out of data; garbled data that
    # still fills the frame is reported by libjpeg only at the EOI, which libvips never reads).
    scan = good.index(b"\xff\xda") + 20
    for i in range(24):
        at = int(rng.integers(scan, len(good) - 10))
        kind = ("cut", "hole", "overwritten")[i % 3]
        if kind == "cut":
            cases[f"random {kind} {i}"] = cut_with_eoi(good, (at - scan) / (len(good) - scan))
        elif kind == "hole":
            cases[f"random {kind} {i}"] = good[:at] + good[at + int(rng.integers(1, 2000)) :]
        else:
            cases[f"random {kind} {i}"] = good[:at] + rng.integers(0, 255, 64, np.uint8).tobytes() + good[at + 64 :]
    for name, data in cases.items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(data)
        whole = _verdict(lambda: decode(path))
        streamed = _verdict(lambda: retouch_file(Job(path, tmp_path / "out" / path.name), Retoucher()))
        assert streamed == whole, name
        if name in ("good", "jfif", "junk"):
            assert whole == "ok", name
        elif not name.startswith(("random hole", "random overwritten")):
            assert re.fullmatch(ENDS_EARLY, whole), (name, whole)
        if whole != "ok":
            assert not (tmp_path / "out" / path.name).exists()


# --- the command line and finetune ----------------------------------------------------------


runner = CliRunner()


def test_apply_fails_the_damaged_file_and_retouches_the_good_one(astronaut, coffee, tmp_path) -> None:
    from csrtouch.cli import app

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "good.jpg").write_bytes(jpeg(coffee))
    (src / "cut.jpg").write_bytes(cut_with_eoi(jpeg(astronaut), 0.5))
    (src / "tall.jpg").write_bytes(taller(jpeg(astronaut), 64))
    (src / "cut.png").write_bytes(png(astronaut)[:-12])
    result = runner.invoke(app, ["apply", str(src), str(out)])
    assert result.exit_code == 1, result.output
    assert "1 retouched, 0 skipped (already done), 3 failed" in result.output
    for name in ("cut.jpg", "tall.jpg"):
        assert re.search(rf"{name}: {ENDS_EARLY}", result.output), result.output
    assert "cut.png: file is truncated (the image data ends early)" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["good.jpg"]
    assert decode(out / "good.jpg").pixels.shape == coffee.shape


def test_apply_json_reports_the_failure_and_a_harmless_warning(astronaut, tmp_path) -> None:
    from csrtouch.cli import app

    src = tmp_path / "in"
    src.mkdir()
    (src / "cut.jpg").write_bytes(cut_with_eoi(jpeg(astronaut), 0.5))
    data, said = _harmless(astronaut)["jfif"]
    (src / "jfif.jpg").write_bytes(data)
    result = runner.invoke(app, ["apply", "--json", "-q", str(src), str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = {Path(line["input"]).name: line for line in map(json.loads, result.stdout.splitlines())}
    assert lines["cut.jpg"]["status"] == "failed" and re.search(ENDS_EARLY, lines["cut.jpg"]["error"])
    assert lines["jfif.jpg"]["status"] == "ok"
    assert lines["jfif.jpg"]["warnings"] == [f"libjpeg: {said} (the image data is whole)"]
    assert not (tmp_path / "out" / "cut.jpg").exists()


def test_finetune_skips_a_damaged_liked_photo(astronaut, coffee, tmp_path) -> None:
    from csrtouch.finetuning.photos import read_photos

    liked = tmp_path / "liked"
    liked.mkdir()
    (liked / "a.jpg").write_bytes(jpeg(astronaut))
    (liked / "b.jpg").write_bytes(jpeg(coffee))
    (liked / "c.png").write_bytes(png(np.ascontiguousarray(astronaut[::-1])))
    (liked / "damaged.jpg").write_bytes(cut_with_eoi(jpeg(np.ascontiguousarray(coffee[:, ::-1])), 0.4))
    lines: list[str] = []
    photos = read_photos(liked, warn=lines.append)
    assert sorted(p.name for p in photos) == ["a.jpg", "b.jpg", "c.png"]
    assert len(lines) == 1 and re.fullmatch(rf"skipped .*damaged\.jpg: {ENDS_EARLY}", lines[0]), lines
