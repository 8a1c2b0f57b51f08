"""Personal styles: how well does ``csrtouch finetune`` learn a look from N photos?

    python bench/personal_styles.py [--n 5 10 20] [--modes unpaired paired] [--json FILE]
                                    [--sheet docs/personal-styles.png] [--speed]

Five reference looks, each a plain parametric global retouch (``LOOKS``), stand in for a
photographer's taste. The liked photos are a look applied to N photos; the test photos are
the same look applied to 12 other photos that no fit sees. For each look and N, a style is
fine-tuned from the liked photos alone (unpaired) and from before/after pairs (paired), then
applied to the test photos as ``csrtouch apply`` does (8-bit, the default path); the table reports
mean PSNR (dB) and CIEDE2000 against the look, with the untouched test photo as baseline.

Photos: the 20 FiveK inputs and 16 Kodak photos from ../shared/data ($CSRTOUCH_SHARED);
the test set is every third of the 36 (sorted by name), the liked photos come from the rest.

``--speed`` times instead ``finetune`` on 20 liked JPEGs of 12 MP (Kodak photos upscaled to
4000x3000), median of ``--repeats`` runs, against the 90 s target.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


def quality(ns: list[int], modes: list[str], sheet: Path | None, held_out_prior: bool = False) -> dict:
    from csrtouch.engine import Retoucher
    from csrtouch.finetuning import finetune
    fitting = importlib.import_module("csrtouch.finetuning.fit")  # the module (the package exports a function fit)

    photos = [(n, _u8(_float(p))) for n, p in _photos()]
    test = photos[::3]
    pool = [p for i, p in enumerate(photos) if i % 3]
    order = np.random.default_rng(0).permutation(len(pool))
    if held_out_prior:
        # The shipped statistics of unedited photos were measured on all 36 photos, liked
        # and test ones included; here they come from the pool photos no fit uses instead.
        rest = [_float(pool[i][1]) for i in order[max(ns):]]
        fitting.NATURAL, fitting.TYPICAL_CAST = natural_stats(rest)
        print(f"statistics of unedited photos from the {len(rest)} pool photos that are neither liked nor test")
    rows, shown = [], {}
    home = Path(tempfile.mkdtemp(prefix="csrtouch-bench-"))
    os.environ["CSRTOUCH_HOME"] = str(home)
    for look_name, look in LOOKS.items():
        targets = [_u8(look(_float(img))) for _, img in test]
        base_p = float(np.mean([psnr(img, t) for (_, img), t in zip(test, targets)]))
        base_e = float(np.mean([ciede2000(img, t) for (_, img), t in zip(test, targets)]))
        for n in ns:
            liked, before = home / f"{look_name}-{n}" / "liked", home / f"{look_name}-{n}" / "before"
            for i in order[:n]:
                name, img = pool[i]
                _write(liked, name, look(_float(img)))
                _write(before, name, _float(img))
            for mode in modes:
                style = f"{look_name}-{n}-{mode}"
                start = time.perf_counter()
                result = finetune(style, liked, before=before if mode == "paired" else None, seed=0)
                seconds = time.perf_counter() - start
                retoucher = Retoucher(style, device="cpu")
                outs = [retoucher(img) for _, img in test]
                row = {
                    "look": look_name, "n": n, "mode": mode,
                    "psnr": float(np.mean([psnr(o, t) for o, t in zip(outs, targets)])),
                    "deltae": float(np.mean([ciede2000(o, t) for o, t in zip(outs, targets)])),
                    "untouched_psnr": base_p, "untouched_deltae": base_e,
                    "fit_psnr": result.psnr, "seconds": seconds,
                }
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if n == 10:
                    shown[(look_name, mode)] = outs[:3]
        shown[(look_name, "look")] = targets[:3]
    _table(rows, ns, modes)
    if sheet is not None:
        _sheet(sheet, [img for _, img in test[:3]], shown, modes)
    return {"rows": rows, "test": [n for n, _ in test], "liked_pool": [pool[i][0] for i in order]}


def _table(rows: list[dict], ns: list[int], modes: list[str]) -> None:
    print("\nmean over the test photos, PSNR dB / CIEDE2000 against the look")
    print(f"{'look':20s} {'untouched':>14s} " + " ".join(f"{m[:8]} N={n:<3d}".rjust(16) for m in modes for n in ns))
    for look in LOOKS:
        r = [x for x in rows if x["look"] == look]
        cells = [f"{x['psnr']:.2f}/{x['deltae']:.2f}".rjust(16) for m in modes for n in ns for x in r if x["n"] == n and x["mode"] == m]
        print(f"{look:20s} {r[0]['untouched_psnr']:6.2f}/{r[0]['untouched_deltae']:<7.2f} " + " ".join(cells))
    means = [
        f"{np.mean([x['psnr'] for x in rows if x['n'] == n and x['mode'] == m]):.2f}/"
        f"{np.mean([x['deltae'] for x in rows if x['n'] == n and x['mode'] == m]):.2f}".rjust(16)
        for m in modes for n in ns
    ]
    base = f"{np.mean([x['untouched_psnr'] for x in rows]):6.2f}/{np.mean([x['untouched_deltae'] for x in rows]):<7.2f}"
    print(f"{'mean of the looks':20s} {base} " + " ".join(means))


def _sheet(path: Path, inputs: list[np.ndarray], shown: dict, modes: list[str]) -> None:
    """Rows: one per look; columns: the input, the look, then each mode's result (N = 10)."""
    h = 160

    def cell(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, (round(img.shape[1] * h / img.shape[0]), h), interpolation=cv2.INTER_AREA)

    def label(img: np.ndarray, text: str) -> np.ndarray:
        img = img.copy()
        cv2.putText(img, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        return img

    img = inputs[1]
    rows = []
    for look in LOOKS:
        cols = [label(cell(img), "input"), label(cell(shown[(look, "look")][1]), look)]
        cols += [label(cell(shown[(look, m)][1]), f"csrtouch {m}, N=10") for m in modes]
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in cols], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--modes", nargs="+", default=["unpaired", "paired"], choices=["unpaired", "paired"])
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--held-out-prior", action="store_true", help="measure the unedited-photo statistics on photos outside the fits and tests")
    parser.add_argument("--measure-prior", action="store_true", help="print the unedited-photo statistics of all 36 photos")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not (SHARED / "data").is_dir():
        sys.exit(f"needs ../shared/data (set CSRTOUCH_SHARED); not found at {SHARED}")
    import torch

    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} cores")
    if args.measure_prior:
        natural, cast = natural_stats([_float(p) for _, p in _photos()])
        print(f"NATURAL = {natural}\nTYPICAL_CAST = {cast.round(4).tolist()}")
        return
    out = speed(args.repeats) if args.speed else quality(args.n, args.modes, args.sheet, args.held_out_prior)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
