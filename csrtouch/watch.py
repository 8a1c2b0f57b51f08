"""Hot folder: retouch every photo that arrives in a folder, once it is whole.

A tethered shoot or an editor's export writes into a folder; :func:`watch_folder` notices each
new or replaced photo through the operating system's file events (``watchfiles``: inotify,
FSEvents, ReadDirectoryChangesW; polling where ``WATCHFILES_FORCE_POLLING`` is set, as a
network share needs), waits until it is complete, and retouches it with :func:`csrtouch.batch.plan`'s
names and :func:`csrtouch.batch.run_batch`'s guarantees. Nothing here prints.

A photo is complete when its writer is done with it: no process of this machine holds it
open for writing (read from ``/proc`` on Linux, where the process may look) and its size,
times and inode have not changed for ``settle`` seconds. The second rule alone is what other
systems and writers on other machines (a network share) get: a writer that pauses longer
than ``settle`` mid-file there is taken as done, and its half photo fails as damaged and is
redone once it is replaced whole.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from csrtouch.batch import FAILED, SKIPPED, Job, Result, plan, run_batch
from csrtouch.errors import CsrtouchError, UsageError

#: Seconds a photo's size and times must stay the same before it is taken as complete.
SETTLE = 1.0

#: Names that editors, browsers and sync tools give files they are still writing, beside the
#: hidden ones (``.x.jpg.part``, ``.#x.jpg``, ``.x.jpg.swp``, ``.goutputstream-…``): Office's
#: and others' ``~$x.jpg`` / ``~x.jpg``, backups ``x.jpg~``, Emacs' ``#x.jpg#``, and partial
#: downloads (their suffix is not an image format's, so they are already no photos).
_TEMPORARY = re.compile(r"^[~#]|[~#]$")

Signature = tuple[int, int, int, int]


def is_photo(path: Path | str, root: Path | str | None = None) -> bool:
    """Whether ``path`` names a photo the hot folder takes: an image format's suffix, not a
    hidden or temporary file's name, and (below ``root``) not inside a hidden folder (a
    sync tool's or the desktop's trash and thumbnail folders)."""
    from csrtouch.io import SUPPORTED_SUFFIXES

    path = Path(path)
    name = path.name
    if name.startswith(".") or _TEMPORARY.search(name) or path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return False
    if root is not None:
        try:
            parts = path.relative_to(root).parts[:-1]
        except ValueError:
            return False
        if any(part.startswith(".") for part in parts):
            return False
    return True


def signature(path: Path) -> Signature | None:
    """What changes when a file is written to or replaced: size, times and inode; None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


@dataclass
class _Waiting:
    signature: Signature
    #: When this signature was first seen (or the file's mtime, if older: it was written
    #: while nothing watched).
    since: float


@dataclass
class HotFolder:
    """The state of a watched folder: photos waiting to be complete, and the version of each
    photo already done. Use :func:`watch_folder`."""

    folder: Path
    out_dir: Path
    process: Callable[[Job], Iterable[str] | None]
    format: str | None = None
    name: str | None = None
    style: str = ""
    overwrite: bool = False
    settle: float = SETTLE
    workers: int = 1
    on_result: Callable[[Result], None] | None = None
    reraise: bool = False
    waiting: dict[Path, _Waiting] = field(default_factory=dict)
    done: dict[Path, Signature | None] = field(default_factory=dict)
    #: The output each photo done was written to.
    named: dict[Path, Path] = field(default_factory=dict)

    def key(self, path: Path | str) -> Path:
        return Path(os.path.abspath(path))

    def plan(self) -> tuple[list[Job], list[Result]]:
        return plan([self.folder], self.out_dir, format=self.format, name=self.name, style=self.style)

    def initial(self) -> list[Result]:
        """What arrived while nothing watched: every photo whose output is missing or older
        than the photo (or every one, with ``overwrite``) waits to be complete; the others
        are done. Returns the skipped results and what cannot be planned."""
        jobs, failed = self.plan()
        now = time.time()
        results = []
        for result in failed:
            if _temporary(result.input):
                continue
            self.done[self.key(result.input)] = signature(result.input)
            results.append(result)
        for job in jobs:
            key = self.key(job.input)
            if not is_photo(key, self.key(self.folder)):
                continue
            sig = signature(job.input)
            if sig is None:
                continue
            self.named[key] = self.key(job.output)
            if not self.overwrite and _up_to_date(job):
                self.done[key] = sig
                results.append(Result(job.input, job.output, SKIPPED, "output exists and is newer than the photo"))
            else:
                self.waiting[key] = _Waiting(sig, min(now, _changed(job.input)))
        for result in results:
            if self.on_result:
                self.on_result(result)
        return results

    def notice(self, path: Path | str, now: float) -> None:
        """A file event for ``path``: it waits to be complete (a folder moved in: its photos do)."""
        path = self.key(path)
        if path.is_dir():
            for top, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    self.notice(Path(top, name), now)
            return
        if not is_photo(path, self.key(self.folder)):
            return
        sig = signature(path)
        if sig is None:
            self.waiting.pop(path, None)
        elif path not in self.waiting or self.waiting[path].signature != sig:
            self.waiting[path] = _Waiting(sig, now)

    def forget(self, path: Path | str) -> None:
        path = self.key(path)
        self.waiting.pop(path, None)
        self.done.pop(path, None)

    def ready(self, now: float) -> list[Path]:
        """The waiting photos that are complete now (and not already done in this version)."""
        settled = []
        for path, waiting in list(self.waiting.items()):
            sig = signature(path)
            if sig is None:
                del self.waiting[path]
            elif sig != waiting.signature:
                self.waiting[path] = _Waiting(sig, now)
            elif now - waiting.since >= self.settle:
                settled.append(path)
        if not settled:
            return []
        for path in held_for_writing(settled):
            self.waiting[path].since = now
        ready = []
        for path in settled:
            if now - self.waiting[path].since < self.settle:
                continue
            sig = self.waiting.pop(path).signature
            if self.done.get(path) != sig:
                ready.append(path)
                self.done[path] = sig
        return sorted(ready)

    def retouch(self, ready: list[Path]) -> list[Result]:
        """Retouch ``ready`` (each redone even if its output exists: it is new or replaced).

        The folder is planned whole, so that names follow apply's rules (a RAW and the
        camera's JPEG of one shot both get written; no output over an input). A photo done
        before whose output that changes (``IMG_1.CR2`` was written as ``IMG_1.tif``, and
        ``IMG_1.tif`` arrives: it is ``IMG_1.CR2.tif`` now) is redone under its new name; its
        old output is left as it is (or is the newcomer's now).
        """
        wanted = set(ready)
        try:
            jobs, failed = self.plan()
        except UsageError as e:  # a template that does not fit a new photo's format
            results = [Result(path, None, FAILED, f"{path}: {e}") for path in ready]
        else:
            results = [r for r in failed if self.key(r.input) in wanted]
            for result in results:
                if self.on_result:
                    self.on_result(result)
            mine = [job for job in jobs if self.key(job.input) in wanted or self._renamed(job)]
            for job in mine:
                self.named[self.key(job.input)] = self.key(job.output)
            results += run_batch(
                mine, self.process, overwrite=True, on_result=self.on_result, reraise=self.reraise,
                workers=min(self.workers, len(mine)) or 1,
            )
            return results
        for result in results:
            if self.on_result:
                self.on_result(result)
        return results


    def _renamed(self, job: Job) -> bool:
        key = self.key(job.input)
        before = self.named.get(key)
        return before is not None and before != self.key(job.output) and key in self.done and key not in self.waiting


def watch_folder(
    folder: Path,
    out_dir: Path,
    process: Callable[[Job], Iterable[str] | None],
    *,
    format: str | None = None,
    name: str | None = None,
    style: str = "",
    overwrite: bool = False,
    settle: float = SETTLE,
    workers: int = 1,
    on_result: Callable[[Result], None] | None = None,
    reraise: bool = False,
    stop_event: object | None = None,
    tick: float = 0.25,
) -> Iterator[list[Result]]:
    """Retouch what is in ``folder``, then each photo that arrives or is replaced, until
    ``stop_event`` (a ``threading.Event``) is set or the caller is interrupted.

    Yields a list of results per round: first the initial pass (outputs that are missing or
    older than their photo; the others are skipped), then each group of photos that became
    complete together. ``on_result`` sees each result as it comes.

    Args:
        folder: the hot folder, watched recursively.
        out_dir: where outputs go, the folder tree mirrored as :func:`csrtouch.batch.plan` does.
        process: retouches a job, as for :func:`csrtouch.batch.run_batch`.
        format, name, style: as for :func:`csrtouch.batch.plan`.
        overwrite: redo every photo in the initial pass, even those whose output is newer.
        settle: seconds a photo must stay unchanged (and unheld) to be complete.
        workers: photos retouched at once.
        reraise: as for :func:`csrtouch.batch.run_batch`.
        tick: seconds between checks of the photos still being written.

    Raises:
        UsageError: ``folder`` is not a folder; the output folder is inside it; ``name`` is
            no template (before anything is done).
        CsrtouchError: the folder was removed or moved away while watched.
    """
    import watchfiles

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; watch takes one folder to watch and the OUTPUT folder")
    hot = HotFolder(folder, Path(out_dir), process, format=format, name=name, style=style, overwrite=overwrite,
                    settle=settle, workers=workers, on_result=on_result, reraise=reraise)
    hot.plan()  # refuses an output folder inside the hot folder, a bad template, before watching
    root = hot.key(folder)
    changes = watchfiles.watch(
        root, watch_filter=lambda change, path: _worth_a_look(change, path, root), debounce=300, step=50,
        rust_timeout=max(1, int(tick * 1000)), yield_on_timeout=True, stop_event=stop_event,
    )
    identity = _identity(root)
    first = True
    for batch in changes:
        now = time.time()
        if _identity(root) != identity:
            # Its events stopped with it: a folder made again under the name is not watched.
            raise CsrtouchError(f"the watched folder {folder} was removed or moved; nothing more can arrive in it")
        if first:
            # The watcher runs from here, so nothing that arrives during the initial pass is missed.
            first = False
            yield hot.initial()
        for change, path in sorted(batch, key=lambda c: c[1]):
            if change == watchfiles.Change.deleted:
                hot.forget(path)
            else:
                hot.notice(path, now)
        ready = hot.ready(time.time())
        if ready:
            yield hot.retouch(ready)


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _temporary(path: Path) -> bool:
    """An image's suffix on a hidden or temporary file's name."""
    from csrtouch.io import SUPPORTED_SUFFIXES

    return Path(path).suffix.lower() in SUPPORTED_SUFFIXES and not is_photo(path)


def _worth_a_look(change: object, path: str, root: Path) -> bool:
    """Events of photos, and of folders (one moved in brings its photos without events)."""
    return is_photo(path, root) or os.path.isdir(path)


def _up_to_date(job: Job) -> bool:
    """The output exists and was written after the photo was last written or moved in."""
    try:
        return job.output.stat().st_mtime >= _changed(job.input)
    except OSError:
        return False


def _changed(path: Path) -> float:
    """When the file was last written or put in place: a photo moved in keeps its old mtime,
    but its ctime is the move's."""
    st = os.stat(path)
    return max(st.st_mtime, st.st_ctime)


def held_for_writing(paths: list[Path]) -> set[Path]:
    """Those of ``paths`` that a process (other than this one) has open for writing.

    Linux only (``/proc``), and only the processes this one may look at (its user's, or all
    as root); elsewhere none are known, and the settle time alone tells a complete file.
    """
    proc = Path("/proc")
    if not (proc / "self" / "fdinfo").is_dir():
        return set()
    wanted: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        wanted[(st.st_dev, st.st_ino)] = path
    held: set[Path] = set()
    me = str(os.getpid())
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit() and p != me]
    except OSError:
        return held
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            path = wanted.get((st.st_dev, st.st_ino))
            if path is None or path in held:
                continue
            try:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    match = re.search(r"^flags:\s*([0-7]+)", f.read(), re.MULTILINE)
            except OSError:
                continue
            if match and int(match.group(1), 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                held.add(path)
    return held
