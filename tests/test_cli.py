"""The command line through typer's CliRunner: exit codes, outputs and messages."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from csrtouch import __version__
from csrtouch.cli import app
from csrtouch.model import CSRNet
from paper_csrnet import PaperCSRNet

runner = CliRunner()


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]))


@pytest.fixture
def folder(tmp_path, astronaut, coffee):
    src = tmp_path / "in"
    _write(src / "a.png", astronaut)
    _write(src / "sub" / "b.jpg", coffee)
    _write(src / "sub" / "c16.png", astronaut[:123, :77].astype(np.uint16) * 257)
    _write(src / "d.tif", coffee[:64, :99])
    (src / "notes.txt").write_text("not an image, not picked up from a folder")
    return src


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith(f"csrtouch {__version__} (network ")


def test_help_does_not_import_torch():
    code = "import sys; from csrtouch.cli import app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_apply_on_the_cpu_does_not_import_torch(folder, tmp_path):
    """Inference is numpy: importing torch would add 1.6 s to every command's start-up."""
    code = (
        "import sys; from csrtouch.cli import main; sys.argv = ['csrtouch', 'apply', '-q', '--device', 'cpu', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    # From tmp_path: in the source tree, "-c" would import the checkout, not the installed package.
    subprocess.run([sys.executable, "-c", code, str(folder), str(tmp_path / "out")], check=True, cwd=tmp_path)
    assert list((tmp_path / "out").rglob("*.*"))


def test_apply_folder_mirrors_tree(folder, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["apply", "--style", "expertC", str(folder), str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["a.png", "d.tif", "sub/b.jpg", "sub/c16.png"]
    assert cv2.imread(str(out / "sub" / "c16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert cv2.imread(str(out / "a.png")).shape == (512, 512, 3)
    assert "4 retouched, 0 skipped (already done), 0 failed" in result.output
    # Re-running skips what is done.
    again = runner.invoke(app, ["apply", str(folder), str(out)])
    assert again.exit_code == 0 and "0 retouched, 4 skipped" in again.output


def test_apply_json_lines(folder, tmp_path):
    result = runner.invoke(app, ["apply", "--json", "-q", str(folder / "a.png"), str(tmp_path / "o")])
    assert result.exit_code == 0
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["status"] == "ok" and line["output"].endswith("a.png") and line["error"] is None


def test_bad_file_fails_alone(folder, tmp_path):
    (folder / "broken.jpg").write_bytes(b"this is text, not a JPEG")
    out = tmp_path / "out"
    result = runner.invoke(app, ["apply", str(folder), str(out)])
    assert result.exit_code == 1
    assert "4 retouched, 0 skipped (already done), 1 failed" in result.output
    assert "broken.jpg" in result.output
    assert not (out / "broken.jpg").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]


def test_missing_input_is_a_failure_not_a_crash(folder, tmp_path):
    result = runner.invoke(app, ["apply", str(folder / "a.png"), str(folder / "nope.png"), str(tmp_path / "o")])
    assert result.exit_code == 1 and "nope.png: no such file or directory" in result.output


def test_unknown_style_is_usage_error(folder, tmp_path):
    result = runner.invoke(app, ["apply", "--style", "nope", str(folder), str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "unknown style 'nope'. Available: expertC" in result.output


@pytest.mark.parametrize("inside", [".", "sub/out"])
def test_output_inside_input_is_refused(folder, inside):
    result = runner.invoke(app, ["apply", str(folder), str(folder / inside)])
    assert result.exit_code == 2 and "is inside input folder" in result.output


def test_usage_errors(folder, tmp_path):
    assert runner.invoke(app, ["apply", str(folder)]).exit_code == 2
    result = runner.invoke(app, ["apply", "--bit-depth", "12", str(folder), str(tmp_path / "o")])
    assert result.exit_code == 2 and "--bit-depth must be 8 or 16, got 12" in result.output
    result = runner.invoke(app, ["apply", "--device", "tpu", str(folder), str(tmp_path / "o")])
    assert result.exit_code == 2 and "unknown device 'tpu'" in result.output


def test_list_styles_json():
    result = runner.invoke(app, ["list-styles", "--json"])
    assert result.exit_code == 0
    styles = {s["name"]: s for s in json.loads(result.stdout)}
    assert styles["expertC"]["kind"] == "built-in"
    assert set(styles["expertC"]) >= {"name", "kind", "description", "origin", "created"}


def test_import_list_remove(tmp_path):
    torch.save(CSRNet().state_dict(), tmp_path / "net.pth")
    assert runner.invoke(app, ["import", str(tmp_path / "net.pth"), "--name", "paper"]).exit_code == 0
    listed = runner.invoke(app, ["list-styles"])
    assert "paper" in listed.stdout and "imported" in listed.stdout
    again = runner.invoke(app, ["import", str(tmp_path / "net.pth"), "--name", "paper"])
    assert again.exit_code == 2 and "already exists" in again.output
    assert runner.invoke(app, ["remove", "paper"]).exit_code == 0
    assert runner.invoke(app, ["remove", "expertC"]).exit_code == 2


def _paper_parity(tmp_path, checkpoint, image16):
    """Import ``checkpoint``, apply it with --exact to a 16-bit PNG, compare to the paper."""
    _write(tmp_path / "in" / "x.png", image16)
    result = runner.invoke(app, ["import", str(checkpoint), "--name", "paper"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["apply", "--exact", "--style", "paper", str(tmp_path / "in"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    got = cv2.imread(str(tmp_path / "out" / "x.png"), cv2.IMREAD_UNCHANGED)[..., ::-1] / 65535.0
    paper = PaperCSRNet().eval()
    paper.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    x = torch.from_numpy(image16.astype(np.float64) / 65535.0).float().permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = paper(x)[0].permute(1, 2, 0).clamp(0, 1).numpy()
    assert np.abs(got - expected).max() <= 1e-4


def test_apply_exact_matches_paper_random_weights(tmp_path, coffee):
    torch.manual_seed(3)
    net = PaperCSRNet()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    torch.save(net.state_dict(), tmp_path / "random.pth")
    image16 = (coffee[:211, :307].astype(np.uint16) * 257) ^ np.uint16(0x5A)  # use all 16 bits
    _paper_parity(tmp_path, tmp_path / "random.pth", image16)


def test_apply_exact_matches_paper_released_checkpoint(tmp_path, shared, astronaut):
    image16 = (astronaut[:300, :401].astype(np.uint16) * 257) ^ np.uint16(0x33)
    _paper_parity(tmp_path, shared / "reference" / "csrnet-official-expertC.pth", image16)


def test_8bit_to_16bit_output_is_retouched_at_16_bits(folder, tmp_path):
    out = tmp_path / "o"
    result = runner.invoke(app, ["apply", "--format", "tiff", "--bit-depth", "16", str(folder / "a.png"), str(out)])
    assert result.exit_code == 0, result.output
    image = cv2.imread(str(out / "a.tif"), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint16
    assert (image % 257 != 0).mean() > 0.5, "16-bit output holds only widened 8-bit values"


def test_stdin_to_stdout(folder):
    data = (folder / "sub" / "b.jpg").read_bytes()
    result = runner.invoke(app, ["apply", "-", "-"], input=data)
    assert result.exit_code == 0, result.stderr
    out = cv2.imdecode(np.frombuffer(result.stdout_bytes, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.shape == (400, 600, 3) and result.stdout_bytes[:2] == b"\xff\xd8"
    assert "[style expertC]" in result.stderr


def test_stdin_garbage_is_one_line(folder):
    result = runner.invoke(app, ["apply", "-", "-"], input=b"garbage")
    assert result.exit_code == 1 and result.stdout_bytes == b""
    assert "<stdin>: not an image csrtouch reads" in result.stderr


def test_dash_needs_both_ends(folder, tmp_path):
    result = runner.invoke(app, ["apply", "-", str(tmp_path / "o")], input=b"")
    assert result.exit_code == 2 and "give it as both INPUT and OUTPUT" in result.output


def test_from_list(folder, tmp_path):
    listing = f"{folder / 'a.png'}\n\n{folder / 'sub' / 'b.jpg'}\n"
    result = runner.invoke(app, ["apply", "--from-list", "-", str(tmp_path / "o")], input=listing)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.png", "b.jpg"]


def test_brackets_in_paths_are_printed_literally(tmp_path):
    bad = tmp_path / "in" / "shot[1].jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"not a jpeg")
    result = runner.invoke(app, ["apply", str(bad.parent), str(tmp_path / "o")])
    assert result.exit_code == 1 and "shot[1].jpg" in result.output
