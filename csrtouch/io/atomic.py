"""Writing a file so that it appears whole or not at all, and leaving nothing behind when stopped.

Every file csrtouch writes goes first to a hidden temporary file beside it,
``.NAME.XXXXXXXX.part``, which is renamed onto ``NAME`` once it is whole. While it is being
written the temporary file is locked (``flock``), so that a later run can tell a temporary
file some process is still writing from one a killed run left behind (:func:`remove_stale`).
An interrupted run calls :func:`abort_writes`, which deletes the temporary files being
written and makes every later write fail, so no worker thread can start a new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import threading
from pathlib import Path
from typing import BinaryIO, Callable

from csrtouch.errors import EncodeError

try:
    import fcntl
except ImportError:  # Windows: no flock, so stale temporary files are never guessed at
    fcntl = None  # type: ignore[assignment]

#: The longest file name most file systems take, in bytes.
NAME_MAX = 255

#: ``.NAME.XXXXXXXX.part``: csrtouch's temporary files (NAME may be shortened to fit).
PART_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.part$", re.DOTALL)

_lock = threading.Lock()
_live: set[Path] = set()
_aborted = threading.Event()


class Aborted(Exception):
    """A write was refused or cut short because the run is being interrupted."""


def temp_name(name: str) -> str:
    """The temporary file's name for a file called ``name``: ``.NAME.XXXXXXXX.part``, with
    NAME shortened (by whole characters) so that the whole fits in :data:`NAME_MAX` bytes."""
    tail = f".{secrets.token_hex(4)}.part"
    room = NAME_MAX - 1 - len(tail.encode())
    raw = os.fsencode(name)
    if len(raw) > room:
        # Cut at a character boundary: an undecodable name keeps its bytes as surrogates.
        name = os.fsdecode(raw[:room])
        while len(os.fsencode(name)) > room or name.endswith("\udcff"):
            name = name[:-1]
    return f".{name}{tail}"


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
        Aborted: :func:`abort_writes` was called (the run is being interrupted).
    """
    path = Path(path)
    if _aborted.is_set():
        raise Aborted(f"{path}: not written, the run was interrupted")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EncodeError(f"cannot create the output folder: {e.strerror or e}", path) from e
    # Same folder, so the rename cannot cross file systems; random, so parallel writers of
    # one name never share a temporary file.
    temp = path.with_name(temp_name(path.name))
    # Known before it exists, so that abort_writes removes it whenever this thread creates it.
    with _lock:
        _live.add(temp)
    created = False
    try:
        with open(temp, "xb") as f:
            created = True
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.stat(temp).st_ino != os.fstat(f.fileno()).st_ino:
                    # Another run's remove_stale took it between its creation and the lock.
                    raise FileNotFoundError(errno.ENOENT, "the temporary file was removed by another process")
            if _aborted.is_set():
                raise Aborted(f"{path}: not written, the run was interrupted")
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if _aborted.is_set():
                raise Aborted(f"{path}: not written, the run was interrupted")
            # Renamed while still locked: no other run can take it for a stale file.
            os.replace(temp, path)
    except BaseException as e:
        if created:
            with contextlib.suppress(OSError):
                temp.unlink()
        if isinstance(e, OSError) and not _aborted.is_set():
            raise EncodeError(f"cannot write the file: {e.strerror or e}", path) from e
        if isinstance(e, OSError):
            raise Aborted(f"{path}: not written, the run was interrupted") from e
        raise
    finally:
        with _lock:
            _live.discard(temp)


def abort_writes() -> list[Path]:
    """Stop every write in progress and refuse new ones; returns temporary files that could
    not be removed (none, normally).

    Called when a run is interrupted: the threads still writing find their temporary file gone
    and their rename fails, and any write started afterwards raises :class:`Aborted`. Safe to
    call more than once (call it again just before exiting: a thread may have been between
    registering its temporary file and creating it).
    """
    _aborted.set()
    # Not blocking: the lock is only ever held for a set operation, but never hang an exit on it.
    if not _lock.acquire(timeout=1.0):
        return []
    try:
        temps = list(_live)
    finally:
        _lock.release()
    left = []
    for temp in temps:
        try:
            temp.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            left.append(temp)
    return left


def aborting() -> bool:
    """Whether :func:`abort_writes` was called (and :func:`reset_abort` not since)."""
    return _aborted.is_set()


def reset_abort() -> None:
    """Allow writes again after :func:`abort_writes` (for a process that goes on, e.g. tests)."""
    _aborted.clear()


def remove_stale(folder: Path) -> list[Path]:
    """Delete csrtouch temporary files in ``folder`` that no process is writing.

    A run killed without a chance to clean up (SIGKILL, a power cut) leaves its temporary
    files; a file some process still holds locked is being written and is left alone.

    Returns:
        The files removed. A folder that cannot be listed is no error: the run reports it
        when it writes there.
    """
    if fcntl is None:
        return []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        if not PART_NAME.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # locked: some process is writing it now
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
