"""Applying a per-pixel colour function to an image in bounded chunks.

The colour function is per pixel, so chunks need no overlap and tiled output equals
untiled output exactly; memory is bounded by the chunk, not the image. An 8-bit image can
hold at most 2^24 colours and a photo holds far fewer than it has pixels, so there the
function is evaluated once per distinct colour instead (``map_colours``, ``ColourMap``): the
same values, at a fraction of the cost.
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
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    dtype = np.dtype(dtype or np.uint8)
    h, w, _ = image.shape
    colours = ColourMap(w)
    for top in range(0, h, rows):
        colours.see(image[top : top + rows])
    if not colours.build(values, dtype):
        return None
    if out is None:
        out = np.empty(image.shape, dtype)
    elif out.shape != image.shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape {image.shape}")
    for top in range(0, h, rows):
        colours.apply(image[top : top + rows], out[top : top + rows])
    return out


class ColourMap:
    """The distinct colours of a uint8 image, seen a band of rows at a time, each then
    replaced by a value: ``see`` every band, ``build`` the values, ``apply`` to every band.

    A photo holds far fewer colours than pixels (a 12 MP JPEG about 100k-350k), so this
    is two passes of packing, a scatter and a gather per pixel: OpenCV packs each band into
    64-bit keys and unpacks the values, numpy scatters and gathers through 2^24-entry
    tables, of which only the pages of colours present are ever touched. The bands may come from a file
    read twice, so the image is never held whole (``io.stream``).
    """

    def __init__(self, width: int) -> None:
        self.width = width
        # A pixel as a 64-bit word, RGB and five zero bytes: numpy's own index type, so a
        # band's keys index the tables with no converted copy.
        self.words = np.zeros((0, width, 8), np.uint8)
        self.seen: np.ndarray | None = np.zeros(1 << 24, bool)
        self.pixels = 0
        self.table: np.ndarray | None = None
        self.values = np.zeros((0, width, 4), np.uint8)  # a band's values, RGB plus a byte

    def _keys(self, band: np.ndarray) -> np.ndarray:
        if band.dtype != np.uint8 or band.ndim != 3 or band.shape[1:] != (self.width, 3):
            raise ValueError(f"expected (rows, {self.width}, 3) uint8, got {band.dtype} {band.shape}")
        if len(band) > len(self.words):
            self.words = np.zeros((len(band), self.width, 8), np.uint8)
        words = self.words[: len(band)]
        cv2.mixChannels([band], [words], [0, 0, 1, 1, 2, 2])
        return words.view("<i8")[..., 0]

    def see(self, band: np.ndarray) -> None:
        """Note the colours of the next ``(rows, W, 3)`` rows."""
        assert self.seen is not None, "see() comes before build()"
        self.seen[self._keys(band)] = True
        self.pixels += band.shape[0] * band.shape[1]

    def build(self, values: Callable[[np.ndarray], np.ndarray], dtype: np.dtype | None = None) -> bool:
        """Call ``values`` once with the ``(K, 3)`` distinct colours seen, for ``(K, 3)`` of
        ``dtype`` (uint8 or uint16). False, without calling it, when there are more colours
        than half the pixels (noise, tiny images), where per pixel is cheaper."""
        assert self.seen is not None, "build() once"
        colours = np.flatnonzero(self.seen).astype("<u4")
        self.seen = None
        if len(colours) > self.pixels // 2:
            return False
        dtype = np.dtype(dtype or np.uint8)
        mapped = np.zeros((len(colours), 4), dtype)
        mapped[:, :3] = values(colours.view(np.uint8).reshape(-1, 4)[:, :3])
        word = np.dtype("<u4" if dtype.itemsize == 1 else "<u8")
        self.table = np.empty(1 << 24, word)
        self.table[colours] = mapped.view(word)[:, 0]
        self.values = np.zeros((0, self.width, 4), dtype)
        return True

    def apply(self, band: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write the values of a band's colours into ``out`` (C-contiguous, may be ``band``)."""
        assert self.table is not None, "apply() after a build() that returned True"
        keys = self._keys(band)
        if len(band) > len(self.values):
            self.values = np.zeros((len(band), self.width, 4), self.values.dtype)
        values = self.values[: len(band)]
        # mode="clip" (keys are in range anyway): the default would buffer a copy.
        np.take(self.table, keys, out=values.view(self.table.dtype)[..., 0], mode="clip")
        cv2.cvtColor(values, cv2.COLOR_RGBA2RGB, dst=out)
        return out
