"""Keeping C libraries' complaints (LibRaw, libpng, libtiff) off the user's terminal.

They write to file descriptor 2 directly, past Python's sys.stderr, where a line about a
broken file would garble the batch's progress display; csrtouch reports the file's failure
itself, as an exception.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

_stderr_lock = threading.Lock()
_stderr_users = 0
_saved_stderr = -1


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block.

    A descriptor belongs to the whole process, so threads share one redirection: the first
    to enter makes it, the last to leave undoes it. While any thread is in here, other
    threads' writes to stderr are lost too: a progress display that decoding threads should
    not blank out writes to :func:`terminal` instead. Worker processes each have their own
    descriptor 2.
    """
    global _stderr_users, _saved_stderr
    with _stderr_lock:
        if _stderr_users == 0:
            with contextlib.suppress(Exception):
                sys.stderr.flush()  # what Python has buffered is still the user's to see
            try:
                saved = os.dup(2)
            except OSError:  # no descriptor 2 at all: nothing to protect
                saved = -1
            if saved >= 0:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            _saved_stderr = saved
        _stderr_users += 1
    try:
        yield
    finally:
        with _stderr_lock:
            _stderr_users -= 1
            if _stderr_users == 0 and _saved_stderr >= 0:
                os.dup2(_saved_stderr, 2)
                os.close(_saved_stderr)
                _saved_stderr = -1


def terminal() -> TextIO:
    """A new text stream on the process's real stderr, which :func:`quiet_stderr` never
    silences: for a progress display drawn while other threads decode.

    Call it once, e.g. when the CLI starts, and close it when done.
    """
    with _stderr_lock:
        fd = os.dup(_saved_stderr if _stderr_users and _saved_stderr >= 0 else 2)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    return os.fdopen(fd, "w", buffering=1, encoding=encoding, errors="backslashreplace")
