"""Our metrics against scikit-image's implementations."""

import numpy as np
import pytest
from skimage import color, metrics

from csrtouch.metrics import ciede2000, psnr, ssim, srgb_to_lab


@pytest.fixture
def pair(coffee):
    rng = np.random.default_rng(0)
    other = np.clip(coffee.astype(int) * 0.9 + rng.normal(0, 6, coffee.shape) + 10, 0, 255).astype(np.uint8)
    return coffee, other


def test_psnr(pair):
    a, b = pair
    assert psnr(a, b) == pytest.approx(metrics.peak_signal_noise_ratio(b, a, data_range=255), abs=1e-9)
    assert psnr(a, a) == float("inf")
    assert psnr(a.astype(np.float32) / 255, b) == pytest.approx(psnr(a, b), abs=1e-9)


def test_ssim(pair):
    a, b = pair
    ref = metrics.structural_similarity(
        a, b, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b) == pytest.approx(ref, abs=2e-3)
    assert ssim(a, a) == pytest.approx(1.0)


def test_lab_and_ciede2000(pair):
    a, b = pair
    np.testing.assert_allclose(srgb_to_lab(a), color.rgb2lab(a), atol=0.05)
    ref = color.deltaE_ciede2000(color.rgb2lab(a), color.rgb2lab(b)).mean()
    assert ciede2000(a, b) == pytest.approx(ref, rel=2e-3)
    assert ciede2000(a, a) == 0.0


def test_eval_command(tmp_path, pair):
    import json

    import cv2
    from typer.testing import CliRunner

    from csrtouch.cli import app

    a, b = pair
    for folder, image in (("in", a), ("target", b)):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "x.png"), np.ascontiguousarray(image[..., ::-1]))
    cv2.imwrite(str(tmp_path / "in" / "unmatched.png"), a)
    result = CliRunner().invoke(app, ["eval", "--json", str(tmp_path / "in"), str(tmp_path / "target")])
    assert result.exit_code == 0, result.output
    first, mean = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["name"] == "x" and mean["images"] == 1
    assert first["untouched_psnr"] == pytest.approx(psnr(a, b), abs=1e-3)
    assert set(first) >= {"psnr", "ssim", "deltae", "untouched_ssim", "untouched_deltae"}
    bad = CliRunner().invoke(app, ["eval", str(tmp_path / "in"), str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "not a folder" in bad.output
