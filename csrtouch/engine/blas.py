"""The engine's matmuls on one BLAS thread, so that a photo's bytes do not depend on how many
threads BLAS was given (``--jobs``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``).

OpenBLAS picks a kernel for each call from its shape and its thread count: on AVX-512 CPUs
a small or "direct" kernel below a size that depends on the thread count, the blocked one
above, split across threads. The kernels add a dot product's terms in different orders, so
the float32 result moves by an ulp, and an ulp now and then moves a pixel by a level. With
one thread and one shape per call (``fold.BLOCK_PIXELS`` rows, padded) the operations are
the same in every run. One thread costs the colour function little: 4,096-pixel blocks gave a
second thread little to share (35 ms against 32 ms for 65^3 colours, 2 cores), and the batch
runs ``--jobs`` files at once, one BLAS thread each by default, anyway.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

_lock = threading.Lock()
_users = 0
#: BLAS libraries (threadpoolctl's controllers) set to one thread, and the count to restore.
_restore: list[tuple[Any, int]] = []
_blas: list[Any] | None = None
#: ``len(sys.modules)`` when ``_blas`` was found: an import since may have loaded another BLAS
#: (scipy and OpenCV bring their own OpenBLAS), which must be set to one thread too.
_modules = 0


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS runs on one thread inside this block, in every thread of the process.

    The thread count is process-wide, so overlapping blocks from the batch's worker threads
    share one setting: the first to enter sets one thread, the last to leave restores the
    count it found. Nothing is set where BLAS is on one thread already (``--jobs`` at least
    the core count), so such a batch never changes BLAS's state while it runs.
    """
    global _users, _blas, _modules
    with _lock:
        if _users == 0:
            if _blas is None or _modules != len(sys.modules):
                # After numpy's import (our callers import it), so its BLAS is found.
                from threadpoolctl import ThreadpoolController

                _modules = len(sys.modules)
                _blas = ThreadpoolController().select(user_api="blas").lib_controllers
            for lib in _blas:
                threads = lib.get_num_threads()
                if threads != 1:
                    lib.set_num_threads(1)
                    _restore.append((lib, threads))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                while _restore:
                    lib, threads = _restore.pop()
                    lib.set_num_threads(threads)
