"""``csrtouch train`` on a tiny fake FiveK tree: files, provenance, determinism, errors."""

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from csrtouch.cli import app
from csrtouch.styles import files

runner = CliRunner()


@pytest.fixture
def tree(tmp_path, astronaut, coffee):
    root = tmp_path / "fivek"
    photos = [astronaut[::8, ::8], coffee[::8, ::8], astronaut[100:300:4, 50:400:4], coffee[::-6, ::6]]
    for i, photo in enumerate(photos):
        target = (255 * (photo / 255.0) ** 0.7).astype(np.uint8)  # a brightening "expert"
        for folder, image in (("input", photo), ("expertX", target)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / folder / f"p-a{i:04d}.png"), np.ascontiguousarray(image[..., ::-1]))
    return root


def _train(tree, out, *extra):
    args = ["train", str(tree), "--expert", "expertX", "--out", str(out), "--iterations", "8", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_train_writes_network_and_style_with_provenance(tree, tmp_path):
    result = _train(tree, tmp_path / "w", "--cv", "2", "--seed", "3")
    assert "cross-validation (2 folds, held-out pairs only)" in result.output
    network, network_meta = files.read(tmp_path / "w" / "csrnet-shared.safetensors")
    style, style_meta = files.read(tmp_path / "w" / "styles" / "expertX.safetensors")
    assert style["gamma"].shape == (32,) and network["conv1.weight"].shape == (64, 3, 1, 1)
    assert style_meta["network_sha256"] == network_meta["tensors_sha256"]
    info = json.loads(network_meta["info"])
    assert info["recipe"]["seed"] == 3 and info["recipe"]["iterations"] == 8
    assert len(info["pairs"]) == 4 and info["cv"]["folds"] == 2
    assert "--seed 3" in info["command"]


def test_train_is_deterministic(tree, tmp_path):
    _train(tree, tmp_path / "a", "--seed", "1")
    _train(tree, tmp_path / "b", "--seed", "1")
    a = files.read(tmp_path / "a" / "csrnet-shared.safetensors")[1]["tensors_sha256"]
    b = files.read(tmp_path / "b" / "csrnet-shared.safetensors")[1]["tensors_sha256"]
    assert a == b


def test_trained_style_can_be_imported_and_applied(tree, tmp_path):
    _train(tree, tmp_path / "w")
    result = runner.invoke(app, ["import", str(tmp_path / "w" / "styles" / "expertX.safetensors"), "--name", "x"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["apply", "-s", "x", str(tree / "input"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 4


def test_train_missing_expert_folder(tree, tmp_path):
    result = runner.invoke(app, ["train", str(tree), "--expert", "expertA", "--out", str(tmp_path / "w")])
    assert result.exit_code == 2
    assert "expertA" in result.output
