"""Large plain JPEGs retouched a band of rows at a time (io.stream, Retoucher.stream,
encode_bands): the same pixels and metadata as the whole-frame path, and nothing left
behind when a file fails halfway."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest

from csrtouch.batch import Job, retouch_file
from csrtouch.engine import Retoucher, thumbnail
from csrtouch.engine.thumbnail import BandThumbnail
from csrtouch.errors import DecodeError, EncodeError
from csrtouch.io import Image, colour, decode, decode_bytes, encode, stream
from csrtouch.io.encode import band_rows, encode_bands
from csrtouch.io.metadata import load_exif

pytest.importorskip("pyvips", reason="streaming needs pyvips (a dependency)")

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">look</x:xmpmeta>'


def enlarged(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC))


def bands_of(image: np.ndarray, rows: int):
    return (image[top : top + rows] for top in range(0, image.shape[0], rows))


def save_jpeg(path: Path, pixels: np.ndarray, **options: object) -> Path:
    PIL.Image.fromarray(pixels).save(path, "JPEG", quality=92, **options)
    return path


def camera_exif(orientation: int = 1) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x8827] = 400  # ISO, in the Exif IFD
    return exif.tobytes()


def srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


P3 = colour.rgb_profile("Display P3", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), colour.SRGB_CURVE)


def lab_profile() -> bytes:
    """A profile decode warns about on RGB pixels (and leaves them as they are)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plain JPEG streams, however small: the tests' photos stay small."""
    monkeypatch.setattr(stream, "STREAM_PIXELS", 1)


# --- engine -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "rows", "dtype"),
    [(1501, 1003, 256, np.uint8), (1501, 1003, 37, np.uint8), (700, 3, 1, np.uint8), (40, 5000, 112, np.uint8),
     (1200, 900, 100, np.uint16), (512, 300, 64, np.uint8), (600, 400, 64, np.float32)],
)
def test_band_thumbnail_is_the_thumbnail(astronaut, width, height, rows, dtype) -> None:
    image = enlarged(astronaut, width, height)
    if dtype == np.uint16:
        image = image.astype(np.uint16) * 257
    elif dtype == np.float32:
        image = image.astype(np.float32) / 255
    band = BandThumbnail(height, width)
    for part in bands_of(image, rows):
        band.add(part)
    got, expected = band.result(), thumbnail(image)
    assert got.shape == expected.shape and got.dtype == np.float32
    level = 1.0 / (65535 if dtype == np.uint16 else 255)
    diff = np.abs(got - expected)
    # One level at most, on a few pixels in a thousand (OpenCV sums in another order).
    assert diff.max() <= level + 1e-6
    assert np.mean(diff > 1e-6) < 1e-2


def test_band_thumbnail_wants_every_row(astronaut) -> None:
    band = BandThumbnail(512, 512)
    band.add(astronaut[:256])
    with pytest.raises(ValueError, match="256 of the image's 512 rows"):
        band.result()
    with pytest.raises(ValueError, match="outside"):
        band.add(astronaut[:300])


@pytest.mark.parametrize("exact", [False, True])
def test_stream_is_the_whole_frame_retouch_for_one_condition(astronaut, exact) -> None:
    """With the condition fixed, the bands get exactly the pixels the whole frame gets:
    per distinct colour, through the LUT, and per pixel for noise."""
    image = enlarged(astronaut, 1100, 700)
    noise = np.random.default_rng(0).integers(0, 256, (300, 500, 3), np.uint8)
    for pixels in (image, noise):
        retoucher = Retoucher(exact=exact)
        retoucher.share_condition([pixels])
        expected = retoucher(pixels)
        got = np.concatenate([b.copy() for b in retoucher.stream(lambda p=pixels: bands_of(p.copy(), 128), *pixels.shape[:2])])
        np.testing.assert_array_equal(got, expected)


def test_stream_gives_the_whole_frame_look(astronaut) -> None:
    """Its own condition, from the banded thumbnail: the look of the whole-frame path."""
    image = enlarged(astronaut, 2000, 1400)
    retoucher = Retoucher()
    expected = retoucher(image)
    got = np.concatenate([b.copy() for b in retoucher.stream(lambda: bands_of(image.copy(), 256), 1400, 2000)])
    diff = np.abs(got.astype(np.int16) - expected)
    assert diff.max() <= 1 and diff.mean() < 0.01


# --- encode_bands -------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1001, 777), (17, 5), (5000, 431), (640, 256)])
def test_jpeg_from_bands_decodes_to_the_whole_frame_encode(astronaut, tmp_path, width, height) -> None:
    """Bands joined by restart markers: the pixels a whole-frame encode gives, to the bit."""
    pixels = enlarged(astronaut, width, height)
    rows = band_rows(width)
    encode_bands(bands_of(pixels.copy(), rows), tmp_path / "b.jpg", width, height, format="jpeg", quality=90)
    encode(Image(pixels, None, "jpeg", False, None, None, None), tmp_path / "w.jpg", quality=90)
    banded, whole = (np.asarray(PIL.Image.open(tmp_path / n).convert("RGB")) for n in ("b.jpg", "w.jpg"))
    np.testing.assert_array_equal(banded, whole)
    np.testing.assert_array_equal(decode(tmp_path / "b.jpg").pixels, whole)  # OpenCV too
    size, whole_size = ((tmp_path / n).stat().st_size for n in ("b.jpg", "w.jpg"))
    assert abs(size - whole_size) <= whole_size // 500 + 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jpg", "w.jpg"]  # no temporary file left


def test_jpeg_from_bands_keeps_metadata(astronaut, tmp_path) -> None:
    icc = srgb_profile()
    path = tmp_path / "b.jpg"
    encode_bands(
        bands_of(astronaut.copy(), 256), path, 512, 512, format="jpeg",
        icc_profile=icc, exif=camera_exif(), xmp=XMP, software="csrtouch x", description="style=expertC",
    )
    back = decode(path)
    assert back.icc_profile == icc and back.xmp == XMP
    exif = load_exif(back.exif)
    assert exif[0x010F] == "Canon" and exif[0x0131] == "csrtouch x" and exif[0x010E] == "style=expertC"
    assert exif.get_ifd(0x8769)[0x8827] == 400


@pytest.mark.parametrize(
    ("shape", "message"),
    [((256, 511, 3), "does not fit a 512x512 JPEG"), ((300, 512, 3), "does not fit"), ((128, 512, 3), "128 rows were given")],
)
def test_jpeg_from_bands_refuses_bands_that_do_not_fit(tmp_path, shape, message) -> None:
    path = tmp_path / "b.jpg"
    with pytest.raises(EncodeError, match=message) as caught:
        encode_bands(iter([np.zeros(shape, np.uint8)]), path, 512, 512, format="jpeg")
    assert str(caught.value.path) == str(path)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


@pytest.mark.parametrize("depth", [8, 16])
def test_tiff_from_bands_is_the_whole_frame_tiff(astronaut, tmp_path, depth) -> None:
    """Strips cut across bands of another height: byte for byte the file of the whole frame."""
    pixels = enlarged(astronaut, 1301, 700)
    if depth == 16:
        pixels = pixels.astype(np.uint16) * 257 + 100
    meta = {"icc_profile": srgb_profile(), "exif": camera_exif(), "xmp": XMP, "software": "csrtouch x"}
    encode_bands(bands_of(pixels.copy(), band_rows(1301)), tmp_path / "b.tif", 1301, 700, format="tiff", bit_depth=depth, **meta)
    image = Image(pixels, None, "jpeg", False, meta["icc_profile"], meta["exif"], XMP)
    encode(image, tmp_path / "w.tif", bit_depth=depth, software="csrtouch x")
    assert (tmp_path / "b.tif").read_bytes() == (tmp_path / "w.tif").read_bytes()
    with pytest.raises(EncodeError, match="uint8"):
        encode_bands(bands_of(pixels.astype(np.uint8), band_rows(1301)), tmp_path / "c.tif", 1301, 700, format="tiff", bit_depth=16)
    assert not (tmp_path / "c.tif").exists()


# --- io.stream ----------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{"subsampling": 0}, {"subsampling": 1}, {"subsampling": 2}, {"restart_marker_rows": 1}])
def test_streamed_pixels_are_the_decoded_pixels(astronaut, tmp_path, streamed, options) -> None:
    """libvips' rows are OpenCV's (and so Pillow's) pixels, whatever the chroma sampling."""
    path = save_jpeg(tmp_path / "a.jpg", enlarged(astronaut, 1500, 1000), **options)
    source = stream.open_jpeg(path)
    assert source is not None and (source.width, source.height) == (1500, 1000)
    got = np.concatenate([b.copy() for b in source.bands()])
    np.testing.assert_array_equal(got, decode(path).pixels)


def test_plain_jpegs_stream_with_their_metadata(astronaut, tmp_path, streamed) -> None:
    icc = srgb_profile()
    path = save_jpeg(tmp_path / "a.jpg", astronaut, exif=camera_exif(), icc_profile=icc, xmp=XMP)
    source = stream.open_jpeg(path)
    assert source is not None
    assert source.icc_profile == icc and source.xmp == XMP and load_exif(source.exif)[0x010F] == "Canon"


def test_only_plain_jpegs_stream(astronaut, tmp_path, monkeypatch) -> None:
    plain = save_jpeg(tmp_path / "plain.jpg", astronaut)
    assert stream.open_jpeg(plain) is None  # under STREAM_PIXELS
    monkeypatch.setattr(stream, "STREAM_PIXELS", 1)
    assert stream.open_jpeg(plain) is not None
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(plain.read_bytes()[:-5000])
    others = [
        save_jpeg(tmp_path / "progressive.jpg", astronaut, progressive=True),
        save_jpeg(tmp_path / "lab-profile.jpg", astronaut, icc_profile=lab_profile()),
        save_jpeg(tmp_path / "gray.jpg", astronaut[..., 0]),
        truncated,
        tmp_path / "missing.jpg",
    ]
    PIL.Image.fromarray(astronaut).save(tmp_path / "png.jpg", "PNG")
    others.append(tmp_path / "png.jpg")
    for path in others:
        assert stream.open_jpeg(path) is None, path.name
    turned = stream.open_jpeg(save_jpeg(tmp_path / "turned.jpg", astronaut, exif=camera_exif(6)))
    assert turned is not None and turned.orientation == 6


# --- the batch ----------------------------------------------------------------------------


def test_retouch_file_streams_a_large_jpeg(astronaut, tmp_path, streamed, monkeypatch) -> None:
    pixels = enlarged(astronaut, 1800, 1200)
    path = save_jpeg(tmp_path / "a.jpg", pixels, exif=camera_exif(), xmp=XMP)
    retoucher = Retoucher()
    called = []
    monkeypatch.setattr(stream.JpegSource, "bands", _spy(stream.JpegSource.bands, called))
    warnings = retouch_file(Job(path, tmp_path / "out" / "a.jpg"), retoucher, quality=95)
    assert warnings == [] and len(called) == 2  # read twice, never decoded whole
    back = decode(tmp_path / "out" / "a.jpg")
    exif = load_exif(back.exif)
    assert exif[0x010F] == "Canon" and exif[0x0131].startswith("csrtouch") and back.xmp == XMP
    # The whole-frame path's output, to JPEG's rounding.
    image = decode(path)
    image.pixels = retoucher(image.pixels)
    whole = decode_bytes(encode_whole(image))
    diff = np.abs(back.pixels.astype(np.int16) - whole.pixels)
    assert diff.max() <= 4 and diff.mean() < 0.05


def test_a_file_that_fails_halfway_leaves_nothing(astronaut, tmp_path, streamed, monkeypatch) -> None:
    path = save_jpeg(tmp_path / "a.jpg", enlarged(astronaut, 1500, 1000))
    original = stream.JpegSource.bands
    calls = []

    def failing(self):
        calls.append(1)
        for i, band in enumerate(original(self)):
            if len(calls) == 2 and i == 2:
                raise DecodeError("cannot decode image: damaged", self.path)
            yield band

    monkeypatch.setattr(stream.JpegSource, "bands", failing)
    out = tmp_path / "out"
    with pytest.raises(DecodeError, match="damaged"):
        retouch_file(Job(path, out / "a.jpg"), Retoucher())
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("depth", [8, 16])
def test_retouch_file_streams_to_tiff(astronaut, tmp_path, streamed, monkeypatch, depth) -> None:
    pixels = enlarged(astronaut, 1600, 1000)
    path = save_jpeg(tmp_path / "a.jpg", pixels, exif=camera_exif())
    retoucher = Retoucher()
    called = []
    monkeypatch.setattr(stream.JpegSource, "bands", _spy(stream.JpegSource.bands, called))
    retouch_file(Job(path, tmp_path / "a.tif"), retoucher, bit_depth=depth)
    assert len(called) == 2
    back = decode(tmp_path / "a.tif")
    assert back.bit_depth == depth and load_exif(back.exif)[0x010F] == "Canon"
    expected = retoucher(decode(path).pixels, np.uint16 if depth == 16 else np.uint8)
    diff = np.abs(back.pixels.astype(np.int32) - expected)
    level = 257 if depth == 16 else 1
    assert diff.max() <= level and diff.mean() < 0.01 * level  # the banded thumbnail's condition


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_turned_photo_keeps_its_pixels_and_tag_and_gets_the_upright_look(
    astronaut, tmp_path, streamed, orientation
) -> None:
    """A band cannot be turned, so the pixels stay as stored and the tag stays with them; the
    look comes from the upright thumbnail, so the photo as shown is the whole-frame path's."""
    stored = enlarged(astronaut[:, 100:], 1500, 1000)  # not symmetric: a wrong turn shows
    path = save_jpeg(tmp_path / "a.jpg", stored, exif=camera_exif(orientation))
    retoucher = Retoucher()
    retouch_file(Job(path, tmp_path / "out.jpg"), retoucher, quality=95)
    out = decode(tmp_path / "out.jpg")  # decode turns it upright by its tag
    with PIL.Image.open(tmp_path / "out.jpg") as pil:
        assert pil.size == (1500, 1000) and pil.getexif()[0x0112] == orientation
    whole = decode(path)
    assert whole.pixels.shape == out.pixels.shape
    expected = retoucher(whole.pixels)
    diff = np.abs(out.pixels.astype(np.int16) - expected)
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 6  # JPEG's rounding, nothing more


@pytest.mark.parametrize(("profile", "depth"), [("p3", 8), ("p3", 16), ("lut", 8), ("lut", 16)])
def test_a_wide_gamut_photo_is_converted_a_band_at_a_time(
    astronaut, tmp_path, streamed, monkeypatch, profile, depth
) -> None:
    """To sRGB and back at each distinct colour: the whole-frame path's colours, by
    matrix/TRC or (for a profile of lookup tables) by LittleCMS, at 8 or 16 bits."""
    icc = P3
    if profile == "lut":
        real = colour.read_profile
        monkeypatch.setattr(colour, "read_profile", lambda icc: colour.Profile(real(icc).space, real(icc).description, None))
    path = save_jpeg(tmp_path / "a.jpg", enlarged(astronaut, 1500, 1000), icc_profile=icc)
    source = stream.open_jpeg(path)
    assert source is not None and source.from_profile
    retoucher = Retoucher()
    retoucher.share_condition([decode(path).pixels])  # one condition: compare the colours alone
    out = tmp_path / ("out.tif" if depth == 16 else "out.jpg")
    retouch_file(Job(path, out), retoucher, bit_depth=depth, quality=95)
    expected = tmp_path / ("whole.tif" if depth == 16 else "whole.jpg")
    image = decode(path)
    image.pixels = retoucher(image.pixels, np.uint16 if depth == 16 else np.uint8)
    encode(image, expected, quality=95, bit_depth=depth)
    got, want = decode(out), decode(expected)
    assert got.icc_profile == icc and got.from_profile
    diff = np.abs(got.pixels.astype(np.int32) - want.pixels)
    # Converted once per stored colour instead of per pixel: the same values but for a few
    # in a million that sit on a rounding edge, where BLAS rounds a matrix product of another
    # length differently (one level, which a JPEG encode may make two).
    assert diff.max() <= 2 and np.mean(diff > 0) < 1e-3


def test_other_outputs_are_not_streamed(astronaut, tmp_path, streamed, monkeypatch) -> None:
    path = save_jpeg(tmp_path / "a.jpg", astronaut)
    monkeypatch.setattr(stream.JpegSource, "bands", lambda self: pytest.fail("streamed"))
    retouch_file(Job(path, tmp_path / "a.png"), Retoucher())
    retouch_file(Job(path, tmp_path / "b.webp"), Retoucher())
    assert decode(tmp_path / "a.png").pixels.shape == (512, 512, 3)


def _spy(method, calls):
    def wrapper(self):
        calls.append(1)
        return method(self)

    return wrapper


def encode_whole(image: Image) -> bytes:
    from csrtouch.io import encode_bytes

    return encode_bytes(image, format="jpeg", quality=95)


def test_consistent_batches_take_the_streamed_thumbnail(astronaut, tmp_path, streamed) -> None:
    """``--consistent`` reads a large JPEG's thumbnail as its retouch does, in bands."""
    from csrtouch.batch import readable_thumbnails

    big = save_jpeg(tmp_path / "big.jpg", enlarged(astronaut, 1500, 1000))
    png = tmp_path / "small.png"
    PIL.Image.fromarray(astronaut).save(png)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    thumbs = list(readable_thumbnails([big, broken, png]))
    assert len(thumbs) == 2  # the broken file is left to the batch to report
    band = BandThumbnail(1000, 1500)
    for part in stream.open_jpeg(big).bands():
        band.add(part)
    np.testing.assert_array_equal(thumbs[0], band.result())
    np.testing.assert_array_equal(thumbs[1], thumbnail(astronaut))
    # A thumbnail is its own thumbnail, so sharing these is sharing the images' conditions.
    np.testing.assert_array_equal(thumbnail(thumbs[0]), thumbs[0])


def test_a_jpeg_libjpeg_refuses_says_why_and_leaves_nothing(astronaut, tmp_path, streamed) -> None:
    """Damage the marker walk cannot see (a bogus Huffman table): libjpeg's words, one line."""
    data = bytearray(save_jpeg(tmp_path / "a.jpg", enlarged(astronaut, 1500, 1000)).read_bytes())
    dht = data.index(b"\xff\xc4")
    data[dht + 5 : dht + 21] = b"\xff" * 16  # code counts no Huffman table can have
    path = tmp_path / "bad.jpg"
    path.write_bytes(bytes(data))
    assert stream.open_jpeg(path) is not None  # only the decoder can tell
    with pytest.raises(DecodeError, match=r"^.*bad\.jpg: corrupt image data \(libjpeg: Bogus Huffman table definition\)$"):
        retouch_file(Job(path, tmp_path / "out" / "bad.jpg"), Retoucher())
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
