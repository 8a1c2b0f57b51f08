"""The fixed-size thumbnail the condition is computed from."""

from __future__ import annotations

import cv2
import numpy as np

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


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16/float array to float32 in [0, 1] (floats are passed through)."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32, copy=False)
