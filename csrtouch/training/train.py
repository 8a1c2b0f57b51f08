"""Train the shared CSRNet jointly with one style, evaluate it, and cross-validate the recipe.

The condition is always computed the way inference computes it: from ``thumbnail()`` of the
whole (augmented) source image. Only the base path is subsampled: the base network is per
pixel, so a random set of pixels gives an unbiased estimate of the whole-image loss at a
fraction of the cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F

from csrtouch.engine.thumbnail import thumbnail
from csrtouch.errors import UsageError
from csrtouch.model.csrnet import COND_NF, CSRNet
from csrtouch.training.data import Pair

Init = Literal["default", "identity"]
Sampling = Literal["pixels", "crop"]


@dataclass(frozen=True)
class Looks:
    """Random looks that push an ordinary photo off, for synthetic before/after pairs: the
    photo is the "after", the photo with a random look the "before". Each is drawn per item,
    in linear light where light is what changes (exposure, white balance, contrast,
    saturation), on the encoded values for gamma. Each attribute is a standard deviation, in
    stops (log2) of the factor it draws.

    Attributes:
        exposure: Overall exposure, in stops; clipped to ``±max_exposure``.
        max_exposure: The largest exposure change drawn.
        white_balance: Per-channel gains, in stops.
        contrast: Power of linear light around middle grey (0.18).
        saturation: Factor of each pixel's distance from its luminance (Rec. 709 weights).
        gamma: Power of the encoded sRGB values.
    """

    exposure: float = 0.75
    max_exposure: float = 2.5
    white_balance: float = 0.15
    contrast: float = 0.25
    saturation: float = 0.35
    gamma: float = 0.2

    def apply(self, photo: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """``photo`` (sRGB float ``(3, H, W)`` in [0, 1]) with a random look, same shape."""
        stops = np.clip(rng.normal(0.0, self.exposure), -self.max_exposure, self.max_exposure)
        stops = stops + rng.normal(0.0, self.white_balance, size=3)
        contrast, saturation, gamma = 2.0 ** rng.normal(0.0, (self.contrast, self.saturation, self.gamma))
        light = _linear(photo) * torch.from_numpy(2.0**stops).float()[:, None, None]
        light = MIDDLE_GREY * (light / MIDDLE_GREY) ** float(contrast)
        luma = (torch.tensor(REC709_LUMA)[:, None, None] * light).sum(0, keepdim=True)
        light = (luma + float(saturation) * (light - luma)).clamp(0.0, 1.0)
        return _encoded(light) ** float(gamma)


MIDDLE_GREY = 0.18
REC709_LUMA = (0.2126, 0.7152, 0.0722)


def _linear(encoded: torch.Tensor) -> torch.Tensor:
    """sRGB's transfer function: encoded values in [0, 1] to linear light."""
    return torch.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def _encoded(light: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] to sRGB-encoded values."""
    return torch.where(light <= 0.0031308, light * 12.92, 1.055 * light.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


@dataclass(frozen=True)
class TrainResult:
    """A trained network and style.

    Attributes:
        state_dict: ``CSRNet`` parameters, float32, detached copies.
        gamma: The style's condition scale, float32 ``(32,)``.
        beta: The style's condition shift, float32 ``(32,)``.
        iterations: Optimiser steps taken.
        seconds: Wall time of the training loop.
        final_loss: Mean training loss over the last 10% of the steps.
    """

    state_dict: dict[str, torch.Tensor]
    gamma: torch.Tensor
    beta: torch.Tensor
    iterations: int
    seconds: float
    final_loss: float


@dataclass(frozen=True)
class CrossValidation:
    """Held-out PSNR per pair, each pair scored by the fold that did not train on it.

    Attributes:
        names: Pair names, in the order of the inputs.
        folds: Fold index of each pair.
        untouched: PSNR (dB) of the unedited input against the target.
        model: PSNR (dB) of the model's output against the target.
        seconds: Wall time of each fold's training run.
        results: Each fold's trained network and style, to score more than PSNR with.
    """

    names: list[str]
    folds: list[int]
    untouched: list[float]
    model: list[float]
    seconds: list[float]
    results: list[TrainResult]

    @property
    def gain(self) -> float:
        """Mean PSNR gain of the model over the untouched input, in dB."""
        return float(np.mean(self.model) - np.mean(self.untouched))


def train(
    pairs: Sequence[Pair],
    *,
    seed: int = 0,
    iterations: int = 1000,
    batch: int = 4,
    lr: float = 1e-3,
    lr_final: float = 1e-5,
    warmup: int = 20,
    weight_decay: float = 0.0,
    sampling: Sampling = "pixels",
    pixels: int = 16384,
    dihedral: bool = True,
    exposure_jitter: float = 0.3,
    wb_jitter: float = 0.1,
    init: Init = "default",
    loss: Literal["l1", "l2"] = "l1",
    identity: float = 0.35,
    finished: Sequence[np.ndarray] = (),
    corpus_share: float = 0.3,
    corpus: Sequence[np.ndarray] = (),
    looks: Looks | None = None,
    start: dict[str, torch.Tensor] | None = None,
    device: str = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a CSRNet (from scratch, or from ``start``) together with one style ``(gamma, beta)``.

    The defaults are the recipe measured by ``bench/cv_expertc.py``: about 3 minutes on two
    CPU cores for 1000 steps.

    Args:
        pairs: Training pairs.
        seed: Seeds the weights, the batches and the augmentations; same seed, same result
            (for a given number of torch threads, which this leaves as it is).
        iterations: Optimiser steps.
        batch: Images per step.
        lr: Peak Adam learning rate, reached after ``warmup`` steps.
        lr_final: Learning rate at the end of the cosine decay.
        warmup: Steps of linear warm-up.
        weight_decay: Decoupled (AdamW) weight decay of the network's weights; never applied
            to the style.
        sampling: Base-path pixels per image: ``"pixels"`` draws ``pixels`` random pixels,
            ``"crop"`` a random square crop of about ``pixels`` pixels.
        pixels: Pixels per image per step for ``"pixels"`` and ``"crop"``.
        dihedral: Random flips and transposes, applied to source and target alike.
        exposure_jitter: Standard deviation, in stops, of a random exposure change of the
            source only (the target stays), teaching the network to normalise exposure.
        wb_jitter: Standard deviation, in stops, of random per-channel gains of the source
            only, likewise for white balance.
        init: ``"identity"`` starts from a network that returns its input unchanged;
            ``"default"`` uses PyTorch's initialisation.
        loss: Per-pixel ``"l1"`` or ``"l2"`` loss.
        identity: Probability that a batch item is a finished photo that must stay itself:
            a pair's target (or one of ``finished``) as both source and target, jittered
            like any source. Teaches the network to leave finished photos alone.
        finished: More finished photos, float32 ``(H, W, 3)`` in [0, 1], drawn for
            identity items alongside the pairs' targets.
        corpus_share: Probability that a batch item is a synthetic pair made from an
            ordinary photo of ``corpus`` (ignored when ``corpus`` is empty): the photo is the
            target, and the same photo pushed off by a random look (:class:`Looks`) the
            source. Keeps what pre-training taught (reading exposure and casts off hundreds
            of photos) while the pairs teach the expert's look.
        corpus: Ordinary photos, uint8 ``(H, W, 3)``.
        looks: The random looks of corpus items (default :class:`Looks`'s).
        start: A ``CSRNet`` state dict to start from (:func:`pretrain`'s), instead of
            ``init``; the style still starts at zero.
        device: Torch device for the network (``"cpu"``, ``"cuda"``); results on another
            device match CPU's only to float precision.
        progress: Called after each step with the step number (1-based) and its loss.

    Returns:
        The trained network, style and run statistics.

    Raises:
        UsageError: No pairs, or a non-positive iteration count or batch size.
    """
    share = corpus_share if corpus else 0.0
    if not pairs and share < 1.0:
        raise UsageError("train needs at least one before/after pair, got none")
    if iterations < 1 or batch < 1:
        raise UsageError(f"iterations and batch must be positive, got {iterations} and {batch}")
    if not (0.0 <= identity <= 1.0 and 0.0 <= share <= 1.0 and identity + share <= 1.0):
        raise UsageError(f"identity and corpus_share must be probabilities summing to at most 1, got {identity} and {corpus_share}")
    looks = looks or Looks()
    # A private copy of torch's global RNG: seeding must not change the caller's stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CSRNet()
    if start is not None:
        net.load_state_dict(start, strict=True)
    elif init == "identity":
        _identity_init(net)
    net.to(device)
    rng = np.random.default_rng(seed)
    gamma = torch.zeros(COND_NF, device=device, requires_grad=True)
    beta = torch.zeros(COND_NF, device=device, requires_grad=True)
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if not n.endswith("weight")]
    optimiser = torch.optim.AdamW(
        [
            {"params": weights, "weight_decay": weight_decay},
            {"params": biases + [gamma, beta], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    keep = [_chw(f) for f in finished]
    order = np.empty(0, dtype=np.int64)
    losses = []
    start = time.perf_counter()
    net.train()
    for step in range(1, iterations + 1):
        while len(order) < batch:
            # Epochs without replacement: every pair is seen equally often.
            order = np.concatenate([order, rng.permutation(max(1, len(pairs)))])
        picked, order = order[:batch], order[batch:]
        conds, xs, ys = [], [], []
        for i in picked:
            # Drawn only with a corpus, so that without one the stream is as it always was.
            if share > 0 and rng.random() < share:
                y = _chw(corpus[int(rng.integers(len(corpus)))].astype(np.float32) / 255.0)
                x, y = _augment(looks.apply(y, rng), y, rng, dihedral, 0.0, 0.0)
            elif identity > 0 and rng.random() < identity / (1.0 - share):
                # Same stream of draws whatever ``finished`` holds, for the pairs' part.
                j = int(rng.integers(len(pairs) + len(keep)))
                y = _chw(pairs[j].target) if j < len(pairs) else keep[j - len(pairs)]
                x, y = _augment(y, y, rng, dihedral, exposure_jitter, wb_jitter)
            else:
                x, y = _augment(_chw(pairs[i].source), _chw(pairs[i].target), rng, dihedral, exposure_jitter, wb_jitter)
            thumb = thumbnail(np.ascontiguousarray(x.permute(1, 2, 0).numpy()))
            conds.append(net.condition(torch.from_numpy(thumb).permute(2, 0, 1)[None].to(device)))
            x, y = _sample(x, y, rng, sampling, pixels)
            xs.append(x)
            ys.append(y)
        for group in optimiser.param_groups:
            group["lr"] = _schedule(step, iterations, lr, lr_final, warmup)
        mod = net.modulation(torch.cat(conds), gamma, beta)
        out, target = net.base(torch.stack(xs).to(device), mod), torch.stack(ys).to(device)
        value = F.l1_loss(out, target) if loss == "l1" else F.mse_loss(out, target)
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        losses.append(value.item())
        if progress is not None:
            progress(step, losses[-1])
    seconds = time.perf_counter() - start
    tail = losses[-max(1, iterations // 10) :]
    return TrainResult(
        state_dict={k: v.detach().cpu().clone().float() for k, v in net.state_dict().items()},
        gamma=gamma.detach().cpu().clone(),
        beta=beta.detach().cpu().clone(),
        iterations=iterations,
        seconds=seconds,
        final_loss=float(np.mean(tail)),
    )


def pretrain(
    corpus: Sequence[np.ndarray],
    *,
    seed: int = 0,
    iterations: int = 600,
    looks: Looks | None = None,
    device: str = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Pre-train a CSRNet on synthetic pairs from ordinary photos: each photo is the target,
    and the same photo pushed off by a random look (:class:`Looks`) the source, so that the
    condition network learns from hundreds of photos how exposure, colour casts, contrast
    and saturation vary and how to read them, before :func:`train` (``start=``) learns an
    expert's look from a few pairs. The other settings are :func:`train`'s.

    Args:
        corpus: Ordinary, finished photos, uint8 ``(H, W, 3)``.
        iterations: Optimiser steps.

    Returns:
        The network (its style, fitted to the corpus, is not used further).
    """
    if not corpus:
        raise UsageError("pre-training needs ordinary photos, got none")
    return train((), seed=seed, iterations=iterations, identity=0.0, corpus=corpus, corpus_share=1.0,
                 looks=looks, device=device, progress=progress)


def evaluate(
    net_state: dict[str, torch.Tensor], gamma: torch.Tensor, beta: torch.Tensor, pairs: Sequence[Pair]
) -> list[float]:
    """PSNR (dB, 8-bit) of the network's output against each pair's target.

    The network runs at full resolution with the condition from ``thumbnail()`` of the
    whole source, as at inference; the output is clamped and rounded to 8 bits.

    Args:
        net_state: ``CSRNet`` state dict.
        gamma: Style condition scale ``(32,)``.
        beta: Style condition shift ``(32,)``.
        pairs: Pairs to score.

    Returns:
        One PSNR per pair, in order.
    """
    net = CSRNet()
    net.load_state_dict(net_state, strict=True)
    net.eval()
    scores = []
    with torch.no_grad():
        for pair in pairs:
            x = torch.from_numpy(pair.source).permute(2, 0, 1)[None]
            thumb = torch.from_numpy(thumbnail(pair.source)).permute(2, 0, 1)[None]
            out = net(x, thumb, gamma, beta)[0].permute(1, 2, 0).numpy()
            scores.append(psnr8(out, pair.target))
    return scores


def psnr8(image: np.ndarray, target: np.ndarray) -> float:
    """PSNR (dB, MAX=255) of two float images in [0, 1] after clamping and 8-bit rounding.

    Args:
        image: ``(H, W, 3)`` float image.
        target: Same shape.

    Returns:
        PSNR over the whole image; ``inf`` when the 8-bit images are equal.
    """
    a = np.round(np.clip(image, 0.0, 1.0) * 255.0)
    b = np.round(np.clip(target, 0.0, 1.0) * 255.0)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def fold_of(pairs: Sequence[Pair], folds: int) -> list[int]:
    """Deterministic fold per pair, stratified by source prefix.

    Pairs are sorted by (prefix, name) and dealt round-robin, so each fold mixes sources
    and a source with ``k`` pairs lands in ``min(k, folds)`` folds.

    Args:
        pairs: The pairs.
        folds: Number of folds.

    Returns:
        The fold index of each pair, in the order of ``pairs``.
    """
    ranked = sorted(range(len(pairs)), key=lambda i: (pairs[i].group, pairs[i].name))
    fold = [0] * len(pairs)
    for rank, i in enumerate(ranked):
        fold[i] = rank % folds
    return fold


def cross_validate(
    pairs: Sequence[Pair],
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    finished: Sequence[np.ndarray] = (),
    **train_kwargs: Any,
) -> CrossValidation:
    """Train on all folds but one, score the held-out one, for every fold.

    Args:
        pairs: All pairs.
        folds: Number of folds (at least 2, at most the number of pairs).
        seed: Training seed of every fold.
        finished: Finished photos for ``train``'s identity items, dealt into folds too
            (photo ``i`` is in fold ``i % folds``) so each fold's model can be scored on
            finished photos it never saw.
        progress: Called after each training step with the fold, the step and its loss.
        **train_kwargs: Passed to :func:`train` (``iterations``, ``lr``, ...).

    Returns:
        Per-pair held-out PSNR of the model and of the untouched input.

    Raises:
        UsageError: ``folds`` out of range.
    """
    if not 2 <= folds <= len(pairs):
        raise UsageError(f"folds must be between 2 and the number of pairs ({len(pairs)}), got {folds}")
    fold = fold_of(pairs, folds)
    untouched = [psnr8(p.source, p.target) for p in pairs]
    model = [math.nan] * len(pairs)
    results = []
    for k in range(folds):
        train_set = [p for p, f in zip(pairs, fold) if f != k]
        held = [i for i, f in enumerate(fold) if f == k]
        keep = [f for i, f in enumerate(finished) if i % folds != k]
        result = train(train_set, seed=seed, progress=_for_fold(progress, k), finished=keep, **train_kwargs)
        for i, score in zip(held, evaluate(result.state_dict, result.gamma, result.beta, [pairs[i] for i in held])):
            model[i] = score
        results.append(result)
    seconds = [r.seconds for r in results]
    return CrossValidation([p.name for p in pairs], fold, untouched, model, seconds, results)


def _for_fold(
    progress: Callable[[int, int, float], None] | None, fold: int
) -> Callable[[int, float], None] | None:
    if progress is None:
        return None
    return lambda step, value: progress(fold, step, value)


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1).contiguous()


def _identity_init(net: CSRNet) -> None:
    """Make ``net`` return its input: GFM heads at zero, base convs passing RGB through.

    The first three hidden channels carry RGB (ReLU keeps [0, 1] intact); the other
    channels keep their random weights but start with zero weight in the last conv, so
    the net starts at the untouched input (about 19 dB) instead of a random colour map.
    """
    with torch.no_grad():
        for name in ("scale1", "scale2", "scale3", "shift1", "shift2", "shift3"):
            head = getattr(net, f"cond_{name}")
            head.weight.zero_()
            head.bias.zero_()
        eye = torch.eye(3)[:, :, None, None]
        net.conv1.weight[:3] = eye
        net.conv1.bias[:3] = 0
        net.conv2.weight[:3] = 0
        net.conv2.weight[:3, :3] = eye
        net.conv2.bias[:3] = 0
        net.conv3.weight.zero_()
        net.conv3.weight[:, :3] = eye
        net.conv3.bias.zero_()


def _augment(
    x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator, dihedral: bool, exposure: float, wb: float
) -> tuple[torch.Tensor, torch.Tensor]:
    if dihedral:
        if rng.random() < 0.5:
            x, y = x.flip(2), y.flip(2)
        if rng.random() < 0.5:
            x, y = x.flip(1), y.flip(1)
        if rng.random() < 0.5:
            x, y = x.transpose(1, 2), y.transpose(1, 2)
    if exposure > 0 or wb > 0:
        stops = np.full(3, rng.normal(0.0, exposure) if exposure > 0 else 0.0)
        if wb > 0:
            stops += rng.normal(0.0, wb, size=3)
        # Gains act on linear light; 2.2 is close enough to sRGB for a jitter.
        gain = torch.from_numpy((2.0 ** stops) ** (1 / 2.2)).float()[:, None, None]
        x = (x * gain).clamp(0.0, 1.0)
    return x.contiguous(), y.contiguous()


def _sample(
    x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator, sampling: Sampling, pixels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Base-path input and target pixels, each ``(3, pixels, 1)``."""
    h, w = x.shape[1:]
    if sampling == "crop":
        side = min(h, w, round(math.sqrt(pixels)))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        x, y = x[:, top : top + side, left : left + side], y[:, top : top + side, left : left + side]
        # Same shape as "pixels" so images of a batch stack; pad by repeating when short.
        idx = torch.arange(pixels) % (side * side)
        return x.reshape(3, -1)[:, idx, None], y.reshape(3, -1)[:, idx, None]
    idx = torch.from_numpy(rng.integers(0, h * w, size=pixels))
    return x.reshape(3, -1)[:, idx, None], y.reshape(3, -1)[:, idx, None]


def _schedule(step: int, total: int, peak: float, final: float, warmup: int) -> float:
    """Linear warm-up to ``peak``, then cosine decay to ``final``."""
    if step <= warmup:
        return peak * step / warmup
    t = (step - warmup) / max(1, total - warmup)
    return final + 0.5 * (peak - final) * (1 + math.cos(math.pi * t))
