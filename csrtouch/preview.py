"""Before/after contact sheets: one row per photo, one column per style."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from csrtouch.engine import Retoucher
from csrtouch.engine.tiles import apply_tiled
from csrtouch.io import decode

LABEL_HEIGHT = 30
GAP = 6


def _small(pixels: np.ndarray, height: int) -> np.ndarray:
    import cv2

    h, w = pixels.shape[:2]
    if h <= height:
        return pixels
    return cv2.resize(pixels, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def preview_cells(
    inputs: Sequence[Path], retouchers: Sequence[Retoucher], *, height: int = 256
) -> tuple[list[str], list[tuple[str, list[np.ndarray]]]]:
    """The column labels (before, then each style) and, per photo, its name and its cells:
    uint8 RGB arrays at most ``height`` pixels high.

    Each style's colour function is computed from the whole photo (its full-resolution
    condition, as ``apply`` does) and applied to the small copy, so every cell shows
    exactly the look ``apply`` gives the photo.
    """
    rows = []
    for path in inputs:
        full = decode(path).pixels
        small = _small(full, height)
        cells = [small]
        for r in retouchers:
            cells.append(apply_tiled(small, r.color_function(full)))
        if small.dtype == np.uint16:
            cells = [(c // 257).astype(np.uint8) for c in cells]
        rows.append((path.name, cells))
    labels = ["before", *(r.name + (f" x{r.strength:g}" if r.strength != 1 else "") for r in retouchers)]
    return labels, rows


def contact_sheet(inputs: Sequence[Path], retouchers: Sequence[Retoucher], *, height: int = 256,
                  prepared: tuple[list[str], list[tuple[str, list[np.ndarray]]]] | None = None):
    """A labelled sheet (a PIL image): the untouched photo, then each style's result.

    ``prepared``: :func:`preview_cells`' result, if it is at hand already.
    """
    from PIL import Image, ImageDraw, ImageFont

    labels, rows = prepared or preview_cells(inputs, retouchers, height=height)
    widths = [max(row[1][c].shape[1] for row in rows) for c in range(len(labels))]
    heights = [max(cell.shape[0] for cell in row[1]) for row in rows]
    name_w = 0
    font = ImageFont.load_default(size=16)
    sheet = Image.new("RGB", (sum(widths) + GAP * (len(widths) + 1), LABEL_HEIGHT + sum(heights) + GAP * len(rows) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    x = GAP + name_w
    for label, w in zip(labels, widths):
        draw.text((x + 4, 6), label, fill="black", font=font)
        x += w + GAP
    y = LABEL_HEIGHT
    for (name, cells), h in zip(rows, heights):
        x = GAP + name_w
        for cell, w in zip(cells, widths):
            sheet.paste(Image.fromarray(np.ascontiguousarray(cell), "RGB"), (x, y))
            x += w + GAP
        draw.text((GAP + 4, y + h - 22), name, fill="white", font=font, stroke_width=2, stroke_fill="black")
        y += h + GAP
    return sheet
