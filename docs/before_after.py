"""Make docs/before-after.png: the example photos before and after the shipped expertC.

    python docs/before_after.py            # after `pip install .`

Runs `csrtouch apply` on examples/ and lays inputs over outputs with Pillow.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
HEIGHT = 220


def main(style: str = "expertC") -> None:
    examples = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in {".png", ".jpg"})
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(["csrtouch", "apply", "-q", "--style", style, str(ROOT / "examples"), out], check=True)
        rows = [[Image.open(p).convert("RGB") for p in examples], [Image.open(Path(out) / p.name).convert("RGB") for p in examples]]
    rows = [[im.resize((round(im.width * HEIGHT / im.height), HEIGHT), Image.LANCZOS) for im in row] for row in rows]
    label_w, gap = 90, 6
    width = label_w + sum(im.width for im in rows[0]) + gap * len(rows[0])
    sheet = Image.new("RGB", (width, 2 * HEIGHT + 3 * gap), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (row, label) in enumerate(zip(rows, ("before", style))):
        y = gap + r * (HEIGHT + gap)
        draw.text((8, y + HEIGHT // 2), label, fill="black")
        x = label_w
        for im in row:
            sheet.paste(im, (x, y))
            x += im.width + gap
    sheet.save(ROOT / "docs" / "before-after.png", optimize=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
