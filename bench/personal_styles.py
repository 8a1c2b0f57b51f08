"""Personal styles: how well does ``csrtouch finetune`` learn a look nobody designed it for?

    python bench/personal_styles.py [--looks 40] [--seed 2026] [--n 3 5 10 20]
                                    [--modes unpaired paired] [--named] [--lockbox]
                                    [--jobs 2] [--json FILE] [--sheet PATH] [--speed]

The protocol (fixed 2026-12-02, before any method was compared on it; issue 16):

- **Looks** come from a parametric generator (``csrtouch.finetuning.looks.random_look``:
  exposure, white balance, exposure evened out, saturation, monochrome, tone curve, lifted
  blacks, split toning, and their mixtures), ``--looks`` of them from ``--seed``. A method
  may fit its constants or networks on looks drawn from other seeds, never these.
- **Photos** are the corpus's development part (``csrtouch.training.data.corpus_part``:
  never trained on by ``csrtouch train --corpus``, and not the FiveK and Kodak photos the
  unpaired prior's constants were measured on): a fixed half-and-third split into a liked
  pool (24 photos) and test photos (12), disjoint. For each look and N, the liked photos are
  N of the pool (chosen per look), in the look; the learned style is applied to the test
  photos as ``csrtouch apply`` does, and scored against the test photos in the look.
- **Scores**: mean PSNR and CIEDE2000 against the look, the gain over the untouched test
  photo, the share of looks better than untouched and the worst gain, per mode and N.
- ``--named`` scores the five named looks of earlier versions (``LOOKS``) the same way, as a
  second table. ``--lockbox`` takes the liked pool and test photos from the corpus's lockbox
  instead (56 photos: 36 liked, 20 test): a method's final figure only, opened once.

``--speed`` times instead ``finetune`` on 20 liked JPEGs of 12 MP (Kodak photos upscaled to
4000x3000), median of ``--repeats`` runs, against the 90 s target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from csrtouch.io import decode
from csrtouch.metrics import ciede2000, psnr

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CSRTOUCH_SHARED", ROOT.parent / "shared"))
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _contrast(x: np.ndarray, k: float) -> np.ndarray:
    return np.clip(0.5 + (x - 0.5) * (1 + k) - 4 * k * (x - 0.5) ** 3, 0, 1)


def warm_golden(x: np.ndarray) -> np.ndarray:
    """Warm white balance, slightly brighter mid-tones, a touch of contrast."""
    y = np.clip(x * np.array([1.06, 1.0, 0.86], np.float32) + np.array([0.02, 0.01, 0.0], np.float32), 0, 1)
    return _contrast(y**0.92, 0.15)


def matte_faded(x: np.ndarray) -> np.ndarray:
    """Lifted blacks, lowered whites, 25% less colour, softer contrast."""
    luma = (x @ LUMA)[..., None]
    return 0.07 + 0.86 * _contrast(luma + 0.75 * (x - luma), -0.1)


def mono_film(x: np.ndarray) -> np.ndarray:
    """Black and white from a red-leaning channel mix, with a strong film contrast."""
    luma = _contrast(np.clip(x @ np.array([0.35, 0.55, 0.10], np.float32), 0, 1), 0.35)
    return np.repeat(luma[..., None], 3, axis=-1)


def split_toning(x: np.ndarray) -> np.ndarray:
    """Teal shadows, orange highlights."""
    luma = (x @ LUMA)[..., None]
    shadows, highlights = np.array([-0.10, 0.03, 0.12], np.float32), np.array([0.12, 0.03, -0.10], np.float32)
    return np.clip(x + (1 - luma) ** 2 * shadows + luma**2 * highlights, 0, 1)


def exposure_normalise(x: np.ndarray) -> np.ndarray:
    """Adapts to the image: a gamma that brings its mean luma to 0.46."""
    mean = float(np.clip(x @ LUMA, 0, 1).mean())
    return np.clip(x, 0, 1) ** (math.log(0.46) / math.log(min(max(mean, 1e-3), 0.999)))


LOOKS = {f.__name__: f for f in (warm_golden, matte_faded, mono_film, split_toning, exposure_normalise)}


def _photos() -> list[tuple[str, np.ndarray]]:
    paths = sorted((SHARED / "data" / "fivek-expertC" / "input").iterdir()) + sorted(
        (SHARED / "data" / "photos" / "kodak").iterdir()
    )
    return [(p.stem, decode(p).pixels) for p in paths]


def _float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else 255.0)


def _u8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def _write(folder: Path, name: str, image: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(_u8(image), cv2.COLOR_RGB2BGR))


def natural_stats(images: list[np.ndarray]) -> tuple[dict, np.ndarray]:
    """``csrtouch.finetuning.fit``'s ``NATURAL`` and ``TYPICAL_CAST`` measured on ``images``
    (unedited photos, float): how the shipped constants were made."""
    from csrtouch.engine.thumbnail import thumbnail
    from csrtouch.finetuning.fit import band_chroma, tones

    small = [thumbnail(thumbnail(x), 256) for x in images]
    stats = [tones(x) for x in small]
    natural = {k: (float(np.mean([s[k] for s in stats])), float(np.std([s[k] for s in stats], ddof=1))) for k in stats[0]}
    return natural, np.nanmean([band_chroma(x) for x in small], axis=0).astype(np.float32)


POOL, TEST = 24, 12
LOCKBOX_POOL, LOCKBOX_TEST = 36, 20


def _corpus(part: str) -> list[tuple[str, np.ndarray]]:
    from csrtouch.training.data import CORPUS_FOLDERS, load_corpus

    folders = [SHARED / "data" / "photos" / "corpus" / name for name in CORPUS_FOLDERS]
    return [(f"{p.parent.name}-{p.stem}", img) for p, img in load_corpus(folders, (part,))]


def _split(lockbox: bool) -> tuple[list, list]:
    """The liked pool and the test photos: disjoint, fixed by the corpus's names."""
    photos = _corpus("lockbox" if lockbox else "dev")
    pool, test = (LOCKBOX_POOL, LOCKBOX_TEST) if lockbox else (POOL, TEST)
    order = np.random.default_rng(7).permutation(len(photos))
    assert len(photos) >= pool + test, f"{len(photos)} photos, need {pool + test}"
    return [photos[i] for i in order[:pool]], [photos[i] for i in order[pool : pool + test]]


_JOB: dict = {}


def _score(task: tuple[int, int, str]) -> dict:
    """Fine-tune one style (look ``k``, ``n`` liked photos, ``mode``) and score it."""
    import torch

    from csrtouch.engine import Retoucher
    from csrtouch.finetuning import finetune

    torch.set_num_threads(1)
    k, n, mode = task
    look, pool, test = _JOB["looks"][k], _JOB["pool"], _JOB["test"]
    home = Path(tempfile.mkdtemp(prefix="csrtouch-bench-"))
    os.environ["CSRTOUCH_HOME"] = str(home / "home")
    liked, before = home / "liked", home / "before"
    for i in np.random.default_rng(1000 + _JOB["first"] + k).permutation(len(pool))[:n]:  # the look's own liked photos
        name, img = pool[i]
        _write(liked, name, look(_float(img)))
        _write(before, name, _float(img))
    start = time.perf_counter()
    result = finetune("bench", liked, before=before if mode == "paired" else None, seed=0)
    seconds = time.perf_counter() - start
    retoucher = Retoucher("bench", device="cpu")
    targets = [_u8(look(_float(img))) for _, img in test]
    outs = [retoucher(img) for _, img in test]
    row = {
        "look": look.name, "n": n, "mode": mode,
        "psnr": float(np.mean([psnr(o, t) for o, t in zip(outs, targets)])),
        "deltae": float(np.mean([ciede2000(o, t) for o, t in zip(outs, targets)])),
        "untouched_psnr": float(np.mean([psnr(img, t) for (_, img), t in zip(test, targets)])),
        "untouched_deltae": float(np.mean([ciede2000(img, t) for (_, img), t in zip(test, targets)])),
        "fit_psnr": result.psnr, "fit_untouched_psnr": result.untouched_psnr, "seconds": seconds,
    }
    row["gain"] = row["psnr"] - row["untouched_psnr"]
    print(json.dumps(row), file=sys.stderr, flush=True)
    if n == 10 and k < 6:
        row["shown"] = [outs[i].tolist() for i in range(2)]
    return row


def quality(looks: list, ns: list[int], modes: list[str], lockbox: bool, jobs: int, title: str, first: int = 0) -> list[dict]:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    pool, test = _split(lockbox)
    _JOB.update(looks=looks, pool=pool, test=test, first=first)
    tasks = [(k, n, mode) for k in range(len(looks)) for n in ns for mode in modes]
    with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as ex:
        rows = list(ex.map(_score, tasks))
    _table(rows, ns, modes, title, len(pool), len(test))
    return rows


def _table(rows: list[dict], ns: list[int], modes: list[str], title: str, pool: int, test: int) -> None:
    looks = list(dict.fromkeys(r["look"] for r in rows))
    print(f"\n{title}: {len(looks)} looks, liked from a pool of {pool} photos, scored on {test} others")
    print(f"{'mode':<9} {'N':>3}  {'PSNR':>6} {'dE00':>5}  {'gain dB':>7}  {'better':>6}  {'worst':>6}  {'fit s':>5}")
    base = [r for r in rows if r["mode"] == modes[0] and r["n"] == ns[0]]
    print(f"{'untouched':<9} {'':>3}  {np.mean([r['untouched_psnr'] for r in base]):6.2f} {np.mean([r['untouched_deltae'] for r in base]):5.2f}")
    for mode in modes:
        for n in ns:
            r = [x for x in rows if x["mode"] == mode and x["n"] == n]
            gains = [x["gain"] for x in r]
            print(f"{mode:<9} {n:>3}  {np.mean([x['psnr'] for x in r]):6.2f} {np.mean([x['deltae'] for x in r]):5.2f}  "
                  f"{np.mean(gains):+7.2f}  {np.mean([g > 0 for g in gains]):6.0%}  {min(gains):+6.2f}  "
                  f"{np.median([x['seconds'] for x in r]):5.1f}")


def _sheet(path: Path, looks: list, rows: list[dict], modes: list[str]) -> None:
    """A row per look (the first six): a test photo, in the look, and each mode's result (N = 10)."""
    h = 140
    _, test = _split(False)
    img = test[0][1]

    def cell(image: np.ndarray, text: str) -> np.ndarray:
        image = cv2.resize(image, (round(image.shape[1] * h / image.shape[0]), h), interpolation=cv2.INTER_AREA)
        cv2.putText(image, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        return np.pad(image, ((2, 2), (2, 2), (0, 0)), constant_values=255)

    lines = []
    for look in looks[:6]:
        shown = {r["mode"]: np.asarray(r["shown"][0], np.uint8) for r in rows if r["look"] == look.name and "shown" in r}
        if len(shown) < len(modes):
            continue
        cols = [cell(img, "test photo"), cell(_u8(look(_float(img))), look.name)]
        cols += [cell(shown[m], f"{m}, N=10") for m in modes]
        lines.append(np.concatenate(cols, axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines, axis=0), cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")


def speed(repeats: int) -> dict:
    from csrtouch.finetuning import finetune

    home = Path(tempfile.mkdtemp(prefix="csrtouch-bench-"))
    os.environ["CSRTOUCH_HOME"] = str(home)
    liked = home / "liked"
    liked.mkdir()
    kodak = sorted((SHARED / "data" / "photos" / "kodak").iterdir())
    for i in range(20):
        img = decode(kodak[i % len(kodak)]).pixels
        img = np.ascontiguousarray(np.rot90(img, i // len(kodak)))  # 20 distinct frames from 16 photos
        big = cv2.resize(warm_golden(_float(img)), (4000, 3000), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(liked / f"p{i:02d}.jpg"), cv2.cvtColor(_u8(big), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        finetune(f"speed{r}", liked, seed=0)
        times.append(time.perf_counter() - start)
        print(f"run {r + 1}: {times[-1]:.1f} s", file=sys.stderr, flush=True)
    median = statistics.median(times)
    print(f"finetune on 20 liked 12 MP JPEGs: median {median:.1f} s over {repeats} runs (target <= 90 s: {median / 90:.2f}x of it)")
    return {"seconds": times, "median": median}


@dataclass(frozen=True)
class _Named:
    """One of the five looks of earlier versions, with a name as generated looks have."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--looks", type=int, default=40, help="generated looks scored")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated looks (never fit on)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first SKIP generated looks (to resume a run)")
    parser.add_argument("--n", type=int, nargs="+", default=[3, 5, 10, 20])
    parser.add_argument("--modes", nargs="+", default=["unpaired", "paired"], choices=["unpaired", "paired"])
    parser.add_argument("--named", action="store_true", help="also the five named looks, as a second table")
    parser.add_argument("--lockbox", action="store_true", help="photos from the corpus's lockbox: a method's final figure, once")
    parser.add_argument("--jobs", type=int, default=2, help="styles fine-tuned at once, one torch thread each")
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--measure-prior", action="store_true", help="print the unedited-photo statistics of the FiveK inputs and Kodak")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not (SHARED / "data").is_dir():
        sys.exit(f"needs ../shared/data (set CSRTOUCH_SHARED); not found at {SHARED}")
    from csrtouch.finetuning.looks import random_looks

    print(f"{args.jobs} jobs of one torch thread, {os.cpu_count()} cores")
    if args.measure_prior:
        natural, cast = natural_stats([_float(p) for _, p in _photos()])
        print(f"NATURAL = {natural}\nTYPICAL_CAST = {cast.round(4).tolist()}")
        return
    if args.speed:
        out: dict = speed(args.repeats)
    else:
        looks = random_looks(args.looks, args.seed)[args.skip :]
        where = "LOCKBOX photos" if args.lockbox else "development photos"
        rows = quality(looks, args.n, args.modes, args.lockbox, args.jobs, f"generated looks (seed {args.seed}), {where}", args.skip)
        out = {"seed": args.seed, "lockbox": args.lockbox, "looks": {l.name: l.describe() for l in looks}, "rows": rows}
        if args.named:
            named = [_Named(name, fn) for name, fn in LOOKS.items()]
            out["named"] = quality(named, args.n, args.modes, args.lockbox, args.jobs, f"the five named looks, {where}")
        if args.sheet:
            _sheet(args.sheet, looks, rows, args.modes)
        for row in out["rows"] + out.get("named", []):
            row.pop("shown", None)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
