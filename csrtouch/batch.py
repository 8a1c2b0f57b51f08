"""Batches: walk the inputs, name the outputs, retouch each file, and return a result per file.

Nothing here prints. Every file gets a ``Result``; a failure is recorded and the batch goes
on, except for errors that would fail every following file too (disk full, read-only
output), which stop it.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from csrtouch.errors import CsrtouchError, EncodeError, UsageError

if TYPE_CHECKING:
    from csrtouch.engine import Retoucher
    from csrtouch.io import Image
    from csrtouch.io.resize import Fit
    from csrtouch.io.stream import JpegSource

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"
#: A dry run's status of a file that a real run would retouch.
PLANNED = "planned"

#: OS errors after which no later file can be written either.
_FATAL_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes."""

    input: Path
    output: Path


@dataclass(frozen=True)
class Result:
    """What happened to one input."""

    input: Path
    output: Path | None
    status: str
    error: str | None = None
    seconds: float = 0.0
    #: Problems that did not stop the file (e.g. an all-black RAW, a profile left as is).
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "input": str(self.input),
            "output": None if self.output is None else str(self.output),
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 4),
            "warnings": list(self.warnings),
        }


def walk(inputs: Iterable[Path]) -> tuple[list[tuple[Path, Path]], list[Path], list[Result]]:
    """The image files among ``inputs``, each with the path its output mirrors.

    Folders are walked recursively (symlinked folders are not followed; hidden files and
    files whose suffix names no image format are not images). The same file named twice,
    directly or through folders, is listed once.

    Returns:
        ``(file, relative path)`` pairs, the input folders, and failed results for what
        cannot be read: a missing input, a folder the walk cannot list, something that is
        not a regular file (a FIFO, a device) under an image's name.
    """
    from csrtouch.io import SUPPORTED_SUFFIXES

    files: list[tuple[Path, Path]] = []
    folders: list[Path] = []
    failed: list[Result] = []
    seen: set[Path] = set()

    def add(path: Path, rel: Path) -> None:
        try:
            regular = path.is_file()
            key = path.resolve()
        except OSError as e:
            failed.append(Result(path, None, FAILED, f"{path}: cannot read: {e.strerror or e}"))
            return
        if not regular:
            what = "a broken symbolic link" if not path.exists() else "not a regular file (a FIFO, socket or device)"
            failed.append(Result(path, None, FAILED, f"{path}: {what}"))
        elif key not in seen:
            seen.add(key)
            files.append((path, rel))

    for src in map(Path, inputs):
        if src.is_dir():
            folders.append(src)

            def unreadable(e: OSError, src: Path = src) -> None:
                where = Path(e.filename) if e.filename else src
                failed.append(Result(where, None, FAILED, f"{where}: cannot read the folder: {e.strerror or e}"))

            found = []
            for top, dirs, names in os.walk(src, onerror=unreadable):
                dirs.sort()
                found += [Path(top, n) for n in names if Path(n).suffix.lower() in SUPPORTED_SUFFIXES and not n.startswith(".")]
            for path in sorted(found):
                add(path, path.relative_to(src))
        elif src.exists():
            add(src, Path(src.name))
        elif src.is_symlink():
            failed.append(Result(src, None, FAILED, f"{src}: a broken symbolic link"))
        else:
            failed.append(Result(src, None, FAILED, f"{src}: no such file or directory"))
    return files, folders, failed


def plan(
    inputs: Iterable[Path],
    out_dir: Path,
    *,
    format: str | None = None,
    name: str | None = None,
    style: str = "",
) -> tuple[list[Job], list[Result]]:
    """Expand folders recursively and mirror them under ``out_dir``.

    A folder's images keep their relative paths; a file named directly goes to
    ``out_dir/<name>``. ``format`` changes the suffix of every output that is not already
    in that format. Where two inputs would get the same output name (``IMG_1.CR2`` and
    ``IMG_1.JPG`` with ``--format jpeg``), the one already in the output format keeps its
    name and every other one keeps its own extension too (``IMG_1.CR2.jpg``), whatever
    order the inputs come in.

    ``name``, a template (:func:`check_name_template`), renames each output within its
    folder of the mirrored tree. The rule above holds for the names it gives, with the
    input's whole name as ``{stem}`` (``IMG_1.CR2_web.jpg``); inputs it still gives one
    name fail, all but the first, as other clashes do.

    No output is ever an input of the same run, or inside an input folder (where the next
    run would take it for an input): such a file fails with a line that says so.

    Args:
        inputs: image files and folders.
        out_dir: the output folder (not created).
        format: the output format of every file (default: its own; TIFF for RAW and HEIC).
        name: the output names' template, e.g. ``"{stem}_web.{ext}"``.
        style: the style's name, for the template's ``{style}``; made safe for a file
            name (``expertC:0.7,mine:0.3`` gives ``expertC-0.7-mine-0.3``).

    Returns:
        The jobs, and failed results for inputs that cannot be planned (missing or
        unreadable inputs, an output that would land on an input).

    Raises:
        UsageError: the output folder is an input or inside an input folder; ``name`` is
            not a template of a file name, or gives an output an extension other than its
            format's.
    """
    from csrtouch.io import default_output_format, output_suffix
    from csrtouch.io.formats import READ_ONLY_SUFFIXES, check_format, format_of_suffix

    if name is not None:
        check_name_template(name)
    label = _file_name_label(style)
    out_dir = Path(out_dir)
    out_resolved = out_dir.resolve()
    files, folders, failed = walk(inputs)
    roots = [folder.resolve() for folder in folders]
    for folder, root in zip(folders, roots):
        if out_resolved == root or root in out_resolved.parents:
            raise UsageError(f"output folder {out_dir} is inside input folder {folder}; choose a folder outside it")
    target = None if format is None else check_format(format)

    def plain(src: Path, rel: Path) -> tuple[Path, bool]:
        """The output's name, and whether the input is already in the output's format."""
        dest = out_dir / rel
        if target is not None:
            if format_of_suffix(src) == target:
                return dest, True
            return dest.with_suffix(output_suffix(target)), False
        if src.suffix.lower() in READ_ONLY_SUFFIXES:
            # RAW and HEIC cannot be written back: their default output format.
            return dest.with_suffix(output_suffix(default_output_format(src))), False
        return dest, True

    def renamed(src: Path, dest: Path) -> Path:
        """``dest``, the name the output would have, as the template names it."""
        if name is None:
            return dest
        stem, ext = dest.name[: len(dest.name) - len(dest.suffix)], dest.suffix[1:]
        parent = Path(os.path.abspath(src)).parent.name
        new = dest.with_name(name.format(stem=stem, ext=ext, style=label, parent=parent))
        wanted = format_of_suffix(dest)
        if wanted is not None and format_of_suffix(new) != wanted:
            raise UsageError(
                f"--name {name!r} names the output of {src} {new.name!r}, but it is written as "
                f"{wanted.upper()}; end the template with .{{ext}}"
            )
        return new

    named = [(src, *plain(src, rel)) for src, rel in files]
    named = [(src, renamed(src, dest), same_format, dest) for src, dest, same_format in named]
    # Names that differ only in case clash too: they would on macOS's and Windows' disks.
    sharing: dict[str, int] = {}
    for _, dest, _, _ in named:
        sharing[_folded(dest)] = sharing.get(_folded(dest), 0) + 1
    inputs_by_key = {src.resolve(): src for src, _ in files}
    inodes = {}
    for src, _ in files:
        try:
            st = src.stat()
            inodes[(st.st_dev, st.st_ino)] = src
        except OSError:
            pass

    jobs: list[Job] = []
    claimed: dict[Path | str, Path] = {}
    # On a disk that ignores case (macOS's and Windows' by default) X.jpg and x.jpg are one file:
    # the second would be "already done", silently.
    blind = _case_blind(out_dir)
    for i, (src, dest, same_format, default) in enumerate(named):
        if sharing[_folded(dest)] > 1 and not same_format:
            # x.cr2 and x.jpg (or x.cr2 and x.cr3) would share a name: keep the extension.
            dest = renamed(src, default.with_name(src.name + default.suffix))
        key = _key(dest)
        clash = inputs_by_key.get(dest.resolve()) or _same_inode(dest, inodes)
        if clash is not None:
            what = "its input" if clash == src else f"the input {clash}"
            failed.append(Result(src, None, FAILED, f"{src}: its output {dest} would overwrite {what}; not written"))
            continue
        inside = next((f for f, r in zip(folders, roots) if r in dest.resolve().parents), None)
        if inside is not None:
            failed.append(Result(src, None, FAILED, (
                f"{src}: its output {dest} would be written inside the input folder {inside}, "
                "where it would be read as an input; choose an output folder outside the inputs"
            )))
            continue
        claim = _folded(dest) if blind else key
        if claim in claimed:
            failed.append(Result(src, None, FAILED, f"{src}: its output {dest} is also the output of {claimed[claim]}"))
            continue
        claimed[claim] = src
        jobs.append(Job(src, dest))
    return jobs, failed


#: The placeholders of an output name template, and what each stands for.
NAME_FIELDS = {
    "stem": "the input's name without its extension",
    "style": "the style's name",
    "ext": "the output's extension, without the dot",
    "parent": "the name of the input's folder",
}


def check_name_template(template: str, option: str = "--name") -> str:
    """Check that ``template`` names a file: text and the placeholders of
    :data:`NAME_FIELDS` (``{stem}``, ``{style}``, ``{ext}``, ``{parent}``), ``{{`` and ``}}``
    for braces; no folder, so that every output stays in its place in the mirrored tree.

    Returns:
        ``template``.

    Raises:
        UsageError: the template is empty, holds a path separator or a NUL, is ``.`` or
            ``..``, has an unmatched brace, or a placeholder that is not one of those (or
            has a conversion or a format spec).
    """
    import string

    fields = ", ".join(f"{{{f}}}" for f in NAME_FIELDS)
    if not template.strip():
        raise UsageError(f"{option} is empty; give a file name such as '{{stem}}_web.{{ext}}' (placeholders: {fields})")
    if any(sep in template for sep in ("/", "\\", "\0")):
        raise UsageError(
            f"{option} {template!r} holds a path separator; it names a file, which goes in its place in the "
            "mirrored tree under OUTPUT (a subfolder or a path outside OUTPUT cannot be named)"
        )
    if template in (".", ".."):
        raise UsageError(f"{option} {template!r} is not a file name")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise UsageError(f"{option} {template!r}: {e}; write a brace as {{{{ or }}}}") from None
    for _, field, spec, conversion in parsed:
        if field is not None and (field not in NAME_FIELDS or spec or conversion):
            whole = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise UsageError(f"{option} {template!r}: unknown placeholder {{{whole}}}; the placeholders are {fields}")
    return template


def name_template(name: str | None = None, suffix: str | None = None) -> str | None:
    """The output name template of ``--name`` or ``--suffix`` (text after the stem:
    ``--suffix _web`` is ``{stem}_web.{ext}``); None for the inputs' own names.

    Raises:
        UsageError: both are given; or as :func:`check_name_template`.
    """
    if name is not None and suffix is not None:
        raise UsageError("give --name or --suffix, not both (--suffix TEXT is --name '{stem}TEXT.{ext}')")
    if suffix is not None:
        if not suffix:
            raise UsageError("--suffix is empty; give the text that follows each name's stem, such as _web")
        return check_name_template("{stem}" + suffix.replace("{", "{{").replace("}", "}}") + ".{ext}", "--suffix")
    return None if name is None else check_name_template(name)


def _file_name_label(style: str) -> str:
    """``style`` as a piece of a file name: runs of characters other than letters, digits,
    ``.``, ``+`` and ``-`` (a mix's ``:`` and ``,``, a style file's folders) become ``-``."""
    import re

    return re.sub(r"[^\w.+-]+", "-", style).strip("-.") or "style"


def dry_run(jobs: Iterable[Job], *, overwrite: bool = False) -> list[Result]:
    """What :func:`run_batch` would do with each job, reading only: ``PLANNED`` where it
    would retouch the input, ``SKIPPED`` where the output exists (without ``overwrite``),
    ``FAILED`` where something other than a file stands at the output's path."""
    results = []
    for job in jobs:
        # run_batch's own checks, made before it retouches a file.
        if job.output.exists() or job.output.is_symlink():
            if not job.output.is_file():
                kind = "a folder" if job.output.is_dir() else "not a regular file"
                results.append(Result(job.input, job.output, FAILED, f"{job.input}: its output {job.output} is {kind}; not written"))
                continue
            if not overwrite:
                results.append(Result(job.input, job.output, SKIPPED, "output exists (use --overwrite to redo)"))
                continue
        results.append(Result(job.input, job.output, PLANNED))
    return results


def check_bit_depths(jobs: Iterable[Job], bit_depth: int) -> None:
    """Refuse, before any work, a bit depth that some outputs' formats cannot store.

    Raises:
        UsageError: naming the format, how many outputs are in it, and one of them.
    """
    from csrtouch.io.formats import BIT_DEPTHS, format_of_suffix

    by_format: dict[str, list[Job]] = {}
    for job in jobs:
        fmt = format_of_suffix(job.output)
        if fmt is not None and bit_depth not in BIT_DEPTHS[fmt]:
            by_format.setdefault(fmt, []).append(job)
    for fmt, bad in by_format.items():
        raise UsageError(
            f"--bit-depth {bit_depth}: {len(bad)} output(s) would be {fmt.upper()}, which stores "
            f"{' or '.join(map(str, BIT_DEPTHS[fmt]))}-bit only (e.g. {bad[0].input}); add --format png or tiff"
        )


def in_background(fn: Callable[[], object]) -> object:
    """``fn()`` in a daemon thread while this one waits, so that Ctrl-C is handled at once even
    if ``fn`` is stuck in a read."""
    pool = _DaemonPool(1)
    try:
        return pool.submit(fn).result()
    finally:
        pool.shutdown()


def _key(path: Path) -> Path:
    """Where a path points, for telling two names of one file apart from two files."""
    return Path(os.path.normcase(path.resolve()))


def _folded(path: Path) -> str:
    return str(_key(path)).casefold()


def _case_blind(folder: Path) -> bool:
    """Whether the disk that holds (or will hold) ``folder`` ignores case in file names: the
    nearest existing folder with a cased letter in its name is looked up in the other case."""
    for path in (Path(os.path.abspath(folder)), *Path(os.path.abspath(folder)).parents):
        if path.name != path.name.swapcase() and path.exists():
            other = path.with_name(path.name.swapcase())
            try:
                return other.exists() and os.path.samefile(path, other)
            except OSError:
                return False
    return False


def _same_inode(dest: Path, inodes: dict[tuple[int, int], Path]) -> Path | None:
    """The input that ``dest`` is another name of (a hard link), if it exists and is one."""
    try:
        st = dest.stat()
    except OSError:
        return None
    return inodes.get((st.st_dev, st.st_ino))


def run_batch(
    jobs: list[Job],
    process: Callable[[Job], Iterable[str] | None],
    *,
    overwrite: bool = False,
    on_result: Callable[[Result], None] | None = None,
    reraise: bool = False,
    workers: int = 1,
) -> list[Result]:
    """Run ``process`` on every job and collect a result per job, in job order.

    Args:
        jobs: from ``plan``.
        process: reads ``job.input`` and writes ``job.output`` atomically; may return
            warnings about the file.
        overwrite: redo jobs whose output exists (default: skip them, so re-running a
            batch finishes what an interrupted one left).
        on_result: called in the calling thread after each job, e.g. to advance a
            progress bar.
        reraise: re-raise unexpected exceptions (bugs) instead of recording them as a
            failure of that file.
        workers: threads running ``process``. Decoding, the network and encoding all
            release the GIL, so threads overlap one file's decode with another's compute.

    The work runs in daemon threads while the calling thread waits, so Ctrl-C (or SIGTERM,
    turned into KeyboardInterrupt by the CLI) is handled at once even when a worker is stuck
    in a read (a hung network mount): the writes in progress are aborted
    (:func:`csrtouch.io.atomic.abort_writes`), and KeyboardInterrupt propagates without
    waiting for the workers.

    Raises:
        EncodeError: the disk is full or read-only: every later file would fail too.
    """
    from csrtouch.io.atomic import abort_writes, aborting, remove_stale, reset_abort

    reset_abort()  # a library caller may run again after an interrupted batch
    for folder in sorted({job.output.parent for job in jobs}):
        # What a killed run left (SIGKILL, power cut); files another run is writing are locked.
        remove_stale(folder)

    def one(job: Job) -> Result:
        start = time.perf_counter()
        if job.output.exists() or job.output.is_symlink():
            if not job.output.is_file():
                kind = "a folder" if job.output.is_dir() else "not a regular file"
                return Result(job.input, job.output, FAILED, f"{job.input}: its output {job.output} is {kind}; not written")
            if not overwrite:
                return Result(job.input, job.output, SKIPPED, "output exists (use --overwrite to redo)")
        warnings: tuple[str, ...] = ()
        try:
            warnings = tuple(process(job) or ())
            status, error = OK, None
        except CsrtouchError as e:
            if isinstance(e, EncodeError) and isinstance(e.__cause__, OSError) and e.__cause__.errno in _FATAL_ERRNOS:
                raise
            status, error = FAILED, str(e)
        except Exception as e:
            if reraise or aborting():
                raise
            status, error = FAILED, f"{job.input}: unexpected {type(e).__name__}: {e} (please report; --traceback shows where)"
        return Result(job.input, job.output, status, error, time.perf_counter() - start, warnings)

    results: list[Result] = []

    def record(result: Result) -> None:
        results.append(result)
        if on_result:
            on_result(result)

    pool = _DaemonPool(max(1, workers))
    # A bounded window of submitted jobs keeps memory at ``2 * workers`` images.
    pending: list[tuple[Job, Future]] = []
    try:
        for job in jobs:
            pending.append((job, pool.submit(one, job)))
            if len(pending) >= 2 * workers:
                _drain(pending, record, keep=workers)
        _drain(pending, record, keep=0)
    except BaseException:
        # Interrupted, or a full disk: nothing more is written, and the files being written go.
        for _, future in pending:
            future.cancel()
        abort_writes()
        raise
    finally:
        pool.shutdown()
    return results


class _DaemonPool:
    """A thread pool whose threads are daemons: a worker stuck in a read (a hung network
    mount) can neither delay an interrupted run's exit nor keep the interpreter alive, as
    ``ThreadPoolExecutor``'s joined threads would."""

    def __init__(self, workers: int) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        for i in range(workers):
            threading.Thread(target=self._work, name=f"csrtouch-{i}", daemon=True).start()
        self._workers = workers

    def submit(self, fn: Callable, *args: object) -> Future:
        future: Future = Future()
        self._queue.put((future, fn, args))
        return future

    def shutdown(self) -> None:
        for _ in range(self._workers):
            self._queue.put(None)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # handed to the waiting thread, which re-raises it
                future.set_exception(e)


def _drain(pending: list, record: Callable[[Result], None], keep: int) -> None:
    """Record finished jobs from the front of ``pending`` until ``keep`` remain."""
    while len(pending) > keep:
        job, future = pending[0]
        try:
            result = future.result()
        except EncodeError as e:
            pending.pop(0)
            record(Result(job.input, job.output, FAILED, str(e)))
            raise
        pending.pop(0)
        record(result)


def retouch_file(
    job: Job,
    retoucher: Retoucher,
    *,
    format: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    fit: Fit | None = None,
) -> list[str]:
    """Decode ``job.input``, retouch it, and write ``job.output`` atomically with its metadata.

    A large plain JPEG written as a JPEG or TIFF is never held whole (:mod:`csrtouch.io.stream`),
    unless it is to be shrunk to ``fit`` (:mod:`csrtouch.io.resize`): then it is decoded
    whole, retouched in place and shrunk.

    Returns:
        Warnings about the input that did not stop it.
    """
    from csrtouch.io import decode, encode
    from csrtouch.io.formats import check_format, format_of_suffix
    from csrtouch.io.resize import shrink

    named = format_of_suffix(job.output)
    depth = bit_depth or 8
    streams = named in ("jpeg", "tiff") and (named, depth) != ("jpeg", 16)
    if streams and (format is None or check_format(format) == named):
        from csrtouch.io.encode import encode_bands
        from csrtouch.io.stream import open_jpeg

        source = open_jpeg(job.input)
        if source is not None and (fit is None or fit.size(*_upright_size(source)) is None):
            # A large photo, a band at a time: memory stays flat in its size.
            size = {"width": source.width, "height": source.height}
            dtype = np.uint16 if depth == 16 else np.uint8
            space = {"to_srgb": source.to_srgb, "from_srgb": source.from_srgb} if source.from_profile else {}
            bands = retoucher.stream(source.bands, **size, dtype=dtype, upright=_upright(source.orientation), **space)
            metadata = {"icc_profile": source.icc_profile, "exif": source.exif, "xmp": source.xmp}
            options = {"format": named, "bit_depth": depth, "quality": quality, **metadata, **provenance(retoucher)}
            encode_bands(bands, job.output, **size, **options)
            return []
    image = _retouch(decode(job.input), retoucher, bit_depth)
    if fit is not None:
        shrink(image, fit)
    encode(image, job.output, format=format, quality=quality, bit_depth=bit_depth, **provenance(retoucher))
    return list(image.warnings)


def retouch_bytes(
    data: bytes,
    retoucher: Retoucher,
    *,
    format: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    name: str = "<stdin>",
    fit: Fit | None = None,
) -> tuple[bytes, list[str]]:
    """``retouch_file`` for a whole file in memory (stdin to stdout): encoded bytes and warnings.

    The output format is ``format``, else the input's (TIFF for RAW and HEIC).
    """
    from csrtouch.io import decode_bytes, default_output_format, encode_bytes
    from csrtouch.io.resize import shrink

    image = _retouch(decode_bytes(data, name), retoucher, bit_depth)
    if fit is not None:
        shrink(image, fit)
    out = encode_bytes(
        image,
        format=format or default_output_format(image),
        quality=quality,
        bit_depth=bit_depth,
        **provenance(retoucher),
    )
    return out, list(image.warnings)


def readable_thumbnails(paths: Iterable[Path]) -> Iterator[np.ndarray]:
    """The condition thumbnail of each path that decodes, for ``Retoucher.share_condition``;
    the batch itself reports the others. A large plain JPEG is read in bands, as
    ``retouch_file`` reads it, so it gets the thumbnail the retouch would and is never held
    whole."""
    from csrtouch.engine.thumbnail import BandThumbnail, thumbnail
    from csrtouch.io import decode
    from csrtouch.io.stream import open_jpeg

    for path in paths:
        try:
            source = open_jpeg(Path(path))
            if source is None:
                yield thumbnail(decode(path).pixels)
                continue
            thumb = BandThumbnail(source.height, source.width)
            for band in source.bands():
                thumb.add(source.to_srgb(band) if source.from_profile else band)
            yield _upright(source.orientation)(thumb.result())
        except CsrtouchError:
            continue


def provenance(retoucher: Retoucher) -> dict[str, str | dict[str, str]]:
    """What lets a result be reproduced, as ``encode``'s arguments: EXIF ``Software`` (also
    XMP ``xmp:CreatorTool``) and XMP properties in csrtouch's namespace (``csrtouch:Style``,
    ``csrtouch:Strength``, ...). The photo's own EXIF and XMP, its caption included, are kept."""
    from csrtouch import __version__

    return {
        "software": f"csrtouch {__version__}",
        "provenance": {
            "Version": __version__,
            "Style": retoucher.name,
            "Strength": f"{retoucher.strength:g}",
            "Network": retoucher.network_sha256,
            "ConditionShared": "True" if retoucher.shared else "False",
        },
    }


def _upright_size(source: JpegSource) -> tuple[int, int]:
    """``(width, height)`` of a streamed JPEG turned upright."""
    turned = source.orientation in (5, 6, 7, 8)
    return (source.height, source.width) if turned else (source.width, source.height)


def _upright(orientation: int) -> Callable[[np.ndarray], np.ndarray]:
    """Turns a thumbnail of pixels stored with EXIF ``orientation`` upright."""
    from csrtouch.io.metadata import orient

    return lambda thumb: np.ascontiguousarray(orient(thumb, orientation))


def _retouch(image: Image, retoucher: Retoucher, bit_depth: int | None) -> Image:
    if bit_depth == 16 and image.bit_depth == 8:
        # Retouch at 16 bits, not 8 bits widened afterwards: the style's output has more
        # precision than its 8-bit input (and 16-bit takes the exact path, not the LUT).
        image.pixels = retoucher(image.pixels, np.uint16)
        if image.alpha is not None:
            image.alpha = image.alpha.astype(np.uint16) * np.uint16(257)
        return image
    pixels = image.pixels
    # In place where the decoder's array allows it: a 50 MP frame is 150 MB.
    inplace = pixels.flags.writeable and pixels.flags.c_contiguous
    image.pixels = retoucher(pixels, out=pixels if inplace else None)
    return image
