"""Personal styles: finetune API and CLI, the style file, and every bad input the issue lists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from csrtouch.cli import app
from csrtouch.engine import Retoucher
from csrtouch.errors import UsageError
from csrtouch.finetuning import finetune
from csrtouch.finetuning.fit import NATURAL, colour_cast, pseudo_befores, tones
from csrtouch.metrics import psnr
from csrtouch.model import GFM_SIZES, CSRNet
from csrtouch.styles import files, list_styles, load_style

runner = CliRunner()


def warm(image: np.ndarray) -> np.ndarray:
    """A plain global look: warm white balance and lifted mid-tones."""
    x = image.astype(np.float32) / 255 * np.array([1.08, 1.0, 0.85], np.float32)
    return (np.clip(x, 0, 1) ** 0.85 * 255 + 0.5).astype(np.uint8)


def crops(astronaut: np.ndarray, coffee: np.ndarray) -> list[np.ndarray]:
    """Six distinct photos of about 200x150 cut from two real ones."""
    out = []
    for img in (astronaut, coffee):
        h, w = img.shape[:2]
        for top, left in ((0, 0), (h // 3, w // 4), (h // 2, w // 2)):
            out.append(np.ascontiguousarray(img[top : top + h // 2, left : left + w // 2]))
    return [cv2.resize(c, (200, 150), interpolation=cv2.INTER_AREA) for c in out]


def write(folder: Path, images: list[np.ndarray], look=lambda x: x) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        cv2.imwrite(str(folder / f"p{i}.png"), cv2.cvtColor(look(img), cv2.COLOR_RGB2BGR))
    return folder


@pytest.fixture(scope="module")
def photos(astronaut, coffee) -> list[np.ndarray]:
    return crops(astronaut, coffee)


def test_paired_style_learns_the_look_on_a_photo_it_never_saw(tmp_path, photos):
    train, test = photos[:5], photos[5]
    liked = write(tmp_path / "liked", train, warm)
    before = write(tmp_path / "before", train)
    result = finetune("mine", liked, before=before, seed=0, steps=150)
    out = Retoucher("mine", device="cpu")(test)
    assert psnr(out, warm(test)) > psnr(test, warm(test)) + 6
    assert result.psnr > result.untouched_psnr and len(result.held_out) == 1


def test_unpaired_style_is_saved_listed_and_applies(tmp_path, photos):
    liked = write(tmp_path / "liked", photos[:4], warm)
    result = finetune("mine", liked, seed=0, steps=30, description="warm test look")
    info = {s.name: s for s in list_styles()}["mine"]
    assert info.kind == "personal" and info.description == "warm test look"
    assert info.extra["mode"] == "unpaired" and sorted(info.extra["photos"]) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert set(info.extra["held_out"]) == set(result.held_out) and "fit_psnr" in info.extra
    tensors, meta = files.read(info.path)
    assert sorted(tensors) == ["beta", "gamma", "offset"] and tensors["offset"].shape == (sum(GFM_SIZES),)
    assert info.path.stat().st_size < 8192  # small enough to send by mail
    assert meta["network_sha256"] == load_style("expertC").network_sha256
    out = Retoucher("mine", device="cpu")(photos[5])
    assert out.shape == photos[5].shape and out.dtype == np.uint8


def test_same_seed_same_style(tmp_path, photos):
    liked = write(tmp_path / "liked", photos[:4], warm)
    finetune("a", liked, seed=3, steps=20)
    finetune("b", liked, seed=3, steps=20)
    finetune("c", liked, seed=4, steps=20)
    a, b, c = (files.read(load_style(n).info.path)[0] for n in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["offset"], c["offset"])


def test_refuses_existing_and_built_in_names(tmp_path, photos):
    liked = write(tmp_path / "liked", photos[:3])
    finetune("mine", liked, steps=10)
    with pytest.raises(UsageError, match="already exists.*--force"):
        finetune("mine", liked, steps=10)
    finetune("mine", liked, steps=10, force=True)
    with pytest.raises(UsageError, match="built-in style"):
        finetune("expertC", liked, steps=10)
    with pytest.raises(UsageError, match="invalid style name"):
        finetune("../x", liked, steps=10)


def test_empty_missing_and_too_few(tmp_path, photos):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no photos"):
        finetune("mine", tmp_path / "empty")
    with pytest.raises(UsageError, match="not a folder"):
        finetune("mine", tmp_path / "nowhere")
    liked = write(tmp_path / "few", photos[:2])
    (liked / "notes.jpg").write_text("not a photo")
    lines: list[str] = []
    with pytest.raises(UsageError, match="at least 3 distinct readable photos; .* has 2 of 3"):
        finetune("mine", liked, warn=lines.append)
    assert len(lines) == 1 and "notes.jpg" in lines[0]


def test_bad_files_among_good_ones_are_skipped_with_a_line_each(tmp_path, photos):
    liked = write(tmp_path / "liked", photos[:4])
    (liked / "empty.jpg").write_bytes(b"")
    (liked / "text.png").write_text("hello")
    cv2.imwrite(str(liked / "tiny.png"), photos[0][:20, :30])
    cv2.imwrite(str(liked / "copy.png"), cv2.cvtColor(photos[1], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(liked / "gray.png"), cv2.cvtColor(photos[5], cv2.COLOR_RGB2GRAY))
    lines: list[str] = []
    result = finetune("mine", liked, steps=10, warn=lines.append)
    text = "\n".join(lines)
    # Files are read in name order, so copy.png is kept and p1.png reported as its copy.
    assert sorted(result.photos) == ["copy.png", "gray.png", "p0.png", "p2.png", "p3.png"]
    for name in ("empty.jpg", "text.png", "tiny.png"):
        assert sum(name in line for line in lines) == 1 and f"skipped {liked / name}" in text
    assert "too small (30x20)" in text
    assert f"skipped {liked / 'p1.png'}: the same photo as copy.png" in text
    assert "gray.png: grayscale" in text


def test_paired_needs_matching_befores(tmp_path, photos):
    liked = write(tmp_path / "liked", photos[:4], warm)
    before = write(tmp_path / "before", photos[:3])
    lines: list[str] = []
    result = finetune("mine", liked, before=before, steps=10, warn=lines.append)
    assert len(result.photos) == 3 and len(lines) == 1 and "no photo named p3.*" in lines[0]


def test_monochrome_liked_photos_give_a_monochrome_style(tmp_path, photos):
    gray = [cv2.cvtColor(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB) for p in photos[:4]]
    liked = write(tmp_path / "liked", gray)
    finetune("mono", liked, steps=150)
    out = Retoucher("mono", device="cpu")(photos[5]).astype(np.float32)
    chroma = np.abs(out - out.mean(axis=2, keepdims=True)).mean()
    before = np.abs(photos[5] - photos[5].mean(axis=2, keepdims=True)).mean()
    assert chroma < 0.25 * before


def test_pseudo_befores_undo_what_the_liked_photos_share(photos):
    plain = [p.astype(np.float32) / 255 for p in photos]
    looked = [np.clip(0.25 + 0.6 * x * np.array([1.1, 1.0, 0.8], np.float32), 0, 1) for x in plain]
    befores = pseudo_befores(looked, np.random.default_rng(0), count=4)
    assert [len(b) for b in befores] == [4] * len(photos)
    flat = [b for group in befores for b in group]
    assert all(b.shape == plain[0].shape and b.dtype == np.float32 and 0 <= b.min() and b.max() <= 1 for b in flat)
    # The strong fade and the warm cast are gone: blacks and colour balance are back
    # among unedited photos', ...
    natural = NATURAL["black"][0]
    black = np.mean([tones(b)["black"] for b in flat])
    assert abs(black - natural) < 0.5 * abs(np.mean([tones(x)["black"] for x in looked]) - natural)
    red_minus_blue = lambda xs: np.mean([(x[..., 0] - x[..., 2]).mean() for x in xs])  # noqa: E731
    assert red_minus_blue(flat) < red_minus_blue(looked) - 0.05
    # ... while what differs between the photos stays: the darkest stays darker.
    brightness = [np.mean([tones(b)["mean"] for b in group]) for group in befores]
    order = np.argsort([tones(x)["mean"] for x in looked])
    assert brightness[order[0]] < brightness[order[-1]]
    again = pseudo_befores(looked, np.random.default_rng(0), count=4)
    assert all(np.array_equal(a, b) for a, b in zip(flat, [b for g in again for b in g]))


def test_colour_cast_is_shared_not_one_photos(photos):
    # Six crops of two warm photos: their own cast is the baseline to move from.
    plain = [p.astype(np.float32) / 255 for p in photos]
    base = colour_cast(plain)
    warmer = colour_cast([np.clip(x * np.array([1.1, 1.0, 0.8], np.float32), 0, 1) for x in plain]) - base
    assert (warmer[1:4, 0] > warmer[1:4, 2] + 0.03).all()
    # One very blue photo among ordinary ones is not a blue look.
    blue = np.clip(plain[0] * np.array([0.7, 0.9, 1.2], np.float32), 0, 1)
    one = np.abs(colour_cast([blue] + plain[1:]) - base).max()
    assert one < 0.5 * np.abs(colour_cast([blue] * 6) - base).max()


def test_offset_adds_to_the_gfm_vectors():
    net = CSRNet()
    cond = torch.randn(2, 32)
    offset = torch.randn(sum(GFM_SIZES))
    plain, shifted = net.modulation(cond), net.modulation(cond, offset=offset)
    parts = offset.split(GFM_SIZES)
    for a, b, o in zip(plain.scales + plain.shifts, shifted.scales + shifted.shifts, parts):
        torch.testing.assert_close(b, a + o)


def test_cli_finetune_import_remove(tmp_path, photos):
    liked = write(tmp_path / "liked", photos[:4], warm)
    r = runner.invoke(app, ["finetune", "--style", "mine", str(liked), "--steps", "10", "--sheet", str(tmp_path / "mine.png")])
    assert r.exit_code == 0, r.output
    assert "learned style mine from 4 photos" in r.output and "held-out" in r.output
    assert "the look, on the reference photos:" in r.output
    from PIL import Image

    with Image.open(tmp_path / "mine.png") as sheet:  # the four reference photos, before and after
        assert sheet.format == "PNG" and sheet.height > 4 * 192
    r = runner.invoke(app, ["finetune", "--style", "mine", str(liked), "--steps", "10"])
    assert r.exit_code == 2 and "already exists" in r.output and "Traceback" not in r.output
    shared = tmp_path / "sent.safetensors"
    shared.write_bytes(load_style("mine").info.path.read_bytes())
    r = runner.invoke(app, ["import", str(shared), "--name", "friend"])
    assert r.exit_code == 0, r.output
    listed = json.loads(runner.invoke(app, ["list-styles", "--json"]).output)
    assert {s["name"] for s in listed} >= {"expertC", "mine", "friend"}
    assert runner.invoke(app, ["remove", "mine"]).exit_code == 0
    assert "mine" not in {s.name for s in list_styles()}


def test_cli_finetune_bad_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["finetune", "--style", "mine", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "holds no photos" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["finetune", "--style", "mine", str(tmp_path / "empty"), "--sheet", str(tmp_path / "s.jpg")])
    assert r.exit_code == 2 and "--sheet" in r.output and "Traceback" not in r.output


def test_the_summary_names_what_a_look_does():
    """describe_look on the shipped reference photos: each step of a look named, with its sign;
    a neutral look named by nothing; less colour alone is not taken for a cast."""
    from csrtouch.finetuning.looks import Look
    from csrtouch.finetuning.summary import describe_look, read_references

    photos = read_references()
    assert len(photos) == 4

    def words(look: Look) -> str:
        return ", ".join(describe_look(lambda img: (np.clip(look(img / 255.0), 0, 1) * 255 + 0.5).astype(np.uint8), photos))

    assert words(Look()) == ""
    assert "warmer" in words(Look(temperature=0.15)) and "cooler" in words(Look(temperature=-0.2))
    assert "brighter" in words(Look(exposure=0.5)) and "darker" in words(Look(exposure=-0.5))
    assert "more contrast" in words(Look(contrast=0.4)) and "less contrast" in words(Look(contrast=-0.3))
    assert words(Look(mono=(0.3, 0.6, 0.1))) == "black and white"
    faded = words(Look(saturation=0.6, black=0.08))
    assert "less saturated" in faded and "lifted blacks" in faded
    assert "warmer" not in faded and "cooler" not in faded


def test_the_api_finetune_is_the_function_however_the_package_was_imported(tmp_path):
    """``csrtouch.finetune`` is the function even after its package is imported by name (a
    subpackage called ``finetune`` would have replaced it with itself)."""
    code = "import csrtouch.finetuning, csrtouch; assert callable(csrtouch.finetune), csrtouch.finetune"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)  # the installed package
