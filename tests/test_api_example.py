"""The README's Python API example runs as written, on made-up photos; the package is typed."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

REPO = Path(__file__).resolve().parents[1]


def api_example() -> str:
    """The code block of the README's "Python API" section."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def photo(seed: int, width: int, height: int) -> np.ndarray:
    """A smooth made-up photo with some grain, ``(height, width, 3)`` RGB uint8."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(20, 235, (4, 6, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth + rng.normal(0, 4, smooth.shape), 0, 255).astype(np.uint8)


def test_the_readme_api_example_runs(tmp_path, csrtouch_home):
    # The example reads the repository's examples/ folder: the same names, made up.
    sizes = {"astronaut.png": (320, 320), "chelsea.png": (300, 240), "coffee.png": (1500, 1000), "rocket.jpg": (240, 360)}
    (tmp_path / "examples").mkdir()
    for seed, (name, size) in enumerate(sizes.items()):
        PIL.Image.fromarray(photo(seed, *size)).save(tmp_path / "examples" / name)
    # A process of its own, from tmp_path: what a reader runs, with this test's user folder.
    run = subprocess.run(
        [sys.executable, "-c", api_example()], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any(line.startswith("expertC built-in ") for line in lines)
    for name in sizes:
        web = f"web/{Path(name).stem}_web.jpg"
        assert f"ok examples/{name} -> {web} " in lines
        width, height = PIL.Image.open(tmp_path / web).size
        assert max(width, height) == min(1024, max(sizes[name]))
    assert PIL.Image.open(tmp_path / "coffee-retouched.png").size == (1500, 1000)
    assert (csrtouch_home / "styles" / "api-example.safetensors").is_file()
    assert any(line.startswith("learned api-example: ") for line in lines)
    assert lines[-1] == "(1000, 1500, 3)"


def test_the_package_says_it_is_typed():
    assert resources.files("csrtouch").joinpath("py.typed").is_file()
    assert '"csrtouch" = ["py.typed"]' in (REPO / "pyproject.toml").read_text()
