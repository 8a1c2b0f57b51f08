"""Retouching on a Ray cluster: the batch of ``csrtouch apply``, its files spread over the
cluster's nodes, and a Ray Data stage for pipelines that already run on Ray.

Imported only for ``apply --ray`` and by API users: ``ray`` is an extra
(``pip install "csrtouch[ray]"``), and ``csrtouch --help`` never loads it.

How a batch runs (:class:`Cluster`, used by ``apply --ray``):

- The driver (the machine that runs ``csrtouch apply``) plans the batch as a local run does
  (:func:`csrtouch.batch.plan`: the mirrored tree, names, formats, refusals) and runs it
  through :func:`csrtouch.batch.run_batch`, which makes the skip-existing and ``--overwrite``
  decisions and collects a result per file, in order. Its ``process`` hands each file to a
  worker and waits for the answer. So everything the user sees (``--json`` lines, summary,
  progress bar, exit status) comes from the same code as a local run.
- Workers are Ray actors, one per CPU of the cluster (``--jobs`` caps the count) and each on
  one BLAS thread, so that a node's workers x BLAS threads never exceed its cores. Each
  holds the ``Retoucher``, built once on the driver and shipped through Ray's object store:
  the style's weights travel with it, so a node needs csrtouch installed but not the
  driver's personal styles.
- A worker writes an output as a local run does, to a temporary file beside it renamed
  once whole (:func:`csrtouch.io.atomic.write_atomic`). Inputs and outputs are therefore
  paths that every node sees at the same place (a shared file system: NFS, a mounted
  bucket); object-store URIs are for :func:`retouch_dataset`.

Faults. A worker process that dies (killed, out of memory, its node lost) is restarted by
Ray, and the file it held is retried on it, up to :data:`TRIES` times in all; then the file
fails with a line that says so. The killed attempt can leave only its temporary file
(removed by the restarted worker, or by the next run), never a partial output. An attempt
that finds the output already replaced since the driver sent the file (the killed attempt
got as far as the rename) reports it done instead of writing it again. A file that fails on
its own (damaged) fails once: the error is returned to the driver as a result, not raised,
so Ray never retries it.

``--consistent``: the workers compute each input's condition vector (from the thumbnail a
local run computes, :func:`csrtouch.batch.readable_thumbnails`); the driver sums them
exactly, as :meth:`csrtouch.engine.Retoucher.share_condition` does (``math.fsum``, so the
order the vectors arrive in cannot change a bit), and the retoucher, with its shared
condition, is shipped to the workers only then. Only 32 floats per image and branch travel
to the driver.
"""

from __future__ import annotations

import math
import os
import queue
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from csrtouch.errors import CsrtouchError, UsageError

if TYPE_CHECKING:
    import ray.data

    from csrtouch.batch import Job
    from csrtouch.engine import Retoucher
    from csrtouch.io.resize import Fit

#: Attempts at a file whose worker process dies (the first and two retries).
TRIES = 3
#: Files queued at each worker beyond the one it is retouching, so it never waits for the driver.
QUEUED = 1
#: Seconds :meth:`Cluster.close` waits for killed workers to release their temporary files.
CLOSE_WAIT = 5.0
#: Environment variable naming a file to which each worker appends ``node pid output`` per
#: file written (a diagnostic: which node did which file).
LOG_ENV = "CSRTOUCH_RAY_LOG"


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError('--ray needs Ray: pip install "csrtouch[ray]"') from None
    return ray


def connect(address: str = "auto") -> None:
    """Join a Ray cluster, or use the one this process joined already.

    Args:
        address: ``auto`` (``RAY_ADDRESS``, else a cluster started on this machine with
            ``ray start``, else a local one started for this process), ``host:port`` of a
            head node (its GCS port, 6379 by default), or ``ray://host:port`` (Ray Client).

    Raises:
        UsageError: the address cannot be reached, or Ray refuses it.
    """
    ray = _ray()
    _keep_stdout()
    if ray.is_initialized():
        return
    target = None if address == "auto" else address
    if target is not None:
        _check_reachable(target)
    import logging

    try:
        # log_to_driver: the workers' output is their own (warnings come back in results).
        ray.init(address=target, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if os.environ.get("RAY_AUTH_MODE") else (
            " (a cluster started with `ray start` wants its token: set RAY_AUTH_MODE=token, and RAY_AUTH_TOKEN"
            " or ~/.ray/auth_token as on the head)"
        )
        raise UsageError(f"--ray {address}: cannot join the Ray cluster: {first}{hint}") from None


def _keep_stdout() -> None:
    """Send what Ray's driver prints of the cluster's events (a worker died, its task is
    retried) to stderr: stdout is ``--json``'s, a line per file and nothing else."""
    try:
        from ray._private import worker
    except ImportError:  # Ray's internals moved: its messages stay where it prints them
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "_csrtouch", False):
        return

    def to_stderr(data: dict, ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr._csrtouch = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, in one line, where ``ray.init`` would retry an unreachable address for
    a minute and then print pages."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--ray {address}: give auto, host:port or ray://host:port (a head node's address)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(
            f"--ray {address}: cannot reach a Ray head there ({e.strerror or e}); start one with "
            "`ray start --head`, or check the address"
        ) from None


def cluster_cpus() -> int:
    """The cluster's CPUs, as Ray counts them (``num_cpus`` of each node)."""
    return max(1, int(_ray().cluster_resources().get("CPU", 1)))


class Cluster:
    """The batch's workers on a Ray cluster (the caller has connected, :func:`connect`).

    Args:
        retoucher: the style, as the driver built it; shipped to every worker once.
        workers: how many worker processes (default and at most: the cluster's CPUs).
        format, quality, bit_depth, fit: as :func:`csrtouch.batch.retouch_file`'s.
        log: a file every worker appends ``node pid output`` to after each file written
            (default: ``$CSRTOUCH_RAY_LOG``; none).
    """

    def __init__(
        self,
        retoucher: Retoucher,
        *,
        workers: int | None = None,
        format: str | None = None,
        quality: int = 95,
        bit_depth: int | None = None,
        fit: Fit | None = None,
        log: str | None = None,
    ) -> None:
        if retoucher.device != "cpu":
            raise UsageError(f"--ray retouches on the workers' CPUs; --device {retoucher.device} is for a local run")
        self.retoucher = retoucher
        self.workers = min(workers or cluster_cpus(), cluster_cpus())
        self.options = {"format": format, "quality": quality, "bit_depth": bit_depth, "fit": fit}
        self.log = log if log is not None else os.environ.get(LOG_ENV)
        self._actors: list[Any] = []
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: The node that wrote each output, for those this run wrote.
        self.nodes: dict[Path, str] = {}

    @property
    def slots(self) -> int:
        """Files in flight at once: each worker's one and those queued behind it."""
        return self.workers * (1 + QUEUED)

    def share_condition(self, jobs: Sequence[Job]) -> int:
        """Give the retoucher one condition for every input, computed on the workers (see
        the module's notes); returns how many inputs were read (0: none, nothing shared).
        Call before the first file is processed."""
        ray = _ray()
        if self._actors:
            raise UsageError("share the condition before retouching: the workers hold the retoucher already")
        paths = [str(job.input) for job in jobs]
        ref = ray.put(self.retoucher)
        per = max(1, math.ceil(len(paths) / (4 * self.workers)))
        chunks = [paths[i : i + per] for i in range(0, len(paths), per)]
        task = ray.remote(num_cpus=1, max_retries=TRIES - 1)(_conditions)
        found = [c for part in ray.get([task.remote(ref, chunk) for chunk in chunks]) for c in part]
        if found:
            set_shared_condition(self.retoucher, found)
        return len(found)

    def _start(self) -> None:
        ray = _ray()
        actor = ray.remote(
            num_cpus=1,
            max_restarts=-1,
            max_task_retries=TRIES - 1,
            # Over every node, not packed onto the first: a file's cost is its node's cores.
            scheduling_strategy="SPREAD",
        )(_Worker)
        self._actors = [actor.remote(self.options, self.log, *_pieces(self.retoucher)) for _ in range(self.workers)]
        for _ in range(1 + QUEUED):
            for a in self._actors:
                self._free.put(a)

    def process(self, job: Job) -> list[str]:
        """Retouch one job on a worker and wait for it: :func:`csrtouch.batch.run_batch`'s
        ``process``, called from its threads. Raises what ``retouch_file`` would have."""
        ray = _ray()
        with self._lock:
            if not self._actors:
                self._start()
        before = _state(job.output)
        actor = self._free.get()
        try:
            answer = ray.get(actor.retouch.remote(job, before))
        except ray.exceptions.RayError as e:
            if isinstance(e, ray.exceptions.RayTaskError):
                raise  # a bug in _Worker itself: run_batch reports it as unexpected
            raise CsrtouchError(
                f"{job.input}: the Ray worker retouching it died {TRIES} times ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else 'no reason given'}); not written"
            ) from None
        finally:
            self._free.put(actor)
        _raise(answer)
        if answer.get("node"):
            self.nodes[job.output] = answer["node"]
        return answer["warnings"]

    def close(self, folders: Iterable[Path] = ()) -> None:
        """Stop the workers (their node keeps running), and then, in ``folders``, remove the
        temporary files that workers stopped mid-write left (an interrupted run): waits up to
        :data:`CLOSE_WAIT` seconds for the workers' processes to end and release them."""
        import time

        from csrtouch.io.atomic import PART_NAME, remove_stale

        ray = _ray()
        for a in self._actors:
            ray.kill(a)
        self._actors = []
        folders = sorted(set(map(Path, folders)))
        deadline = time.monotonic() + CLOSE_WAIT
        while folders:
            for folder in folders:
                remove_stale(folder)
            left = [f for f in folders if f.is_dir() and any(PART_NAME.match(e.name) for e in os.scandir(f))]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)


def set_shared_condition(retoucher: Retoucher, conditions: Sequence[Sequence[np.ndarray]]) -> None:
    """Set ``retoucher``'s shared condition from per-image condition vectors (one per
    branch each), as :meth:`Retoucher.share_condition` computes it from the images: the
    mean, summed exactly (``math.fsum``: the order of the images cannot change it)."""
    count = len(conditions)
    if count == 0:
        raise UsageError("no readable images to share a condition across")
    retoucher.shared = [
        np.array([math.fsum(column) / count for column in np.stack(c).astype(np.float64).T], np.float32)
        for c in zip(*conditions)
    ]


def _conditions(retoucher: Retoucher, paths: list[str]) -> list[list[np.ndarray]]:
    """Each readable path's condition vector per branch (a remote task of ``share_condition``)."""
    from csrtouch.batch import readable_thumbnails
    from csrtouch.engine.blas import one_thread

    with one_thread():
        return [
            [retoucher.condition(thumb, b.net) for b in retoucher.branches]
            for thumb in readable_thumbnails(Path(p) for p in paths)
        ]


def _pieces(obj: object, size: int = 90_000) -> list[bytes]:
    """``obj`` pickled, in pieces small enough for Ray to carry inside the task that creates
    an actor (under its 100 kB limit) instead of in the object store, so that the actor can
    be restarted from its task alone, whatever happened to the store (a retoucher is
    about 150 kB a style)."""
    import pickle

    data = pickle.dumps(obj)
    return [data[i : i + size] for i in range(0, len(data), size)]


def _state(path: Path) -> tuple[int, int, int] | None:
    """What stands at ``path``: inode, size and modification time, or None."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class _Worker:
    """A Ray actor: one process holding the retoucher, retouching a file at a time."""

    def __init__(self, options: dict, log: str | None, *retoucher: bytes) -> None:
        import pickle

        import ray

        # One BLAS thread: Ray gave this process one CPU (workers x threads <= cores).
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        # Loaded now, not on the first file.
        import csrtouch.batch  # noqa: F401
        import csrtouch.io  # noqa: F401

        self.retoucher = pickle.loads(b"".join(retoucher))
        self.options = options
        self.log = log
        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        #: Restarted after its process died: the dead one may have left temporary files.
        self.restarted = context.was_current_actor_reconstructed
        self.cleaned: set[Path] = set()

    def retouch(self, job: Job, before: tuple[int, int, int] | None) -> dict:
        from csrtouch.batch import retouch_file
        from csrtouch.errors import EncodeError

        answer: dict[str, Any] = {"node": self.node, "warnings": []}
        if before is not None or job.output.exists():
            if _state(job.output) != before:
                # An earlier attempt (its process killed after the rename) wrote it.
                return answer
        if self.restarted and job.output.parent not in self.cleaned:
            from csrtouch.io.atomic import remove_stale

            remove_stale(job.output.parent)  # the dead process's temporary file (unlocked now)
            self.cleaned.add(job.output.parent)
        try:
            answer["warnings"] = list(retouch_file(job, self.retoucher, **self.options))
        except CsrtouchError as e:
            cause = e.__cause__ if isinstance(e, EncodeError) and isinstance(e.__cause__, OSError) else None
            answer["error"] = (type(e).__name__, e.message, e.path, getattr(cause, "errno", None), getattr(cause, "strerror", None))
            return answer
        except Exception as e:
            answer["unexpected"] = (type(e).__name__, str(e))
            return answer
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{self.node} {os.getpid()} {job.output}\n")
        return answer


def _raise(answer: dict) -> None:
    """Raise on the driver the exception the worker caught, as it was (type, message, and
    the OS error behind a failed write, which decides whether the batch stops)."""
    from csrtouch import errors

    if answer.get("error"):
        name, message, path, err, strerror = answer["error"]
        cls = getattr(errors, name, None)
        if not (isinstance(cls, type) and issubclass(cls, CsrtouchError)):
            cls = CsrtouchError
        e = cls(message, path)
        if err is not None:
            raise e from OSError(err, strerror)
        raise e
    if answer.get("unexpected"):
        name, message = answer["unexpected"]
        raise type(name, (Exception,), {})(message)


def retouch_files(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    style: str = "expertC",
    *,
    strength: float = 1.0,
    exact: bool = False,
    consistent: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    format: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    address: str = "auto",
):
    """``csrtouch apply --ray``, as a function: plan ``inputs`` into ``out_dir``, retouch
    them on the cluster, and return ``(results, cluster)``: a
    :class:`csrtouch.batch.Result` per input, in the plan's order, and the
    :class:`Cluster`, whose ``nodes`` says which node wrote each output."""
    from csrtouch.batch import plan, run_batch
    from csrtouch.engine import Retoucher

    connect(address)
    retoucher = Retoucher(style, strength=strength, exact=exact)
    jobs, failed = plan([Path(p) for p in inputs], Path(out_dir), format=format, style=retoucher.name)
    cluster = Cluster(retoucher, workers=workers, format=format, quality=quality, bit_depth=bit_depth)
    try:
        if consistent:
            cluster.share_condition(jobs)
        results = run_batch(jobs, cluster.process, overwrite=overwrite, workers=min(cluster.slots, len(jobs)) or 1)
    finally:
        cluster.close()
    return [*failed, *results], cluster


# --- Ray Data ---------------------------------------------------------------------------


def retouch_dataset(
    ds: ray.data.Dataset,
    style: str = "expertC",
    *,
    strength: float = 1.0,
    exact: bool = False,
    consistent: bool = False,
    format: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    concurrency: int | None = None,
    filesystem: Any = None,
) -> ray.data.Dataset:
    """Retouch a Ray Dataset of images, of encoded files or of paths.

    The rows may hold:

    - ``image``: an ``(H, W, 3)`` uint8 or uint16 array (``ray.data.read_images``), which
      comes back retouched, same shape and dtype;
    - ``bytes``: a whole image file (``ray.data.read_binary_files``), which comes back
      retouched and encoded, in ``format`` or its own (TIFF for RAW and HEIC), with its
      metadata;
    - else ``path``: a file's path or URI (``s3://bucket/key``), read through ``filesystem``
      (a ``pyarrow.fs.FileSystem``; default: from the URI), which comes back as ``bytes``.

    Other columns pass through. An ``error`` column is added: None, or the one-line reason
    a row could not be retouched (its ``image`` or ``bytes`` is then None): a damaged file
    fails once, it is not retried.

    Args:
        style, strength, exact: as :class:`csrtouch.engine.Retoucher`'s.
        consistent: one look for the whole dataset; it is read twice: once for the
            conditions, summed on the driver (:func:`set_shared_condition`), once to retouch.
        format, quality, bit_depth: of ``bytes`` outputs.
        concurrency: worker actors (default: the cluster's CPUs); one retoucher each.

    Returns:
        The retouched dataset (lazy, as Ray Data is: it runs when consumed or written).
    """
    from csrtouch.engine import Retoucher

    _ray()
    retoucher = Retoucher(style, strength=strength, exact=exact)
    workers = concurrency or cluster_cpus()
    if consistent:
        conds = ds.map_batches(
            _DatasetConditions, fn_constructor_kwargs={"retoucher": retoucher, "filesystem": filesystem},
            concurrency=(1, workers), num_cpus=1, batch_size=1, batch_format="pandas",
        ).take_all()
        found = [[np.asarray(v, np.float32) for v in row["condition"]] for row in conds if row["condition"] is not None]
        set_shared_condition(retoucher, found)
    options = {"format": format, "quality": quality, "bit_depth": bit_depth}
    return ds.map_batches(
        _DatasetWorker,
        fn_constructor_kwargs={"retoucher": retoucher, "options": options, "filesystem": filesystem},
        concurrency=(1, workers), num_cpus=1, batch_size=1, batch_format="pandas",
    )


def _read(row: Any, filesystem: Any) -> tuple[bytes, str]:
    """The bytes of a row's file and its name (for its format and errors)."""
    if row.get("bytes") is not None:
        return bytes(row["bytes"]), str(row.get("path") or "<bytes>")
    import pyarrow.fs

    path = str(row["path"])
    fs, where = (filesystem, path) if filesystem is not None else pyarrow.fs.FileSystem.from_uri(path)
    with fs.open_input_stream(where) as f:
        return f.read(), path


class _DatasetWorker:
    def __init__(self, retoucher: Retoucher, options: dict, filesystem: Any) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        self.retoucher, self.options, self.filesystem = retoucher, options, filesystem

    def __call__(self, batch):
        from csrtouch.batch import retouch_bytes

        batch = batch.copy()
        from csrtouch.io.formats import check_format, default_output_format

        errors: list[str | None] = []
        formats: list[str | None] = []
        images = "image" in batch.columns
        out: list[Any] = []
        for _, row in batch.iterrows():
            try:
                if images:
                    out.append(self.retoucher(np.ascontiguousarray(row["image"])))
                else:
                    data, name = _read(row, self.filesystem)
                    out.append(retouch_bytes(data, self.retoucher, name=name, **self.options)[0])
                    fmt = self.options["format"]
                    formats.append(check_format(fmt) if fmt else default_output_format(name))
                errors.append(None)
            except (CsrtouchError, OSError) as e:
                out.append(None)
                formats.append(None)
                errors.append(str(e))
        batch["image" if images else "bytes"] = out
        if not images:
            batch["format"] = formats
        batch["error"] = errors
        return batch


class _DatasetConditions:
    def __init__(self, retoucher: Retoucher, filesystem: Any) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        self.retoucher, self.filesystem = retoucher, filesystem

    def __call__(self, batch):
        import pandas as pd

        from csrtouch.engine.thumbnail import thumbnail
        from csrtouch.io import decode_bytes

        conds: list[Any] = []
        for _, row in batch.iterrows():
            try:
                if "image" in batch.columns:
                    thumb = thumbnail(np.ascontiguousarray(row["image"]))
                else:
                    data, name = _read(row, self.filesystem)
                    thumb = thumbnail(decode_bytes(data, name).pixels)
                conds.append([self.retoucher.condition(thumb, b.net).tolist() for b in self.retoucher.branches])
            except (CsrtouchError, OSError):
                conds.append(None)
        return pd.DataFrame({"condition": conds})


def write_files(
    ds: ray.data.Dataset,
    out: str,
    *,
    root: str | None = None,
    filesystem: Any = None,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Write :func:`retouch_dataset`'s ``bytes`` rows as files under ``out``, a folder or a
    URI (``s3://bucket/prefix``), on the workers; returns a result per row.

    Each file keeps its ``path`` relative to ``root`` (default: its name alone), its
    extension changed where the output format is not its own, as ``apply`` names outputs.
    A local file is written through a temporary file renamed once whole; an object store's
    object appears only when its upload completes, so neither is ever partial. An output
    that exists is skipped unless ``overwrite``.

    Returns:
        ``{"path", "output", "status", "error"}`` per row, ``status`` ``ok``, ``skipped`` or
        ``failed`` (a row that failed to retouch, or an output that could not be written).

    Raises:
        UsageError: ``out`` cannot be written (checked from the driver before any work).
    """
    _ray()
    import pyarrow.fs

    scheme = out.split("://", 1)[0] + "://" if "://" in out else ""
    if filesystem is None and scheme:
        filesystem, base = pyarrow.fs.FileSystem.from_uri(out)
    else:
        base = out[len(scheme):]
    _check_writable(base.rstrip("/"), scheme, filesystem)
    rows = ds.map_batches(
        _write_batch,
        fn_kwargs={"base": base.rstrip("/"), "scheme": scheme, "root": root, "filesystem": filesystem, "overwrite": overwrite},
        # No CPU of its own: writing is I/O, and the retouching actors before it may hold
        # every CPU of the cluster (a CPU asked for here would then never come).
        batch_size=1, batch_format="pandas", num_cpus=0, concurrency=cluster_cpus(),
    ).take_all()
    return [dict(row) for row in rows]


def _check_writable(base: str, scheme: str, filesystem: Any) -> None:
    """Write and delete a small file under ``base``, or raise a one-line UsageError."""
    import secrets

    probe = f"{base}/.csrtouch-write-check-{secrets.token_hex(4)}"
    try:
        if filesystem is None:
            from csrtouch.io.atomic import write_atomic

            write_atomic(Path(probe), b"")
            Path(probe).unlink()
        else:
            with filesystem.open_output_stream(probe) as f:
                f.write(b"csrtouch")  # not empty: an empty multipart upload is refused by some stores
            filesystem.delete_file(probe)
    except (CsrtouchError, OSError) as e:
        raise UsageError(f"cannot write under {scheme + base}: {str(e).strip().splitlines()[0]}") from None


def _write_batch(batch, *, base: str, scheme: str, root: str | None, filesystem: Any, overwrite: bool):
    import pandas as pd

    from csrtouch.batch import FAILED, OK, SKIPPED
    from csrtouch.io.formats import format_of_suffix, output_suffix

    results = []
    for _, row in batch.iterrows():
        path = str(row.get("path") or "")
        rel = Path(path).name
        if root is not None and path.startswith(root.rstrip("/") + "/"):
            rel = path[len(root.rstrip("/")) + 1 :]
        fmt = row.get("format")
        if fmt and format_of_suffix(rel) != fmt:
            rel = str(Path(rel).with_suffix(output_suffix(fmt)))
        target = f"{base}/{rel}"
        result = {"path": path, "output": scheme + target, "status": OK, "error": None}
        try:
            if row.get("error") or row.get("bytes") is None:
                result.update(status=FAILED, error=row.get("error") or f"{path}: not retouched")
            elif filesystem is None:
                from csrtouch.io.atomic import write_atomic

                if Path(target).exists() and not overwrite:
                    result["status"] = SKIPPED
                else:
                    write_atomic(Path(target), bytes(row["bytes"]))
            else:
                import pyarrow.fs

                if filesystem.get_file_info(target).type != pyarrow.fs.FileType.NotFound and not overwrite:
                    result["status"] = SKIPPED
                else:
                    # An object appears when its upload completes: never partial.
                    with filesystem.open_output_stream(target) as f:
                        f.write(bytes(row["bytes"]))
        except (CsrtouchError, OSError) as e:
            result.update(status=FAILED, error=f"{scheme + target}: cannot write: {e}")
        results.append(result)
    return pd.DataFrame(results)
