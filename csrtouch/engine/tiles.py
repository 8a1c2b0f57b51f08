"""Applying a per-pixel colour function to an image in bounded chunks.

The colour function is per pixel, so chunks need no overlap and tiled output equals
untiled output exactly; memory is bounded by the chunk, not the image. An 8-bit image can
hold at most 2^24 colours and a photo holds far fewer than it has pixels, so there the
function is evaluated once per distinct colour instead (``apply_by_colour``): the same
values, at a fraction of the cost.
"""

from __future__ import annotations

from typing import Callable

import cv2
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
    image: np.ndarray,
    fn: PixelFunction,
    chunk_pixels: int = CHUNK_PIXELS,
    dtype: np.dtype | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Apply ``fn`` to every pixel of ``image`` in row chunks.

    Args:
        image: ``(H, W, 3)`` uint8, uint16 or float32 in [0, 1].
        fn: maps float32 ``(N, 3)`` in [0, 1] to float32 ``(N, 3)``; it must be per pixel.
        chunk_pixels: upper bound on pixels per call of ``fn`` (at least one row).
        dtype: of the output (default: the input's), e.g. uint16 for an 8-bit image
            retouched at 16 bits without a widened copy of the whole input.
        out: an array of the output's shape and dtype to write into; may be ``image``.

    Returns:
        An array of the input's shape; integer outputs are clipped and rounded, float
        outputs are clipped to [0, 1].
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
    h, w, _ = image.shape
    scale = dtype_max(image.dtype)
    if out is None:
        out = np.empty(image.shape, dtype or image.dtype)
    elif out.shape != image.shape or out.dtype != np.dtype(dtype or image.dtype):
        raise ValueError(f"out must be a {np.dtype(dtype or image.dtype)} array of shape {image.shape}")
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
    image: np.ndarray,
    fn: PixelFunction,
    chunk_pixels: int = CHUNK_PIXELS,
    dtype: np.dtype | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray | None:
    """``apply_tiled`` for a uint8 image, evaluating ``fn`` once per distinct colour.

    ``None`` when the image has more distinct colours than half its pixels (noise, tiny
    images), where per pixel is cheaper; ``out`` as for ``map_colours``.
    """
    return map_colours(image, lambda rgb: apply_tiled(rgb[:, None], fn, chunk_pixels, dtype)[:, 0], dtype, out)


def map_colours(
    image: np.ndarray,
    values: Callable[[np.ndarray], np.ndarray],
    dtype: np.dtype | None = None,
    out: np.ndarray | None = None,
    rows: int = 256,
) -> np.ndarray | None:
    """Replace every colour of an ``(H, W, 3)`` uint8 image by ``values`` of it.

    Args:
        values: ``(K, 3)`` uint8 colours -> ``(K, 3)`` of ``dtype`` (uint8 or uint16),
            called once with each distinct colour of the image.
        dtype: of the output (default uint8).
        out: ``(H, W, 3)`` array of ``dtype`` to write into; may be ``image`` itself.
        rows: rows per band; the bands bound the working memory.

    Returns:
        The output, or ``None`` when there are more distinct colours than half the pixels.

    A photo holds far fewer colours than pixels (a 12 MP JPEG about 100k-350k), so this
    is two passes of packing, a scatter and a gather per pixel: OpenCV packs and unpacks
    each band as RGBA words, numpy scatters and gathers through 2^24-entry tables, of which
    only the pages of colours present are ever touched.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    dtype = np.dtype(dtype or np.uint8)
    h, w, _ = image.shape
    rows = max(1, min(rows, h))
    words = np.zeros((rows, w, 4), np.uint8)  # RGB plus a zero byte: one little-endian word

    def keys(top: int) -> np.ndarray:
        band = words[: min(rows, h - top)]
        cv2.mixChannels([image[top : top + rows]], [band], [0, 0, 1, 1, 2, 2])
        return band.view("<u4")[..., 0]

    seen = np.zeros(1 << 24, bool)
    for top in range(0, h, rows):
        seen[keys(top)] = True
    colours = np.flatnonzero(seen).astype("<u4")
    del seen
    if len(colours) > h * w // 2:
        return None
    mapped = np.zeros((len(colours), 4), dtype)
    mapped[:, :3] = values(colours.view(np.uint8).reshape(-1, 4)[:, :3])
    word = np.dtype("<u4" if dtype.itemsize == 1 else "<u8")
    table = np.empty(1 << 24, word)
    table[colours] = mapped.view(word)[:, 0]
    if out is None:
        out = np.empty(image.shape, dtype)
    elif out.shape != image.shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape {image.shape}")
    for top in range(0, h, rows):
        result = table[keys(top)].view(dtype).reshape(-1, w, 4)
        cv2.cvtColor(result, cv2.COLOR_RGBA2RGB, dst=out[top : top + rows])
    return out
