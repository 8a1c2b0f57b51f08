"""Large JPEGs read a band of rows at a time, so a batch's memory stays flat however many
megapixels a photo has.

Decoded whole, a 50 MP photo is 150 MB, and OpenCV's decoder briefly holds it twice; neither
OpenCV nor Pillow can hand over a JPEG's rows as it decodes them. libvips can (through
pyvips, whose wheel bundles it): with sequential access it decodes rows in order and keeps
only what the next request needs. The retoucher reads the photo twice (its thumbnail and
colours, then the retouch, ``Retoucher.stream``) and ``encode_bands`` writes it a band at
a time.

This path takes a baseline colour JPEG of at least :data:`STREAM_PIXELS`, written back as a
JPEG or a TIFF (8 or 16 bits):
- a colour profile that ``colour.to_srgb`` applies is applied to each band for the
  thumbnail, and otherwise only to each distinct colour, on the way to sRGB and back: the
  values decode and encode would give every pixel;
- a turned photo (EXIF orientation other than 1) cannot be turned a band at a time: its
  pixels are written as stored, with its orientation tag, which viewers honour, and its
  look comes from its upright thumbnail, so it is shown as the whole-frame path's output is.
Everything else (progressive JPEGs, whose decoder holds the whole image anyway, grayscale,
CMYK, a profile decode would warn about) and every file whose data is damaged is decoded
whole, which reports the problem (``decode``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import PIL.Image

from csrtouch.errors import DecodeError
from csrtouch.io import colour, metadata, vips_jpeg
from csrtouch.io.decode import MAX_PIXELS, jpeg_problem, xmp_packet
from csrtouch.io.encode import band_rows
from csrtouch.io.image import Image

#: Photos of at least this many pixels are streamed. Reading a photo twice costs 10 to 20%
#: more time than decoding it once into memory (README, "Speed"); a smaller photo's frame
#: is under 48 MB, and a batch's peak memory stays about what a 16 MP photo needs.
STREAM_PIXELS = 16_000_000


@dataclass(frozen=True)
class JpegSource:
    """A JPEG that is read in bands, and the metadata to write back with it."""

    path: Path
    width: int
    height: int
    exif: bytes | None
    xmp: bytes | None
    icc_profile: bytes | None
    #: EXIF orientation, 1-8: how the stored pixels are turned upright (``metadata.orient``).
    orientation: int = 1
    #: The pixels are in ``icc_profile``'s space, which decode converts to sRGB
    #: (``to_srgb``) and encode back (``from_srgb``).
    from_profile: bool = False

    def bands(self) -> Iterator[np.ndarray]:
        """The RGB pixels as stored, as ``(band_rows(width), width, 3)`` uint8 bands, top to
        bottom (the last may be shorter), each decoded into one buffer that the next
        overwrites. Any libjpeg warning fails the file (``vips_jpeg``): ``open_jpeg`` leaves
        those a harmless one may come with to ``decode``, so both reach the same verdict.

        Raises:
            DecodeError: libvips cannot read the file, libjpeg finds its data damaged, or
                it changed since it was opened.
        """
        top = 0
        for band in vips_jpeg.read_bands(self.path, self.path, band_rows(self.width)):
            top += len(band)
            if band.shape[1:] != (self.width, 3) or top > self.height:
                raise DecodeError("the file changed while it was being read", self.path)
            yield band
        if top != self.height:
            raise DecodeError("the file changed while it was being read", self.path)

    def to_srgb(self, pixels: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 pixels of the file in sRGB, as decode converts them."""
        image = Image(pixels, None, "jpeg", False, self.icc_profile, None, None)
        colour.to_srgb(image)
        return image.pixels

    def from_srgb(self, pixels: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 or uint16 sRGB pixels in the file's colour space, as encode
        converts them."""
        return colour.from_srgb(Image(pixels, None, "jpeg", False, self.icc_profile, None, None, from_profile=True))


def open_jpeg(path: Path) -> JpegSource | None:
    """``path`` as a :class:`JpegSource` when it can be streamed, else None (see the module
    doc): a small photo costs one read of its header."""
    try:
        with metadata.quiet_pillow(), PIL.Image.open(path, formats=["JPEG"]) as pil:  # the header only
            width, height = pil.size
            plain = pil.mode == "RGB" and not pil.info.get("progressive")
            info = dict(pil.info)
    except Exception:  # not a JPEG, unreadable: decoding it whole says what is wrong
        return None
    # 65520 pixels wide at most: a band's MCUs fit a restart interval (encode_bands).
    if not plain or not STREAM_PIXELS <= width * height <= MAX_PIXELS or width > 65520:
        return None
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError):  # no libvips here: decode whole, as before
        return None
    try:
        if jpeg_problem(path.read_bytes()) is not None:
            return None
        # A harmless libjpeg warning comes with the header or the first rows; such a file is
        # left to decode, which passes the warning on (``bands`` would fail it). A file that
        # fails is still streamed: ``bands`` fails it in decode's words.
        harmless: list[str] = []
        with contextlib.suppress(DecodeError):
            next(vips_jpeg.read_bands(path, path, vips_jpeg.FETCH_ROWS, harmless))
        if harmless:
            return None
    except OSError:
        return None
    exif, icc = info.get("exif") or None, info.get("icc_profile") or None
    # A profile that decode would warn about is left to decode, which says what is wrong.
    probe = Image(np.zeros((1, 1, 3), np.uint8), None, "jpeg", False, icc, None, None)
    colour.to_srgb(probe)
    if probe.warnings:
        return None
    xmp = xmp_packet(info.get("xmp"))
    return JpegSource(path, width, height, exif, xmp, icc, metadata.orientation(exif), probe.from_profile)
