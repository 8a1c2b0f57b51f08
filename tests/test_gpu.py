"""The GPU path (``--device cuda`` or ``mps``) gives the CPU's looks. Skipped without a GPU."""

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from csrtouch.cli import app
from csrtouch.engine import Retoucher, resolve_device

torch = pytest.importorskip("torch")

GPUS = [d for d, ok in (("cuda", torch.cuda.is_available()), ("mps", torch.backends.mps.is_available())) if ok]
pytestmark = pytest.mark.skipif(not GPUS, reason="no CUDA or MPS device here")


@pytest.fixture(params=GPUS)
def device(request) -> str:
    return request.param


def test_auto_picks_the_gpu():
    assert resolve_device("auto") == GPUS[0]


@pytest.mark.parametrize("exact", [False, True])
def test_8bit_gpu_equals_cpu(device, astronaut, exact):
    cpu = Retoucher("expertC", device="cpu", exact=exact)(astronaut).astype(np.int32)
    gpu = Retoucher("expertC", device=device, exact=exact)(astronaut)
    diff = np.abs(cpu - gpu)
    assert diff.max() <= 1 and diff.mean() < 0.01, f"mean {diff.mean():.4f}, max {diff.max()} of 255"


def test_16bit_and_strength_gpu_equal_cpu(device, coffee):
    image = coffee.astype(np.uint16) * 257
    for strength in (1.0, 0.5):
        cpu = Retoucher("expertC", device="cpu", strength=strength)(image).astype(np.int32)
        gpu = Retoucher("expertC", device=device, strength=strength)(image)
        diff = np.abs(cpu - gpu)
        assert diff.max() <= 4, f"strength {strength}: max {diff.max()} of 65535"


def test_cli_apply_on_the_gpu(device, tmp_path, astronaut):
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), astronaut[..., ::-1])
    outputs = {}
    for d in ("cpu", device):
        result = CliRunner().invoke(app, ["apply", "--device", d, "--exact", str(src), str(tmp_path / d)])
        assert result.exit_code == 0, result.output
        outputs[d] = cv2.imread(str(tmp_path / d / "a.png")).astype(np.int32)
    assert np.abs(outputs["cpu"] - outputs[device]).max() <= 1
