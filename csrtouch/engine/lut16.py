"""A 16-bit image's colour function through a 129^3 LUT, baked where the photo's colours fall.

A 24 MP RAW render holds millions of distinct 16-bit colours, so neither once per colour
(``tiles.ColourMap``, 8-bit) nor the network at every pixel (4.9 s a 24 MP photo on one
core, issue 17) is cheap. The
colour function is smooth between the kinks of its ReLUs, so it is sampled on a grid of
129^3 points, one every 512 levels (level ``512 k``, the last point just past white), and
interpolated tetrahedrally: each pixel's cell is split into six tetrahedra by the order of
its three fractions, and its value is a weighted sum of four corners. Measured on RAW
renders against the network at every pixel: 0.6 to 1.7 16-bit levels on average, 160 at
most (0.6 of an 8-bit level); tests/test_raw_speed.py holds the bound.

Only the corners of the cells a photo's colours fall in are evaluated (424,441 of the 2.1 M
grid points for a generated 24 MP scene: 0.1 s instead of 0.5 s on a loaded core);
each corner's value is the network's at that point, whichever others are evaluated with it
(``fold.ColorFunction`` is per row to the bit), so a photo's bytes do not depend on
anything but the photo. The interpolation is integer arithmetic in bands of 32,768 pixels,
so it is the same on every machine and in any band order. Three 16-bit channels times
9-bit weights summed over four corners need 25 bits, so red and blue share one 64-bit word
(fields at bits 0 and 32) and green has another: two gathers and two multiply-adds per
corner and pixel.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: Grid points per axis: 128 cells of 512 levels, a power of two, so that a pixel's cell and
#: its place in it are a shift and a mask.
LUT16_SIZE = 129
_SHIFT = 9  # log2 of the levels per cell
_CELL = 1 << _SHIFT
#: Pixels per band: the band's temporaries (about 200 bytes a pixel) stay in the CPU's L2 cache.
BAND_PIXELS = 1 << 15

_N = LUT16_SIZE
_STRIDES = (1, _N, _N * _N)  # red fastest
_FAR = sum(_STRIDES)  # from a cell's first corner to its opposite one


def _tetrahedra() -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the second and third corners of the tetrahedron a pixel falls in, indexed by
    ``4 (fr >= fg) + 2 (fg >= fb) + (fr >= fb)``: the step along the axis of the largest
    fraction, then all but the axis of the smallest. Ties pick either; their weight is 0."""
    second, third = np.zeros(8, np.intp), np.zeros(8, np.intp)
    r, g, b = _STRIDES
    for code in range(8):
        rg, gb, rb = code >> 2 & 1, code >> 1 & 1, code & 1
        largest = r if rg and rb else g if not rg and gb else b
        smallest = r if not rg and not rb else g if rg and not gb else b
        second[code], third[code] = largest, _FAR - smallest
    return second, third


_SECOND, _THIRD = _tetrahedra()
_ROUND_RB = np.uint64(_CELL // 2 | (_CELL // 2) << 32)
_ROUND_G = np.uint64(_CELL // 2)


class Lut16:
    """``fn`` (float32 ``(N, 3) -> (N, 3)``, per pixel) baked for one 16-bit image.

    ``see`` every band of the image, ``bake`` once, then ``apply`` to every band.
    """

    def __init__(self) -> None:
        self.seen: np.ndarray | None = np.zeros(_N**3, bool)
        #: Per grid point, red | blue << 32, and green, as uint64; zero where not baked.
        self.tables: tuple[np.ndarray, np.ndarray] | None = None
        self.points = 0

    def see(self, pixels: np.ndarray) -> None:
        """Note the cells of ``(..., 3)`` uint16 pixels."""
        assert self.seen is not None, "see() comes before bake()"
        flat = pixels.reshape(-1, 3)
        for top in range(0, len(flat), BAND_PIXELS):
            self.seen[_cells(flat[top : top + BAND_PIXELS])] = True

    def corners(self) -> int:
        """How many grid points ``bake`` will evaluate: the corners of the cells seen."""
        return int(np.count_nonzero(self._needed()))

    def _needed(self) -> np.ndarray:
        assert self.seen is not None, "corners() comes before bake()"
        need = self.seen.reshape(_N, _N, _N).copy()  # (blue, green, red)
        for axis in range(3):
            step = [slice(None)] * 3
            lower, upper = list(step), list(step)
            lower[axis], upper[axis] = slice(None, -1), slice(1, None)
            need[tuple(upper)] |= need[tuple(lower)].copy()
        return need.reshape(-1)

    def bake(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        """Evaluate ``fn`` at the corners of every cell seen."""
        points = np.flatnonzero(self._needed())
        self.seen, self.points = None, len(points)
        levels = np.stack([points % _N, points // _N % _N, points // (_N * _N)], axis=1) * _CELL
        values = np.clip(fn((levels / np.float32(65535)).astype(np.float32)), 0.0, 1.0)
        values = np.rint(values * np.float32(65535)).astype(np.uint64)
        red_blue, green = np.zeros(_N**3, np.uint64), np.zeros(_N**3, np.uint64)  # pages of cells never seen stay untouched
        red_blue[points] = values[:, 0] | values[:, 2] << np.uint64(32)
        green[points] = values[:, 1]
        self.tables = red_blue, green

    def apply(self, pixels: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Interpolate ``(..., 3)`` uint16 ``pixels`` (all seen) into ``out`` (uint16 or uint8,
        C-contiguous, may be ``pixels``)."""
        assert self.tables is not None, "apply() after bake()"
        if out.shape != pixels.shape or out.dtype not in (np.uint8, np.uint16) or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous uint8 or uint16 array of shape {pixels.shape}")
        flat, result = pixels.reshape(-1, 3), out.reshape(-1, 3)
        for top in range(0, len(flat), BAND_PIXELS):
            band = flat[top : top + BAND_PIXELS]
            red_blue, green = _interpolate(band, *self.tables)
            target = result[top : top + BAND_PIXELS]
            if out.dtype == np.uint16:
                target[:, 0] = red_blue
                target[:, 1] = green
                target[:, 2] = red_blue >> np.uint64(32)
            else:
                # To 8 bits as a 16-bit output is written, round(v / 257) = (v + 128) // 257,
                # here as a multiply and a shift (the same for every v, tested).
                for c, v in enumerate((red_blue & np.uint64(0xFFFF), green, red_blue >> np.uint64(32))):
                    v += np.uint64(128)
                    v *= np.uint64(65281)
                    v >>= np.uint64(24)
                    target[:, c] = v
        return out


def _cells(band: np.ndarray) -> np.ndarray:
    """Index of each ``(n, 3)`` uint16 pixel's cell (its first corner) in the grid."""
    i = (band >> _SHIFT).astype(np.intp)
    return i[:, 0] + i[:, 1] * _STRIDES[1] + i[:, 2] * _STRIDES[2]


def _interpolate(band: np.ndarray, red_blue_table: np.ndarray, green_table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tetrahedral interpolation of ``(n, 3)`` uint16 pixels: red | blue << 32, and green,
    uint64 (each field 16 bits, rounded; the bits between them are garbage)."""
    # Cells, fractions, the tetrahedron and its weights in 16 bits (a quarter of the memory
    # traffic of 64), widened only to multiply the corners' values.
    i = band >> np.uint16(_SHIFT)
    f = band & np.uint16(_CELL - 1)
    first = i[:, 2].astype(np.intp)
    first *= _STRIDES[2]
    first += i[:, 1] * np.intp(_STRIDES[1])
    first += i[:, 0]
    fr, fg, fb = f[:, 0], f[:, 1], f[:, 2]
    code = (fr >= fg).view(np.uint8) << 2
    code |= (fg >= fb).view(np.uint8) << 1
    code |= (fr >= fb).view(np.uint8)
    hi = np.maximum(fr, fg)
    np.maximum(hi, fb, out=hi)
    lo = np.minimum(fr, fg)
    np.minimum(lo, fb, out=lo)
    mid = fr + fg
    mid += fb
    mid -= hi
    mid -= lo
    # The four corners and their weights: (512 - hi), (hi - mid), (mid - lo), lo.
    second = _SECOND.take(code)
    second += first
    third = _THIRD.take(code)
    third += first
    far = first + _FAR
    hi_mid = hi - mid
    mid -= lo
    np.subtract(np.uint16(_CELL), hi, out=hi)
    red_blue = green = None
    for index, weight in ((first, hi), (second, hi_mid), (third, mid), (far, lo)):
        rb, g = red_blue_table.take(index), green_table.take(index)
        weight = weight.astype(np.uint64)
        rb *= weight
        g *= weight
        if red_blue is None:
            red_blue, green = rb, g
        else:
            red_blue += rb
            green += g
    assert red_blue is not None and green is not None
    red_blue += _ROUND_RB
    red_blue >>= np.uint64(_SHIFT)
    green += _ROUND_G
    green >>= np.uint64(_SHIFT)
    return red_blue, green
