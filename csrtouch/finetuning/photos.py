"""Read the photos a style is learned from: liked photos, and their befores when given."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from csrtouch.engine.thumbnail import thumbnail
from csrtouch.errors import CsrtouchError, UsageError
from csrtouch.io import SUPPORTED_SUFFIXES, decode

#: Long side of the copy whose pixels the style is fitted to. Paired befores take their
#: condition from the engine's own thumbnail, as ``apply`` does; unpaired pseudo-befores are
#: made at this size and conditioned on it (on Kodak photos, the look from a 256 px
#: condition is within 45-52 dB PSNR of the look from the engine's 512 px one).
FIT_SIZE = 256
#: Photos smaller than this on their short side carry too little to learn a look from.
MIN_SIDE = 64
#: Fewest distinct readable photos a style is learned from.
MIN_PHOTOS = 3

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Photo:
    """One liked photo, reduced: ``thumb`` for the condition, ``pixels`` to fit.

    Attributes:
        name: File name, as recorded in the style's provenance.
        thumb: The engine's condition thumbnail, float32 ``(h, w, 3)``.
        pixels: Float32 ``(h', w', 3)`` copy with a long side of at most ``FIT_SIZE``.
        before: The same photo before editing (paired mode), shaped like ``pixels``.
        before_thumb: Condition thumbnail of ``before``.
    """

    name: str
    thumb: np.ndarray
    pixels: np.ndarray
    before: np.ndarray | None = None
    before_thumb: np.ndarray | None = None


def read_photos(liked: Path, before: Path | None = None, warn: Warn = lambda line: None) -> list[Photo]:
    """Readable, distinct, large enough photos of ``liked``, each paired with the file of
    the same stem in ``before`` when that is given.

    Files that cannot be used are reported through ``warn``, one line each, and skipped.

    Raises:
        UsageError: a folder is missing or empty, or fewer than ``MIN_PHOTOS`` usable photos.
    """
    paths = _files(liked)
    befores = {p.stem: p for p in _files(before)} if before is not None else {}
    photos: list[Photo] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            if before is not None and path.stem not in befores:
                raise UsageError(f"no photo named {path.stem}.* in {before}", path)
            thumb, pixels, gray = _read(path)
            pair = (None, None)
            if before is not None:
                b_thumb, b_pixels, _ = _read(befores[path.stem])
                pair = (_match(b_pixels, pixels, befores[path.stem]), b_thumb)
        except CsrtouchError as e:
            warn(f"skipped {e}")
            continue
        key = hashlib.sha256(np.round(pixels * 255).astype(np.uint8).tobytes()).hexdigest()
        if key in seen:
            warn(f"skipped {path}: the same photo as {seen[key]}")
            continue
        seen[key] = path.name
        if gray:
            warn(f"note {path}: grayscale; the style learns a monochrome look from it")
        photos.append(Photo(path.name, thumb, pixels, *pair))
    if len(photos) < MIN_PHOTOS:
        raise UsageError(
            f"a style needs at least {MIN_PHOTOS} distinct readable photos; {liked} has {len(photos)} "
            f"of {len(paths)} file(s)"
        )
    return photos


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UsageError("not a folder of photos", folder)
    paths = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
    )
    if not paths:
        raise UsageError("the folder holds no photos", folder)
    return paths


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    image = decode(path)
    h, w = image.pixels.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UsageError(f"too small ({w}x{h}); a style is learned from photos of at least {MIN_SIDE} px a side", path)
    thumb = thumbnail(image.pixels)
    pixels = thumbnail(thumb, FIT_SIZE)
    gray = image.grayscale or float(np.abs(pixels - pixels.mean(axis=2, keepdims=True)).mean()) < 1e-3
    return thumb, np.ascontiguousarray(pixels), gray


def _match(before: np.ndarray, after: np.ndarray, path: Path) -> np.ndarray:
    """``before`` resized to ``after``'s size when both frame the same photo."""
    if abs(before.shape[1] / before.shape[0] - after.shape[1] / after.shape[0]) > 0.02:
        raise UsageError(
            f"the before photo is {before.shape[1]}x{before.shape[0]} but its after is "
            f"{after.shape[1]}x{after.shape[0]}: not the same framing",
            path,
        )
    if before.shape != after.shape:
        before = cv2.resize(before, (after.shape[1], after.shape[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(before)
