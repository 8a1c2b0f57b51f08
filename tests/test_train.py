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


def test_finished_photos_are_recorded(tree, tmp_path, astronaut):
    finished = tmp_path / "finished"
    finished.mkdir()
    cv2.imwrite(str(finished / "astro.png"), np.ascontiguousarray(astronaut[::4, ::4, ::-1]))
    _train(tree, tmp_path / "w", "--finished", str(finished))
    info = json.loads(files.read(tmp_path / "w" / "csrnet-shared.safetensors")[1]["info"])
    assert info["finished"] == "1 finished photos from finished/: astro"
    assert "--finished" in info["command"] and info["recipe"]["identity"] > 0


@pytest.fixture
def fivek(tmp_path):
    """The MIT-Adobe FiveK download's layout: DNGs under raw_photos/, an expert's 16-bit
    TIFFs in tiff16_c/ at twice the RAW's size."""
    from dng import tiny_dng

    from csrtouch.io import decode

    root = tmp_path / "fivek_dataset"
    photos = root / "raw_photos" / "HQa1to700" / "photos"
    photos.mkdir(parents=True)
    (root / "tiff16_c").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        scene = np.repeat(np.repeat(rng.uniform(0.02, 0.6, (8, 12, 3)), 8, 0), 8, 1)
        stem = f"a000{i + 1}-jmac_DSC{i}"
        (photos / f"{stem}.dng").write_bytes(tiny_dng(scene))
        rendered = decode(photos / f"{stem}.dng").pixels
        target = np.round(65535 * (rendered / 65535.0) ** 0.8).astype(np.uint16)
        big = cv2.resize(target, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(root / "tiff16_c" / f"{stem}.tif"), np.ascontiguousarray(big[..., ::-1]))
    return root


def test_train_reads_the_full_fivek_layout(fivek, tmp_path):
    from csrtouch.training.data import load_pairs

    pairs = load_pairs(fivek, "expertC")
    assert [p.name for p in pairs] == ["a0001-jmac_DSC0", "a0002-jmac_DSC1", "a0003-jmac_DSC2"]
    assert all(p.source.shape == p.target.shape == (64, 96, 3) for p in pairs)
    # The target was the rendering brightened: reduced to the RAW's size it still is.
    assert all(p.target.mean() > p.source.mean() + 0.02 for p in pairs)
    result = runner.invoke(app, ["train", str(fivek), "--expert", "expertC", "--iterations", "4", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    info = json.loads(files.read(tmp_path / "w" / "csrnet-shared.safetensors")[1]["info"])
    assert len(info["pairs"]) == 3


def test_full_fivek_layout_names_the_missing_expert(fivek, tmp_path):
    result = runner.invoke(app, ["train", str(fivek), "--expert", "expertB", "--out", str(tmp_path / "w")])
    assert result.exit_code == 2
    assert "tiff16_b/" in result.output


def test_large_pairs_are_reduced_and_reframed_pairs_refused(tmp_path, astronaut):
    from csrtouch.errors import UsageError
    from csrtouch.training.data import load_pairs

    for folder in ("input", "expertX"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "big.png"), np.ascontiguousarray(astronaut[..., ::-1]))
    (pair,) = load_pairs(tmp_path, "expertX", max_side=128)
    assert pair.source.shape == (128, 128, 3) and np.array_equal(pair.source, pair.target)
    cv2.imwrite(str(tmp_path / "expertX" / "big.png"), np.ascontiguousarray(astronaut[:300, :, ::-1]))
    with pytest.raises(UsageError, match="not the same framing"):
        load_pairs(tmp_path, "expertX")
