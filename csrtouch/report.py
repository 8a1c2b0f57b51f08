"""Review pages: one static HTML file with before/after thumbnails of a batch.

The page is self-contained: the thumbnails are embedded in it as base64 JPEGs (about 20 kB
each at 320 pixels on the long side, so 500 photos make a page of some 20 MB), the style is
inline, and there is no script, so it opens from a disk, a mail or a share in any browser,
with no server, no CDN and nothing fetched. Nothing here prints.
"""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from csrtouch.errors import CsrtouchError, UsageError

if TYPE_CHECKING:
    from csrtouch.batch import Result
    from csrtouch.engine import Retoucher

#: Long side of the page's thumbnails, in pixels.
THUMB = 320
#: JPEG quality of the thumbnails.
QUALITY = 82


@dataclass(frozen=True)
class Row:
    """One photo on the page: its name, a caption, and a thumbnail (JPEG bytes, or None with
    the reason it could not be made) per column."""

    name: str
    caption: str
    cells: tuple[tuple[bytes | None, str], ...]


@dataclass
class Page:
    """What a review page shows."""

    title: str
    columns: Sequence[str]
    rows: list[Row] = field(default_factory=list)
    #: ``(input, reason)`` of each file that failed.
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: ``(label, value)`` lines of the header: style, strength, version, counts.
    facts: list[tuple[str, str]] = field(default_factory=list)


def check_page_path(path: Path, option: str = "--report") -> Path:
    """Refuse, before any work, a page path that is not an ``.html`` file that can be written.

    Raises:
        UsageError: the name does not end in ``.html`` or ``.htm``, it is a folder, or its
            folder cannot be created or written.
    """
    import os

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give the page's file name, such as review.html")
    if path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{option} {path}: a review page is an HTML file; give a name ending in .html, such as review.html")
    existing = next((p for p in path.absolute().parents if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)):
        why = "not a folder" if not existing.is_dir() else "permission denied"
        raise UsageError(f"{option} {path}: cannot write in {existing} ({why})")
    return path


def jpeg(pixels: np.ndarray, quality: int = QUALITY) -> bytes:
    """``(H, W, 3)`` uint8 RGB as JPEG bytes."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CsrtouchError("the thumbnail could not be encoded")
    return data.tobytes()


def small(pixels: np.ndarray, size: int = THUMB) -> np.ndarray:
    """``pixels`` shrunk (area averaging) so that the long side is at most ``size``, as uint8."""
    import cv2

    if pixels.dtype == np.uint16:
        pixels = (pixels // 257).astype(np.uint8)
    h, w = pixels.shape[:2]
    scale = size / max(h, w)
    if scale < 1:
        pixels = cv2.resize(pixels, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels)


def thumbnail(path: Path, size: int = THUMB) -> np.ndarray:
    """A file's upright sRGB thumbnail, uint8, long side at most ``size``; transparency shown
    on white. A large plain JPEG is read in bands, never held whole.

    Raises:
        DecodeError: the file cannot be read.
    """
    from csrtouch.engine.thumbnail import BandThumbnail
    from csrtouch.io import decode
    from csrtouch.io.metadata import orient
    from csrtouch.io.stream import open_jpeg

    source = open_jpeg(Path(path))
    if source is not None:
        thumb = BandThumbnail(source.height, source.width, size=size)
        for band in source.bands():
            thumb.add(source.to_srgb(band) if source.from_profile else band)
        return small(np.ascontiguousarray(orient(thumb.result(), source.orientation)), size)
    image = decode(path)
    pixels = image.pixels
    if image.alpha is not None:
        top = np.iinfo(pixels.dtype).max
        a = image.alpha.astype(np.float32)[..., None] / top
        pixels = (pixels.astype(np.float32) * a + top * (1 - a)).round().astype(pixels.dtype)
    return small(pixels, size)


def batch_page(
    results: Iterable[Result],
    retoucher: Retoucher,
    out_dir: Path,
    *,
    workers: int = 1,
    size: int = THUMB,
) -> Page:
    """The review page of an ``apply`` run: before and after of every photo done (retouched
    now or before), the failures with their reasons, and how it was made."""
    from concurrent.futures import ThreadPoolExecutor

    from csrtouch import __version__
    from csrtouch.batch import FAILED, OK, SKIPPED

    results = list(results)
    done = [r for r in results if r.status in (OK, SKIPPED) and r.output is not None]

    def cell(path: Path) -> tuple[bytes | None, str]:
        try:
            return jpeg(small(thumbnail(path, size), size)), ""
        except CsrtouchError as e:
            return None, str(e)

    def row(result: Result) -> Row:
        assert result.output is not None
        note = " (done before)" if result.status == SKIPPED else ""
        return Row(str(result.input), f"{result.input} → {result.output}{note}", (cell(result.input), cell(result.output)))

    with ThreadPoolExecutor(max(1, workers)) as pool:
        rows = list(pool.map(row, done))
    counts = {s: sum(r.status == s for r in results) for s in (OK, SKIPPED, FAILED)}
    failures = [(str(r.input), _reason(r)) for r in results if r.status == FAILED]
    return Page(
        title=f"csrtouch: {out_dir}",
        columns=("before", "after"),
        rows=rows,
        failures=failures,
        facts=[
            ("style", retoucher.name),
            ("strength", f"{retoucher.strength:g}"),
            ("csrtouch", f"{__version__} (network {retoucher.network_sha256})"),
            ("output", str(out_dir)),
            ("files", f"{counts[OK]} retouched, {counts[SKIPPED]} done before, {counts[FAILED]} failed"),
            ("made", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
        ],
    )


def _reason(result: Result) -> str:
    """A failure's message without the input's name in front, which the page shows beside it."""
    reason = result.error or "failed"
    head = f"{result.input}: "
    return reason[len(head):] if reason.startswith(head) else reason


def preview_page(rows: Sequence[tuple[str, Sequence[np.ndarray]]], retouchers: Sequence[Retoucher], labels: Sequence[str]) -> Page:
    """The page of ``preview --html``: a row per photo, ``labels`` the columns (before, then
    each style), ``rows`` each photo's name and its cells as uint8 arrays."""
    from csrtouch import __version__

    network = {r.network_sha256 for r in retouchers}
    return Page(
        title="csrtouch preview",
        columns=tuple(labels),
        rows=[Row(name, name, tuple((jpeg(small(c)), "") for c in cells)) for name, cells in rows],
        facts=[
            ("styles", ", ".join(r.name for r in retouchers)),
            ("strength", ", ".join(sorted({f"{r.strength:g}" for r in retouchers}))),
            ("csrtouch", f"{__version__} (network {', '.join(sorted(network))})"),
            ("photos", str(len(rows))),
            ("made", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
        ],
    )


_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px; background: #f2f2f2; color: #222; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 16px; margin: 18px 0 8px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0 12px; margin: 0; }
dt { color: #666; }
dd { margin: 0; }
.failures li { color: #a00; margin-bottom: 2px; }
.failures code { color: #222; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; background: #fff; padding: 8px; border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
.cells { display: flex; gap: 4px; }
.cell { text-align: center; font-size: 12px; color: #666; }
.cell img { display: block; max-width: 240px; max-height: 240px; }
.missing { width: 160px; height: 120px; display: flex; align-items: center; justify-content: center;
           background: #fdd; color: #a00; padding: 4px; box-sizing: border-box; font-size: 11px; }
figcaption { font-size: 12px; max-width: 488px; overflow-wrap: anywhere; margin-top: 4px; }
"""


def render(page: Page) -> str:
    """The page as one HTML document, with nothing outside it."""
    e = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(page.title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{e(page.title)}</h1><dl>",
        *(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in page.facts),
        "</dl></header>",
    ]
    if page.failures:
        out.append(f'<section class="failures"><h2>Failed ({len(page.failures)})</h2><ul>')
        out += [f"<li><code>{e(name)}</code>: {e(reason)}</li>" for name, reason in page.failures]
        out.append("</ul></section>")
    out.append(f'<section><h2>Photos ({len(page.rows)})</h2><div class="grid">')
    for row in page.rows:
        out.append('<figure><div class="cells">')
        for label, (data, why) in zip(page.columns, row.cells):
            if data is None:
                out.append(f'<div class="cell"><div class="missing">{e(why or "no thumbnail")}</div>{e(label)}</div>')
            else:
                src = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
                out.append(f'<div class="cell"><img src="{src}" alt="{e(label)}: {e(row.name)}">{e(label)}</div>')
        out.append(f"</div><figcaption>{e(row.caption)}</figcaption></figure>")
    out.append("</div></section></body></html>\n")
    return "\n".join(out)


def write_page(path: Path, page: Page) -> None:
    """Write the page atomically (:func:`csrtouch.io.write_atomic`): a reader never sees half a page."""
    from csrtouch.io import write_atomic

    write_atomic(path, render(page).encode("utf-8"))


def write_batch_report(path: Path, results: Iterable[Result], retoucher: Retoucher, out_dir: Path, *, workers: int = 1) -> Page:
    """:func:`batch_page` written to ``path``; returns the page."""
    page = batch_page(results, retoucher, out_dir, workers=workers)
    write_page(path, page)
    return page

