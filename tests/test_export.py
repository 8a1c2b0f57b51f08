"""export-lut: a .cube / Hald CLUT that other tools apply to the same look as `apply`."""

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from csrtouch.cli import app

runner = CliRunner()


def read_cube(path):
    size, rows = None, []
    for line in path.read_text().splitlines():
        if line.startswith("LUT_3D_SIZE"):
            size = int(line.split()[1])
        elif line and (line[0].isdigit() or line[0] == "-"):
            rows.append([float(v) for v in line.split()])
    lut = np.array(rows, dtype=np.float64)
    assert lut.shape == (size**3, 3)
    return lut.reshape(size, size, size, 3)  # (B, G, R, 3): red fastest


def trilinear(image, lut):
    """Independent reference: trilinear interpolation of a (B, G, R, 3) LUT."""
    n = lut.shape[0]
    x = image.astype(np.float64) / 255 * (n - 1)
    i0 = np.minimum(np.floor(x).astype(int), n - 2)
    f = x - i0
    out = np.zeros(image.shape)
    for dr in (0, 1):
        for dg in (0, 1):
            for db in (0, 1):
                w = (f[..., 0] if dr else 1 - f[..., 0]) * (f[..., 1] if dg else 1 - f[..., 1]) * (f[..., 2] if db else 1 - f[..., 2])
                out += w[..., None] * lut[i0[..., 2] + db, i0[..., 1] + dg, i0[..., 0] + dr]
    return out * 255


@pytest.mark.parametrize("size", [33, 65])
def test_cube_matches_apply_on_reference(tmp_path, coffee, size):
    ref = tmp_path / "ref.png"
    cv2.imwrite(str(ref), coffee[..., ::-1])
    result = runner.invoke(app, ["export-lut", "--image", str(ref), "--size", str(size), str(tmp_path / "look.cube")])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["apply", "-q", str(ref), str(tmp_path / "out")]).exit_code == 0
    applied = cv2.imread(str(tmp_path / "out" / "ref.png"))[..., ::-1].astype(np.float64)
    ours = trilinear(coffee, read_cube(tmp_path / "look.cube"))
    diff = np.abs(ours - applied)
    assert diff.mean() <= 1.0, f"mean {diff.mean():.3f}/255"


def _ffmpeg():
    import shutil

    try:
        import imageio_ffmpeg  # a static ffmpeg in a wheel, if the tester installed it

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        return shutil.which("ffmpeg")


def test_ffmpeg_lut3d_matches_apply(tmp_path, coffee):
    """ffmpeg's own .cube reader and lut3d filter give the look `apply` gives."""
    import subprocess

    ffmpeg = _ffmpeg()
    if ffmpeg is None:
        pytest.skip("needs ffmpeg on PATH (or `pip install imageio-ffmpeg`)")
    ref = tmp_path / "ref.png"
    cv2.imwrite(str(ref), coffee[..., ::-1])
    assert runner.invoke(app, ["export-lut", "--image", str(ref), str(tmp_path / "look.cube")]).exit_code == 0
    assert runner.invoke(app, ["apply", "-q", str(ref), str(tmp_path / "out")]).exit_code == 0
    graded = tmp_path / "graded.png"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(ref), "-vf", f"lut3d=file={tmp_path / 'look.cube'}:interp=trilinear",
         "-pix_fmt", "rgb24", str(graded)],
        check=True,
    )
    theirs = cv2.imread(str(graded))[..., ::-1].astype(np.float64)
    applied = cv2.imread(str(tmp_path / "out" / "ref.png"))[..., ::-1].astype(np.float64)
    diff = np.abs(theirs - applied)
    assert diff.mean() <= 1.0, f"mean {diff.mean():.3f}/255"


def test_strength_zero_cube_and_hald_are_identity(tmp_path):
    result = runner.invoke(app, ["export-lut", "--strength", "0", "--size", "17", "--hald", str(tmp_path / "h.png"), str(tmp_path / "id.cube")])
    assert result.exit_code == 0, result.output
    grid = np.linspace(0, 1, 17)
    b, g, r = np.meshgrid(grid, grid, grid, indexing="ij")
    np.testing.assert_allclose(read_cube(tmp_path / "id.cube"), np.stack([r, g, b], -1), atol=1e-5)
    hald = cv2.imread(str(tmp_path / "h.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert hald.shape == (512, 512, 3) and hald.dtype == np.uint16
    # Hald level 8: pixel index r + 64 g + 4096 b holds (r, g, b) / 63.
    idx = 5 + 64 * 10 + 4096 * 20
    np.testing.assert_allclose(hald.reshape(-1, 3)[idx] / 65535, np.array([5, 10, 20]) / 63, atol=2e-5)


def test_average_look_needs_no_image(tmp_path):
    result = runner.invoke(app, ["export-lut", str(tmp_path / "avg.cube")])
    assert result.exit_code == 0, result.output
    assert "average look" in (tmp_path / "avg.cube").read_text().splitlines()[0]


@pytest.mark.parametrize("args, message", [(["--size", "7"], "--size must be one of 17, 33, 65, got 7"), (["--strength", "-1"], "strength must be between 0 and 1.5")])
def test_bad_values(tmp_path, args, message):
    result = runner.invoke(app, ["export-lut", *args, str(tmp_path / "x.cube")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x.cube").exists()
