"""What a learned look does, in words and a picture: measured on a few ordinary reference
photos shipped with the package, before and after the look.

Numpy and OpenCV only: the summary is computed after the style is saved, from the style as
``apply`` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

#: How far a measure must move to be named (below it the look leaves that alone).
WARMTH = 1.0  # b* (yellow-blue), CIELAB units
TINT = 1.0  # a* (magenta-green)
STOPS = 0.15  # brightness, stops of linear light
CONTRAST = 0.08  # relative change of the L* spread
SATURATION = 0.10  # relative change of the mean chroma
LEVELS = 2.5  # L* of the darkest and the lightest 1%
MONOCHROME = 1.5  # mean chroma below which the look is black and white


def reference_photos() -> list[Path]:
    """The reference photos (four ordinary photos from scikit-image's wheel, 384 px)."""
    from csrtouch.styles.paths import bundled_dir

    return sorted((bundled_dir() / "reference").glob("*.jpg"))


def _measures(image: np.ndarray) -> dict[str, float]:
    x = image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else 255.0)
    lab = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2Lab)
    light, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4) @ np.array([0.2126, 0.7152, 0.0722])
    black, white = np.percentile(light, (1, 99))
    return {
        "linear": float(linear.mean()), "a": float(a.mean()), "b": float(b.mean()), "spread": float(light.std()),
        "chroma": float(np.hypot(a, b).mean()), "black": float(black), "white": float(white),
    }


def describe_look(retouch: Callable[[np.ndarray], np.ndarray], photos: Sequence[np.ndarray]) -> list[str]:
    """What ``retouch`` does to ``photos`` (uint8 RGB), in short phrases with the measure
    behind each: warmer or cooler, greener or more magenta, brighter or darker, contrast,
    saturation or black and white, lifted blacks, lowered whites. Empty when the look leaves
    every measure nearly alone."""
    before = [_measures(p) for p in photos]
    after = [_measures(retouch(p)) for p in photos]

    def mean(key: str, side: list[dict[str, float]]) -> float:
        return float(np.mean([m[key] for m in side]))

    words = []
    # A cast is what moves the photos' mean colour beyond what more or less colour alone
    # does (less saturation pulls a warm photo's mean towards grey without cooling it).
    ratio = mean("chroma", after) / max(mean("chroma", before), 1e-6)
    db = mean("b", after) - ratio * mean("b", before)
    da = mean("a", after) - ratio * mean("a", before)
    if abs(db) >= WARMTH:
        words.append(f"{'warmer' if db > 0 else 'cooler'} (b* {db:+.1f})")
    if abs(da) >= TINT:
        words.append(f"{'more magenta' if da > 0 else 'greener'} (a* {da:+.1f})")
    stops = math.log2(mean("linear", after) / max(mean("linear", before), 1e-6))
    if abs(stops) >= STOPS:
        words.append(f"{'brighter' if stops > 0 else 'darker'} ({stops:+.2f} stop)")
    contrast = mean("spread", after) / max(mean("spread", before), 1e-6) - 1
    if abs(contrast) >= CONTRAST:
        words.append(f"{'more' if contrast > 0 else 'less'} contrast ({contrast:+.0%})")
    if mean("chroma", after) < MONOCHROME <= mean("chroma", before):
        words.append("black and white")
    else:
        saturation = mean("chroma", after) / max(mean("chroma", before), 1e-6) - 1
        if abs(saturation) >= SATURATION:
            words.append(f"{'more' if saturation > 0 else 'less'} saturated ({saturation:+.0%})")
    black = mean("black", after) - mean("black", before)
    if black >= LEVELS:
        words.append(f"lifted blacks (L* {black:+.1f})")
    elif black <= -LEVELS:
        words.append(f"deeper blacks (L* {black:+.1f})")
    white = mean("white", after) - mean("white", before)
    if white <= -LEVELS:
        words.append(f"softer whites (L* {white:+.1f})")
    return words


def read_references() -> list[np.ndarray]:
    from csrtouch.io import decode

    return [decode(path).pixels for path in reference_photos()]
