"""Adding metadata tags to a TIFF that OpenCV wrote (it writes pixels only)."""

from __future__ import annotations

import io
import itertools
from typing import Any

from PIL import TiffImagePlugin, TiffTags

_STRIP_OFFSETS = 273
_STRIP_BYTE_COUNTS = 279
_EXTRA_SAMPLES = 338
_UNASSOCIATED_ALPHA = 2
_XMP = 700
_ICC_PROFILE = 34675


def add_metadata(
    tiff: bytes,
    *,
    tags: dict[int, Any],
    icc_profile: bytes | None,
    xmp: bytes | None,
    alpha: bool,
) -> bytes:
    """Rewrite a single-image, stripped TIFF with extra IFD0 tags.

    The file is rebuilt as header, IFD, then the original strips unchanged, because Pillow's
    IFD writer (the one that knows how to nest the EXIF and GPS sub-IFDs) places strip data
    right after the IFD.

    Args:
        tiff: a TIFF file with one image stored in strips, as ``cv2.imencode`` writes it.
        tags: IFD0 tag -> value; the EXIF (0x8769) and GPS (0x8825) IFDs as dicts.
        icc_profile: the ICC profile.
        xmp: the XMP packet.
        alpha: the last sample is unassociated alpha (OpenCV does not say so itself).
    """
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=tiff[:8])
    with TiffImagePlugin.TiffImageFile(io.BytesIO(tiff)) as src:
        for tag, value in src.tag_v2.items():
            ifd[tag] = value
            ifd.tagtype[tag] = src.tag_v2.tagtype[tag]
    offsets = _as_tuple(ifd[_STRIP_OFFSETS])
    counts = _as_tuple(ifd[_STRIP_BYTE_COUNTS])
    strips = b"".join(tiff[o : o + n] for o, n in zip(offsets, counts, strict=True))

    for tag, value in tags.items():
        ifd[tag] = value
    if icc_profile:
        ifd[_ICC_PROFILE] = icc_profile
    if xmp:
        ifd[_XMP] = xmp
        ifd.tagtype[_XMP] = TiffTags.BYTE
    if alpha:
        ifd[_EXTRA_SAMPLES] = (_UNASSOCIATED_ALPHA,)
    # Offsets relative to the first strip; Pillow adds where the strips land.
    ifd[_STRIP_OFFSETS] = tuple(itertools.accumulate(counts[:-1], initial=0))
    ifd.tagtype[_STRIP_OFFSETS] = TiffTags.LONG
    ifd[_STRIP_BYTE_COUNTS] = counts
    ifd.tagtype[_STRIP_BYTE_COUNTS] = TiffTags.LONG

    header = tiff[:4] + (8).to_bytes(4, "little" if tiff[:2] == b"II" else "big")
    return header + ifd.tobytes(len(header)) + strips


def _as_tuple(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,)
