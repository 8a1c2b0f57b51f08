"""``csrtouch eval``: a style's PSNR, SSIM and CIEDE2000 against targets, pairs matched by stem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from csrtouch.engine import Retoucher
from csrtouch.errors import UsageError
from csrtouch.io import SUPPORTED_SUFFIXES, decode
from csrtouch.metrics import ciede2000, psnr, ssim


@dataclass(frozen=True)
class Score:
    """Metrics of one image: the style's output and the untouched input, each against the target."""

    name: str
    psnr: float
    ssim: float
    deltae: float
    untouched_psnr: float
    untouched_ssim: float
    untouched_deltae: float

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise UsageError("not a folder", folder)
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in SUPPORTED_SUFFIXES}


def evaluate(retoucher: Retoucher, inputs: Path, targets: Path) -> list[Score]:
    """Score ``retoucher`` on every ``inputs/<stem>.*`` that has a ``targets/<stem>.*``."""
    sources, goals = _by_stem(inputs), _by_stem(targets)
    stems = sorted(sources.keys() & goals.keys())
    if not stems:
        raise UsageError(f"no file stem is in both {inputs} ({len(sources)} images) and {targets} ({len(goals)} images)")
    scores = []
    for stem in stems:
        source, target = decode(sources[stem]).pixels, decode(goals[stem]).pixels
        if source.shape != target.shape:
            raise UsageError(f"{stem}: input is {source.shape[1]}x{source.shape[0]}, target {target.shape[1]}x{target.shape[0]}")
        out = retoucher(source)
        scores.append(
            Score(stem, psnr(out, target), ssim(out, target), ciede2000(out, target),
                  psnr(source, target), ssim(source, target), ciede2000(source, target))
        )
    return scores


def means(scores: list[Score]) -> dict[str, float]:
    """Mean of every metric over the images."""
    keys = [k for k in Score.__dataclass_fields__ if k != "name"]
    return {k: float(np.mean([getattr(s, k) for s in scores])) for k in keys}
