"""``csrtouch train`` on a tiny fake FiveK tree: files, provenance, determinism, errors."""

import json
from pathlib import Path

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


# ProPhoto RGB (ROMM): the primaries and D50 white of the full FiveK's 16-bit TIFFs, gamma 1.8.
PROPHOTO_PRIMARIES = ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001))
PROPHOTO_WHITE = (0.3457, 0.3585)
# Published matrices (Lindbloom), independent of csrtouch's own: ProPhoto linear RGB -> XYZ
# (D50), and XYZ (D50) -> linear sRGB, Bradford-adapted, as an sRGB ICC profile stores it.
PROPHOTO_TO_XYZ = np.array([[0.7976749, 0.1351917, 0.0313534], [0.2880402, 0.7118741, 0.0000857], [0.0, 0.0, 0.8252100]])
XYZ_D50_TO_SRGB = np.array([[3.1338561, -1.6168667, -0.4906146], [-0.9787684, 1.9161415, 0.0334540], [0.0719453, -0.2289914, 1.4052427]])


def _prophoto_to_srgb(values: np.ndarray) -> np.ndarray:
    linear = XYZ_D50_TO_SRGB @ (PROPHOTO_TO_XYZ @ values**1.8)
    assert linear.min() > 0.001 and linear.max() < 0.999, "the test colours must be inside sRGB"
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def test_prophoto_16_bit_tiff_pairs_are_read_through_their_profile(tmp_path):
    """A pair tagged ProPhoto RGB (as the full FiveK's TIFFs and three shared pairs are) is
    converted to sRGB by its profile before training sees it: its raw values are not sRGB."""
    from csrtouch.io import colour, tiff
    from csrtouch.training.data import load_pairs

    icc = colour.rgb_profile("ProPhoto RGB", PROPHOTO_PRIMARIES, colour.Curve.gamma(1.8), white=PROPHOTO_WHITE)
    colours = np.array([[0.5, 0.5, 0.5], [0.55, 0.35, 0.25], [0.3, 0.45, 0.2], [0.35, 0.35, 0.5]])  # grey, skin, foliage, sky
    stored = np.repeat(np.round(colours * 65535).astype(np.uint16)[:, None, :], 24, axis=1).repeat(6, axis=0)  # 24x24
    expected = np.stack([_prophoto_to_srgb(c) for c in stored[::6, 0] / 65535.0])
    for folder in ("input", "expertX"):
        (tmp_path / folder).mkdir()
        with open(tmp_path / folder / "p-a0001.tif", "wb") as file:
            tiff.write(file, stored, alpha=None, grayscale=False, tags={}, icc_profile=icc, xmp=None)
    (pair,) = load_pairs(tmp_path, "expertX")
    seen = pair.source[::6, 0]
    assert pair.source16.dtype == np.uint16 and pair.source.shape == (24, 24, 3)
    np.testing.assert_allclose(seen, expected, atol=1.5 / 255)
    np.testing.assert_array_equal(pair.source16, pair.target16)
    # Read as if it were sRGB, the saturated colours would be far off (grey stays grey).
    assert np.abs(stored[::6, 0] / 65535.0 - expected)[1:].max() > 0.05


def test_shared_prophoto_pairs_match_littlecms(shared):
    """The shared ProPhoto pairs, as training reads them, are LittleCMS's sRGB conversion of
    their files (relative colorimetric), within one 8-bit level."""
    import io

    from PIL import Image, ImageCms

    from csrtouch.training.data import load_pairs

    root = shared / "data" / "fivek-expertC"
    pairs = {p.name: p for p in load_pairs(root)}
    prophoto = []
    for path in sorted((root / "input").glob("*.tif")) + sorted((root / "expertC").glob("*.tif")):
        pil = Image.open(path)
        icc = pil.info.get("icc_profile")
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)) if icc else None
        if profile is None or "ProPhoto" not in ImageCms.getProfileDescription(profile):
            continue
        prophoto.append(path)
        srgb = ImageCms.profileToProfile(pil.convert("RGB"), profile, ImageCms.createProfile("sRGB"), renderingIntent=1)
        pair = pairs[path.stem]
        seen = pair.source16 if path.parent.name == "input" else pair.target16
        assert np.abs(seen / 257.0 - np.asarray(srgb, dtype=np.float64)).max() <= 1.0 + 1e-6, path.name
        assert np.abs(seen / 257.0 - np.asarray(pil.convert("RGB"), dtype=np.float64)).mean() > 3.0, path.name
    assert len(prophoto) >= 6, "expected the three ProPhoto pairs (input and target) in the shared data"


def test_corpus_parts_are_fixed_by_name_and_mostly_train(tmp_path):
    from csrtouch.training.data import corpus_part

    names = [tmp_path / "set" / f"img_{i:03d}.jpg" for i in range(400)]
    parts = [corpus_part(p) for p in names]
    assert parts == [corpus_part(Path("/elsewhere") / "set" / p.name) for p in names]
    assert 0.7 < parts.count("train") / 400 < 0.9 and parts.count("dev") > 20 and parts.count("lockbox") > 20


def test_looks_without_spread_leave_a_photo_alone(astronaut):
    import torch

    from csrtouch.training.train import Looks

    photo = torch.from_numpy(astronaut[::8, ::8].astype(np.float32) / 255).permute(2, 0, 1)
    still = Looks(exposure=0, white_balance=0, contrast=0, saturation=0, gamma=0).apply(photo, np.random.default_rng(0))
    assert torch.allclose(still, photo, atol=1e-5)
    pushed = Looks().apply(photo, np.random.default_rng(0))
    assert pushed.shape == photo.shape and float((pushed - photo).abs().mean()) > 0.01


def test_train_pretrains_on_a_corpus(tree, tmp_path, astronaut, coffee):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(12):
        photo = (astronaut if i % 2 else coffee)[i * 7 :: 6, i * 5 :: 6]
        cv2.imwrite(str(corpus / f"c{i:02d}.jpg"), np.ascontiguousarray(photo[..., ::-1]))
    result = _train(tree, tmp_path / "w", "--corpus", str(corpus), "--pretrain-iterations", "6")
    assert "pre-trained 6 steps on" in result.output
    info = json.loads(files.read(tmp_path / "w" / "csrnet-shared.safetensors")[1]["info"])
    assert info["recipe"]["pretrain_iterations"] == 6 and info["recipe"]["corpus_share"] > 0
    assert info["corpus"].startswith(f"{len(info['corpus_photos'])} ordinary photos") and 0 < len(info["corpus_photos"]) < 12
    assert f"--corpus {corpus} --pretrain-iterations 6" in info["command"]


def test_train_names_an_empty_corpus_folder(tree, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["train", str(tree), "--expert", "expertX", "--corpus", str(tmp_path / "empty"), "--out", str(tmp_path / "w")])
    assert result.exit_code == 2
    assert "no images" in result.output and "corpus" in result.output
