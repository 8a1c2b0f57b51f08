"""Same input, same bytes: a photo's output does not depend on ``--jobs``, on BLAS's thread
count, on the order of the inputs or on which other files are in the batch.

Through the CLI in subprocesses, so that ``OPENBLAS_NUM_THREADS`` and ``--jobs`` take effect
before numpy is imported, as they do for a user. Outputs are compared byte for byte and as
decoded pixels (a difference in pixels says where a byte difference comes from).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from csrtouch.engine import ColorFunction, Retoucher
from csrtouch.engine.blas import one_thread
from csrtouch.engine.fold import BLOCK_PIXELS

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def run_apply(inputs: list[Path], out: Path, *args: str, blas_threads: int | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(blas_threads)
    cmd = [sys.executable, "-m", "csrtouch", "apply", "-q", *args, *map(str, inputs), str(out)]
    # Outside the checkout: there, '-m csrtouch' would import the source tree, not the installed package.
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)
    assert result.returncode == 0, result.stderr


def assert_same_outputs(a: Path, b: Path, names: list[str] | None = None) -> None:
    names = names or sorted(p.name for p in a.iterdir())
    assert names and set(names) <= {p.name for p in b.iterdir()}
    for name in names:
        x = cv2.imread(str(a / name), cv2.IMREAD_UNCHANGED)
        y = cv2.imread(str(b / name), cv2.IMREAD_UNCHANGED)
        assert x is not None and y is not None and x.dtype == y.dtype, name
        diff = np.abs(x.astype(np.int64) - y.astype(np.int64))
        assert not diff.any(), f"{name}: {np.count_nonzero(diff)} values differ, by up to {diff.max()}"
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name}: same pixels, other bytes"


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Small photos that take each of the engine's paths for 8-bit output: few colours (the
    network per colour), more colours than the 65^3 LUT has points (the LUT), more colours
    than half the pixels (per pixel); a JPEG, PNGs and a 16-bit TIFF (always exact)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(14)
    astronaut = np.ascontiguousarray(data.astronaut()[..., ::-1])  # BGR, for OpenCV
    grain = rng.normal(0, 4, (800, 1000, 3))  # 349k colours in 800k pixels
    big = cv2.resize(astronaut, (1000, 800), interpolation=cv2.INTER_CUBIC)
    lut_sized = np.clip(big + grain, 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, (61, 67, 3), dtype=np.uint8)  # odd sizes, a partial block
    small = cv2.resize(astronaut, (203, 151)).astype(np.uint16)
    deep = (small * 257 + rng.integers(0, 257, (151, 203, 3))).astype(np.uint16)
    files = {
        "coffee.jpg": (np.ascontiguousarray(data.coffee()[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90]),
        "grainy.png": (lut_sized, []),
        "noise.png": (noise, []),
        "deep.tif": (deep, []),
    }
    paths = []
    for name, (pixels, params) in files.items():
        assert cv2.imwrite(str(folder / name), pixels, params)
        paths.append(folder / name)
    return paths


def test_jobs_blas_threads_and_order_give_the_same_bytes(photos, tmp_path):
    run_apply(photos, tmp_path / "j1", "-j", "1")  # the CLI gives BLAS every core
    run_apply(photos[::-1], tmp_path / "j2", "-j", "2", blas_threads=2)
    run_apply(photos, tmp_path / "j3", "-j", "3", blas_threads=1)
    assert len(list((tmp_path / "j1").iterdir())) == len(photos)
    assert_same_outputs(tmp_path / "j1", tmp_path / "j2")
    assert_same_outputs(tmp_path / "j1", tmp_path / "j3")


def test_a_photo_alone_gives_the_bytes_it_gives_in_a_batch(photos, tmp_path):
    for path in photos[:2]:
        run_apply([path], tmp_path / "alone", "-j", "1", blas_threads=2)
    run_apply(photos, tmp_path / "batch", "-j", "2")
    assert_same_outputs(tmp_path / "alone", tmp_path / "batch", [p.name for p in photos[:2]])


def test_sixteen_bit_outputs_are_the_same_bytes(photos, tmp_path):
    run_apply(photos, tmp_path / "a", "-f", "tiff", "--bit-depth", "16", "-j", "1", blas_threads=2)
    run_apply(photos[::-1], tmp_path / "b", "-f", "tiff", "--bit-depth", "16", "-j", "3", blas_threads=1)
    assert_same_outputs(tmp_path / "a", tmp_path / "b")


def test_consistent_does_not_depend_on_the_order_of_the_batch(photos, tmp_path):
    run_apply(photos, tmp_path / "a", "--consistent", "-j", "1")
    run_apply(photos[::-1], tmp_path / "b", "--consistent", "-j", "2", blas_threads=2)
    assert_same_outputs(tmp_path / "a", tmp_path / "b")


def test_shared_condition_is_exact_in_any_order(astronaut, coffee):
    frames = [astronaut, coffee, astronaut[::2, ::2], coffee[:, ::-1], astronaut[100:300]]
    r = Retoucher("expertC")
    r.share_condition(frames)
    shared = r.shared[0].copy()
    for order in ([4, 3, 2, 1, 0], [2, 0, 4, 1, 3]):
        r.share_condition([frames[i] for i in order])
        np.testing.assert_array_equal(r.shared[0], shared)


def test_a_colour_maps_to_the_same_bits_however_it_is_called(coffee):
    fn = Retoucher("expertC").color_function(coffee)
    assert isinstance(fn, ColorFunction)
    pixels = np.random.default_rng(3).random((2 * BLOCK_PIXELS + 905, 3), dtype=np.float32)
    whole = fn(pixels)
    for size in (1, 7, BLOCK_PIXELS - 1, BLOCK_PIXELS + 1):
        parts = np.concatenate([fn(pixels[i : i + size]) for i in range(0, len(pixels), size)])
        np.testing.assert_array_equal(parts, whole, err_msg=f"in calls of {size} pixels")
    order = np.random.default_rng(4).permutation(len(pixels))
    np.testing.assert_array_equal(fn(pixels[order]), whole[order])
    np.testing.assert_array_equal(fn(pixels[::3]), whole[::3])  # strided input


def test_an_image_in_a_mosaic_gets_its_own_bits(astronaut, coffee):
    r = Retoucher("expertC", exact=True)
    r.share_condition([astronaut, coffee])
    both = np.concatenate([astronaut[:300, :400], coffee[:300, :400]], axis=1)
    np.testing.assert_array_equal(r(both)[:, :400], r(np.ascontiguousarray(astronaut[:300, :400])))
    np.testing.assert_array_equal(r(both, np.uint16)[:, 400:], r(np.ascontiguousarray(coffee[:300, :400]), np.uint16))


def test_one_thread_restores_the_thread_count():
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("numpy's BLAS is not one threadpoolctl controls")
    before = [lib.get_num_threads() for lib in blas.lib_controllers]
    with one_thread():
        with one_thread():
            assert all(lib.get_num_threads() == 1 for lib in blas.lib_controllers)
        assert all(lib.get_num_threads() == 1 for lib in blas.lib_controllers)
    assert [lib.get_num_threads() for lib in blas.lib_controllers] == before
