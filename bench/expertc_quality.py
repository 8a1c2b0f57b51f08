"""How good is ``csrtouch train``'s expertC recipe on renderings it never saw? Per source.

Usage::

    python bench/expertc_quality.py [--shared PATH] [--seed 0] [--jobs 2] [--corpus]
                                    [--finished DIR] [--set KEY=VALUE ...] [--pretrained FILE]
                                    [--models DIR] [--lockbox] [--json FILE]

The protocol (fixed before any recipe was compared against it; see weights/README.md):

- **Leave one source out** over every pair in ``<shared>/data/fivek-expertC``
  (``--shared`` defaulting to ``$CSRTOUCH_SHARED`` or ``../shared``). The source is the
  file-name prefix (curl, deeplpf, dpe, namedcurves, uegan): each rendered its inputs its
  own way, so a model is trained on every source but one and scored on the one left out,
  for every source. A new user's rendering is then new to the model, as it will be.
- **Darker inputs**: the same held-out pairs with the input made 1.5 stops darker in linear
  light (sRGB decoded, times 2^-1.5, encoded, 8 bits), scored against the same targets;
  the gain is over those darker inputs.
- **Finished photos stay themselves**: PSNR between a finished photo and its retouch, for
  the Expert C targets (each through the model that left its source out), Kodak
  (``<shared>/data/photos/kodak``) and the corpus's development photos
  (``csrtouch.training.data.corpus_part``: never trained on); a photo some fold trained on
  (``--finished``) is scored only by the fold that did not, the others by every fold
  model (mean).
- **Lockbox**: the corpus's lockbox photos are scored only with ``--lockbox``, once, for a
  recipe's final figure; no recipe choice looks at them.

Scoring goes through ``Retoucher``, the engine ``csrtouch apply`` uses, with the metrics of
``csrtouch eval`` (8-bit sRGB, whole image: PSNR, SSIM, mean CIEDE2000). "released" is the
CSRNet authors' checkpoint (``<shared>/reference/csrnet-official-expertC.pth``) imported as a
whole-network style.

Training is ``csrtouch train``'s recipe (``csrtouch.training.recipe``): with ``--corpus``,
pre-trained once on the training part of the ordinary corpus photos (the pairs play no part
in it, so one pre-training serves every fold; ``--pretrained FILE`` saves it, or reuses it
when the file exists), then fine-tuned per fold. ``--set`` overrides a keyword of
``csrtouch.training.train.train`` (``--set identity=0.25``), ``--set pretrain_KEY=V`` one
of ``pretrain``, ``--set looks_KEY=V`` (or ``pretrain_looks_KEY=V``) one attribute of the
random :class:`~csrtouch.training.train.Looks`. Folds train in ``--jobs`` processes of one
torch thread each. ``--models DIR`` keeps each fold's model there and reuses it when the
same settings are run again (the lockbox of a recipe is then scored without retraining it).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from csrtouch.engine.retoucher import Retoucher
from csrtouch.io import decode
from csrtouch.io.colour import SRGB_CURVE
from csrtouch.metrics import ciede2000, psnr, ssim
from csrtouch.styles.importing import _read_checkpoint
from csrtouch.styles.registry import Style, StyleInfo
from csrtouch.training.data import CORPUS_FOLDERS, load_corpus, load_finished, load_pairs

METRICS = {"psnr": psnr, "ssim": ssim, "de2000": ciede2000}
#: How much darker the second set of inputs is, in stops of linear light.
DARKER_STOPS = 1.5

# Set before the worker pool forks, so the workers share them instead of pickling them.
_JOB: dict[str, Any] = {}


def main(argv: list[str] | None = None) -> int:
    """Run the protocol and print the tables; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("CSRTOUCH_SHARED", "../shared")))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="folds trained at once, one torch thread each")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a train() (or pretrain_KEY: pretrain()) keyword")
    parser.add_argument("--corpus", action="store_true", help="pre-train on (and mix in) the training part of the ordinary corpus photos, as csrtouch train --corpus")
    parser.add_argument("--pretrained", type=Path, help="save the pre-trained network here, or reuse it if the file exists")
    parser.add_argument("--finished", type=Path, help="train identity items on these finished photos too (e.g. <shared>/data/photos/kodak), dealt into the folds")
    parser.add_argument("--models", type=Path, help="save each fold's model here, or reuse it if saved with the same settings")
    parser.add_argument("--lockbox", action="store_true", help="also score the corpus's lockbox photos (a recipe's final figure only)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    overrides = dict(_parse_override(item) for item in args.set)
    pre_overrides = {k.removeprefix("pretrain_"): v for k, v in overrides.items() if k.startswith("pretrain_")}
    overrides = {k: v for k, v in overrides.items() if not k.startswith("pretrain_")}
    settings = {"seed": args.seed, "corpus": args.corpus, "overrides": overrides, "pretrain_overrides": pre_overrides,
                "finished": str(args.finished or ""), "pretrained": str(args.pretrained or "")}
    data = args.shared / "data"
    root = data / "fivek-expertC"
    if not root.is_dir():
        print(f"no pairs at {root}; pass --shared or set CSRTOUCH_SHARED", file=sys.stderr)
        return 2
    corpus_folders = [data / "photos" / "corpus" / name for name in CORPUS_FOLDERS]
    pairs = load_pairs(root)
    sources = sorted({p.group for p in pairs})
    finished_paths = load_finished(args.finished) if args.finished else []
    corpus = [photo for _, photo in load_corpus(corpus_folders)] if args.corpus else []

    start = time.perf_counter()
    pretrained, pre_seconds = None, 0.0
    if args.corpus:
        pretrained, pre_seconds = _pretrained(corpus, args.seed, pre_overrides, args.pretrained)
    _JOB.update(pairs=pairs, sources=sources, seed=args.seed, overrides=_with_looks(overrides), corpus=corpus,
                finished=[photo for _, photo in finished_paths], pretrained=pretrained)
    saved = {k: _load_fold(args.models, s, settings) for k, s in enumerate(sources)} if args.models else {}
    todo = [k for k in range(len(sources)) if saved.get(k) is None]
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("fork")) as pool:
        for k, result in zip(todo, pool.map(_train_fold, todo)):
            saved[k] = result
            if args.models:
                _save_fold(args.models, sources[k], settings, result)
    results = [saved[k] for k in range(len(sources))]
    train_wall = time.perf_counter() - start
    models = [_retoucher(r.state_dict, r.gamma.numpy(), r.beta.numpy(), f"without {s}") for s, r in zip(sources, results)]
    checkpoint = args.shared / "reference" / "csrnet-official-expertC.pth"
    released = None
    if checkpoint.is_file():
        zeros = np.zeros(32, np.float32)
        released = _retoucher(_read_checkpoint(checkpoint), zeros, zeros, "released")

    rows: dict[str, dict[str, list[dict[str, Any]]]] = {"as rendered": defaultdict(list), f"{DARKER_STOPS} stops darker": defaultdict(list)}
    finished: dict[str, list[float]] = defaultdict(list)
    for pair in pairs:
        model = models[sources.index(pair.group)]
        target = _as8(pair.target)
        for inputs, source in zip(rows, (_as8(pair.source), _as8(_darker(pair.source, DARKER_STOPS)))):
            outputs = {"untouched": source, "csrtouch": model(source)}
            if released is not None:
                outputs["released"] = released(source)
            for who, out in outputs.items():
                rows[inputs][who].append({"pair": pair.name, "group": pair.group, **{m: f(out, target) for m, f in METRICS.items()}})
        finished["expertC targets", "csrtouch"].append(psnr(model(target), target))
        if released is not None:
            finished["expertC targets", "released"].append(psnr(released(target), target))
    trained_on = {path.resolve(): i % len(sources) for i, (path, _) in enumerate(finished_paths)}
    sets = {"kodak": sorted((data / "photos" / "kodak").glob("*.png")),
            "corpus dev": [p for p, _ in load_corpus(corpus_folders, ("dev",))]}
    if args.lockbox:
        sets["corpus LOCKBOX"] = [p for p, _ in load_corpus(corpus_folders, ("lockbox",))]
    for name, paths in sets.items():
        for path in paths:
            photo = decode(path).pixels
            if photo.dtype != np.uint8:
                photo = _as8(photo / 65535.0)
            k = trained_on.get(path.resolve())
            # A photo trained on as a finished photo is scored only by the fold that held it out.
            finished[name, "csrtouch"].append(float(np.mean([psnr(m(photo), photo) for j, m in enumerate(models) if k in (None, j)])))
            if released is not None:
                finished[name, "released"].append(psnr(released(photo), photo))

    print(f"\nleave one source out ({len(pairs)} pairs, {len(sources)} sources; seed {args.seed}; "
          f"corpus {'yes' if args.corpus else 'no'}; overrides {overrides or 'none'}"
          f"{f', pretrain {pre_overrides}' if pre_overrides else ''}; finished photos {args.finished or 'none'})")
    table: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for inputs, by_who in rows.items():
        print(f"\ninputs {inputs}")
        print(f"{'source':<12} {'n':>2}  " + "  ".join(f"{w:>22}" for w in by_who) + "    gain")
        print(f"{'':<12} {'':>2}  " + "  ".join(f"{'PSNR  SSIM   dE00':>22}" for _ in by_who))
        for group in [*sources, "all"]:
            cells = []
            for who, scores in by_who.items():
                chosen = [s for s in scores if group in ("all", s["group"])]
                mean = {m: float(np.mean([s[m] for s in chosen])) for m in METRICS}
                table.setdefault(inputs, {}).setdefault(group, {})[who] = mean
                cells.append(f"{mean['psnr']:>6.2f} {mean['ssim']:.3f} {mean['de2000']:>6.2f}")
            gain = table[inputs][group]["csrtouch"]["psnr"] - table[inputs][group]["untouched"]["psnr"]
            n = sum(1 for p in pairs if group in ("all", p.group))
            print(f"{group:<12} {n:>2}  " + "  ".join(f"{c:>22}" for c in cells) + f"  {gain:+6.2f}")
        worse = [s["pair"] for s, u in zip(by_who["csrtouch"], by_who["untouched"]) if s["psnr"] < u["psnr"]]
        print(f"pairs worse than untouched: {', '.join(worse) or 'none'}")
    print("\nfinished photos stay themselves (PSNR of a finished photo against its retouch)")
    for (name, who), values in finished.items():
        print(f"  {name + ', ' + who:<30} {np.mean(values):6.2f} dB  (min {np.min(values):.2f}, n={len(values)})")
    print(f"\ntraining {train_wall:.0f} s in all (pre-training {pre_seconds:.0f} s; folds {', '.join(f'{r.seconds:.0f}' for r in results)} s)")
    if args.json:
        record = {"seed": args.seed, "corpus": args.corpus, "overrides": overrides, "pretrain_overrides": pre_overrides,
                  "finished_photos": str(args.finished or ""), "table": table,
                  "finished": {f"{n}, {w}": float(np.mean(v)) for (n, w), v in finished.items()},
                  "per_pair": {inputs: dict(by_who) for inputs, by_who in rows.items()},
                  "pretrain_seconds": pre_seconds, "fold_seconds": [r.seconds for r in results]}
        args.json.write_text(json.dumps(record, indent=1, default=str))
    return 0


def _pretrained(corpus: list[np.ndarray], seed: int, overrides: dict[str, Any], path: Path | None) -> tuple[dict, float]:
    """The pre-trained network: read from ``path`` if it exists, else trained (and saved)."""
    from safetensors.torch import load_file, save_file

    from csrtouch.training.train import pretrain

    if path is not None and path.is_file():
        print(f"pre-trained network from {path}", file=sys.stderr)
        return load_file(str(path)), 0.0
    result = pretrain(corpus, seed=seed, progress=lambda step, loss: _report(-1, step, loss), **_with_looks(overrides))
    if path is not None:
        save_file({k: v.contiguous() for k, v in result.state_dict.items()}, str(path))
    return result.state_dict, result.seconds


def _with_looks(overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with its ``looks_KEY`` entries gathered into one ``looks=Looks(KEY=...)``."""
    from csrtouch.training.train import Looks

    looks = {k.removeprefix("looks_"): v for k, v in overrides.items() if k.startswith("looks_")}
    rest = {k: v for k, v in overrides.items() if not k.startswith("looks_")}
    return rest | ({"looks": Looks(**looks)} if looks else {})


def _fold_file(folder: Path, source: str) -> Path:
    return folder / f"without-{source}.safetensors"


def _save_fold(folder: Path, source: str, settings: dict[str, Any], result) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.contiguous() for k, v in result.state_dict.items()} | {"gamma": result.gamma, "beta": result.beta}
    meta = {"settings": json.dumps(settings, sort_keys=True, default=str), "seconds": str(result.seconds),
            "iterations": str(result.iterations), "final_loss": str(result.final_loss)}
    save_file(tensors, str(_fold_file(folder, source)), metadata=meta)


def _load_fold(folder: Path, source: str, settings: dict[str, Any]):
    """The fold model saved with these exact settings, else None (it is then trained)."""
    from safetensors import safe_open

    from csrtouch.training.train import TrainResult

    path = _fold_file(folder, source)
    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        if meta.get("settings") != json.dumps(settings, sort_keys=True, default=str):
            print(f"{path} was trained with other settings: training again", file=sys.stderr)
            return None
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    print(f"fold without {source} from {path}", file=sys.stderr)
    state = {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
    return TrainResult(state, tensors["gamma"], tensors["beta"], int(meta["iterations"]), float(meta["seconds"]),
                       float(meta["final_loss"]))


def _train_fold(k: int):
    import torch

    from csrtouch.training.train import train

    torch.set_num_threads(1)
    left_out = _JOB["sources"][k]
    train_set = [p for p in _JOB["pairs"] if p.group != left_out]
    keep = [f for i, f in enumerate(_JOB["finished"]) if i % len(_JOB["sources"]) != k]
    return train(train_set, seed=_JOB["seed"], finished=keep, corpus=_JOB["corpus"], start=_JOB["pretrained"],
                 progress=lambda step, loss: _report(k, step, loss), **_JOB["overrides"])


def _darker(image: np.ndarray, stops: float) -> np.ndarray:
    """``image`` (float sRGB in [0, 1]) with ``stops`` less light, in linear light."""
    return SRGB_CURVE.inverse(SRGB_CURVE.forward(image) * 2.0**-stops)


def _retoucher(state: dict[str, Any], gamma: np.ndarray, beta: np.ndarray, name: str) -> Retoucher:
    state = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
    info = StyleInfo(name=name, kind="bench", path=Path(name), arch="bench")
    return Retoucher(Style(info, gamma, beta, state, network_sha256=name), device="cpu")


def _as8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _report(fold: int, step: int, loss: float) -> None:
    if step % 250 == 0:
        who = "pre-training" if fold < 0 else f"fold {fold}"
        print(f"{time.strftime('%H:%M:%S')} {who} step {step} loss {loss:.4f}", file=sys.stderr, flush=True)


def _parse_override(item: str) -> tuple[str, Any]:
    key, _, text = item.partition("=")
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


if __name__ == "__main__":
    sys.exit(main())
