"""Cross-validate the expertC training recipe on the shared FiveK pairs.

Usage: ``python bench/cv_expertc.py [--shared PATH] [--folds 5] [--seed 0] [--set KEY=VALUE ...]``

The data root defaults to ``$CSRTOUCH_SHARED``, else ``../shared`` relative to the current
directory; pairs are read from ``<root>/data/fivek-expertC``. ``--set`` overrides one
keyword of ``csrtouch.training.train.train`` (e.g. ``--set lr=3e-3``) to try a variant.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from csrtouch.training.data import load_pairs
from csrtouch.training.train import cross_validate


def main(argv: list[str] | None = None) -> int:
    """Run the cross-validation and print the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("CSRTOUCH_SHARED", "../shared")))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a train() keyword")
    args = parser.parse_args(argv)
    overrides = dict(_parse_override(item) for item in args.set)
    root = args.shared / "data" / "fivek-expertC"
    if not root.is_dir():
        print(f"no pairs at {root}; pass --shared or set CSRTOUCH_SHARED", file=sys.stderr)
        return 2
    pairs = load_pairs(root)
    start = time.perf_counter()
    cv = cross_validate(pairs, folds=args.folds, seed=args.seed, progress=_report, **overrides)
    wall = time.perf_counter() - start
    print(f"{'pair':<20} {'fold':>4} {'untouched':>9} {'model':>7} {'gain':>6}")
    for name, fold, before, after in zip(cv.names, cv.folds, cv.untouched, cv.model):
        print(f"{name:<20} {fold:>4} {before:>9.2f} {after:>7.2f} {after - before:>+6.2f}")
    print(f"{'mean':<20} {'':>4} {np.mean(cv.untouched):>9.2f} {np.mean(cv.model):>7.2f} {cv.gain:>+6.2f}")
    runs = ", ".join(f"{s:.0f}" for s in cv.seconds)
    print(f"overrides {overrides or 'none'}; training runs {runs} s; wall {wall:.0f} s")
    return 0


def _report(fold: int, step: int, loss: float) -> None:
    if step % 250 == 0:
        print(f"fold {fold} step {step} loss {loss:.4f}", file=sys.stderr, flush=True)


def _parse_override(item: str) -> tuple[str, Any]:
    key, _, text = item.partition("=")
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


if __name__ == "__main__":
    sys.exit(main())
