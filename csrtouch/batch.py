"""Batches: walk the inputs, name the outputs, retouch each file, and return a result per file.

Nothing here prints. Every file gets a ``Result``; a failure is recorded and the batch goes
on, except for errors that would fail every following file too (disk full, read-only
output), which stop it.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from csrtouch.errors import CsrtouchError, EncodeError, UsageError

if TYPE_CHECKING:
    from csrtouch.engine import Retoucher
    from csrtouch.io import Image

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"

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


def plan(inputs: Iterable[Path], out_dir: Path, *, format: str | None = None) -> tuple[list[Job], list[Result]]:
    """Expand folders recursively and mirror them under ``out_dir``.

    A folder's images keep their relative paths; a file named directly goes to
    ``out_dir/<name>``. ``format`` changes the suffix of every output.

    Returns:
        The jobs, and failed results for inputs that cannot be planned (missing files,
        two inputs that would write the same output).

    Raises:
        UsageError: the output folder is an input or inside an input folder.
    """
    from csrtouch.io import SUPPORTED_SUFFIXES, default_output_format, output_suffix
    from csrtouch.io.formats import READ_ONLY_SUFFIXES

    out_dir = Path(out_dir)
    out_resolved = out_dir.resolve()
    jobs: list[Job] = []
    failed: list[Result] = []
    claimed: dict[Path, Path] = {}

    def add(src: Path, rel: Path) -> None:
        dest = out_dir / rel
        if format is not None:
            dest = dest.with_suffix(output_suffix(format))
        elif src.suffix.lower() in READ_ONLY_SUFFIXES:
            # RAW and HEIC cannot be written back: their default output format.
            dest = dest.with_suffix(output_suffix(default_output_format(src)))
        key = dest.resolve()
        if key == src.resolve():
            raise UsageError(f"output {dest} would overwrite its input")
        if key in claimed and dest.name != src.name:
            # x.cr2 and x.cr3 (or x.heic and x.jpg with --format) both become x.tif: keep
            # the second one's own extension in its name rather than refusing it.
            dest = dest.with_name(src.name + dest.suffix)
            key = dest.resolve()
        if key in claimed:
            failed.append(Result(src, None, FAILED, f"output {dest} is also the output of {claimed[key]}"))
            return
        claimed[key] = src
        jobs.append(Job(src, dest))

    for src in map(Path, inputs):
        if src.is_dir():
            root = src.resolve()
            if out_resolved == root or root in out_resolved.parents:
                raise UsageError(f"output folder {out_dir} is inside input folder {src}; choose a folder outside it")
            for path in sorted(p for p in src.rglob("*") if p.is_file()):
                if path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith("."):
                    add(path, path.relative_to(src))
        elif src.exists():
            add(src, Path(src.name))
        else:
            failed.append(Result(src, None, FAILED, "no such file or directory"))
    return jobs, failed


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

    Raises:
        EncodeError: the disk is full or read-only: every later file would fail too.
    """

    def one(job: Job) -> Result:
        start = time.perf_counter()
        if job.output.exists() and not overwrite:
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
            if reraise:
                raise
            status, error = FAILED, f"{job.input}: unexpected {type(e).__name__}: {e} (please report; --traceback shows where)"
        return Result(job.input, job.output, status, error, time.perf_counter() - start, warnings)

    results: list[Result] = []

    def record(result: Result) -> None:
        results.append(result)
        if on_result:
            on_result(result)

    if workers <= 1:
        for job in jobs:
            try:
                record(one(job))
            except EncodeError as e:
                record(Result(job.input, job.output, FAILED, str(e)))
                raise
        return results

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="csrtouch")
    try:
        # A bounded window of submitted jobs keeps memory at ``2 * workers`` images.
        pending: list[tuple[Job, object]] = []
        queue = iter(jobs)
        for job in queue:
            pending.append((job, pool.submit(one, job)))
            if len(pending) >= 2 * workers:
                _drain(pending, record, keep=workers)
        _drain(pending, record, keep=0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def _drain(pending: list, record: Callable[[Result], None], keep: int) -> None:
    """Record finished jobs from the front of ``pending`` until ``keep`` remain."""
    while len(pending) > keep:
        job, future = pending.pop(0)
        try:
            record(future.result())
        except EncodeError as e:
            record(Result(job.input, job.output, FAILED, str(e)))
            raise


def retouch_file(
    job: Job,
    retoucher: Retoucher,
    *,
    format: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
) -> list[str]:
    """Decode ``job.input``, retouch it, and write ``job.output`` atomically with its metadata.

    A large plain JPEG written as a JPEG or TIFF is never held whole (:mod:`csrtouch.io.stream`).

    Returns:
        Warnings about the input that did not stop it.
    """
    from csrtouch.io import decode, encode
    from csrtouch.io.formats import check_format, format_of_suffix

    named = format_of_suffix(job.output)
    depth = bit_depth or 8
    streams = named in ("jpeg", "tiff") and (named, depth) != ("jpeg", 16)
    if streams and (format is None or check_format(format) == named):
        from csrtouch.io.encode import encode_bands
        from csrtouch.io.stream import open_jpeg

        source = open_jpeg(job.input)
        if source is not None:
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
) -> tuple[bytes, list[str]]:
    """``retouch_file`` for a whole file in memory (stdin to stdout): encoded bytes and warnings.

    The output format is ``format``, else the input's (TIFF for RAW and HEIC).
    """
    from csrtouch.io import decode_bytes, default_output_format, encode_bytes

    image = _retouch(decode_bytes(data, name), retoucher, bit_depth)
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


def provenance(retoucher: Retoucher) -> dict[str, str]:
    """EXIF Software and ImageDescription that let a result be reproduced."""
    from csrtouch import __version__

    return {
        "software": f"csrtouch {__version__}",
        "description": (
            f"csrtouch {__version__}; style={retoucher.name}; strength={retoucher.strength:g}; "
            f"network={retoucher.network_sha256}" + ("; condition shared across the batch" if retoucher.shared else "")
        ),
    }


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
