"""How good is the shipped expertC recipe? Held-out quality against Expert C, per source.

Usage::

    python bench/expertc_quality.py [--shared PATH] [--folds 5] [--seed 0] [--set KEY=VALUE ...]
                                    [--device cpu|cuda] [--json FILE]

Cross-validates ``csrtouch train``'s recipe over the shared FiveK pairs
(``<shared>/data/fivek-expertC``, ``--shared`` defaulting to ``$CSRTOUCH_SHARED`` or
``../shared``): the pairs are dealt into folds stratified by source
(``csrtouch.training.train.fold_of``), a model is trained on all folds but one, and only
the held-out fold is scored, for every fold. Scoring goes through ``Retoucher``, the engine
``csrtouch apply`` uses (8-bit inputs through the baked 3D LUT), with the metrics of
``csrtouch eval`` (8-bit sRGB, whole image: PSNR, SSIM, mean CIEDE2000).

Printed, per source prefix and overall, for three retouchers:

- ``untouched``: the input as it is;
- ``released``: the CSRNet authors' checkpoint (``<shared>/reference/csrnet-official-expertC.pth``)
  imported as a whole-network style;
- ``csrtouch``: the fold model that never saw the pair.

Then "finished photos stay themselves": PSNR between a finished photo and its retouch, for
the held-out Expert C targets (each through the fold model that did not train on it) and
for the Kodak photos (``<shared>/data/photos/kodak``, never trained on; mean over the fold
models), for the released checkpoint and csrtouch.

``--set`` overrides a keyword of ``csrtouch.training.train.train`` to try a variant
(``--set identity=0.25``); ``--device cuda`` trains on a GPU (figures then match a CPU
run only to float precision).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from csrtouch.engine.retoucher import Retoucher
from csrtouch.io import decode
from csrtouch.metrics import ciede2000, psnr, ssim
from csrtouch.styles.importing import _read_checkpoint
from csrtouch.styles.registry import Style, StyleInfo
from csrtouch.training.data import load_finished, load_pairs
from csrtouch.training.train import cross_validate

METRICS = {"psnr": psnr, "ssim": ssim, "de2000": ciede2000}


def main(argv: list[str] | None = None) -> int:
    """Run the cross-validation and print the tables; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("CSRTOUCH_SHARED", "../shared")))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a train() keyword")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--finished", type=Path, help="train identity items on these finished photos too (e.g. <shared>/data/photos/kodak), dealt into the folds")
    args = parser.parse_args(argv)
    overrides = dict(_parse_override(item) for item in args.set)
    root = args.shared / "data" / "fivek-expertC"
    if not root.is_dir():
        print(f"no pairs at {root}; pass --shared or set CSRTOUCH_SHARED", file=sys.stderr)
        return 2
    pairs = load_pairs(root)
    kodak = sorted((args.shared / "data" / "photos" / "kodak").glob("*.png"))
    finished_paths = load_finished(args.finished) if args.finished else []
    start = time.perf_counter()
    cv = cross_validate(
        pairs,
        folds=args.folds,
        seed=args.seed,
        progress=_report,
        device=args.device,
        finished=[photo for _, photo in finished_paths],
        **overrides,
    )
    train_wall = time.perf_counter() - start
    models = [_retoucher(r.state_dict, r.gamma.numpy(), r.beta.numpy(), f"fold{k}") for k, r in enumerate(cv.results)]
    checkpoint = args.shared / "reference" / "csrnet-official-expertC.pth"
    released = None
    if checkpoint.is_file():
        zeros = np.zeros(32, np.float32)
        released = _retoucher(_read_checkpoint(checkpoint), zeros, zeros, "released")

    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    finished: dict[str, list[float]] = defaultdict(list)
    for pair, k in zip(pairs, cv.folds):
        source, target = _as8(pair.source), _as8(pair.target)
        outputs = {"untouched": source, "csrtouch": models[k](source)}
        if released is not None:
            outputs["released"] = released(source)
            finished["expertC targets, released"].append(psnr(released(target), target))
        finished["expertC targets, csrtouch"].append(psnr(models[k](target), target))
        for who, out in outputs.items():
            rows[who].append({"group": pair.group, **{m: f(out, target) for m, f in METRICS.items()}})
    trained_on = {path.resolve(): i % args.folds for i, (path, _) in enumerate(finished_paths)}
    for path in kodak:
        photo = decode(path).pixels
        k = trained_on.get(path.resolve())
        # A photo trained on as a finished photo is scored only by the fold that held it out.
        scores = [psnr(m(photo), photo) for j, m in enumerate(models) if k is None or j == k]
        finished["kodak, csrtouch"].append(float(np.mean(scores)))
        if released is not None:
            finished["kodak, released"].append(psnr(released(photo), photo))

    groups = sorted({p.group for p in pairs})
    print(f"\nheld-out pairs ({args.folds} folds, stratified by source; seed {args.seed}; overrides {overrides or 'none'}; finished photos {args.finished or 'none'})")
    print(f"{'source':<12} {'n':>2}  " + "  ".join(f"{w:>22}" for w in rows))
    print(f"{'':<12} {'':>2}  " + "  ".join(f"{'PSNR  SSIM   dE00':>22}" for _ in rows))
    table: dict[str, dict[str, dict[str, float]]] = {}
    for group in [*groups, "all"]:
        cells = []
        for who, scores in rows.items():
            chosen = [s for s in scores if group in ("all", s["group"])]
            mean = {m: float(np.mean([s[m] for s in chosen])) for m in METRICS}
            table.setdefault(group, {})[who] = mean
            cells.append(f"{mean['psnr']:>6.2f} {mean['ssim']:.3f} {mean['de2000']:>6.2f}")
        n = sum(1 for p in pairs if group in ("all", p.group))
        print(f"{group:<12} {n:>2}  " + "  ".join(f"{c:>22}" for c in cells))
    gains = [table[g]["csrtouch"]["psnr"] - table[g]["untouched"]["psnr"] for g in groups]
    print(f"csrtouch gain over untouched per source: min {min(gains):+.2f} dB, max {max(gains):+.2f} dB")
    print("\nfinished photos stay themselves (PSNR of a finished photo against its retouch)")
    for key, values in finished.items():
        print(f"  {key:<28} {np.mean(values):6.2f} dB  (min {np.min(values):.2f}, n={len(values)})")
    print(f"\ntraining {train_wall:.0f} s in all (runs: {', '.join(f'{s:.0f}' for s in cv.seconds)} s)")
    if args.json:
        per_pair = {
            n: {who: rows[who][i] for who in rows} | {"fold": k} for i, (n, k) in enumerate(zip(cv.names, cv.folds))
        }
        summary = {k: float(np.mean(v)) for k, v in finished.items()}
        record = {"overrides": overrides, "seed": args.seed, "folds": args.folds, "table": table,
                  "finished": summary, "per_pair": per_pair, "train_seconds": cv.seconds}
        args.json.write_text(json.dumps(record, indent=1, default=str))
    return 0


def _retoucher(state: dict[str, Any], gamma: np.ndarray, beta: np.ndarray, name: str) -> Retoucher:
    state = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
    info = StyleInfo(name=name, kind="bench", path=Path(name), arch="bench")
    return Retoucher(Style(info, gamma, beta, state, network_sha256=name), device="cpu")


def _as8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _report(fold: int, step: int, loss: float) -> None:
    if step % 500 == 0:
        print(f"fold {fold} step {step} loss {loss:.4f}", file=sys.stderr, flush=True)


def _parse_override(item: str) -> tuple[str, Any]:
    key, _, text = item.partition("=")
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


if __name__ == "__main__":
    sys.exit(main())
