"""EXIF: orientation, the tags a result is stamped with, and moving EXIF in and out of TIFF."""

from __future__ import annotations

import contextlib
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
    """Set ``tags`` (IFD0 tag -> value) in an EXIF block; a new block if ``exif`` is None.

    Returns ``exif`` itself when there is nothing to set. An unreadable block is replaced,
    since its tags cannot be kept while adding new ones. Setting tags drops IFD1 (the
    embedded thumbnail), which would be stale anyway.
    """
    if not tags:
        return exif
    parsed = load_exif(exif) or PIL.Image.Exif()
    with quiet_pillow():
        for tag, value in tags.items():
            parsed[tag] = value
        return parsed.tobytes()


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
