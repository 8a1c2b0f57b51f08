"""apply's export options through the command: --dry-run, --long-side/--max-size, --suffix and
--name; the help text and --version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest
from typer.testing import CliRunner

from csrtouch.batch import FAILED, plan
from csrtouch.cli import app
from csrtouch.errors import UsageError
from csrtouch.io import decode, stream
from csrtouch.io.formats import BIT_DEPTHS
from csrtouch.io.metadata import EXIF_IFD, PIXEL_X_DIMENSION, PIXEL_Y_DIMENSION, load_exif, stamp_dimensions
from csrtouch.io.resize import Fit, area
from dng import tiny_dng

runner = CliRunner()


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    planes = image if image.ndim == 2 else np.ascontiguousarray(image[..., [2, 1, 0, 3][: image.shape[2]]])
    assert cv2.imwrite(str(path), planes)
    return path


def _touch(path: Path) -> Path:
    """A file that only has to be named: plan and --dry-run never read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def camera_exif(width: int, height: int, orientation: int = 1) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x013B] = "A. Photographer"  # Artist
    exif[0x0112] = orientation
    exif.get_ifd(EXIF_IFD).update({0x8827: 400, PIXEL_X_DIMENSION: width, PIXEL_Y_DIMENSION: height})
    return exif.tobytes()


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _one_line_usage_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.fixture
def shoot(tmp_path, astronaut, coffee) -> Path:
    src = tmp_path / "shoot"
    _write(src / "a.jpg", astronaut)
    _write(src / "day2" / "b.png", coffee)
    _write(src / "day2" / "c16.tif", coffee[:90, :160].astype(np.uint16) * 257)
    return src


# --- --dry-run ------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_and_writes_nothing(shoot, tmp_path):
    out = tmp_path / "deep" / "out"
    before = {p: p.stat().st_mtime_ns for p in shoot.rglob("*")}
    result = runner.invoke(app, ["apply", "--dry-run", str(shoot), str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"retouch  {shoot / 'a.jpg'} -> {out / 'a.jpg'}",
        f"retouch  {shoot / 'day2' / 'b.png'} -> {out / 'day2' / 'b.png'}",
        f"retouch  {shoot / 'day2' / 'c16.tif'} -> {out / 'day2' / 'c16.tif'}",
    ]
    assert "dry run: 3 to retouch, 0 skipped (already done), 0 refused" in result.output
    assert not (tmp_path / "deep").exists(), "a dry run made the output folder"
    assert {p: p.stat().st_mtime_ns for p in shoot.rglob("*")} == before


def test_dry_run_says_what_is_skipped_and_refused_as_the_run_would(shoot, tmp_path):
    out = tmp_path / "out"
    _write(out / "a.jpg", np.zeros((8, 8, 3), np.uint8))  # done already
    (out / "day2" / "b.png").mkdir(parents=True)  # a folder where an output goes
    missing = tmp_path / "nope.jpg"
    args = [str(shoot), str(missing), str(out)]
    dry = runner.invoke(app, ["apply", "--dry-run", "--json", *args])
    assert dry.exit_code == 1, dry.output
    planned = [json.loads(line) for line in dry.stdout.splitlines()]
    assert {(Path(r["input"]).name, r["status"]) for r in planned} == {
        ("nope.jpg", "failed"), ("a.jpg", "skipped"), ("b.png", "failed"), ("c16.tif", "planned"),
    }
    text = runner.invoke(app, ["apply", "--dry-run", *args])
    assert text.exit_code == 1
    assert f"skip     {shoot / 'a.jpg'} -> {out / 'a.jpg'} (exists; --overwrite redoes it)" in text.stdout
    assert f"refuse   {missing}: no such file or directory" in text.stdout
    assert f"refuse   {shoot / 'day2' / 'b.png'}: its output {out / 'day2' / 'b.png'} is a folder; not written" in text.stdout
    assert "1 to retouch, 1 skipped (already done), 2 refused" in text.output
    assert _files(out) == ["a.jpg"]
    # The real run does what the dry run said, for the same reasons.
    real = runner.invoke(app, ["apply", "--json", "-q", *args])
    assert real.exit_code == 1
    done = [json.loads(line) for line in real.stdout.splitlines()]
    status = {"planned": "ok"}
    assert [(r["input"], r["output"], status.get(r["status"], r["status"]), r["error"]) for r in planned] == [
        (r["input"], r["output"], r["status"], r["error"]) for r in done
    ]
    # With --overwrite, what exists would be redone.
    again = runner.invoke(app, ["apply", "--dry-run", "--overwrite", "-q", str(shoot / "a.jpg"), str(out)])
    assert again.exit_code == 0 and again.stdout.startswith("retouch  ")


def test_dry_run_refuses_what_plan_refuses_and_usage_errors_stay_usage_errors(tmp_path):
    cam = tmp_path / "cam"
    first, second = _touch(cam / "IMG_1.JPG"), _touch(cam / "IMG_2.JPG")
    result = runner.invoke(app, ["apply", "--dry-run", "-q", "--name", "shot.{ext}", str(cam), str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"refuse   {second}: its output {tmp_path / 'o' / 'shot.JPG'} is also the output of {first}",
        f"retouch  {first} -> {tmp_path / 'o' / 'shot.JPG'}",
    ]
    assert "unknown style 'nope'" in _one_line_usage_error(
        runner.invoke(app, ["apply", "--dry-run", "-s", "nope", str(cam), str(tmp_path / "o")])
    )
    assert "is inside input folder" in _one_line_usage_error(runner.invoke(app, ["apply", "--dry-run", str(cam), str(cam / "o")]))
    assert "'-' writes one image" in _one_line_usage_error(runner.invoke(app, ["apply", "--dry-run", "-", "-"], input=b""))
    assert not (tmp_path / "o").exists()


# --- --long-side and --max-size -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "size"),
    [
        (["--long-side", "256"], (256, 171)),
        (["--max-size", "200x200"], (200, 133)),
        (["--max-size", "600x50"], (75, 50)),
        (["--max-size", "x100"], (150, 100)),
        (["--max-size", "300x"], (300, 200)),
        (["--long-side", "400", "--max-size", "x100"], (150, 100)),
        (["--long-side", "5000"], (600, 400)),  # never enlarged
    ],
)
def test_outputs_are_shrunk_to_fit(coffee, tmp_path, options, size):
    src = _write(tmp_path / "c.png", coffee)
    result = runner.invoke(app, ["apply", *options, str(src), str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert PIL.Image.open(tmp_path / "o" / "c.png").size == size


def test_shrinking_is_area_averaging_after_the_look(coffee, tmp_path):
    src = _write(tmp_path / "c.png", coffee)
    assert runner.invoke(app, ["apply", str(src), str(tmp_path / "full")]).exit_code == 0
    assert runner.invoke(app, ["apply", "--long-side", "300", str(src), str(tmp_path / "small")]).exit_code == 0
    full = cv2.imread(str(tmp_path / "full" / "c.png"))
    expected = cv2.resize(full, (300, 200), interpolation=cv2.INTER_AREA)
    assert np.array_equal(cv2.imread(str(tmp_path / "small" / "c.png")), expected)


def test_an_output_that_fits_is_the_plain_output(astronaut, tmp_path):
    src = _write(tmp_path / "a.jpg", astronaut)
    assert runner.invoke(app, ["apply", str(src), str(tmp_path / "plain")]).exit_code == 0
    assert runner.invoke(app, ["apply", "--long-side", "512", str(src), str(tmp_path / "fit")]).exit_code == 0
    assert (tmp_path / "plain" / "a.jpg").read_bytes() == (tmp_path / "fit" / "a.jpg").read_bytes()


def test_16_bit_outputs_stay_16_bit(coffee, tmp_path):
    src = _write(tmp_path / "c16.tif", (coffee.astype(np.uint16) * 257) ^ np.uint16(0x55))
    result = runner.invoke(app, ["apply", "--long-side", "120", "-f", "png", str(src), str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / "o" / "c16.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (80, 120, 3)
    assert (out % 257 != 0).mean() > 0.5, "shrunk through 8 bits"


def test_raw_inputs_are_shrunk_with_their_exif_dimensions(tmp_path):
    rng = np.random.default_rng(1)
    scene = cv2.resize(rng.random((6, 8, 3)), (160, 120), interpolation=cv2.INTER_CUBIC).clip(0.02, 0.9)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "IMG_7.DNG").write_bytes(tiny_dng(scene, exif={0x8827: 100}))
    full = decode(tmp_path / "in" / "IMG_7.DNG").pixels.shape
    result = runner.invoke(app, ["apply", "--long-side", "64", "-f", "jpeg", str(tmp_path / "in"), str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    out = decode(tmp_path / "o" / "IMG_7.jpg")
    expected = Fit(long_side=64).size(full[1], full[0])
    assert (out.pixels.shape[1], out.pixels.shape[0]) == expected
    exif = load_exif(out.exif)
    assert exif.get_ifd(EXIF_IFD)[PIXEL_X_DIMENSION] == expected[0]
    assert exif.get_ifd(EXIF_IFD)[PIXEL_Y_DIMENSION] == expected[1]
    # As a 16-bit TIFF too, the default for a RAW.
    result = runner.invoke(app, ["apply", "--max-size", "x40", str(tmp_path / "in"), str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    tif = decode(tmp_path / "t" / "IMG_7.tif")
    assert tif.pixels.dtype == np.uint16 and tif.pixels.shape[0] == 40
    assert load_exif(tif.exif).get_ifd(EXIF_IFD)[PIXEL_Y_DIMENSION] == 40


@pytest.mark.parametrize("orientation", [1, 6])
def test_exif_dimensions_follow_the_shrunk_upright_image(astronaut, tmp_path, orientation):
    pixels = np.ascontiguousarray(astronaut[:, :384])  # 384 x 512, stored
    src = tmp_path / "a.jpg"
    PIL.Image.fromarray(pixels).save(src, quality=92, exif=camera_exif(384, 512, orientation))
    result = runner.invoke(app, ["apply", "--long-side", "128", str(src), str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    out = decode(tmp_path / "o" / "a.jpg")
    height, width = out.pixels.shape[:2]
    assert (width, height) == ((96, 128) if orientation == 1 else (128, 96))
    exif = load_exif(out.exif)
    assert (exif.get_ifd(EXIF_IFD)[PIXEL_X_DIMENSION], exif.get_ifd(EXIF_IFD)[PIXEL_Y_DIMENSION]) == (width, height)
    assert exif[0x010F] == "Canon" and exif[0x013B] == "A. Photographer" and exif.get_ifd(EXIF_IFD)[0x8827] == 400


def test_a_large_jpeg_is_decoded_whole_to_be_shrunk_and_streams_when_it_fits(astronaut, tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_PIXELS", 1)  # every plain JPEG streams: the photos stay small
    big = cv2.resize(astronaut, (900, 600), interpolation=cv2.INTER_CUBIC)
    src = tmp_path / "in" / "a.jpg"
    src.parent.mkdir()
    PIL.Image.fromarray(big).save(src, quality=92, exif=camera_exif(900, 600))
    reads = []
    original = stream.JpegSource.bands
    monkeypatch.setattr(stream.JpegSource, "bands", lambda self: (reads.append(1), original(self))[1])
    assert runner.invoke(app, ["apply", "--long-side", "900", str(src), str(tmp_path / "fits")]).exit_code == 0
    assert len(reads) == 2, "a photo that fits is streamed as before"
    assert runner.invoke(app, ["apply", str(src), str(tmp_path / "plain")]).exit_code == 0
    assert (tmp_path / "fits" / "a.jpg").read_bytes() == (tmp_path / "plain" / "a.jpg").read_bytes()
    reads.clear()
    result = runner.invoke(app, ["apply", "--long-side", "300", "-f", "tiff", str(src), str(tmp_path / "small")])
    assert result.exit_code == 0, result.output
    assert reads == []
    out = decode(tmp_path / "small" / "a.tif")
    assert out.pixels.shape == (200, 300, 3)
    assert load_exif(out.exif).get_ifd(EXIF_IFD)[PIXEL_X_DIMENSION] == 300


def test_transparent_pixels_do_not_bleed_into_the_shrunk_edges(tmp_path):
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:, :32] = (255, 0, 0)  # garbage under full transparency
    pixels[:, 32:] = (0, 0, 255)
    alpha = np.zeros((64, 64), np.uint8)
    alpha[:, 32:] = 255
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        scale = 1 if dtype == np.uint8 else 257
        small, small_alpha = area(pixels.astype(dtype) * scale, alpha.astype(dtype) * scale, (21, 21))
        assert small.dtype == small_alpha.dtype == dtype
        edge = small_alpha[:, 10]  # straddles the border: partly transparent
        assert 0 < edge.min() <= edge.max() < top
        assert np.array_equal(small[:, 10:], np.broadcast_to(np.array([0, 0, top], dtype), (21, 11, 3)))
    src = _write(tmp_path / "t.png", np.dstack([pixels, alpha]))
    result = runner.invoke(app, ["apply", "--long-side", "21", str(src), str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / "o" / "t.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (21, 21, 4) and 0 < out[:, 10, 3].min() <= out[:, 10, 3].max() < 255
    assert np.array_equal(out[:, 10, :3], out[:, 15, :3]), "the edge took colour from the transparent side"


def test_stdin_to_stdout_is_shrunk_too(coffee):
    ok, data = cv2.imencode(".jpg", coffee)
    result = runner.invoke(app, ["apply", "--long-side", "60", "-", "-"], input=data.tobytes())
    assert result.exit_code == 0, result.stderr
    assert cv2.imdecode(np.frombuffer(result.stdout_bytes, np.uint8), cv2.IMREAD_COLOR).shape == (40, 60, 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--long-side", "0"], "--long-side is a whole number of pixels, 1 or more"),
        (["--long-side", "big"], "--long-side is a whole number of pixels, 1 or more"),
        (["--long-side", "12.5"], "--long-side is a whole number of pixels, 1 or more"),
        (["--long-side", "-3"], "--long-side is a whole number of pixels, 1 or more"),
        (["--max-size", "1920"], "--max-size is WIDTHxHEIGHT in pixels"),
        (["--max-size", "0x100"], "--max-size is WIDTHxHEIGHT in pixels"),
        (["--max-size", "x"], "--max-size is WIDTHxHEIGHT in pixels"),
        (["--max-size", "axb"], "--max-size is WIDTHxHEIGHT in pixels"),
    ],
)
def test_bad_sizes_are_one_line_usage_errors(shoot, tmp_path, options, message):
    line = _one_line_usage_error(runner.invoke(app, ["apply", *options, str(shoot), str(tmp_path / "o")]))
    assert message in line
    assert not (tmp_path / "o").exists()


def test_fit_refuses_sizes_that_are_not_pixels():
    with pytest.raises(UsageError, match="long side is a whole number of pixels"):
        Fit(long_side=0)
    with pytest.raises(UsageError, match="needs a long side, a width or a height"):
        Fit()
    assert Fit(width=1920, height=1080).size(6000, 4000) == (1620, 1080)
    assert Fit(long_side=2048).size(4000, 6000) == (1365, 2048)
    assert Fit(long_side=1).size(5000, 10) == (1, 1)


def test_exif_dimensions_are_set_in_place_or_added(tmp_path):
    with_dims = camera_exif(6000, 4000)
    stamped = stamp_dimensions(with_dims, 2048, 1365)
    assert len(stamped) == len(with_dims)  # in place
    exif = load_exif(stamped)
    assert exif.get_ifd(EXIF_IFD)[PIXEL_X_DIMENSION] == 2048 and exif.get_ifd(EXIF_IFD)[PIXEL_Y_DIMENSION] == 1365
    without = PIL.Image.Exif()
    without[0x010F] = "Canon"
    without.get_ifd(EXIF_IFD)[0x8827] = 200
    exif = load_exif(stamp_dimensions(without.tobytes(), 70000, 3))  # added; past 65535 as a LONG
    assert exif[0x010F] == "Canon" and exif.get_ifd(EXIF_IFD) == {0x8827: 200, PIXEL_X_DIMENSION: 70000, PIXEL_Y_DIMENSION: 3}
    no_exif_ifd = PIL.Image.Exif()
    no_exif_ifd[0x010F] = "Canon"
    assert stamp_dimensions(no_exif_ifd.tobytes(), 10, 10) == no_exif_ifd.tobytes()
    assert stamp_dimensions(None, 10, 10) is None and stamp_dimensions(b"garbage", 10, 10) == b"garbage"


# --- --suffix and --name --------------------------------------------------------------------


def test_suffix_and_name_name_the_outputs(shoot, tmp_path):
    result = runner.invoke(app, ["apply", "-q", "--suffix", "_web", "-f", "jpeg", str(shoot), str(tmp_path / "web")])
    assert result.exit_code == 0, result.output
    assert _files(tmp_path / "web") == ["a_web.jpg", "day2/b_web.jpg", "day2/c16_web.jpg"]
    template = "{parent}-{stem}-{style}.{ext}"
    result = runner.invoke(app, ["apply", "-q", "--name", template, "-s", "expertC:0.7,expertC:0.3", str(shoot), str(tmp_path / "n")])
    assert result.exit_code == 0, result.output
    assert _files(tmp_path / "n") == [
        "day2/day2-b-expertC-0.7-expertC-0.3.png",
        "day2/day2-c16-expertC-0.7-expertC-0.3.tif",
        "shoot-a-expertC-0.7-expertC-0.3.jpg",
    ]
    # Re-running finds them done under their new names.
    again = runner.invoke(app, ["apply", "--name", template, "-s", "expertC:0.7,expertC:0.3", str(shoot), str(tmp_path / "n")])
    assert again.exit_code == 0 and "0 retouched, 3 skipped" in again.output
    # Braces in a suffix are text; the default names are {stem}.{ext}.
    result = runner.invoke(app, ["apply", "-q", "--suffix", "{x}", str(shoot / "a.jpg"), str(tmp_path / "b")])
    assert result.exit_code == 0 and _files(tmp_path / "b") == ["a{x}.jpg"]
    plain, _ = plan([shoot], tmp_path / "p")
    named, _ = plan([shoot], tmp_path / "p", name="{stem}.{ext}")
    assert plain == named


def test_same_stem_raw_and_jpeg_keep_apart_with_a_template(tmp_path):
    """The RAW and the camera's JPEG of one shot: the JPEG keeps its plain name, the RAW its
    extension too (IMG_1.CR2_web.jpg), in any order, through the template; so does a case clash."""
    for jpg in ("IMG_1.JPG", "IMG_1.jpg"):
        cam = tmp_path / f"cam-{jpg}"
        raw, own = _touch(cam / "IMG_1.CR2"), _touch(cam / jpg)
        ext = jpg.rsplit(".", 1)[1]
        for inputs in ([cam], [raw, own], [own, raw]):
            jobs, failed = plan(inputs, tmp_path / "out", format="jpeg", name="{stem}_web.{ext}")
            assert failed == []
            assert {j.input.name: j.output.name for j in jobs} == {"IMG_1.CR2": "IMG_1.CR2_web.jpg", jpg: f"IMG_1_web.{ext}"}
        result = runner.invoke(app, ["apply", "--dry-run", "-q", "--suffix", "_web", "-f", "jpeg", str(cam), str(tmp_path / "o")])
        assert result.exit_code == 0, result.output
        assert sorted(Path(line.split(" -> ")[1]).name for line in result.stdout.splitlines()) == sorted(
            ["IMG_1.CR2_web.jpg", f"IMG_1_web.{ext}"]
        )


def test_inputs_a_template_gives_one_name_fail_all_but_the_first(shoot, tmp_path):
    result = runner.invoke(app, ["apply", "--name", "photo.{ext}", "-f", "png", str(shoot), str(tmp_path / "o")])
    assert result.exit_code == 1
    assert _files(tmp_path / "o") == ["day2/photo.png", "photo.png"]
    assert f"{shoot / 'day2' / 'c16.tif'}: its output {tmp_path / 'o' / 'day2' / 'photo.png'} is also the output of" in result.output
    assert "2 retouched, 0 skipped (already done), 1 failed" in result.output


def test_no_output_lands_on_an_input_whatever_the_name(tmp_path, astronaut):
    folder = tmp_path / "shots"
    a, a_web = _write(folder / "a.jpg", astronaut), _write(folder / "a_web.jpg", astronaut)
    before = a_web.read_bytes()
    # Files named one by one, written beside themselves: a's output would be the input a_web.jpg.
    result = runner.invoke(app, ["apply", "--suffix", "_web", str(a), str(a_web), str(folder)])
    assert result.exit_code == 1
    assert f"{a}: its output {folder / 'a_web.jpg'} would overwrite the input {a_web}; not written" in result.output
    assert a_web.read_bytes() == before and (folder / "a_web_web.jpg").exists()
    # A name that is the input's own.
    result = runner.invoke(app, ["apply", "--name", "{stem}.{ext}", str(a), str(folder)])
    assert result.exit_code == 1 and "would overwrite its input" in result.output
    # An output in an input folder nested under OUTPUT, however it is named.
    nested = tmp_path / "out" / "sub"
    _write(nested / "x.png", astronaut[:64, :64])
    _write(tmp_path / "more" / "sub" / "y.png", astronaut[:64, :64])
    result = runner.invoke(app, ["apply", "--suffix", "_web", str(nested), str(tmp_path / "more"), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "would be written inside the input folder" in result.output
    assert not (nested / "y_web.png").exists() and (tmp_path / "out" / "x_web.png").exists()
    # OUTPUT inside an input folder is refused before anything, as without a name.
    assert "is inside input folder" in _one_line_usage_error(
        runner.invoke(app, ["apply", "--suffix", "_web", str(folder), str(folder / "web")])
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--name", ""], "--name is empty"),
        (["--name", "  "], "--name is empty"),
        (["--suffix", ""], "--suffix is empty"),
        (["--name", "../{stem}.{ext}"], "holds a path separator"),
        (["--name", "/tmp/{stem}.{ext}"], "holds a path separator"),
        (["--name", "sub/{stem}.{ext}"], "holds a path separator"),
        (["--name", "..\\{stem}.{ext}"], "holds a path separator"),
        (["--suffix", "/../x"], "--suffix '{stem}/../x.{ext}' holds a path separator"),
        (["--name", ".."], "'..' is not a file name"),
        (["--name", "{stem"], "write a brace as {{ or }}"),
        (["--name", "{stem}}.{ext}"], "write a brace as {{ or }}"),
        (["--name", "{date}.{ext}"], "unknown placeholder {date}; the placeholders are {stem}, {style}, {ext}, {parent}"),
        (["--name", "{stem!r}.{ext}"], "unknown placeholder {stem!r}"),
        (["--name", "{stem:>9}.{ext}"], "unknown placeholder {stem:>9}"),
        (["--name", "{}.{ext}"], "unknown placeholder {}"),
        (["--name", "{stem}"], "but it is written as JPEG; end the template with .{ext}"),
        (["--name", "{stem}.png"], "but it is written as JPEG; end the template with .{ext}"),
        (["--name", "{stem}.{ext}", "--suffix", "_x"], "give --name or --suffix, not both"),
    ],
)
def test_bad_names_are_one_line_usage_errors(shoot, tmp_path, options, message):
    line = _one_line_usage_error(runner.invoke(app, ["apply", *options, str(shoot / "a.jpg"), str(tmp_path / "o")]))
    assert message in line
    assert not (tmp_path / "o").exists()


def test_names_are_for_files_not_stdout():
    result = runner.invoke(app, ["apply", "--suffix", "_web", "-", "-"], input=b"")
    assert "--suffix is for files and folders" in _one_line_usage_error(result)


def test_a_template_that_changes_only_the_case_of_the_extension_is_kept(tmp_path):
    src = _touch(tmp_path / "in" / "a.png")
    jobs, failed = plan([src], tmp_path / "o", name="{stem}-x.PNG")
    assert failed == [] and jobs[0].output.name == "a-x.PNG"
    jobs, failed = plan([_touch(tmp_path / "in" / "b.jpg")], tmp_path / "o", name="{stem}.jpeg")
    assert failed == [] and jobs[0].output.name == "b.jpeg"
    assert all(r.status == FAILED for r in plan([tmp_path / "missing.png"], tmp_path / "o", name="{stem}.{ext}")[1])


# --- help and version -----------------------------------------------------------------------


def test_apply_help_names_the_arguments_and_every_format():
    result = runner.invoke(app, ["apply", "--help"])
    assert result.exit_code == 0
    text = result.output
    assert "apply [OPTIONS] INPUT... OUTPUT" in " ".join(text.split())
    assert "{paths}" not in text and "list[Path]" not in text and "PATHS" not in text
    options = " ".join(text.split("Options:")[1].split())
    described = options.split("-f, --format FORMAT")[1].split("--quality")[0]
    assert all(fmt in described for fmt in BIT_DEPTHS), described
    assert "JPEG and WebP" in options.split("--quality N")[1].split("--bit-depth")[0]
    for option in ("--dry-run", "--long-side N", "--max-size WxH", "--suffix TEXT", "--name TEMPLATE"):
        assert option in options


def test_version_names_the_shipped_network(tmp_path):
    from csrtouch import __version__
    from csrtouch.styles.registry import shared_network_sha256

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"csrtouch {__version__} (network {shared_network_sha256()[:16]})"
    # What outputs record as csrtouch:Network, and without loading numpy or torch.
    code = (
        "import sys; from csrtouch.cli import main; sys.argv = ['csrtouch', '--version']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'numpy' not in sys.modules and 'torch' not in sys.modules, 'numpy or torch imported'"
    )
    # From tmp_path: in the source tree, "-c" would import the checkout, not the installed package.
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert run.stdout.strip() == result.output.strip()
