"""Where styles live: bundled with the package, and the user's own directory."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: Environment variable that overrides the user data directory.
HOME_ENV = "CSRTOUCH_HOME"


def bundled_dir() -> Path:
    """Directory of the shipped weights (installed with the package as ``csrtouch.weights``)."""
    return Path(str(resources.files("csrtouch.weights")))


def shared_network_path() -> Path:
    """The shared network every style-vector style runs on."""
    return bundled_dir() / "csrnet-shared.safetensors"


def home_dir() -> Path:
    """csrtouch's user data directory: ``$CSRTOUCH_HOME``, else the platform's user data dir."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("csrtouch", appauthor=False))


def user_styles_dir() -> Path:
    """Directory of personal and imported styles (may not exist yet)."""
    return home_dir() / "styles"
