"""Writing a file so that it appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable

from csrtouch.errors import EncodeError


def write_atomic(path: Path | str, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``data`` to ``path``, creating parent folders, replacing any file there.

    ``data`` is the bytes, or a function that writes them to the open (empty, seekable)
    file, so that a large image can be written piece by piece instead of held whole.

    The bytes go to a hidden ``.NAME.XXXXXXXX.part`` file in the same folder, are flushed to
    disk, then renamed onto ``path``: an interrupted run leaves either the old file or the
    new one, never half an image, and a re-run can tell finished outputs by their names.

    Raises:
        EncodeError: the folder or file cannot be written (permissions, disk full, ...).
            The temporary file is removed on this and on any other exception.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EncodeError(f"cannot create the output folder: {e.strerror or e}", path) from e
    # Same folder, so the rename cannot cross file systems; random, so parallel writers of
    # one name never share a temporary file.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    created = False
    try:
        with open(temp, "xb") as f:
            created = True
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException as e:
        if created:
            with contextlib.suppress(OSError):
                temp.unlink()
        if isinstance(e, OSError):
            raise EncodeError(f"cannot write the file: {e.strerror or e}", path) from e
        raise
