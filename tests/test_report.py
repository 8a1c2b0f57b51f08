"""Review pages (``apply --report``, ``preview --html``): through the CLI, and rendered in a
real headless browser (Chromium), whose screenshot must show the photos."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from csrtouch import __version__
from csrtouch.cli import app
from hostile import _cut_with_eoi, jpeg_bytes, photo

runner = CliRunner()

RED, BLUE = (200, 60, 40), (40, 90, 200)


def _solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (300, 400)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size[1], size[0]), colour).save(path)
    return path


@pytest.fixture
def shoot(tmp_path):
    src = tmp_path / "shoot"
    _solid(src / "red.png", RED)
    _solid(src / "day2" / "blue.png", BLUE)
    (src / "broken.jpg").write_bytes(_cut_with_eoi(jpeg_bytes(size=(200, 300)), 0.5))
    return src


def _images(page: str) -> list[np.ndarray]:
    import cv2

    found = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    return [cv2.imdecode(np.frombuffer(base64.b64decode(b), np.uint8), cv2.IMREAD_COLOR)[..., ::-1] for b in found]


def test_apply_report(shoot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["apply", "-q", "--strength", "0.8", "--report", "pages/review.html", "shoot", "out"])
    assert result.exit_code == 1, result.output  # broken.jpg failed; the page is written all the same
    page = (tmp_path / "pages" / "review.html").read_text()
    # Self-contained: nothing fetched, no script.
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    for text in ("expertC", "strength", "0.8", __version__, "Failed (1)", "ends early", "broken.jpg", "Photos (2)"):
        assert text in page, text
    images = _images(page)
    assert len(images) == 4  # before and after of each photo
    # Before: the photo's colour; after: the output's, shrunk to 320 pixels on the long side.
    red_after = np.array(Image.open(tmp_path / "out" / "red.png"))[0, 0]
    assert images[2].shape == (240, 320, 3)  # in the batch's order: day2/blue.png, then red.png
    assert np.abs(images[2].astype(int) - RED).max() <= 4
    assert np.abs(images[3].astype(int) - red_after).max() <= 4
    assert not list((tmp_path / "pages").glob(".*.part"))

    # Run again: done before, still shown.
    result = runner.invoke(app, ["apply", "-q", "--report", "pages/review.html", "shoot", "out"])
    page = (tmp_path / "pages" / "review.html").read_text()
    assert "0 retouched, 2 done before, 1 failed" in page and len(_images(page)) == 4


@pytest.mark.parametrize(
    ("args", "say"),
    [
        (["--report", "review.txt", "shoot", "out"], "a review page is an HTML file"),
        (["--report", "shoot", "shoot", "out"], "is a folder"),
        (["--report", "r.html", "--dry-run", "shoot", "out"], "--dry-run retouches nothing"),
        (["--report", "r.html", "-", "-"], "'-' writes one image to stdout"),
        (["--report", "shoot/red.png/r.html", "shoot", "out"], "not a folder"),
    ],
)
def test_apply_report_refused(shoot, tmp_path, monkeypatch, args, say):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["apply", *args])
    assert result.exit_code == 2, result.output
    assert say in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.html").exists()


def test_preview_html(shoot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["preview", "--html", "p.html", "-s", "expertC", "-s", "expertC:0.5,expertC:0.5",
                                 "--height", "64", "shoot/red.png", "shoot/day2/blue.png"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "p.html").read_text()
    assert len(_images(page)) == 6 and "expertC:0.5,expertC:0.5" in page and "<script" not in page
    assert not (tmp_path / "sheet.png").exists()
    # Both at once: the sheet and the page.
    result = runner.invoke(app, ["preview", "--html", "p.html", "-o", "sheet.png", "shoot/red.png"])
    assert result.exit_code == 0 and (tmp_path / "sheet.png").is_file()


@pytest.mark.parametrize(
    ("args", "say"),
    [
        ([], "give the sheet to write: -o SHEET.png, --html PAGE.html, or both"),
        (["--html", "p.png"], "a review page is an HTML file"),
    ],
)
def test_preview_html_refused(shoot, tmp_path, monkeypatch, args, say):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["preview", *args, "shoot/red.png"])
    assert result.exit_code == 2 and say in result.output and len(result.output.strip().splitlines()) == 1, result.output


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1280, 900)) -> np.ndarray:
    """``page`` rendered by headless Chromium (as root it needs --no-sandbox)."""
    browser = _chromium()
    if browser is None:
        pytest.skip("needs Chromium for the headless-browser test (apt-get install chromium)")
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={size[0]},{size[1]}",
         f"--screenshot={png}", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    return np.array(Image.open(png).convert("RGB"))


def _pixels_of(shot: np.ndarray, colour, tolerance: int = 6) -> int:
    return int((np.abs(shot.astype(int) - np.asarray(colour, int)).max(-1) <= tolerance).sum())


def test_the_page_renders_the_photos_in_a_browser(shoot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["apply", "-q", "--report", "review.html", "shoot", "out"])
    assert result.exit_code == 1, result.output
    shot = screenshot(tmp_path / "review.html", tmp_path / "shot.png")
    assert shot.shape == (900, 1280, 3)
    red_after = np.array(Image.open(tmp_path / "out" / "red.png"))[0, 0]
    blue_after = np.array(Image.open(tmp_path / "out" / "day2" / "blue.png"))[0, 0]
    shown = 240 * 180  # each thumbnail, 320 x 240, is shown at most 240 pixels wide
    for name, colour in (("red before", RED), ("red after", red_after), ("blue before", BLUE), ("blue after", blue_after)):
        assert _pixels_of(shot, colour) >= 0.9 * shown, (name, colour, _pixels_of(shot, colour))
    # The rest is the page, not the photos: its background fills most of the window.
    assert _pixels_of(shot, (242, 242, 242), 2) > 0.5 * shot.shape[0] * shot.shape[1]


def test_the_preview_page_renders_in_a_browser(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _solid(tmp_path / "red.png", RED)
    result = runner.invoke(app, ["preview", "--html", "p.html", "--height", "200", "red.png"])
    assert result.exit_code == 0, result.output
    shot = screenshot(tmp_path / "p.html", tmp_path / "shot.png", (800, 600))
    assert _pixels_of(shot, RED) >= 0.9 * 240 * 180


def test_photo_names_are_escaped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photo(tmp_path / "in" / "<b>&x.png")
    result = runner.invoke(app, ["apply", "-q", "--report", "r.html", "in", "out"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "<b>&x" not in page and "&lt;b&gt;&amp;x.png" in page
