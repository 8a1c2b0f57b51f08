"""Tests of camera RAW decoding: rendering, orientation, EXIF, hostile files, LibRaw's stderr.

Every test but the ../shared ones runs on a tiny Bayer DNG written here (:func:`tiny_dng`),
so RAW decoding is tested wherever csrtouch is installed.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import threading
import warnings
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest

from csrtouch.errors import DecodeError, UsageError
from csrtouch.io import Image, decode, decode_bytes, default_output_format, encode, encode_bytes
from csrtouch.io import raw as raw_module
from csrtouch.io.colour import SRGB_CURVE
from csrtouch.io.metadata import EXIF_IFD, load_exif, orient
from csrtouch.io.stderr import quiet_stderr, terminal
from dng import tiny_dng

CAMERA_EXIF = {
    0x8827: 400,  # ISO
    0x829A: 1 / 125,  # ExposureTime
    0x829D: 5.6,  # FNumber
    0x920A: 50.0,  # FocalLength
    0x9003: "2024:05:01 10:00:00",  # DateTimeOriginal
    0x927C: b"maker note with offsets into the RAW",
}
GRAY, RED, BLUE = (0.18, 0.18, 0.18), (0.4, 0.1, 0.05), (0.05, 0.1, 0.4)


def patches(h: int = 64, w: int = 96) -> np.ndarray:
    """Gray, red and blue vertical bands, linear sRGB."""
    scene = np.zeros((h, w, 3))
    for i, colour in enumerate((GRAY, RED, BLUE)):
        scene[:, i * w // 3 : (i + 1) * w // 3] = colour
    return scene


def srgb(linear: float) -> float:
    return float(SRGB_CURVE.inverse(np.array(linear)))


def band_means(pixels: np.ndarray) -> list[np.ndarray]:
    """Mean colour (0-1) inside each of the three bands, away from the demosaiced edges."""
    h, w, _ = pixels.shape
    third = w // 3
    return [pixels[8 : h - 8, i * third + 6 : (i + 1) * third - 6].reshape(-1, 3).mean(0) / 65535 for i in range(3)]


# --- rendering --------------------------------------------------------------------------


def test_tiny_dng_is_rendered_like_a_camera_jpeg() -> None:
    image = decode_bytes(tiny_dng(patches()), "tiny.dng")
    assert image.format == "raw" and image.bit_depth == 16 and image.pixels.shape == (64, 96, 3)
    assert image.warnings == [] and not image.grayscale and image.alpha is None
    assert image.icc_profile is None and not image.from_profile  # sRGB
    gray, red, blue = band_means(image.pixels)
    # Camera white balance: the gray comes out gray, though the sensor saw it tinted.
    assert np.ptp(gray) < 0.01
    # Brightened so that 1% of the samples clip: the red band's red (0.4) becomes white;
    # everything scales with it (x2.5) and gets sRGB's curve.
    gain = 1 / RED[0]
    np.testing.assert_allclose(gray, srgb(GRAY[0] * gain), atol=0.01)
    np.testing.assert_allclose(red, [srgb(v * gain) for v in RED], atol=0.01)
    np.testing.assert_allclose(blue, [srgb(v * gain) for v in BLUE], atol=0.01)


def test_brightening_is_limited_to_two_stops() -> None:
    dark = patches() * 0.02  # a night shot: LibRaw's auto-brightening would multiply by 125
    gray, red, _ = band_means(decode_bytes(tiny_dng(dark), "dark.dng").pixels)
    np.testing.assert_allclose(gray, srgb(GRAY[0] * 0.02 * raw_module.MAX_BRIGHTENING), atol=0.01)
    assert red.max() < 0.3


def test_bright_photo_is_not_darkened() -> None:
    scene = patches()
    scene[:4] = 1.0  # a blown-out sky, well over 1% of the frame
    gray, _, _ = band_means(decode_bytes(tiny_dng(scene), "bright.dng").pixels)
    np.testing.assert_allclose(gray, srgb(GRAY[0]), atol=0.01)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_is_applied(orientation: int) -> None:
    upright = decode_bytes(tiny_dng(patches()), "a.dng")
    turned = decode_bytes(tiny_dng(patches(), orientation=orientation), "b.dng")
    np.testing.assert_array_equal(turned.pixels, orient(upright.pixels, orientation))
    assert turned.pixels.flags.c_contiguous
    exif = load_exif(turned.exif)
    assert exif is not None and exif[0x0112] == 1


def test_all_black_frame_warns() -> None:
    image = decode_bytes(tiny_dng(np.zeros((64, 96, 3))), "cap.dng")
    assert not image.pixels.any()
    assert image.warnings == [
        "the RAW decodes to an all-black frame (a lens-cap shot, or image data LibRaw could not read)"
    ]


# --- metadata ---------------------------------------------------------------------------


def test_exif_is_copied_without_the_maker_note() -> None:
    image = decode_bytes(tiny_dng(patches(), exif=CAMERA_EXIF, orientation=6), "a.dng")
    exif = load_exif(image.exif)
    assert exif is not None
    assert exif[0x010F] == "Csrtouch" and exif[0x0110] == "Tiny Bayer" and exif[0x0112] == 1
    sub = exif.get_ifd(EXIF_IFD)
    assert sub[0x8827] == 400 and sub[0x9003] == "2024:05:01 10:00:00"
    assert float(sub[0x829A]) == pytest.approx(1 / 125)
    assert float(sub[0x829D]) == pytest.approx(5.6) and float(sub[0x920A]) == 50
    assert sub[0xA001] == 1  # ColorSpace: sRGB, what the render is
    assert 0x927C not in sub
    # DNG's own tags (colour matrices, CFA layout) describe the RAW, not the render.
    assert not {50706, 50721, 33422, 273} & set(exif)


def test_exif_survives_encoding(tmp_path: Path) -> None:
    image = decode_bytes(tiny_dng(patches(), exif=CAMERA_EXIF), "a.dng")
    for name in ("out.tif", "out.jpg"):
        encode(image, tmp_path / name, software="csrtouch test")
        with PIL.Image.open(tmp_path / name) as written:
            exif = written.getexif()
            assert exif[0x0110] == "Tiny Bayer" and exif[0x0131] == "csrtouch test"
            assert exif.get_ifd(EXIF_IFD)[0x8827] == 400


def test_missing_exposure_fields_come_from_libraw() -> None:
    other = SimpleNamespace(
        iso_speed=800.0,
        shutter_speed=0.5,
        aperture=2.8,
        focal_length=35.0,
        timestamp=datetime(2023, 7, 14, 18, 30, 5),
        artist="Jane Doe",
    )
    lens = SimpleNamespace(make="Sigma", model="35mm F1.4 DG HSM")
    exif = load_exif(raw_module._metadata(b"not a TIFF", other, lens)[0])
    assert exif is not None and exif[0x013B] == "Jane Doe"
    sub = exif.get_ifd(EXIF_IFD)
    assert sub[0x8827] == 800 and float(sub[0x829A]) == 0.5 and float(sub[0x829D]) == 2.8
    assert sub[0x9003] == "2023:07:14 18:30:05"
    assert sub[0xA433] == "Sigma" and sub[0xA434] == "35mm F1.4 DG HSM"
    # Nothing known: only what the render itself says.
    empty = SimpleNamespace(
        iso_speed=0.0,
        shutter_speed=0.0,
        aperture=0.0,
        focal_length=0.0,
        timestamp=datetime.fromtimestamp(0),
        artist="",
    )
    exif = load_exif(raw_module._metadata(b"", empty, SimpleNamespace(make="", model=""))[0])
    assert exif is not None and dict(exif.get_ifd(EXIF_IFD)) == {0xA001: 1}


# --- telling RAWs from TIFFs; output format ---------------------------------------------


@pytest.mark.parametrize("name", ["a.dng", "a.tif", "<stdin>", "a.DNG"])
def test_a_dng_is_a_raw_whatever_its_name(name: str) -> None:
    assert decode_bytes(tiny_dng(patches()), name).format == "raw"


def test_raw_output_defaults_to_16_bit_tiff(tmp_path: Path) -> None:
    image = decode(_write(tmp_path / "in.dng", tiny_dng(patches())))
    assert default_output_format(image) == "tiff"
    assert default_output_format(tmp_path / "in.NEF") == "tiff"
    encode(image, tmp_path / "out")  # no suffix, no format: the default
    back = decode(tmp_path / "out")
    assert back.format == "tiff" and back.bit_depth == 16
    np.testing.assert_array_equal(back.pixels, image.pixels)
    jpeg = decode_bytes(encode_bytes(image, format="jpeg"))
    assert jpeg.bit_depth == 8 and np.abs(jpeg.pixels / 255 - image.pixels / 65535).mean() < 0.02


def test_writing_a_raw_is_refused(tmp_path: Path) -> None:
    image = decode_bytes(tiny_dng(patches()), "in.dng")
    with pytest.raises(UsageError) as info:
        encode(image, tmp_path / "out.dng")
    assert info.value.message == "csrtouch cannot write .dng files; name the output out.tif or give a format"
    with pytest.raises(UsageError, match="csrtouch reads raw but cannot write it"):
        encode_bytes(image, format="raw")
    assert list(tmp_path.iterdir()) == []


# --- bad files --------------------------------------------------------------------------


def assert_decode_error(data: bytes, name: str, message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DecodeError) as info:
            decode_bytes(data, name)
    assert info.value.message == message
    assert str(info.value) == f"{name}: {message}"


def test_truncated_dng() -> None:
    data = tiny_dng(patches())
    for cut in (len(data) // 2, len(data) - 100):
        assert_decode_error(data[:cut], "cut.dng", "RAW file is truncated (LibRaw reached the end of the data early)")


def test_unsupported_raw() -> None:
    data = bytearray(tiny_dng(patches()))
    data[4:8] = (10**6).to_bytes(4, "little")  # IFD0 beyond the end: nothing to identify
    assert_decode_error(bytes(data), "a.nef", raw_module.UNSUPPORTED)


def test_raw_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("csrtouch.io.decode"), "MAX_PIXELS", 1000)
    assert_decode_error(tiny_dng(patches()), "a.dng", "RAW is too large (96x64, over the 0 MP limit)")


# --- LibRaw's stderr --------------------------------------------------------------------


def test_quiet_stderr_silences_fd_2_and_restores_it(capfd: pytest.CaptureFixture[str]) -> None:
    os.write(2, b"before\n")
    with quiet_stderr():
        os.write(2, b"LibRaw chatter\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"


def test_terminal_is_never_silenced(capfd: pytest.CaptureFixture[str]) -> None:
    with terminal() as early:
        with quiet_stderr():
            with terminal() as late:  # made while fd 2 is redirected: still the real one
                early.write("progress 1\n")
                late.write("progress 2\n")
                os.write(2, b"chatter\n")
    assert capfd.readouterr().err == "progress 1\nprogress 2\n"


def test_quiet_stderr_is_shared_by_threads(capfd: pytest.CaptureFixture[str]) -> None:
    """Overlapping users in threads: fd 2 is back only when the last one leaves."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with quiet_stderr():
            first_in.set()
            second_in.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with quiet_stderr():
            second_in.set()
            first_out.wait()
            os.write(2, b"still quiet\n")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    os.write(2, b"back\n")
    assert capfd.readouterr().err == "back\n"


def test_libraw_chatter_is_silenced(shared: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """LibRaw does print to fd 2 (here "data corrupted at 1378"), and the guard stops it."""
    import rawpy

    data = (shared / "data" / "raw" / "bad" / "exiftool_Nikon.nef").read_bytes()

    def render() -> None:
        with contextlib.suppress(rawpy.LibRawError), rawpy.imread(io.BytesIO(data)) as raw:
            raw.postprocess()

    render()
    assert "data corrupted" in capfd.readouterr().err
    with quiet_stderr():
        render()
    assert capfd.readouterr().err == ""


def test_decoding_raws_in_threads() -> None:
    data = tiny_dng(patches())
    expected = decode_bytes(data, "a.dng").pixels
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(3):
            results.append(decode_bytes(data, "a.dng").pixels)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 12 and all(np.array_equal(r, expected) for r in results)


# --- real RAWs from ../shared -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "shape"),
    [
        ("canon550d-colorchart.dng", "Canon", (1156, 1734, 3)),
        ("kodak-dc50.kdc", "Eastman Kodak Company", (512, 768, 3)),
        ("kodak-c330.raw", None, (912, 1216, 3)),
    ],
)
def test_good_raws(shared: Path, name: str, make: str | None, shape: tuple[int, ...]) -> None:
    image = decode(shared / "data" / "raw" / "good" / name)
    assert image.format == "raw" and image.pixels.shape == shape and image.bit_depth == 16
    assert image.warnings == []
    # Exposed like a camera JPEG: neither dark nor washed out.
    assert 0.3 < image.pixels.mean() / 65535 < 0.7
    exif = load_exif(image.exif)
    assert exif is not None and exif.get(0x010F) == make


UNSUPPORTED = "not a RAW file LibRaw can read (unsupported camera or format, or a damaged header)"


def starved(size: str, kb: int, need: int) -> str:
    return (
        f"RAW file is far too small for the {size} pixels it claims ({kb} KB, where even a "
        f"compressed RAW needs over {need} KB): its image data is missing"
    )


# Most are exiftool's and exiv2's metadata test files, their image data stripped. LibRaw
# would render the missing data from memory it never wrote (the DNGs come out black or
# speckled, by chance; the RW2 as noise), so they are refused before it gets that far.
BAD_RAWS = {
    "exiftool_CanonRaw.cr2": UNSUPPORTED,
    "exiftool_CanonRaw.cr3": starved("6288x4056", 51, 778),
    "exiftool_CanonRaw.crw": starved("3152x2068", 7, 199),
    "exiftool_DNG.dng": starved("3516x2328", 13, 250),
    "exiftool_FujiFilm.raf": starved("4352x1444", 38, 192),
    "exiftool_Nikon.nef": starved("3040x2014", 6, 187),
    "exiftool_Panasonic.rw2": starved("3724x2754", 12, 313),
    "exiftool_SigmaDP2.x3f": starved("2688x1792", 4, 147),
    "exiv2_Canon-R6-pruned.CR3": "RAW file is truncated (LibRaw reached the end of the data early)",
    "exiv2_IMG_1361.dng": starved("4032x3024", 63, 372),
    "exiv2_issue_839_poc.rw2": UNSUPPORTED,
    "exiv2_issue_857_coverage.raf": UNSUPPORTED,
}


@pytest.mark.parametrize("name", sorted(BAD_RAWS))
def test_bad_raws_fail_with_one_clear_line(shared: Path, name: str, capfd: pytest.CaptureFixture[str]) -> None:
    path = shared / "data" / "raw" / "bad" / name
    with pytest.raises(DecodeError) as info:
        decode(path)
    assert info.value.message == BAD_RAWS[name]
    assert "\n" not in str(info.value)
    assert capfd.readouterr().err == ""  # LibRaw's own complaints stay off the terminal


def test_exif_of_other_raw_layouts(shared: Path) -> None:
    """CR3 (CMT boxes), RAF (embedded JPEG) and RW2 (TIFF with its own magic) EXIF."""
    bad = shared / "data" / "raw" / "bad"
    found = {}
    for name in ("exiv2_Canon-R6-pruned.CR3", "exiftool_FujiFilm.raf", "exiftool_Panasonic.rw2"):
        exif = raw_module._file_exif((bad / name).read_bytes())
        found[name] = None if exif is None else exif.get(0x010F)
    assert all(found.values()), found


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_image_dataclass_defaults_stay_compatible() -> None:
    image = Image(np.zeros((2, 2, 3), np.uint8), None, "png", False, None, None, None)
    assert image.warnings == [] and image.from_profile is False
