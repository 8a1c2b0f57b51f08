"""Random looks: a parametric generator of the global retouches photographers make, for
measuring (and later learning) personal styles on looks nobody designed the method for.

A :class:`Look` is a chain of plain global steps on sRGB-encoded float images: exposure and
white balance in linear light, exposure evened out across photos, saturation, monochrome
(a random channel mix, perhaps tinted), a tone curve (contrast, lifted blacks, rolled-off
whites) and per-tone colour (split toning). :func:`random_look` draws which steps a look has
and how strong each is, so that a seed gives the same look on every machine; mixtures come
from drawing several steps at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

#: Rec. 709 luma weights.
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((np.maximum(x, 0.04045) + 0.055) / 1.055) ** 2.4)


def _encoded(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.maximum(x, 0.0031308) ** (1 / 2.4) - 0.055)


@dataclass(frozen=True)
class Look:
    """A global retouch; every field at its default leaves a photo as it is.

    Attributes:
        exposure: Stops of light added (linear light).
        temperature: Warmer (> 0) or cooler, as ``log2`` of the red/blue gain ratio's half.
        tint: Greener (> 0) or more magenta, ``log2`` of the green gain.
        even: Mean luma every photo is brought to by a gamma (exposure evened out across
            photos), or 0 for none. The one step that adapts to the photo.
        saturation: Factor on each pixel's distance from its luma.
        mono: Channel weights of a black-and-white conversion, or empty for colour.
        contrast: Strength of an S-curve around mid-grey (negative: flatter).
        black: Level the blacks are lifted to (a matte look).
        white: How far the whites are pulled down.
        shadows: RGB added in the shadows (split toning), fading out towards the highlights.
        highlights: RGB added in the highlights, fading out towards the shadows.
    """

    exposure: float = 0.0
    temperature: float = 0.0
    tint: float = 0.0
    even: float = 0.0
    saturation: float = 1.0
    mono: tuple[float, ...] = ()
    contrast: float = 0.0
    black: float = 0.0
    white: float = 0.0
    shadows: tuple[float, float, float] = (0.0, 0.0, 0.0)
    highlights: tuple[float, float, float] = (0.0, 0.0, 0.0)
    name: str = field(default="", compare=False)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """``image``, float ``(H, W, 3)`` sRGB in [0, 1], in this look (float32, same shape)."""
        x = np.asarray(image, np.float32)
        if self.exposure or self.temperature or self.tint:
            gains = 2.0 ** np.array([self.exposure + self.temperature, self.exposure + self.tint, self.exposure - self.temperature])
            x = _encoded(_linear(x) * gains.astype(np.float32))
        if self.even:
            mean = float(np.clip(x @ LUMA, 1e-3, 0.999).mean())
            x = np.clip(x, 0.0, 1.0) ** (math.log(self.even) / math.log(mean))
        luma = (x @ LUMA)[..., None]
        if self.mono:
            x = np.repeat(np.clip(x @ np.asarray(self.mono, np.float32), 0, 1)[..., None], 3, axis=-1)
        elif self.saturation != 1.0:
            x = luma + self.saturation * (x - luma)
        x = np.clip(x, 0.0, 1.0)
        if self.contrast:
            d = x - 0.5
            x = np.clip(0.5 + d * (1 + self.contrast) - 4 * self.contrast * d**3, 0.0, 1.0)
        if self.black or self.white:
            x = self.black + (1.0 - self.black - self.white) * x
        if any(self.shadows) or any(self.highlights):
            luma = (x @ LUMA)[..., None]
            x = x + (1 - luma) ** 2 * np.asarray(self.shadows, np.float32) + luma**2 * np.asarray(self.highlights, np.float32)
        return np.clip(x, 0.0, 1.0).astype(np.float32)

    def describe(self) -> dict[str, object]:
        """The steps that are not neutral."""
        neutral = Look()
        return {k: v for k, v in asdict(self).items() if k != "name" and v != getattr(neutral, k)}


def _hue(rng: np.random.Generator, size: float) -> tuple[float, float, float]:
    """An RGB offset of ``size`` in a random hue, with no luma of its own."""
    angle = rng.uniform(0, 2 * math.pi)
    # Two chroma axes orthogonal to luma: red-cyan and yellow-blue, roughly.
    a, b = np.array([1.0, -0.5, -0.5]), np.array([0.0, 0.5, -0.5])
    v = size * (math.cos(angle) * a + math.sin(angle) * b)
    v -= float(v @ LUMA)
    return tuple(float(c) for c in v)  # type: ignore[return-value]


def random_look(rng: np.random.Generator, name: str = "") -> Look:
    """A look drawn from ``rng``: each step present with its own probability (at least two
    steps), its strength drawn from a range photographers use."""
    while True:
        steps: dict[str, object] = {}
        if rng.random() < 0.4:
            steps["exposure"] = float(rng.normal(0.0, 0.35))
        if rng.random() < 0.6:
            steps["temperature"] = float(rng.normal(0.0, 0.12))
            steps["tint"] = float(rng.normal(0.0, 0.05))
        if rng.random() < 0.15:
            steps["even"] = float(rng.uniform(0.35, 0.55))
        if rng.random() < 0.12:
            w = rng.dirichlet([2.0, 3.0, 1.0])
            steps["mono"] = tuple(float(v) for v in w)
            if rng.random() < 0.5:  # a toned print: sepia, selenium, cyanotype
                steps["highlights"] = _hue(rng, float(rng.uniform(0.02, 0.08)))
        elif rng.random() < 0.6:
            steps["saturation"] = float(2.0 ** rng.normal(0.0, 0.45))
        if rng.random() < 0.7:
            steps["contrast"] = float(rng.uniform(-0.3, 0.5))
        if rng.random() < 0.3:
            steps["black"] = float(rng.uniform(0.02, 0.12))
        if rng.random() < 0.3:
            steps["white"] = float(rng.uniform(0.02, 0.12))
        if rng.random() < 0.35 and "mono" not in steps:
            steps["shadows"] = _hue(rng, float(rng.uniform(0.02, 0.10)))
            steps["highlights"] = _hue(rng, float(rng.uniform(0.02, 0.10)))
        if len(steps) >= 2:
            return Look(**steps, name=name)  # type: ignore[arg-type]


def random_looks(count: int, seed: int, prefix: str = "look") -> list[Look]:
    """``count`` looks from one seed, named ``prefix00``, ``prefix01``, ..."""
    rng = np.random.default_rng(seed)
    return [random_look(rng, f"{prefix}{i:02d}") for i in range(count)]
