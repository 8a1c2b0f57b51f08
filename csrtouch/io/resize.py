"""Export sizes: shrinking a retouched image to fit a long side or a box, never enlarging it.

The look is applied at full resolution and the result is shrunk afterwards, so a photo
exported small gets the same look as its full-size copy (the condition comes from a
thumbnail either way). Shrinking is area averaging (OpenCV's ``INTER_AREA``): each output
pixel is the mean of the input pixels it covers, which neither aliases, as point sampling
and a fixed-width kernel do at large factors, nor rings around edges, as Lanczos does.
Transparent images are averaged premultiplied, so that the colour under fully transparent
pixels, often garbage, does not bleed into the edges of what shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from csrtouch.errors import UsageError
from csrtouch.io import metadata
from csrtouch.io.image import Image


@dataclass(frozen=True)
class Fit:
    """The largest size an output may have: its long side, a width, a height, or several.

    Attributes:
        long_side: the longer of the width and the height, in pixels.
        width: the width, in pixels.
        height: the height, in pixels.
    """

    long_side: int | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        for name in ("long_side", "width", "height"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UsageError(f"an export size's {name.replace('_', ' ')} is a whole number of pixels, 1 or more; got {value!r}")
        if self.long_side is None and self.width is None and self.height is None:
            raise UsageError("an export size needs a long side, a width or a height")

    def size(self, width: int, height: int) -> tuple[int, int] | None:
        """``(width, height)`` of an upright image of that size shrunk to fit, keeping its
        aspect ratio; None when it fits already (images are never enlarged)."""
        scales = [Fraction(1)]
        if self.long_side is not None:
            scales.append(Fraction(self.long_side, max(width, height)))
        if self.width is not None:
            scales.append(Fraction(self.width, width))
        if self.height is not None:
            scales.append(Fraction(self.height, height))
        scale = min(scales)
        if scale >= 1:
            return None
        # Rounded to nearest: the side that binds comes out exactly at its limit, and the
        # other cannot round past its own (a whole number at least the exact value).
        return max(1, int(width * scale + Fraction(1, 2))), max(1, int(height * scale + Fraction(1, 2)))


def shrink(image: Image, fit: Fit) -> Image:
    """Shrink ``image`` in place to fit ``fit`` (see the module doc); unchanged if it fits.

    The EXIF PixelXDimension and PixelYDimension are set to the new size where the photo has
    an Exif IFD (:func:`~csrtouch.io.metadata.stamp_dimensions`). Returns ``image``.
    """
    height, width = image.pixels.shape[:2]
    size = fit.size(width, height)
    if size is None:
        return image
    image.pixels, image.alpha = area(image.pixels, image.alpha, size)
    image.exif = metadata.stamp_dimensions(image.exif, *size)
    return image


def area(pixels: np.ndarray, alpha: np.ndarray | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """``(H, W, 3)`` pixels and their ``(H, W)`` alpha, uint8 or uint16, area-averaged to
    ``size`` ``(width, height)``, no larger than they are; new C-contiguous arrays.

    Where the alpha is not all opaque, colours are averaged weighted by their alpha
    (premultiplied, as compositors resample): at 16 bits per channel for 8-bit pixels,
    which is exact, and rounded to 16 bits for 16-bit ones, which loses precision only in
    pixels that are almost transparent.
    """
    top = np.iinfo(pixels.dtype).max
    if alpha is None or alpha.min() == top:
        small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        return small, None if alpha is None else np.full(small.shape[:2], top, alpha.dtype)
    # Weighted in bands: a whole-frame product in 32 bits would be twice the frame.
    premultiplied = np.empty(pixels.shape, np.uint16)
    weights = np.empty(alpha.shape, np.uint16)
    for row in range(0, len(pixels), 256):
        rows = slice(row, row + 256)
        a = alpha[rows].astype(np.uint32)[..., None]
        if pixels.dtype == np.uint8:
            premultiplied[rows] = pixels[rows] * a  # at most 255 * 255: exact in 16 bits
            weights[rows] = alpha[rows] * np.uint16(257)
        else:
            premultiplied[rows] = (pixels[rows] * a + top // 2) // top
            weights[rows] = alpha[rows]
    colour = cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    weight = cv2.resize(weights, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    # Back from premultiplied: for 8 bits the colours are alpha * pixel and the weights
    # alpha * 257, so pixel = colour * 257 / weight; for 16 bits colour * 65535 / alpha.
    # Nothing shows where the weight is 0.
    scale = np.float32(257 if pixels.dtype == np.uint8 else top)
    unweighted = np.divide(colour * scale, weight[..., None], out=np.zeros_like(colour), where=weight[..., None] > 0)
    small = np.clip(np.rint(unweighted), 0, top).astype(pixels.dtype)
    small_alpha = weight if pixels.dtype == np.uint16 else weight / np.float32(257)
    return small, np.clip(np.rint(small_alpha), 0, top).astype(alpha.dtype)
