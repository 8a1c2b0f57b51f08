"""Fit a style (condition modulation and GFM offset) to photos, with the network frozen.

Paired mode fits ``before -> after`` directly. Unpaired mode has only the liked photos, so
it makes its own befores (``pseudo_befores``). A look is what the liked photos share, so it
is estimated over the whole set: their levels, colourfulness and brightness are placed
among those of unedited photos (``NATURAL``, keeping each photo's difference from the
others) and the colour cast they share, per tone band, is taken away (``colour_cast``);
each before then gets a little random white balance and contrast. What the style learns is
the way back: from an ordinary photo to the liked look. Monochrome liked photos get random
colour in their befores, so the style learns to drop colour rather than to keep it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from csrtouch.engine.thumbnail import thumbnail
from csrtouch.model import CSRNet

#: Rec. 709 luma weights.
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
#: Tones of unedited photos: mean and spread over the FiveK inputs and Kodak photos at 256 px
#: of the 1st and 99th percentiles of luma, the mean absolute chroma and the mean luma
#: (``python bench/personal_styles.py --measure-prior`` measures them and TYPICAL_CAST).
NATURAL = {"black": (0.115, 0.043), "white": (0.790, 0.143), "chroma": (0.046, 0.027), "mean": (0.402, 0.086)}
#: How far another collection's unedited photos may sit from ``NATURAL`` (as a fraction of
#: the spread between photos): a shift of the liked photos' tones of that size is trusted
#: only by half, and smaller ones less. Chosen from 0.5 and 1.0 with the statistics measured
#: on photos outside the benchmark's fits and tests (``--held-out-prior``): 28.96 vs 30.06 dB.
PRIOR_DOUBT = 1.0
#: Luma bands in which colour casts are measured: centres 0.1, 0.3, ..., 0.9.
BANDS = 5
#: Mean chroma (RGB minus luma) of the same photos in each band.
TYPICAL_CAST = np.array(
    [
        [0.0249, -0.0055, -0.0191],
        [0.0335, -0.0064, -0.0354],
        [0.0040, 0.0013, -0.0242],
        [-0.0032, 0.0062, -0.0525],
        [-0.0044, 0.0158, -0.1435],
    ],
    np.float32,
)
#: Pseudo-befores made from each liked photo in unpaired mode.
BEFORES_PER_PHOTO = 8


@dataclass(frozen=True)
class Example:
    """One training example: ``before`` becomes ``after`` under the style.

    Attributes:
        cond: Condition of the before, from its thumbnail, ``(1, 32)``.
        before: Pixels ``(3, N)``.
        after: Pixels ``(3, N)``.
    """

    cond: torch.Tensor
    before: torch.Tensor
    after: torch.Tensor


@dataclass(frozen=True)
class Fit:
    """A fitted style: ``gamma``, ``beta`` ``(32,)`` and ``offset`` ``(262,)``."""

    gamma: torch.Tensor
    beta: torch.Tensor
    offset: torch.Tensor


def tones(image: np.ndarray) -> dict[str, float]:
    """The statistics of ``NATURAL`` for one float ``(H, W, 3)`` image."""
    luma = image @ LUMA
    black, white = np.percentile(luma[::2, ::2], (1, 99))
    chroma = float(np.abs(image - luma[..., None]).mean())
    return {"black": float(black), "white": float(white), "chroma": chroma, "mean": float(luma.mean())}


def retone(image: np.ndarray, black: float, white: float, chroma: float, mean: float) -> np.ndarray:
    """``image`` with its levels stretched to ``black``/``white``, then its chroma scaled to
    ``chroma`` (unless monochrome), then a gamma that brings its mean luma to ``mean``."""
    now = tones(image)
    scale = (white - black) / max(now["white"] - now["black"], 0.05)
    x = (image - now["black"]) * scale + black
    luma = x @ LUMA
    current = float(np.abs(x - luma[..., None]).mean())
    if current > 0.01:
        x = luma[..., None] + (x - luma[..., None]) * (chroma / current)
    x = np.clip(x, 1e-4, 1.0)
    now = float(np.clip(x @ LUMA, 1e-3, 1.0).mean())
    gamma = math.log(min(max(mean, 0.02), 0.98)) / math.log(min(max(now, 0.02), 0.98))
    return np.clip(x**gamma, 0.0, 1.0).astype(np.float32)


def _placed(values: Sequence[float], natural: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Where each liked photo's statistic sits among unedited photos, and the spread left.

    The liked photos' values are shifted towards the natural mean, all the way when they
    sit far from it and hardly at all when they sit about as far as another collection of
    unedited photos might (``PRIOR_DOUBT``) or as their own mean is uncertain, and squeezed
    if they spread more than natural photos do. A look that evens a statistic out (every
    photo brought to the same brightness) leaves little spread; the rest of the natural
    spread is returned, to be drawn at random, so the befores vary as real ones would.
    """
    mu, sd = natural
    v = np.asarray(values, np.float64)
    spread = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    k = min(1.0, sd / max(spread, 1e-6))
    shift = mu - v.mean()
    doubt = (PRIOR_DOUBT * sd) ** 2 + spread**2 / len(v)
    shift *= shift**2 / (shift**2 + doubt)
    return v.mean() + shift + (v - v.mean()) * k, math.sqrt(max(0.0, sd**2 - (k * spread) ** 2))


def pseudo_befores(afters: Sequence[np.ndarray], rng: np.random.Generator, count: int = BEFORES_PER_PHOTO) -> list[list[np.ndarray]]:
    """``count`` plausible unedited photos for each liked photo in ``afters``.

    The look is estimated over the whole set, not per photo, so that what differs between
    the photos (a dark scene, a colourful one) stays in the befores and only what they
    share moves: their tones are placed among those of unedited photos (``NATURAL``) and
    the colour cast they share is taken away (``colour_cast``).
    """
    stats = [tones(x) for x in afters]
    placed = {k: _placed([s[k] for s in stats], NATURAL[k]) for k in NATURAL}
    centres = [{k: float(placed[k][0][i]) for k in NATURAL} for i in range(len(afters))]
    cast = colour_cast([retone(x, **c) for x, c in zip(afters, centres)])
    out = []
    for x, centre in zip(afters, centres):
        mono = _monochrome(x)
        befores = []
        for _ in range(count):
            target = {k: centre[k] + placed[k][1] * rng.normal() for k in NATURAL}
            target["white"] = max(target["white"], target["black"] + 0.1)
            b = retone(x, **target)
            if mono:
                # The before had colour, as little or as much as photos have. Per-pixel
                # random chroma (zero luma) is enough to teach a per-pixel network to drop it.
                noise = rng.normal(0.0, rng.uniform(1.0, 4.0) * NATURAL["chroma"][0], b.shape).astype(np.float32)
                b = b + noise - (noise @ LUMA)[..., None]
            else:
                b = remove_cast(b, cast)
            b = np.clip(b, 0.0, 1.0) * ((2.0 ** rng.normal(0.0, 0.08, 3)) ** (1 / 2.2)).astype(np.float32)
            k = rng.uniform(-0.15, 0.15)
            b = np.clip(b, 0.0, 1.0)
            befores.append(np.clip(0.5 + (b - 0.5) * (1 + k) - 4 * k * (b - 0.5) ** 3, 0.0, 1.0).astype(np.float32))
        out.append(befores)
    return out


def band_chroma(image: np.ndarray) -> np.ndarray:
    """``(BANDS, 3)`` mean chroma of ``image`` in each luma band (NaN where a band is nearly empty)."""
    luma = image @ LUMA
    chroma = (image - luma[..., None]).reshape(-1, 3)
    band = np.clip((luma * BANDS).astype(int), 0, BANDS - 1).ravel()
    counts = np.bincount(band, minlength=BANDS)
    sums = np.stack([np.bincount(band, chroma[:, c], minlength=BANDS) for c in range(3)], 1)
    out = sums / np.maximum(counts, 1)[:, None]
    out[counts < 0.01 * band.size] = np.nan
    return out.astype(np.float32)


def colour_cast(images: Sequence[np.ndarray]) -> np.ndarray:
    """``(BANDS, 3)`` colour cast shared by ``images``, per luma band: how far their mean
    chroma lies from unedited photos' (``TYPICAL_CAST``), shrunk towards zero by how much
    the photos disagree (James-Stein), so that a few photos of sunsets are not taken for a
    warm look. Monochrome photos have no say."""
    cast = np.zeros((BANDS, 3), np.float32)
    colour = [x for x in images if not _monochrome(x)]
    if not colour:
        return cast
    stats = np.array([band_chroma(x) for x in colour])
    for b in range(BANDS):
        s = stats[:, b][~np.isnan(stats[:, b, 0])]
        if len(s) < 2:
            continue
        d = s.mean(0) - TYPICAL_CAST[b]
        noise = s.var(0, ddof=1).sum() / len(s)
        cast[b] = d * max(0.0, 1.0 - noise / max(float(d @ d), 1e-12))
    return cast


def remove_cast(image: np.ndarray, cast: np.ndarray) -> np.ndarray:
    """``image`` with ``cast`` (from colour_cast) subtracted, interpolated across luma."""
    luma = image @ LUMA
    centres = (np.arange(BANDS) + 0.5) / BANDS
    shift = np.stack([np.interp(luma, centres, cast[:, c]) for c in range(3)], -1)
    return np.clip(image - shift, 0.0, 1.0).astype(np.float32)


def _monochrome(image: np.ndarray) -> bool:
    return float(np.abs(image - (image @ LUMA)[..., None]).mean()) < 0.01


def example(net: CSRNet, before: np.ndarray, after: np.ndarray, before_thumb: np.ndarray | None = None) -> Example:
    """An ``Example`` from float ``(H, W, 3)`` images; the condition comes from
    ``before_thumb`` when given (the full-size photo's thumbnail), else from ``before``."""
    thumb = thumbnail(before) if before_thumb is None else before_thumb
    with torch.no_grad():
        cond = net.condition(torch.from_numpy(np.ascontiguousarray(thumb.transpose(2, 0, 1)))[None])
    return Example(cond, _chw(before), _chw(after))


def fit(
    net: CSRNet,
    examples: Sequence[Example],
    init: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    seed: int,
    steps: int = 300,
    batch: int = 8,
    pixels: int = 4096,
    lr: float = 0.02,
    progress: Callable[[int, float], None] | None = None,
) -> Fit:
    """Fit ``gamma``, ``beta`` and ``offset`` so that ``net`` maps each before to its after.

    Args:
        net: The frozen network.
        examples: Training examples.
        init: Starting ``(gamma, beta, offset)``, e.g. those of another style.
        seed: Seeds the batches and pixel draws.
        steps: Adam steps.
        batch: Examples per step.
        pixels: Random pixels per example per step; the network is per pixel, so they
            estimate the whole-image L1 loss without bias.
        lr: Adam learning rate, decayed by a cosine to 1% at the end.
        progress: Called after each step with the step (1-based) and its loss.
    """
    rng = np.random.default_rng(seed)
    params = [t.detach().clone().float().requires_grad_(True) for t in init]
    optimiser = torch.optim.Adam(params, lr=lr)
    conds = torch.cat([e.cond for e in examples])
    for step in range(1, steps + 1):
        picked = rng.choice(len(examples), size=min(batch, len(examples)), replace=False)
        xs, ys = [], []
        for i in picked:
            e = examples[i]
            idx = torch.from_numpy(rng.integers(0, e.before.shape[1], size=pixels))
            xs.append(e.before[:, idx])
            ys.append(e.after[:, idx])
        for group in optimiser.param_groups:
            group["lr"] = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps)))
        mod = net.modulation(conds[torch.from_numpy(picked)], *params)
        out = net.base(torch.stack(xs)[..., None], mod)
        loss = F.l1_loss(out, torch.stack(ys)[..., None])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(step, loss.item())
    return Fit(*(p.detach().clone() for p in params))


def apply_fit(net: CSRNet, style: Fit, e: Example) -> torch.Tensor:
    """The style's output for an example's before, ``(3, N)``."""
    with torch.no_grad():
        mod = net.modulation(e.cond, style.gamma, style.beta, style.offset)
        return net.base(e.before[None, :, :, None], mod)[0, :, :, 0]


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.reshape(-1, 3).T, dtype=np.float32))
