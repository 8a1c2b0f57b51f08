"""The fixed-size thumbnail the condition is computed from."""

from __future__ import annotations

import cv2
import numpy as np

from csrtouch.engine.blas import one_thread

#: Long side of the condition thumbnail in pixels: the resolution the network is trained
#: at (FiveK renders about 512 px on the long side). Images no larger are used as is.
THUMB_SIZE = 512
#: Shortest side the condition network takes: its first 7x7 convolution, after padding by
#: one, needs 5 pixels. Smaller images (icons, 1-pixel strips) are enlarged to this.
MIN_SIDE = 8


def thumbnail(image: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """Downscale ``(H, W, 3)`` so its long side is at most ``size`` (and enlarge a side under
    ``MIN_SIDE``), as float32 in [0, 1].

    Area averaging makes the thumbnail of a 2 MP and a 50 MP copy of one photo nearly equal,
    so both get the same condition (the same look). Integer inputs are scaled by their
    dtype's maximum.
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale < 1:
        # cv2 wants (width, height); round so neither side collapses to zero.
        dsize = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, dsize, interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        image = cv2.resize(image, (max(w, MIN_SIDE), max(h, MIN_SIDE)), interpolation=cv2.INTER_NEAREST)
    return to_float(image)


class BandThumbnail:
    """``thumbnail`` of an image read as bands of rows, top to bottom, never held whole.

    Area averaging in two passes: OpenCV's INTER_AREA along each band's rows in float, then
    each input row's share of the one or two output rows its height overlaps. The result
    is ``thumbnail``'s to within one level of the input's dtype (OpenCV sums in another
    order: a few 8-bit pixels in a million differ, 16-bit ones in a thousand), which moves
    the condition by nothing a retouched photo shows (tested). ``thumbnail`` stays OpenCV's
    single call, twice as fast on a frame that is in memory anyway.
    """

    def __init__(self, height: int, width: int, size: int = THUMB_SIZE) -> None:
        self.height, self.width = height, width
        scale = size / max(height, width)
        #: Output (width, height); None when the image is small enough to keep as it is.
        self.dsize = (max(1, round(width * scale)), max(1, round(height * scale))) if scale < 1 else None
        self.bands: list[np.ndarray] = []
        self.dtype = np.dtype(np.uint8)
        self.sums: np.ndarray | None = None
        self.top = 0

    def add(self, band: np.ndarray) -> None:
        """The next ``(rows, W, 3)`` rows, uint8, uint16 or float in [0, 1]."""
        self.dtype = band.dtype
        rows = band.shape[0]
        if self.top + rows > self.height or band.shape[1] != self.width:
            raise ValueError(f"band of {band.shape} at row {self.top} is outside the {self.width}x{self.height} image")
        if self.dsize is None:
            self.bands.append(band.copy())
            self.top += rows
            return
        dw, dh = self.dsize
        if self.sums is None:
            self.sums = np.zeros((dh, dw * 3), np.float64)
        x = np.empty((rows, dw * 3), np.float32)
        for top in range(0, rows, 16):  # in float a few rows at a time, to stay in cache
            part = band[top : top + 16].astype(np.float32)
            x[top : top + 16] = cv2.resize(part, (dw, len(part)), interpolation=cv2.INTER_AREA).reshape(len(part), -1)
        # Input row r covers [r, r + 1); output row i covers [i * s, (i + 1) * s), s > 1.
        s = self.height / dh
        r = np.arange(self.top, self.top + rows, dtype=np.float64)
        first = np.floor(r / s).astype(np.intp)
        share = np.minimum(r + 1, (first + 1) * s) - r
        lo, hi = first[0], min(dh - 1, first[-1] + 1)
        weights = np.zeros((hi - lo + 1, rows))
        weights[first - lo, np.arange(rows)] = share
        spill = (share < 1) & (first + 1 <= hi)
        weights[first[spill] + 1 - lo, np.flatnonzero(spill)] = 1 - share[spill]
        with one_thread():  # the same sums whatever BLAS's thread count (engine.blas)
            self.sums[lo : hi + 1] += weights @ x
        self.top += rows

    def result(self) -> np.ndarray:
        """The thumbnail, float32 in [0, 1], once every row has been added."""
        if self.top != self.height:
            raise ValueError(f"{self.top} of the image's {self.height} rows were added")
        if self.dsize is None:
            return thumbnail(np.concatenate(self.bands))
        dw, dh = self.dsize
        image = (self.sums / (self.height / dh)).reshape(dh, dw, 3)
        if np.issubdtype(self.dtype, np.integer):
            # Rounded to the input's levels, as OpenCV's resize of the whole frame is.
            return thumbnail(np.rint(image).astype(self.dtype))
        return thumbnail(image.astype(np.float32))


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16/float array to float32 in [0, 1] (floats are passed through)."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32, copy=False)
