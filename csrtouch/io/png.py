"""Adding metadata chunks to a PNG that OpenCV wrote (it writes pixels only)."""

from __future__ import annotations

import struct
import zlib

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


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
