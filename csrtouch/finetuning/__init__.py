"""Personal styles: learn a look from a few photos, with the shared network frozen.

Imported only by ``csrtouch finetune`` and the API's ``finetune``: training code stays off
the inference path.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from csrtouch.errors import UsageError
from csrtouch.finetuning.fit import (
    Example,
    Fit,
    apply_fit,
    example,
    fit,
    pseudo_befores,
)
from csrtouch.finetuning.photos import read_photos
from csrtouch.styles import files
from csrtouch.styles.registry import (
    ARCH_VECTOR,
    StyleInfo,
    get_style_info,
    load_shared_network,
    load_style,
    shared_network_sha256,
    personal_style_path,
)

__all__ = ["FinetuneResult", "finetune"]

DEFAULT_FROM = "expertC"

#: ``progress(phase, step, total, loss)``, as ``csrtouch train`` reports.
Progress = Callable[[str, int, int, float], None]


@dataclass(frozen=True)
class FinetuneResult:
    """A saved personal style and how well it fits.

    Attributes:
        info: The style as ``list-styles`` shows it.
        photos: Names of the photos it was learned from.
        held_out: Names of the photos held out to measure the fit.
        psnr: Mean PSNR (dB) of the style's output against the held-out photos, from their
            befores (paired) or from pseudo-befores (unpaired).
        untouched_psnr: The same for the befores themselves: the bar to beat.
        seconds: Wall time, reading included.
    """

    info: StyleInfo
    photos: list[str]
    held_out: list[str]
    psnr: float
    untouched_psnr: float
    seconds: float


def finetune(
    name: str,
    liked: str | Path,
    *,
    before: str | Path | None = None,
    start: str = DEFAULT_FROM,
    seed: int = 0,
    steps: int = 300,
    force: bool = False,
    description: str | None = None,
    warn: Callable[[str], None] = lambda line: None,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Learn the look of the photos in ``liked`` and save it as the personal style ``name``.

    Args:
        name: Name of the new style.
        liked: Folder of photos in the look (searched recursively; any format ``apply`` reads).
        before: Folder of the same photos before editing, matched by file stem; without it
            the befores are made up (see ``csrtouch.finetuning.fit``).
        start: Style to start from.
        seed: Seeds everything random; the same seed and photos give the same style.
        steps: Optimiser steps of each of the two fits (held-out check, then all photos).
        force: Replace an existing personal style of that name.
        description: What ``list-styles`` shows; default names the folder and the count.
        warn: Receives one line per skipped or noteworthy photo.
        progress: Receives each fitting step.

    Raises:
        UsageError: a bad name, a style that exists (without ``force``), a built-in name,
            or too few usable photos.
    """
    began = time.perf_counter()
    dest = personal_style_path(name, force=force)
    origin = load_style(start)
    if origin.network is not None:
        raise UsageError(f"--from {start}: it brings its own network; start from a style of the shared network")
    liked, before = Path(liked), None if before is None else Path(before)
    photos = read_photos(liked, before, warn)

    from csrtouch.model import build_network

    net = build_network(load_shared_network())
    for p in net.parameters():
        p.requires_grad_(False)
    init = (torch.from_numpy(origin.gamma.copy()), torch.from_numpy(origin.beta.copy()), torch.from_numpy(origin.offset.copy()))
    rng = np.random.default_rng(seed)
    if before is None:
        befores = pseudo_befores([p.pixels for p in photos], rng)
        examples = [[example(net, b, p.pixels) for b in group] for p, group in zip(photos, befores)]
    else:
        examples = [[example(net, p.before, p.pixels, p.before_thumb)] for p in photos]
    held = _held_out(len(photos), seed)
    train = [e for i, group in enumerate(examples) if i not in held for e in group]
    report = (lambda phase: None) if progress is None else (lambda phase: lambda s, v: progress(phase, s, steps, v))
    check = fit(net, train, init, seed=seed, steps=steps, progress=report("checking on held-out photos"))
    scores = [_psnr(net, check, e) for i in held for e in examples[i]]
    style = fit(net, [e for group in examples for e in group], init, seed=seed, steps=steps, progress=report("learning the look"))

    mode = "paired" if before is not None else "unpaired"
    psnr, untouched = float(np.mean([s for s, _ in scores])), float(np.mean([u for _, u in scores]))
    from csrtouch import __version__

    meta = {
        "name": name,
        "arch": ARCH_VECTOR,
        "description": description or f"personal style from {len(photos)} photos in {liked.name or liked}",
        "origin": f"fine-tuned ({mode}) from {start}",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "network_sha256": shared_network_sha256(),
        "info": {
            "csrtouch_version": __version__,
            "mode": mode,
            "from": start,
            "seed": seed,
            "steps": steps,
            "photos": [p.name for p in photos],
            "held_out": [photos[i].name for i in held],
            "fit_psnr": round(psnr, 2),
            "untouched_psnr": round(untouched, 2),
        },
    }
    tensors = {"gamma": style.gamma.numpy(), "beta": style.beta.numpy(), "offset": style.offset.numpy()}
    files.write(dest, tensors, meta)
    return FinetuneResult(
        get_style_info(name),
        [p.name for p in photos],
        [photos[i].name for i in held],
        psnr,
        untouched,
        time.perf_counter() - began,
    )


def _held_out(count: int, seed: int) -> set[int]:
    """About one photo in five, at least one, chosen by the seed."""
    k = max(1, count // 5)
    return set(np.random.default_rng(seed + 1).choice(count, size=k, replace=False).tolist())


def _psnr(net, style: Fit, e: Example) -> tuple[float, float]:
    from csrtouch.training.train import psnr8

    after = e.after.numpy()
    return psnr8(apply_fit(net, style, e).numpy(), after), psnr8(e.before.numpy(), after)
