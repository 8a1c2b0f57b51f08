"""Writing TIFF: Deflate-compressed strips streamed to the file, and the metadata tags.

The strips are compressed one at a time and written as they are made, so writing holds one
strip beside the pixels, never a second copy of the image (a 16-bit 50 MP photo is 300 MB);
``write_bands`` takes the pixels as bands of rows, so they need never be whole either.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any, BinaryIO, Iterable, Iterator

import cv2
import numpy as np
from isal import isal_zlib
from PIL import TiffImagePlugin, TiffTags

#: In the machine's byte order, so the pixels go out as they are; IFD0 right after.
_HEADER = (b"II*\x00" if sys.byteorder == "little" else b"MM\x00*") + (8).to_bytes(4, sys.byteorder)
_ADOBE_DEFLATE = 8  # "ZIP" in Photoshop and Lightroom; libtiff, Pillow, tifffile read it
_PREDICTOR = 317
_HORIZONTAL = 2
_STRIP_OFFSETS = 273
_STRIP_BYTE_COUNTS = 279
_EXTRA_SAMPLES = 338
_UNASSOCIATED_ALPHA = 2
_XMP = 700
_ICC_PROFILE = 34675

#: Uncompressed bytes per strip; far above Deflate's 32 KB window, so no ratio is lost.
STRIP_BYTES = 1 << 18
#: ISA-L's Deflate level 2 (of 0-3): 0.3 s for a 16-bit 12 MP photo where zlib's fastest
#: level takes 1.3 s and libtiff's LZW 1.5 s, and smaller than both (see bench/throughput.py).
LEVEL = 2


def write(
    file: BinaryIO,
    pixels: np.ndarray,
    *,
    alpha: np.ndarray | None,
    grayscale: bool,
    tags: dict[int, Any],
    icc_profile: bytes | None,
    xmp: bytes | None,
) -> None:
    """Write a single-image TIFF to ``file``, which must be empty and seekable.

    The layout is header, IFD0, strips. IFD0 is written first with zero strip sizes, then
    rewritten in place (its length does not depend on them) once the strips are out.

    Args:
        file: where to write, from its position 0.
        pixels: ``(H, W, 3)`` uint8 or uint16 RGB.
        alpha: ``(H, W)`` of the pixels' dtype, written as unassociated alpha (RGBA).
        grayscale: write the luma of ``pixels`` as one sample (exact while the three
            channels are equal); with alpha the file is gray+alpha.
        tags: IFD0 tag -> value; the EXIF (0x8769) and GPS (0x8825) IFDs as dicts.
        icc_profile: the ICC profile.
        xmp: the XMP packet.
    """
    h, w, _ = pixels.shape
    samples = (1 if grayscale else 3) + (alpha is not None)
    rows = strip_rows(w, samples, pixels.dtype)

    def strips() -> Iterator[np.ndarray]:
        for r0 in range(0, h, rows):
            band = pixels[r0 : r0 + rows]
            colour = cv2.cvtColor(band, cv2.COLOR_RGB2GRAY) if grayscale else band
            if alpha is not None:
                yield np.dstack([colour, alpha[r0 : r0 + rows]])
            else:
                yield np.ascontiguousarray(colour)

    shape = (h, w, samples)
    _write(file, strips(), shape, pixels.dtype, rows, grayscale, alpha is not None, tags, icc_profile, xmp)


def write_bands(
    file: BinaryIO,
    bands: Iterable[np.ndarray],
    height: int,
    width: int,
    dtype: np.dtype,
    *,
    tags: dict[int, Any],
    icc_profile: bytes | None,
    xmp: bytes | None,
) -> None:
    """``write`` an RGB image given as ``(rows, width, 3)`` bands of ``dtype``, top to
    bottom, of any heights: the file is the one ``write`` makes of the whole frame."""
    rows = strip_rows(width, 3, dtype)
    _write(file, _restrip(bands, rows), (height, width, 3), np.dtype(dtype), rows, False, False, tags, icc_profile, xmp)


def strip_rows(width: int, samples: int, dtype: np.dtype) -> int:
    """Rows per strip: about :data:`STRIP_BYTES` uncompressed."""
    return max(1, STRIP_BYTES // (width * samples * np.dtype(dtype).itemsize))


def _restrip(bands: Iterable[np.ndarray], rows: int) -> Iterator[np.ndarray]:
    """The rows of ``bands`` in strips of ``rows`` (the last may be shorter); a strip that
    lies inside one band is a view of it, one that straddles two is copied."""
    buffer, filled = None, 0
    for band in bands:
        start = 0
        while start < len(band):
            if filled == 0 and len(band) - start >= rows:
                yield band[start : start + rows]
                start += rows
                continue
            if buffer is None:
                buffer = np.empty((rows, *band.shape[1:]), band.dtype)
            take = min(rows - filled, len(band) - start)
            buffer[filled : filled + take] = band[start : start + take]
            filled, start = filled + take, start + take
            if filled == rows:
                yield buffer
                filled = 0
    if filled:
        yield buffer[:filled]


def _write(
    file: BinaryIO,
    strips: Iterator[np.ndarray],
    shape: tuple[int, int, int],
    dtype: np.dtype,
    rows: int,
    gray: bool,
    alpha: bool,
    tags: dict[int, Any],
    icc_profile: bytes | None,
    xmp: bytes | None,
) -> None:
    h, w, samples = shape
    # The horizontal predictor shrinks photos rendered at 16 bits (RAW) by 10%, but grows
    # 8-bit photos retouched to 16 bits by half: the first strip decides.
    first = next(strips)
    plain, predicted = isal_zlib.compress(first, LEVEL), isal_zlib.compress(_differences(first), LEVEL)
    predict = len(predicted) < len(plain)

    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=_HEADER)
    ifd[256] = w
    ifd[257] = h
    ifd[258] = (8 * dtype.itemsize,) * samples  # BitsPerSample
    ifd[259] = _ADOBE_DEFLATE
    ifd[262] = 1 if gray else 2  # PhotometricInterpretation: BlackIsZero or RGB
    ifd[277] = samples
    ifd[278] = rows
    ifd[284] = 1  # PlanarConfiguration: chunky
    if predict:
        ifd[_PREDICTOR] = _HORIZONTAL
    for tag, value in tags.items():
        ifd[tag] = value
    if icc_profile:
        ifd[_ICC_PROFILE] = icc_profile
    if xmp:
        ifd[_XMP] = xmp
        ifd.tagtype[_XMP] = TiffTags.BYTE
    if alpha:
        ifd[_EXTRA_SAMPLES] = (_UNASSOCIATED_ALPHA,)

    def directory(counts: list[int]) -> bytes:
        # Offsets relative to the first strip; Pillow adds where the strips land (after it).
        ifd[_STRIP_OFFSETS] = tuple(itertools.accumulate(counts[:-1], initial=0))
        ifd.tagtype[_STRIP_OFFSETS] = TiffTags.LONG
        ifd[_STRIP_BYTE_COUNTS] = tuple(counts)
        ifd.tagtype[_STRIP_BYTE_COUNTS] = TiffTags.LONG
        return ifd.tobytes(len(_HEADER))

    placeholder = directory([0] * -(-h // rows))
    file.write(_HEADER + placeholder)
    counts, written = [], 0
    for i, strip in enumerate(itertools.chain([first], strips)):
        if i == 0:
            data = predicted if predict else plain
        else:
            data = isal_zlib.compress(_differences(strip) if predict else strip, LEVEL)
        file.write(data)
        counts.append(len(data))
        written += len(strip)
    if written != h:
        raise ValueError(f"{written} rows were given for a TIFF {h} rows high")
    final = directory(counts)
    if len(final) != len(placeholder):
        raise AssertionError(f"IFD0 changed length from {len(placeholder)} to {len(final)} bytes")
    end = file.tell()
    file.seek(len(_HEADER))
    file.write(final)
    file.seek(end)


def _differences(band: np.ndarray) -> np.ndarray:
    """TIFF predictor 2: each sample minus its left neighbour's, wrapping around."""
    out = band.copy()
    out[:, 1:] -= band[:, :-1]
    return out
