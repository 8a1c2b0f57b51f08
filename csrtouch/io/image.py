"""The decoded image passed between decode, the retoucher and encode."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Image:
    r"""An upright RGB image with the metadata to write back.

    Attributes:
        pixels: ``(H, W, 3)`` RGB, uint8 or uint16, upright (EXIF orientation applied),
            C-contiguous.
        alpha: ``(H, W)`` with the dtype of ``pixels``, or None. The retoucher passes it
            through untouched.
        format: the format it was read from: "jpeg", "png", "tiff", "webp", "heif" or
            "raw" (a camera RAW, rendered to 16-bit sRGB).
        grayscale: the input was single-channel; ``pixels`` holds it replicated to three
            channels and encode writes it back as grayscale.
        icc_profile: the embedded ICC profile: the colour space the file is written in.
        exif: the EXIF block as JPEG's APP1 and Pillow carry it (``b"Exif\0\0"``, a TIFF
            header, then the IFDs), with Orientation reset to 1 if decode rotated the pixels.
        xmp: the XMP packet.
        from_profile: ``pixels`` were converted from ``icc_profile`` to sRGB, the space the
            retoucher works in; encode converts them back and embeds ``icc_profile``. False
            when the pixels are in ``icc_profile``'s own space (or it is sRGB, or absent).
        warnings: what the user should know about this image that did not stop it being
            decoded or encoded (an all-black RAW, a colour profile that could not be
            applied, transparency flattened for a JPEG), one line each.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    format: str
    grayscale: bool
    icc_profile: bytes | None
    exif: bytes | None
    xmp: bytes | None
    from_profile: bool = False
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        p = self.pixels
        if p.ndim != 3 or p.shape[2] != 3 or p.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"pixels must be (H, W, 3) uint8 or uint16; got {p.shape} {p.dtype}")
        a = self.alpha
        if a is not None and (a.shape != p.shape[:2] or a.dtype != p.dtype):
            raise ValueError(
                f"alpha must be {p.shape[:2]} {p.dtype} like the pixels; got {a.shape} {a.dtype}"
            )

    @property
    def bit_depth(self) -> int:
        """Bits per channel: 8 or 16."""
        return 16 if self.pixels.dtype == np.uint16 else 8


def swap_red_blue(array: np.ndarray, rows: int = 256) -> np.ndarray:
    """RGB <-> BGR of a C-contiguous ``(H, W, 3)`` array, in place, for OpenCV's codecs.

    A band at a time: OpenCV copies a whole source that is also its destination, which
    for a 50 MP frame is 150 MB more at the peak.
    """
    import cv2

    for top in range(0, array.shape[0], rows):
        band = array[top : top + rows]
        cv2.cvtColor(band, cv2.COLOR_RGB2BGR, dst=band)
    return array
