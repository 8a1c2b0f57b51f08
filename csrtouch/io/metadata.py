"""EXIF: orientation, the tags a result is stamped with, and moving EXIF in and out of TIFF.

A photo's EXIF is the user's: csrtouch sets the few IFD0 tags it must (Orientation after
turning the pixels upright, Software) by editing the block's bytes, and everything else
stays byte for byte where it was (see :func:`stamp`).
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import PIL.Image

ORIENTATION = 0x0112
SOFTWARE = 0x0131
IMAGE_DESCRIPTION = 0x010E
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
INTEROP_IFD = 0xA005
#: Exif IFD tags: the width and height of the image the block describes.
PIXEL_X_DIMENSION = 0xA002
PIXEL_Y_DIMENSION = 0xA003

#: IFD0 tags that describe the photo rather than the layout of its pixel data, so they stay
#: true when the pixels are re-encoded. A TIFF keeps its EXIF in IFD0 next to its strip
#: offsets and sample formats; only these are carried between a TIFF and an EXIF block.
PORTABLE_TAGS = frozenset(
    {
        0x010E,  # ImageDescription
        0x010F,  # Make
        0x0110,  # Model
        ORIENTATION,
        0x011A,  # XResolution
        0x011B,  # YResolution
        0x0128,  # ResolutionUnit
        SOFTWARE,
        0x0132,  # DateTime
        0x013B,  # Artist
        0x013E,  # WhitePoint
        0x013F,  # PrimaryChromaticities
        0x8298,  # Copyright
        EXIF_IFD,
        GPS_IFD,
    }
)


@contextlib.contextmanager
def quiet_pillow() -> Iterator[None]:
    """Silence Pillow's warnings (odd metadata, large images) for the block.

    Pillow warns on stderr and carries on; csrtouch reports what matters by raising, and a
    warning printed from a worker would garble the batch's progress display.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def load_exif(exif: bytes | None) -> PIL.Image.Exif | None:
    r"""Parse an EXIF block (with or without the ``Exif\0\0`` prefix); None if unreadable."""
    if not exif:
        return None
    parsed = PIL.Image.Exif()
    try:
        with quiet_pillow():
            parsed.load(exif)
            # Exif loads lazily; touch the tags now so a corrupt block fails here.
            len(parsed)
    except Exception:  # Pillow raises assorted types for malformed EXIF
        return None
    return parsed


def orientation(exif: bytes | None) -> int:
    """The EXIF Orientation (1-8) of an EXIF block; 1 when absent, invalid or unreadable."""
    parsed = load_exif(exif)
    value = parsed.get(ORIENTATION, 1) if parsed is not None else 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn ``(H, W, ...)`` pixels stored with EXIF ``orientation`` upright (a view)."""
    # The same transforms as PIL.ImageOps.exif_transpose, on numpy axes.
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return array[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def stamp(exif: bytes | None, tags: dict[int, Any]) -> bytes | None:
    r"""Set ``tags`` (IFD0 tag -> value) in an EXIF block; a new block if ``exif`` is None.

    Every other byte stays where it was: a tag whose value fits in its IFD entry is set in
    place; otherwise IFD0 is copied, with the new entries, to the end of the block and the
    header pointed at the copy. The Exif, GPS and Interop IFDs and every value keep their
    offsets, so maker notes, which many cameras write with offsets from the start of the
    block, stay readable; Pillow's ``Exif.tobytes`` would lay the block out anew. The old
    IFD0 is left unused. IFD1, the embedded thumbnail, is unlinked: it shows the photo
    before retouching, and turned the old way once Orientation is reset.

    In an existing block the values are text, EXIF ASCII (other characters are written as
    "?"), or whole numbers, SHORT or, above 65535, LONG; a new block takes whatever Pillow's
    ``Exif`` takes (sub-IFDs as dicts, rationals). Returns ``exif`` itself when there is
    nothing to set, with or without the ``Exif\0\0`` prefix as it came. An unreadable block
    is replaced, since its tags cannot be kept while adding new ones.
    """
    if not tags:
        return exif
    if exif is None:
        parsed = PIL.Image.Exif()
        with quiet_pillow():
            for tag, value in tags.items():
                parsed[tag] = value
            return parsed.tobytes()
    prefix = b"" if exif and not exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX
    try:
        return prefix + _set_ifd0(bytes(exif).removeprefix(_EXIF_PREFIX), tags)
    except (ValueError, struct.error):
        return stamp(None, tags)


_EXIF_PREFIX = b"Exif\0\0"
_ASCII, _SHORT, _LONG = 2, 3, 4


def stamp_dimensions(exif: bytes | None, width: int, height: int) -> bytes | None:
    r"""Set EXIF PixelXDimension and PixelYDimension (the image's size) in the Exif IFD of
    an EXIF block, as :func:`stamp` sets IFD0 tags: in place where they are, else with the
    Exif IFD copied, with them, to the end of the block; every other byte stays.

    Returns ``exif`` itself when it is None, unreadable, or has no Exif IFD (a block that
    names no dimensions is not wrong about them).
    """
    if not exif:
        return exif
    prefix = _EXIF_PREFIX if exif.startswith(_EXIF_PREFIX) else b""
    tiff = bytes(exif).removeprefix(_EXIF_PREFIX)
    try:
        order, ifd0 = _header(tiff)
        entries = _entries(tiff, order, ifd0)
        if EXIF_IFD not in entries:
            return exif
        pointer = entries[EXIF_IFD] + 8
        at = struct.unpack_from(order + "I", tiff, pointer)[0]
        return prefix + _set_ifd(tiff, order, at, pointer, {PIXEL_X_DIMENSION: width, PIXEL_Y_DIMENSION: height})
    except (ValueError, struct.error):
        return exif


def _header(tiff: bytes) -> tuple[str, int]:
    """The byte order (``<`` or ``>``) of an EXIF block's TIFF structure and IFD0's offset."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        raise ValueError("not a TIFF header")
    return order, struct.unpack_from(order + "I", tiff, 4)[0]


def _entries(tiff: bytes, order: str, at: int) -> dict[int, int]:
    """Tag -> offset of its 12-byte entry, of the IFD at ``at``."""
    count = struct.unpack_from(order + "H", tiff, at)[0] if at >= 8 else 0
    if at < 8 or at + 2 + 12 * count + 4 > len(tiff):
        raise ValueError("the IFD lies outside the block")
    return {struct.unpack_from(order + "H", tiff, at + 2 + 12 * i)[0]: at + 2 + 12 * i for i in range(count)}


def _set_ifd0(tiff: bytes, tags: dict[int, Any]) -> bytes:
    """``stamp`` on the TIFF structure of an EXIF block (no prefix).

    Raises:
        ValueError: the header or IFD0 is malformed.
    """
    order, ifd0 = _header(tiff)
    return _set_ifd(tiff, order, ifd0, 4, tags)


def _set_ifd(tiff: bytes, order: str, at: int, pointer: int, tags: dict[int, Any]) -> bytes:
    """``tags`` set in the IFD at offset ``at``, whose offset is stored at ``pointer`` (the
    header for IFD0, an IFD0 entry for the Exif IFD); the IFD links to no next one.

    Raises:
        ValueError: the IFD is malformed.
    """
    entries = _entries(tiff, order, at)
    end = at + 2 + 12 * len(entries)
    values = {tag: _value(value, order) for tag, value in tags.items()}
    out = bytearray(tiff)
    if all(tag in entries and len(data) <= 4 for tag, (_, _, data) in values.items()):
        for tag, (kind, n, data) in values.items():
            out[entries[tag] : entries[tag] + 12] = struct.pack(order + "HHI", tag, kind, n) + data.ljust(4, b"\0")
        out[end : end + 4] = bytes(4)  # IFD0's next is IFD1, the thumbnail: unlinked
        return bytes(out)
    out += bytes(len(out) % 2)  # IFDs and values start on a word boundary
    fields = {tag: tiff[offset : offset + 12] for tag, offset in entries.items()}
    start = len(out)
    spill_at = start + 2 + 12 * len(fields.keys() | values.keys()) + 4
    spill = bytearray()
    for tag, (kind, n, data) in values.items():
        if len(data) <= 4:
            field = data.ljust(4, b"\0")
        else:
            # Values too long for the entry follow the new IFD.
            field = struct.pack(order + "I", spill_at + len(spill))
            spill += data + bytes(len(data) % 2)
        fields[tag] = struct.pack(order + "HHI", tag, kind, n) + field
    out += struct.pack(order + "H", len(fields)) + b"".join(fields[t] for t in sorted(fields)) + bytes(4)
    out += spill
    out[pointer : pointer + 4] = struct.pack(order + "I", start)
    return bytes(out)


def _value(value: Any, order: str) -> tuple[int, int, bytes]:
    """An IFD entry's type, count and value bytes."""
    if isinstance(value, str):
        data = value.encode("ascii", "replace") + b"\0"
        return _ASCII, len(data), data
    if isinstance(value, int) and 0 <= value <= 0xFFFF:
        return _SHORT, 1, struct.pack(order + "H", value)
    if isinstance(value, int) and 0 <= value <= 0xFFFFFFFF:
        return _LONG, 1, struct.pack(order + "I", value)
    raise TypeError(f"EXIF tags are set to text or a number of 0 to 2**32 - 1, not {value!r}")


def portable_tags(exif: PIL.Image.Exif) -> dict[int, Any]:
    """The tags of ``exif`` in :data:`PORTABLE_TAGS`, with sub-IFDs as nested dicts."""
    tags: dict[int, Any] = {}
    with quiet_pillow():
        for tag in PORTABLE_TAGS & exif.keys():
            if tag in (EXIF_IFD, GPS_IFD):
                sub = dict(exif.get_ifd(tag))
                if tag == EXIF_IFD and INTEROP_IFD in sub:
                    sub[INTEROP_IFD] = dict(exif.get_ifd(INTEROP_IFD))
                if sub:
                    tags[tag] = sub
            else:
                tags[tag] = exif[tag]
    return tags


def exif_from_tiff(tiff_tags: PIL.Image.Exif) -> bytes | None:
    """An EXIF block of the portable tags of a TIFF's IFD0 (``getexif()`` of a TIFF)."""
    return stamp(None, portable_tags(tiff_tags))
