"""Where styles live: bundled with the package, and the user's own directory."""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

from csrtouch.errors import StyleError

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


def user_styles_problem() -> str | None:
    """Why the personal styles folder cannot hold styles, or None if it can (a missing folder
    can: it is made on the first write). Reads only; ``list-styles`` reports it."""
    folder = user_styles_dir()
    try:
        folder.stat()
    except FileNotFoundError:
        return None
    except OSError as e:  # a file where a parent folder should be; no permission to look
        return _reason(folder, e)
    return None if folder.is_dir() else _reason(folder, None)


def writable_user_styles_dir() -> Path:
    """The personal styles folder, created if missing and checked to be writable.

    Run before anything slow (fine-tuning) so that its result is never lost to a folder it
    cannot write. A file is written for real: ``os.access`` can say yes wrongly (network file
    systems, ACLs).

    Raises:
        StyleError: naming the folder and why it cannot be written.
    """
    folder = user_styles_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".part")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise StyleError(
            f"cannot write personal styles to this folder ({_reason(folder, e)}); set ${HOME_ENV} to a writable folder",
            folder,
        ) from e
    return folder


def _reason(folder: Path, error: OSError | None) -> str:
    """What is wrong with ``folder``, naming a file that stands where a folder should be."""
    for path in (folder, *folder.parents):
        if path.exists() and not path.is_dir():
            return "it is a file, not a folder" if path == folder else f"{path} is a file, not a folder"
    return "unusable" if error is None else error.strerror or str(error)
