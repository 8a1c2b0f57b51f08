"""Applying a per-pixel colour function to an image in bounded chunks.

The colour function is per pixel, so chunks need no overlap and tiled output equals
untiled output exactly; memory is bounded by the chunk, not the image. An 8-bit image can
hold at most 2^24 colours and a photo holds far fewer than it has pixels, so there the
function is evaluated once per distinct colour instead (``apply_by_colour``): the same
values, at a fraction of the cost.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: Pixels per chunk: about 64 MB of float32 activations at 64 channels.
CHUNK_PIXELS = 1 << 18

PixelFunction = Callable[[np.ndarray], np.ndarray]


def dtype_max(dtype: np.dtype) -> float:
    """Scale of a pixel dtype: 255, 65535, or 1.0 for floats."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise TypeError(f"unsupported pixel dtype {dtype}; expected uint8, uint16 or float")


def apply_tiled(
    image: np.ndarray, fn: PixelFunction, chunk_pixels: int = CHUNK_PIXELS, dtype: np.dtype | None = None
) -> np.ndarray:
    """Apply ``fn`` to every pixel of ``image`` in row chunks.

    Args:
        image: ``(H, W, 3)`` uint8, uint16 or float32 in [0, 1].
        fn: maps float32 ``(N, 3)`` in [0, 1] to float32 ``(N, 3)``; it must be per pixel.
        chunk_pixels: upper bound on pixels per call of ``fn`` (at least one row).
        dtype: of the output (default: the input's), e.g. uint16 for an 8-bit image
            retouched at 16 bits without a widened copy of the whole input.

    Returns:
        An array of the input's shape; integer outputs are clipped and rounded, float
        outputs are clipped to [0, 1].
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
    h, w, _ = image.shape
    scale = dtype_max(image.dtype)
    out = np.empty(image.shape, dtype or image.dtype)
    out_scale = dtype_max(out.dtype)
    rows = max(1, chunk_pixels // max(w, 1))
    for r0 in range(0, h, rows):
        block = image[r0 : r0 + rows].reshape(-1, 3)
        x = block.astype(np.float32)
        if scale != 1.0:
            x *= np.float32(1.0 / scale)
        y = fn(x)
        np.clip(y, 0.0, 1.0, out=y)
        if out_scale != 1.0:
            y *= np.float32(out_scale)
            np.rint(y, out=y)
        out[r0 : r0 + rows] = y.reshape(-1, w, 3)
    return out


def apply_by_colour(
    image: np.ndarray, fn: PixelFunction, chunk_pixels: int = CHUNK_PIXELS, dtype: np.dtype | None = None
) -> np.ndarray | None:
    """``apply_tiled`` for a uint8 image, evaluating ``fn`` once per distinct colour.

    Costs 84 MB of tables whatever the image size; ``None`` when the image has more
    distinct colours than half its pixels (noise, tiny images), where per pixel is cheaper.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    h, w, _ = image.shape
    rows = max(1, chunk_pixels // max(w, 1))
    bands = range(0, h, rows)
    seen = np.zeros(1 << 24, bool)
    for r0 in bands:
        seen[_packed(image[r0 : r0 + rows])] = True
    colours = np.flatnonzero(seen)
    if len(colours) > h * w // 2:
        return None
    del seen
    rgb = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=-1).astype(np.uint8)
    values = apply_tiled(rgb[:, None], fn, chunk_pixels, dtype or image.dtype)[:, 0]
    index = np.empty(1 << 24, np.int32)
    index[colours] = np.arange(len(colours), dtype=np.int32)
    out = np.empty(image.shape, values.dtype)
    for r0 in bands:
        out[r0 : r0 + rows] = values[index[_packed(image[r0 : r0 + rows])]]
    return out


def _packed(pixels: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 -> ``(...)`` int32 ``0xRRGGBB``."""
    x = pixels.astype(np.int32)
    return (x[..., 0] << 16) | (x[..., 1] << 8) | x[..., 2]
