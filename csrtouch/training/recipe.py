"""``csrtouch train``: the committed recipe that makes the shipped weights.

Trains the shared network and one expert's style on before/after pairs, optionally
cross-validates the same recipe first, and writes both files with their provenance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from csrtouch import __version__
from csrtouch.styles import files
from csrtouch.styles.registry import ARCH_SHARED, ARCH_VECTOR, check_name
from csrtouch.training.data import load_corpus, load_finished, load_pairs
from csrtouch.training.train import Looks, cross_validate, pretrain, train

Report = Callable[[str, int, int, float], None]


def train_and_save(
    data: Path,
    out: Path,
    *,
    expert: str = "expertC",
    seed: int = 0,
    iterations: int | None = None,
    folds: int = 0,
    finished: Path | None = None,
    corpus: Sequence[Path] = (),
    pretrain_iterations: int | None = None,
    progress: Report | None = None,
) -> list[str]:
    """Train on ``data`` (``input/`` + ``<expert>/``) and write ``out/csrnet-shared.safetensors``
    and ``out/styles/<expert>.safetensors``.

    Args:
        folds: cross-validate with this many folds first (0: skip) and record the result.
        finished: a folder of finished photos that must stay themselves, used with the
            pairs' targets for the recipe's identity items.
        corpus: folders of ordinary, finished photos: the network is pre-trained on
            synthetic pairs made from them (``pretrain``), then trained on the pairs with
            such synthetic pairs mixed in (``train``'s ``corpus_share``). A fifth of them
            (``corpus_part``: the development set and the lockbox) are never trained on.
        pretrain_iterations: pre-training steps (default: the recipe's).
        progress: called as ``progress(phase, step, total, loss)``.

    Returns:
        Human-readable summary lines.
    """
    check_name(expert)
    pairs = load_pairs(Path(data), expert)
    keep = load_finished(finished) if finished is not None else []
    corpus_photos = load_corpus(corpus) if corpus else []
    photos = [photo for _, photo in corpus_photos]
    kwargs: dict[str, object] = {} if iterations is None else {"iterations": iterations}
    pre_kwargs = {} if pretrain_iterations is None else {"iterations": pretrain_iterations}
    total = iterations or _default("iterations")
    started = time.perf_counter()
    info: dict[str, object] = {
        "data": f"{len(pairs)} pairs from {Path(data).name}/input -> {expert}",
        "pairs": [p.name for p in pairs],
        "finished": f"{len(keep)} finished photos from {Path(finished).name}/: " + ", ".join(p.stem for p, _ in keep)
        if keep
        else "the pairs' targets only",
        "corpus": f"{len(photos)} ordinary photos (the training part) from "
        + ", ".join(f"{Path(c).name}/" for c in corpus)
        if photos
        else "none",
        "corpus_photos": [f"{p.parent.name}/{p.name}" for p, _ in corpus_photos],
        "recipe": {"seed": seed, **_defaults(), **kwargs} | ({f"pretrain_{k}": v for k, v in (_defaults(pretrain) | pre_kwargs).items()} if photos else {}),
        "command": f"csrtouch train {data} --expert {expert} --seed {seed}"
        + (f" --finished {finished}" if finished is not None else "")
        + "".join(f" --corpus {c}" for c in corpus)
        + (f" --pretrain-iterations {pretrain_iterations}" if pretrain_iterations and photos else "")
        + (f" --iterations {iterations}" if iterations else "")
        + (f" --cv {folds}" if folds else ""),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "csrtouch": __version__,
    }
    lines = []
    if photos:
        pre_total = pretrain_iterations or _default("iterations", pretrain)
        pre = pretrain(
            photos,
            seed=seed,
            progress=None if progress is None else (lambda step, loss: progress("pre-training", step, pre_total, loss)),
            **pre_kwargs,
        )
        kwargs |= {"start": pre.state_dict, "corpus": photos}
        lines.append(f"pre-trained {pre.iterations} steps on {len(photos)} corpus photos in {pre.seconds:.1f} s")
    if folds:
        cv = cross_validate(
            pairs,
            folds=folds,
            seed=seed,
            progress=None if progress is None else (lambda k, step, loss: progress(f"fold {k + 1}/{folds}", step, total, loss)),
            finished=[photo for _, photo in keep],
            **kwargs,
        )
        info["cv"] = {
            "folds": folds,
            "pretrained": "once, on the corpus, shared by every fold" if photos else "no",
            "untouched_psnr": round(float(np.mean(cv.untouched)), 3),
            "heldout_psnr": round(float(np.mean(cv.model)), 3),
            "gain_db": round(cv.gain, 3),
            "per_pair": {n: [round(u, 2), round(m, 2), f] for n, u, m, f in zip(cv.names, cv.untouched, cv.model, cv.folds)},
        }
        lines.append(
            f"cross-validation ({folds} folds, held-out pairs only): untouched {np.mean(cv.untouched):.2f} dB, "
            f"{expert} {np.mean(cv.model):.2f} dB, gain {cv.gain:+.2f} dB"
        )
    result = train(
        pairs,
        seed=seed,
        progress=None if progress is None else (lambda step, loss: progress("final", step, total, loss)),
        finished=[photo for _, photo in keep],
        **kwargs,
    )
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["mean_condition"] = _mean_condition(result.state_dict, pairs)
    info["final_loss"] = round(result.final_loss, 5)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    state = {k: v.detach().numpy() for k, v in result.state_dict.items()}
    network = out / "csrnet-shared.safetensors"
    network_sha = files.write(
        network,
        state,
        {"name": "csrnet-shared", "arch": ARCH_SHARED, "description": "shared CSRNet", "created": created, "info": info},
    )
    style = out / "styles" / f"{expert}{files.SUFFIX}"
    files.write(
        style,
        {"gamma": result.gamma.detach().numpy(), "beta": result.beta.detach().numpy()},
        {
            "name": expert,
            "arch": ARCH_VECTOR,
            "description": f"{expert} of MIT-Adobe FiveK, trained by csrtouch on {len(pairs)} public pairs",
            "origin": "trained (csrtouch train)",
            "created": created,
            "network_sha256": network_sha,
            "info": {k: info[k] for k in ("data", "command") if k in info} | ({"cv": {k: v for k, v in info["cv"].items() if k != "per_pair"}} if folds else {}),
        },
    )
    lines.append(f"trained {result.iterations} steps in {info['seconds']} s; wrote {network} and {style}")
    return lines


def _mean_condition(state: dict[str, torch.Tensor], pairs: list) -> list[float]:
    """The condition of the average training input: a style's look without an image
    (``export-lut`` with no reference image)."""
    from csrtouch.engine.thumbnail import thumbnail
    from csrtouch.model import CSRNet

    net = CSRNet().eval()
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        conds = [net.condition(torch.from_numpy(thumbnail(p.source)).permute(2, 0, 1)[None]) for p in pairs]
    return [round(float(v), 6) for v in torch.cat(conds).mean(0)]


def _default(name: str, function: Callable[..., object] = train) -> object:
    return inspect.signature(function).parameters[name].default


def _defaults(function: Callable[..., object] = train) -> dict[str, object]:
    """Every setting of the recipe (``train``'s, or ``pretrain``'s, keyword defaults)."""
    skip = {"pairs", "corpus", "seed", "progress", "finished", "device", "start", "looks"}
    settings = {k: p.default for k, p in inspect.signature(function).parameters.items() if k not in skip}
    return settings | {f"looks_{k}": v for k, v in dataclasses.asdict(Looks()).items()}
