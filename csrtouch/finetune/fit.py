"""Fit a style (condition modulation and GFM offset) to photos, with the network frozen.

Paired mode fits ``before -> after`` directly. Unpaired mode has only the liked photos, so
it makes its own befores: each liked photo is brought to a *canonical* rendering (levels,
colourfulness and brightness of a typical unedited photo, measured on the FiveK inputs and
Kodak photos the shared network was trained with) and then jittered in exposure, white
balance, contrast and saturation. What the style learns is the way back: from an ordinary
photo to the liked look. A monochrome liked photo gets random colour added to its before,
so the style learns to drop colour rather than to keep it.
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
#: A typical unedited photo (mean over the FiveK inputs and Kodak photos at 256 px): 1st and
#: 99th percentile of luma, mean absolute chroma, mean luma.
TYPICAL_BLACK, TYPICAL_WHITE, TYPICAL_CHROMA, TYPICAL_MEAN = 0.114, 0.790, 0.046, 0.402
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


def canonical(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float image with the levels, colourfulness and brightness of a typical
    unedited photo: the look of ``image`` taken away as far as global statistics go."""
    luma = image @ LUMA
    lo, hi = np.percentile(luma[::3, ::3], (1, 99))
    x = (image - lo) / max(hi - lo, 0.05) * (TYPICAL_WHITE - TYPICAL_BLACK) + TYPICAL_BLACK
    luma = x @ LUMA
    chroma = float(np.abs(x - luma[..., None]).mean())
    if chroma > 0.01:
        x = luma[..., None] + (x - luma[..., None]) * (TYPICAL_CHROMA / chroma)
    x = np.clip(x, 1e-4, 1.0)
    mean = float(np.clip(x @ LUMA, 1e-3, 1.0).mean())
    return np.clip(x ** (math.log(TYPICAL_MEAN) / math.log(min(max(mean, 0.02), 0.98))), 0.0, 1.0).astype(np.float32)


def pseudo_before(after: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible unedited photo that the liked ``after`` could have been made from."""
    x = canonical(after)
    luma = x @ LUMA
    if float(np.abs(x - luma[..., None]).mean()) < 0.01:
        # Monochrome: the before had colour. Per-pixel random chroma (zero luma) is enough
        # to teach a per-pixel network to drop it.
        noise = rng.normal(0.0, 1.6 * TYPICAL_CHROMA, x.shape).astype(np.float32)
        x = x + noise - (noise @ LUMA)[..., None]
        luma = x @ LUMA
    x = luma[..., None] + rng.uniform(0.8, 1.25) * (x - luma[..., None])
    stops = rng.normal(0.0, 0.3) + rng.normal(0.0, 0.08, 3)
    x = np.clip(x, 0.0, 1.0) * ((2.0**stops) ** (1 / 2.2)).astype(np.float32)
    x = np.clip(x, 0.0, 1.0)
    k = rng.uniform(-0.15, 0.15)
    x = 0.5 + (x - 0.5) * (1 + k) - 4 * k * (x - 0.5) ** 3
    return np.clip(x, 0.0, 1.0).astype(np.float32)


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
