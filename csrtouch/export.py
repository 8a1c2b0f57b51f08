"""Exporting a look as a 3D LUT other tools read: Adobe/Resolve ``.cube`` and Hald PNG.

Both hold the per-image colour function sampled on a grid, so Lightroom, Resolve,
darktable or ffmpeg's ``lut3d`` apply the same look without csrtouch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csrtouch.errors import UsageError
from csrtouch.io import write_atomic

CUBE_SIZES = (17, 33, 65)
HALD_LEVELS = range(2, 17)


def cube_text(lut: np.ndarray, title: str) -> str:
    """``.cube`` text of a ``(B, G, R, 3)`` LUT (red varies fastest, as the format requires)."""
    size = lut.shape[0]
    title = title.replace('"', "'")
    lines = [f'TITLE "{title}"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    body = np.clip(lut.reshape(-1, 3), 0.0, 1.0)
    lines += [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in body]
    return "\n".join(lines) + "\n"


def write_cube(path: Path, lut: np.ndarray, title: str) -> None:
    if lut.shape[0] not in CUBE_SIZES:
        raise UsageError(f"--size must be one of {', '.join(map(str, CUBE_SIZES))}, got {lut.shape[0]}")
    write_atomic(Path(path), cube_text(lut, title).encode("ascii"))


def hald_image(lut: np.ndarray) -> np.ndarray:
    """A 16-bit Hald CLUT image of a ``(B, G, R, 3)`` LUT whose size is a square ``L*L``.

    A level-L Hald image is ``L**3`` pixels square; pixel ``r + g*N + b*N*N`` (row-major)
    holds the output for input ``(r, g, b) / (N - 1)``, with ``N = L*L``.
    """
    n = lut.shape[0]
    level = round(n ** 0.5)
    if level * level != n:
        raise ValueError(f"a Hald LUT needs a square grid size, got {n}")
    side = level**3
    return np.round(np.clip(lut, 0.0, 1.0) * 65535).astype(np.uint16).reshape(side, side, 3)


def write_hald(path: Path, lut: np.ndarray) -> None:
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(hald_image(lut)[..., ::-1]))
    if not ok:
        raise UsageError("cannot encode the Hald image", path)
    write_atomic(Path(path), data.tobytes())
