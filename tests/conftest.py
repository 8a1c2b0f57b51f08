"""Shared fixtures: an isolated user directory, real photos from scikit-image's wheel, and
the optional ../shared data (tests that need it skip with a reason when it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    return Path(os.environ.get("CSRTOUCH_SHARED", REPO.parent / "shared"))


@pytest.fixture
def shared() -> Path:
    root = shared_root()
    if not (root / "data").is_dir():
        pytest.skip(f"needs the shared data at {root} (set CSRTOUCH_SHARED)")
    return root


@pytest.fixture(autouse=True)
def csrtouch_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty user directory, never the real one."""
    home = tmp_path_factory.mktemp("csrtouch-home")
    monkeypatch.setenv("CSRTOUCH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512x512 RGB uint8 (public domain, NASA), bundled in scikit-image's wheel."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """400x600 RGB uint8 (CC0, Rachel Michetti), bundled in scikit-image's wheel."""
    from skimage import data

    return np.ascontiguousarray(data.coffee())
