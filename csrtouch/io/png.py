"""PNG: metadata chunks added to a PNG that OpenCV wrote (it writes pixels only), and
gray+alpha PNGs, which OpenCV cannot write."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = len(_SIGNATURE) + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC


def add_metadata(
    png: bytes, *, icc_profile: bytes | None, exif: bytes | None, xmp: bytes | None
) -> bytes:
    r"""Insert iCCP, eXIf and XMP iTXt chunks right after IHDR.

    Placing them before the image data means readers that stop at the first IDAT (Pillow
    does, until asked for pixels) still see them.

    Args:
        png: a PNG file whose first chunk is IHDR, without colour-space chunks.
        icc_profile: the ICC profile.
        exif: the EXIF block, with or without the ``Exif\0\0`` prefix.
        xmp: the XMP packet.
    """
    if not png.startswith(_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file starting with IHDR")
    chunks = []
    if icc_profile:
        # Profile name, its NUL, then compression method 0 (deflate).
        chunks.append(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile)))
    if exif:
        chunks.append(_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
    if xmp:
        # Keyword, NUL, uncompressed flag, method, empty language tag and translated keyword.
        chunks.append(_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
    return png[:_IHDR_END] + b"".join(chunks) + png[_IHDR_END:]


def gray_alpha(gray: np.ndarray, alpha: np.ndarray, rows: int = 64) -> bytes:
    """A gray+alpha PNG (colour type 4) of ``(H, W)`` uint8 or uint16 gray and alpha.

    Each row gets the filter that libpng's heuristic would pick (the smallest sum of the
    filtered bytes as signed values), and the rows are compressed ``rows`` at a time, so
    the working memory stays a few bands whatever the image's size.
    """
    h, w = gray.shape
    depth = 16 if gray.dtype == np.uint16 else 8
    compressor = isal_zlib.compressobj(2)
    idat = []
    above = np.zeros(w * 2 * depth // 8, np.uint8)
    for top in range(0, h, rows):
        samples = np.dstack([gray[top : top + rows], alpha[top : top + rows]])
        band = samples.astype(">u2" if depth == 16 else np.uint8).view(np.uint8).reshape(len(samples), -1)
        idat.append(compressor.compress(_filtered(band, above, 2 * depth // 8)))
        above = band[-1]
    idat.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 4, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(idat)) + _chunk(b"IEND", b"")


def _filtered(rows: np.ndarray, above: np.ndarray, step: int) -> np.ndarray:
    """``(n, stride)`` bytes of scanlines, each led by its filter type (PNG spec 9.2):
    None, Sub, Up, Average or Paeth, whichever leaves the smallest signed sum."""
    x = rows.astype(np.int16)
    b = np.vstack([above[None], rows[:-1]]).astype(np.int16)  # the byte above
    a = np.zeros_like(x)
    a[:, step:] = x[:, :-step]  # the byte to the left
    c = np.zeros_like(x)
    c[:, step:] = b[:, :-step]  # above left
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = (np.stack([x, x - a, x - b, x - (a + b) // 2, x - paeth]) & 0xFF).astype(np.uint8)
    best = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2).argmin(axis=0)
    out = np.empty((len(rows), rows.shape[1] + 1), np.uint8)
    out[:, 0] = best
    out[:, 1:] = candidates[best, np.arange(len(rows))]
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
