"""One look per shoot: how much does the same scene flicker across a burst, with and without
``--consistent``?

    python bench/consistency.py [--style expertC] [--photo examples/coffee.png] [--frames 6]
                                [--sheet docs/consistency.png]

The burst is a pan across one photo: ``--frames`` overlapping crops, each showing a
different share of the scene's bright and dark parts, as a camera panning across a room
does. Every frame is retouched as ``csrtouch apply`` does, once with its own condition
(the default) and once with the condition shared across the burst (``--consistent``).
The strip of scene that every frame shows is then compared across frames: the spread
(max - min) of its mean CIELAB lightness and the mean per-pixel standard deviation across
frames, in 8-bit levels. The input frames themselves agree exactly on that strip, so
whatever spread the outputs show is flicker the retoucher added.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from csrtouch.engine import Retoucher
from csrtouch.io import decode

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", default="expertC")
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "coffee.png")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--sheet", type=Path, help="write the two rows of frames to this PNG")
    args = parser.parse_args(argv)
    scene = decode(args.photo).pixels
    h, w = scene.shape[:2]
    width = int(w * 0.6)
    offsets = np.linspace(0, w - width, args.frames).round().astype(int)
    frames = [np.ascontiguousarray(scene[:, x : x + width]) for x in offsets]
    common = slice(offsets[-1], offsets[0] + width)  # scene columns every frame shows

    own = Retoucher(args.style, device="cpu")
    shared = Retoucher(args.style, device="cpu")
    shared.share_condition(frames)
    rows = {"own condition (default)": [own(f) for f in frames], "--consistent": [shared(f) for f in frames]}

    print(f"# {args.frames}-frame pan across {args.photo.name} ({w}x{h}), frames {width} px wide, "
          f"style {args.style}; the strip every frame shows is {common.stop - common.start} px wide")
    print(f"{'':26} {'L* of strip, per frame':>44}  {'spread':>6}  {'per-pixel std':>13}")
    strips_in = [f[:, common.start - x : common.stop - x] for f, x in zip(frames, offsets)]
    assert all(np.array_equal(s, strips_in[0]) for s in strips_in)
    for label, outs in [("input", frames), *rows.items()]:
        strips = np.stack([o[:, common.start - x : common.stop - x] for o, x in zip(outs, offsets)]).astype(np.float32)
        lightness = [float(cv2.cvtColor(s / 255.0, cv2.COLOR_RGB2Lab)[..., 0].mean()) for s in strips]
        std = float(strips.std(axis=0).mean())
        cells = " ".join(f"{v:6.2f}" for v in lightness)
        print(f"{label:26} {cells:>44}  {max(lightness) - min(lightness):6.2f}  {std:13.2f}")
    if args.sheet:
        _sheet(rows, args.sheet)
        print(f"wrote {args.sheet}")


def _sheet(rows: dict[str, list[np.ndarray]], path: Path, height: int = 180, gap: int = 6) -> None:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=16)
    small = {k: [cv2.resize(f, (round(f.shape[1] * height / f.shape[0]), height), interpolation=cv2.INTER_AREA) for f in v] for k, v in rows.items()}
    cell_w = max(f.shape[1] for v in small.values() for f in v)
    n = max(len(v) for v in small.values())
    label_h = 26
    sheet = Image.new("RGB", (gap + n * (cell_w + gap), len(small) * (label_h + height + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    y = gap
    for label, frames in small.items():
        draw.text((gap, y + 4), label, fill="black", font=font)
        y += label_h
        for i, f in enumerate(frames):
            sheet.paste(Image.fromarray(f), (gap + i * (cell_w + gap), y))
        y += height + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


if __name__ == "__main__":
    main()
