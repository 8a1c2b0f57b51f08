"""Commands. Each parses its options, calls ``csrtouch``'s API and prints with rich.

torch and the image libraries are imported inside the commands, so ``--help`` and
``--version`` answer without loading them.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, Optional

import typer
from typer.core import TyperCommand

from csrtouch import __version__
from csrtouch.cli.completion import complete_style
from csrtouch.cli.status import ExitStatus

if TYPE_CHECKING:
    from csrtouch.io.resize import Fit

app = typer.Typer(
    name="csrtouch",
    help="Batch photo retouching with CSRNet: an expert's look or your own.",
    no_args_is_help=True,
    # typer's --install-completion / --show-completion (bash, zsh, fish, PowerShell).
    add_completion=True,
    pretty_exceptions_enable=False,
    # Click's plain help: Rich's formatting doubles the start-up time of --help (0.17 -> 0.33 s).
    rich_markup_mode=None,
)

DEFAULT_STYLE = "expertC"  # the engine's default; repeated here so --help needs no torch

TracebackOpt = Annotated[bool, typer.Option("--traceback", help="Show Python tracebacks of errors.")]

# Options apply and watch share (watch takes apply's options for what each photo becomes).
StyleOpt = Annotated[str, typer.Option("--style", "-s", autocompletion=complete_style, help="Style name (see list-styles), a style file, or a mix such as a:0.7,b:0.3.")]
StrengthOpt = Annotated[float, typer.Option(help="0 = untouched, 1 = the style, up to 1.5.")]
# The formats of csrtouch.io.formats.BIT_DEPTHS (importing it would load the codecs); a test
# checks that the help names each.
FormatOpt = Annotated[Optional[str], typer.Option("--format", "-f", metavar="FORMAT", help="Output format: jpeg, png, tiff or webp (default: the input's; TIFF for RAW and HEIC).")]
QualityOpt = Annotated[int, typer.Option(min=1, max=100, metavar="N", help="Quality of JPEG and WebP outputs, 1-100 (PNG and TIFF are lossless).")]
BitDepthOpt = Annotated[Optional[int], typer.Option("--bit-depth", help="8 or 16 (default: as the input).")]
MaxSizeOpt = Annotated[Optional[str], typer.Option("--max-size", metavar="WxH", help="Shrink each output to fit in W x H pixels; Wx or xH bounds one side.")]
DeviceOpt = Annotated[str, typer.Option(help="cpu, cuda, mps, or auto (a GPU if there is one). The CPU was faster, even beside an H200.")]
ExactOpt = Annotated[bool, typer.Option("--exact", help="Evaluate the network at every colour of 8-bit images (default: where they hold up to 65^3 colours; past that, a baked 65^3 LUT) and at every pixel of 16-bit ones (default: a 129^3 LUT, at most one 8-bit level off).")]
LongSideOpt = Annotated[Optional[str], typer.Option("--long-side", metavar="N", help="Shrink each output so that its longer side is at most N pixels (area averaging, after the look; never enlarged).")]
SuffixOpt = Annotated[Optional[str], typer.Option("--suffix", metavar="TEXT", help="Add TEXT to each output's name: --suffix _web gives IMG_1_web.jpg.")]
NameOpt = Annotated[Optional[str], typer.Option("--name", metavar="TEMPLATE", help="Output file names from {stem}, {style}, {ext} (the output's extension) and {parent} (the input's folder), e.g. '{stem}_{style}.{ext}'.")]


def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


class _LazyStderr:
    """``_stderr()``, made when first used: rich's import (60 ms, before the first photo is
    read) is never paid by a quiet ``apply``, which prints nothing."""

    def __init__(self) -> None:
        self._console = None

    def __getattr__(self, name: str):
        if self._console is None:
            self._console = _stderr()
        return getattr(self._console, name)


def _esc(value: object) -> str:
    """User text (paths, messages) printed literally: never read as rich markup, and with
    control characters (a file named with a terminal escape) and undecodable bytes shown as
    escapes instead of reaching the terminal."""
    from rich.markup import escape

    return escape(_printable(str(value)))


def _printable(text: str) -> str:
    import unicodedata

    def shown(ch: str) -> str:
        if "\udc80" <= ch <= "\udcff":  # a byte the file system name held that is not UTF-8
            return f"\\x{ord(ch) - 0xDC00:02x}"
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return ch.encode("unicode_escape").decode("ascii") if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}"
        return ch

    return text if text.isprintable() else "".join(map(shown, text))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"csrtouch {__version__} (network {_network_checksum()})")
        raise typer.Exit()


def _network_checksum() -> str:
    """The shipped network's checksum as outputs record it (XMP ``csrtouch:Network``: the
    first 16 hex digits of its tensors' sha256), from its file's header, which names it.

    Read by hand, not through ``csrtouch.styles`` (``styles.paths.shared_network_path``,
    ``files.read_meta``), whose imports (numpy, safetensors) would slow ``--version`` down.
    """
    import struct
    from importlib import resources

    try:
        with (resources.files("csrtouch.weights") / "csrnet-shared.safetensors").open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(min(size, 1 << 20)))
        return str(header["__metadata__"]["tensors_sha256"])[:16]
    except Exception as e:  # --version answers whatever state the install is in
        return f"unreadable: {type(e).__name__}"


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Batch photo retouching with CSRNet: an expert's look or your own."""


@contextmanager
def _errors(traceback: bool) -> Iterator[None]:
    """Turn csrtouch's errors into one line on stderr and an exit status.

    SIGTERM and SIGHUP (a closed terminal, ``kill``, a scheduler's timeout) stop the command as
    Ctrl-C does. A second signal while it stops is ignored, so that the clean-up it interrupts
    cannot leave a partial file behind; stopping never waits for a worker stuck in a read.
    """
    import signal

    from csrtouch.errors import CsrtouchError, StyleError, UsageError

    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if not received:
            received.append(signum)
            raise KeyboardInterrupt

    names = ("SIGINT", "SIGTERM", "SIGHUP")
    previous = {}
    for sig in (getattr(signal, name) for name in names if hasattr(signal, name)):
        try:
            previous[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread: the caller handles its signals
            break
    try:
        yield
    except KeyboardInterrupt:
        received.append(signal.SIGINT)
        from csrtouch.io.atomic import abort_writes

        left = abort_writes()
        if traceback:
            raise
        what = {signal.SIGINT: "interrupted"}.get(received[0], f"stopped by {signal.Signals(received[0]).name}")
        left += abort_writes()  # a thread may have created one since
        if left:
            _stderr().print(f"[yellow]{what}[/]: finished files are kept; could not remove the partial file(s) "
                            + _esc(", ".join(map(str, sorted(set(left))))))
        else:
            _stderr().print(f"[yellow]{what}[/]: finished files are kept; no partial file was left")
        raise typer.Exit(128 + received[0])
    except CsrtouchError as e:
        if traceback:
            raise
        _stderr().print(f"[red]error[/]: {_esc(e)}")
        usage = isinstance(e, (UsageError, StyleError)) and not isinstance(e.__cause__, OSError)
        raise typer.Exit(ExitStatus.USAGE if usage else ExitStatus.FAILED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Command(TyperCommand):
    """A command whose arguments that have a metavar show it as written, in the usage line
    and under Arguments: apply's ``INPUT... OUTPUT``, one list parameter, which typer would
    show as ``{INPUT... OUTPUT}...`` and ``<list[Path]>``."""

    def collect_usage_pieces(self, ctx) -> list[str]:  # ctx: click's Context (typer vendors click)
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            written = param.param_type_name == "argument" and param.metavar
            pieces += [param.metavar] if written else param.get_usage_pieces(ctx)
        return pieces

    def format_options(self, ctx, formatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                sections["Arguments"].append((param.metavar, record[1]) if param.metavar else record)
            else:
                sections["Options"].append(record)
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


@app.command(cls=_Command)
def apply(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT... OUTPUT",
            help="Image files or folders, then the output folder; '- -' for stdin to stdout.",
        ),
    ],
    style: StyleOpt = DEFAULT_STYLE,
    strength: StrengthOpt = 1.0,
    device: DeviceOpt = "cpu",
    exact: ExactOpt = False,
    format: FormatOpt = None,
    quality: QualityOpt = 95,
    bit_depth: BitDepthOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Redo outputs that already exist.")] = False,
    long_side: LongSideOpt = None,
    max_size: MaxSizeOpt = None,
    suffix: SuffixOpt = None,
    template: NameOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print each input, its output and whether it would be retouched, skipped or refused; write nothing.")] = False,
    report: Annotated[Optional[Path], typer.Option("--report", metavar="PAGE.html", help="Also write a review page: before/after thumbnails of every photo, the failures, the style (one HTML file, images embedded).")] = None,
    consistent: Annotated[
        bool, typer.Option("--consistent", help="One look for the whole batch: a condition shared across all inputs.")
    ] = False,
    from_list: Annotated[
        Optional[str], typer.Option("--from-list", help="Read more INPUT paths from this file, one a line ('-': stdin).")
    ] = None,
    n_jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Files in flight at once (default: the CPU count).")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="Print one JSON object per file on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    ray_address: Annotated[Optional[str], typer.Option("--ray", metavar="auto|ADDRESS", help="Spread the files over a Ray cluster: auto (RAY_ADDRESS, a local cluster, or one started for the run), host:port or ray://host:port. Paths must be the same on every node. Needs the ray extra.")] = None,
    traceback: TracebackOpt = False,
) -> None:
    """Retouch images and folders (recursively) into OUTPUT, mirroring the folder tree."""
    with _errors(traceback):
        import os

        workers = n_jobs or os.cpu_count() or 1
        # BLAS threads x workers <= cores: oversubscribed threads slow everything down. Not
        # raised when there are fewer files than workers: two threads on one 50 MP photo ran
        # 7x slower (196 s vs 23 s) while another process kept this 2-core machine busy (the
        # barrier at each 4,096-pixel block of the colour function). BLAS reads these when
        # numpy is first imported, below (nothing before this imports it): OpenBLAS in
        # numpy's wheels, MKL in conda's.
        for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(max(1, (os.cpu_count() or 1) // workers)))

        from csrtouch.errors import UsageError

        if bit_depth not in (None, 8, 16):
            raise UsageError(f"--bit-depth must be 8 or 16, got {bit_depth}")
        *inputs, out_dir = paths
        if from_list is not None:
            inputs += _read_list(from_list)
        if not inputs:
            raise UsageError("give at least one INPUT (or --from-list) and the OUTPUT folder")
        fit = _export_size(long_side, max_size)
        _check_report(report, dry_run, streaming=Path("-") in paths)
        stream = Path("-")
        if stream in inputs or out_dir == stream:
            if inputs != [stream] or out_dir != stream or from_list == "-":
                raise UsageError("'-' reads one image from stdin and writes it to stdout: give it as both INPUT and OUTPUT")
            for given, option in ((template, "--name"), (suffix, "--suffix"), (dry_run or None, "--dry-run"), (ray_address, "--ray")):
                if given is not None:
                    raise UsageError(f"{option} is for files and folders; '-' writes one image to stdout")
            return _apply_stream(style, strength, device, exact, format, quality, bit_depth, json_lines, quiet, fit)
        from csrtouch.batch import FAILED, OK, SKIPPED, check_bit_depths, name_template, plan, retouch_file, run_batch

        naming = name_template(template, suffix)
        _check_out_folder(out_dir, "OUTPUT")
        if format is not None:
            from csrtouch.io.formats import check_bit_depth, check_format

            format = check_format(format)  # validates the name
            if bit_depth is not None:
                check_bit_depth(format, bit_depth)
        from csrtouch.engine import Retoucher

        # Before the plan, whose names may hold the style's ({style}).
        retoucher = Retoucher(style, strength=strength, device=device, exact=exact)
        jobs, failed = plan(inputs, out_dir, format=format, name=naming, style=retoucher.name)
        if not jobs and not failed:
            raise UsageError(f"no images found in {', '.join(map(str, inputs))}")
        if bit_depth is not None:
            check_bit_depths(jobs, bit_depth)
        if dry_run:
            return _print_plan(failed, jobs, out_dir, overwrite=overwrite, json_lines=json_lines, quiet=quiet)
        cluster = None
        if ray_address is not None:
            from csrtouch.distributed import Cluster, connect

            connect(ray_address)
            cluster = Cluster(retoucher, workers=n_jobs, format=format, quality=quality, bit_depth=bit_depth, fit=fit)
            workers = cluster.slots
        err = _LazyStderr()
        show_progress = not quiet and err.is_terminal
        if consistent:
            from csrtouch.batch import in_background, readable_thumbnails

            if cluster is None:
                thumbs = in_background(lambda: list(readable_thumbnails(j.input for j in jobs)))
            else:  # each input's condition computed on the workers, their mean taken here
                thumbs = range(cluster.share_condition(jobs))
            if thumbs:
                shared = retoucher.share_condition(thumbs) if cluster is None else len(thumbs)
                if not quiet:
                    err.print(_esc(f"one look for the batch: condition shared across {shared} images"))
            elif not quiet:
                err.print("no input could be read to share a look across; each file's reason follows")

        def emit(result) -> None:
            if json_lines:
                sys.stdout.write(json.dumps(result.as_dict()) + "\n")
                sys.stdout.flush()

        for result in failed:
            emit(result)
        results = list(failed)
        with _progress(err, len(jobs), show_progress) as advance:

            def on_result(result) -> None:
                emit(result)
                advance(result)

            try:
                results += run_batch(
                    jobs,
                    cluster.process if cluster else (
                        lambda job: retouch_file(job, retoucher, format=format, quality=quality, bit_depth=bit_depth, fit=fit)),
                    overwrite=overwrite,
                    on_result=on_result,
                    reraise=traceback,
                    workers=min(workers, len(jobs)) or 1,
                )
            finally:
                if cluster is not None:  # interrupted too: the workers' temporary files go with them
                    cluster.close({job.output.parent for job in jobs})
        counts = {s: sum(r.status == s for r in results) for s in (OK, SKIPPED, FAILED)}
        if not quiet:
            err.print(
                _esc(f"{counts[OK]} retouched, {counts[SKIPPED]} skipped (already done), {counts[FAILED]} failed"
                f" -> {out_dir}  [style {retoucher.name}]")
            )
            for r in results:
                for warning in r.warnings:
                    err.print(f"  [yellow]warning[/]: {_esc(r.input)}: {_esc(warning)}")
                if r.status == FAILED:
                    err.print(f"  [red]failed[/]: {_esc(r.error if str(r.input) in (r.error or '') else f'{r.input}: {r.error}')}")
        if report is not None:
            from csrtouch.report import write_batch_report

            write_batch_report(report, results, retoucher, out_dir, workers=workers)
            if not quiet:
                err.print(_esc(f"review page: {report}"))
        if counts[FAILED]:
            raise typer.Exit(ExitStatus.FAILED)


def _check_report(report: Path | None, dry_run: bool, streaming: bool) -> None:
    """``apply --report``: refused, before any work, where there is nothing to show or no
    page can be written."""
    if report is None:
        return
    from csrtouch.errors import UsageError
    from csrtouch.report import check_page_path

    if dry_run:
        raise UsageError("--report shows what was retouched, and --dry-run retouches nothing; give one of them")
    if streaming:
        raise UsageError("--report is for files and folders; '-' writes one image to stdout")
    check_page_path(report, "--report")


def _read_list(source: str) -> list[Path]:
    """Paths one a line (or NUL-separated, as ``find -print0`` writes them), as bytes: a name
    in any encoding names its file, as the shell would, from a file or from stdin alike."""
    import os

    from csrtouch.errors import UsageError

    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as e:
        raise UsageError(f"--from-list: cannot read {source}: {e.strerror or e}") from None
    lines = data.split(b"\0") if b"\0" in data else data.splitlines()
    return [Path(os.fsdecode(line)) for line in lines if line.strip()]


def _export_size(long_side: str | None, max_size: str | None) -> Fit | None:
    """``--long-side N`` and ``--max-size WxH`` (``Wx``, ``xH``) as one bound, or None."""
    import re

    from csrtouch.errors import UsageError
    from csrtouch.io.resize import Fit

    if long_side is None and max_size is None:
        return None
    bounds: dict[str, int] = {}
    if long_side is not None:
        if not re.fullmatch(r"\s*[0-9]+\s*", long_side) or int(long_side) < 1:
            raise UsageError(f"--long-side is a whole number of pixels, 1 or more, such as 2048; got {long_side!r}")
        bounds["long_side"] = int(long_side)
    if max_size is not None:
        match = re.fullmatch(r"\s*([0-9]*)\s*[xX]\s*([0-9]*)\s*", max_size)
        sides = [int(g) if g else None for g in match.groups()] if match else []
        if not sides or sides == [None, None] or 0 in sides:
            raise UsageError(
                f"--max-size is WIDTHxHEIGHT in pixels, such as 1920x1080 (1920x or x1080 bounds one side); got {max_size!r}"
            )
        bounds.update((k, v) for k, v in zip(("width", "height"), sides) if v is not None)
    return Fit(**bounds)


def _print_plan(failed: list, jobs: list, out_dir: Path, *, overwrite: bool, json_lines: bool, quiet: bool) -> None:
    """``apply --dry-run``: a line per input on stdout (a JSON object with ``--json``), what it
    would come to; exit status 1 where any would fail."""
    from csrtouch.batch import FAILED, PLANNED, SKIPPED, dry_run

    results = [*failed, *dry_run(jobs, overwrite=overwrite)]
    for r in results:
        if json_lines:
            line = json.dumps(r.as_dict())
        elif r.status == PLANNED:
            line = _printable(f"retouch  {r.input} -> {r.output}")
        elif r.status == SKIPPED:
            line = _printable(f"skip     {r.input} -> {r.output} (exists; --overwrite redoes it)")
        else:
            line = _printable(f"refuse   {r.error if str(r.input) in (r.error or '') else f'{r.input}: {r.error}'}")
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    counts = {s: sum(r.status == s for r in results) for s in (PLANNED, SKIPPED, FAILED)}
    if not quiet:
        _stderr().print(_esc(
            f"dry run: {counts[PLANNED]} to retouch, {counts[SKIPPED]} skipped (already done), "
            f"{counts[FAILED]} refused -> {out_dir}; nothing was written"
        ))
    if counts[FAILED]:
        raise typer.Exit(ExitStatus.FAILED)


def _apply_stream(style, strength, device, exact, format, quality, bit_depth, json_lines, quiet, fit=None) -> None:
    """One image from stdin to stdout; the format is read from the bytes."""
    import time

    from csrtouch.batch import retouch_bytes
    from csrtouch.engine import Retoucher
    from csrtouch.errors import UsageError

    if json_lines:
        raise UsageError("--json writes to stdout, which '-' uses for the image")
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("'-' reads an image from stdin, but stdin is closed or a terminal; redirect a file into it")
    if sys.stdout is None or sys.stdout.isatty():
        raise UsageError("'-' writes the image to stdout, but stdout is closed or a terminal; redirect it to a file")
    start = time.perf_counter()
    data = sys.stdin.buffer.read()
    retoucher = Retoucher(style, strength=strength, device=device, exact=exact)
    out, warnings = retouch_bytes(data, retoucher, format=format, quality=quality, bit_depth=bit_depth, fit=fit)
    try:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    except OSError as e:  # a reader that went away (BrokenPipeError), a full disk
        import os

        from csrtouch.errors import EncodeError

        # Python would report the failed flush again at exit: point stdout at nothing instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise EncodeError(f"stdout: the image could not be written whole: {e.strerror or e}") from e
    if not quiet:
        err = _stderr()
        for warning in warnings:
            err.print(f"[yellow]warning[/]: <stdin>: {_esc(warning)}")
        err.print(_esc(f"retouched <stdin> in {time.perf_counter() - start:.2f} s [style {retoucher.name}]"))


@contextmanager
def _progress(console, total: int, enabled: bool):
    if not enabled:
        yield lambda result: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from csrtouch.io.stderr import terminal

    # Decoders silence fd 2 while LibRaw runs in another thread; draw on a stream they never silence.
    stream = terminal()
    console = Console(file=stream, highlight=False)
    with stream, Progress(
        TextColumn("[bold]retouching"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=total)
        yield lambda result: progress.update(task, advance=1, description=result.input.name)


@app.command("list-styles")
def list_styles_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    traceback: TracebackOpt = False,
) -> None:
    """List built-in and personal styles."""
    with _errors(traceback):
        from csrtouch.styles import list_styles, user_styles_dir, user_styles_problem

        styles = list_styles()
        if problem := user_styles_problem():
            _stderr().print(f"[yellow]warning[/]: personal styles folder {_esc(user_styles_dir())} is unusable: {_esc(problem)}")
        if json_out:
            typer.echo(json.dumps([s.as_dict() for s in styles], indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=None, caption=f"personal styles: {user_styles_dir()}")
        for col in ("name", "kind", "description", "origin", "date"):
            table.add_column(col)
        for s in styles:
            table.add_row(s.name, s.kind, s.description, s.origin, s.created[:10])
        Console().print(table)


@app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A CSRNet checkpoint (.pth) or a csrtouch style file (.safetensors).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new style.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing personal style.")] = False,
    traceback: TracebackOpt = False,
) -> None:
    """Install a style from a file: the authors' CSRNet checkpoint or a shared style file."""
    with _errors(traceback):
        from csrtouch.styles import import_style

        info = import_style(path, name, force=force)
        _stderr().print(f"imported style [bold]{_esc(info.name)}[/] ({info.arch}) -> {_esc(info.path)}")


@app.command()
def remove(
    name: Annotated[str, typer.Argument(help="A personal or imported style.")],
    traceback: TracebackOpt = False,
) -> None:
    """Delete a personal or imported style."""
    with _errors(traceback):
        from csrtouch.styles import remove_style

        path = remove_style(name)
        _stderr().print(f"removed style [bold]{_esc(name)}[/] ({_esc(path)})")


@app.command()
def finetune(
    liked: Annotated[Path, typer.Argument(help="Folder of photos in the look you want (any format apply reads).")],
    style: Annotated[str, typer.Option("--style", "-s", help="Name of the new personal style.")],
    before: Annotated[Optional[Path], typer.Option(help="Folder of the same photos before editing, matched by file name stem.")] = None,
    start: Annotated[str, typer.Option("--from", help="Style to start from.")] = "expertC",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed and photos give the same style.")] = 0,
    steps: Annotated[int, typer.Option(min=10, help="Optimiser steps of each fit.")] = 300,
    description: Annotated[Optional[str], typer.Option(help="Description shown by list-styles.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing personal style of that name.")] = False,
    sheet: Annotated[Optional[Path], typer.Option("--sheet", metavar="SHEET.png", help="Also write a before/after sheet of the new look on the reference photos.")] = None,
    traceback: TracebackOpt = False,
) -> None:
    """Learn a personal style from photos you like (no before/after pairs needed)."""
    with _errors(traceback):
        from csrtouch.finetuning import finetune as run

        if sheet is not None and sheet.suffix.lower() != ".png":
            from csrtouch.errors import UsageError

            raise UsageError(f"--sheet {sheet}: a contact sheet is a PNG; name it .png")
        err = _stderr()
        with _steps(err, enabled=err.is_terminal) as report:
            result = run(
                style, liked, before=before, start=start, seed=seed, steps=steps, force=force,
                description=description, warn=lambda line: err.print(_esc(line)), progress=report,
            )
        err.print(
            f"learned style [bold]{_esc(result.info.name)}[/] from {len(result.photos)} photos in {result.seconds:.1f} s; "
            f"on {len(result.held_out)} held-out photo(s) {result.psnr:.2f} dB PSNR "
            f"{'from their befores' if before is not None else 'from made-up befores'} "
            f"(untouched {result.untouched_psnr:.2f} dB) -> {_esc(result.info.path)}"
        )
        _summarise(err, result, sheet)


def _summarise(err, result, sheet: Optional[Path]) -> None:
    """What the learned look does to the reference photos, in words (and a sheet), and
    whether the liked photos looked like one look at all."""
    import io

    from csrtouch.engine import Retoucher
    from csrtouch.finetuning.summary import describe_look, read_references, reference_photos

    retoucher = Retoucher(result.info.name)
    words = describe_look(retoucher, read_references())
    err.print("the look, on the reference photos: " + _esc(", ".join(words) if words else "close to the photos as they were"))
    if result.psnr < result.untouched_psnr + 0.5:
        err.print(
            "[yellow]note[/]: on the held-out photos it does little better than leaving them alone: the liked "
            "photos may not share one look (a mix of looks, or photos with none), or it is a look this cannot learn"
        )
    if sheet is not None:
        from csrtouch.io import write_atomic
        from csrtouch.preview import contact_sheet

        buffer = io.BytesIO()
        contact_sheet(reference_photos(), [retoucher], height=192).save(buffer, format="PNG", optimize=True)
        write_atomic(sheet, buffer.getvalue())
        err.print(_esc(f"wrote {sheet}: the reference photos before and in the look"))


@app.command()
def preview(
    inputs: Annotated[list[Path], typer.Argument(help="Photos (or folders) to show.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The contact sheet PNG to write.")] = None,
    styles: Annotated[Optional[list[str]], typer.Option("--style", "-s", autocompletion=complete_style, help="A style or mix; repeat for more columns.")] = None,
    strength: StrengthOpt = 1.0,
    height: Annotated[int, typer.Option(min=32, max=2048, help="Row height in pixels.")] = 256,
    html: Annotated[Optional[Path], typer.Option("--html", metavar="PAGE.html", help="Also (or instead of -o) write the sheet as a review page: one HTML file, images embedded.")] = None,
    traceback: TracebackOpt = False,
) -> None:
    """A labelled before/after contact sheet (-o SHEET.png, --html PAGE.html): a row per photo, a column per style."""
    with _errors(traceback):
        from csrtouch.batch import walk
        from csrtouch.engine import Retoucher
        from csrtouch.errors import UsageError
        from csrtouch.io import write_atomic
        from csrtouch.preview import contact_sheet, preview_cells

        if out is None and html is None:
            raise UsageError("give the sheet to write: -o SHEET.png, --html PAGE.html, or both")
        if html is not None:
            from csrtouch.report import check_page_path

            check_page_path(html, "--html")
        files, _, failed = walk(inputs)
        # A sheet written among the photos it shows is not one of them on the next run.
        files = [(path, rel) for path, rel in files if out is None or path.resolve() != out.resolve()]
        if failed:
            raise UsageError(failed[0].error or "cannot read input")
        if not files:
            raise UsageError(f"no images found in {', '.join(map(str, inputs))}")
        retouchers = [Retoucher(s, strength=strength) for s in (styles or [DEFAULT_STYLE])]
        cells = preview_cells([path for path, _ in files], retouchers, height=height)
        if html is not None:
            from csrtouch.report import preview_page, write_page

            write_page(html, preview_page(cells[1], retouchers, cells[0]))
            _stderr().print(_esc(f"wrote {html}: {len(files)} photos x {len(retouchers)} styles"))
        if out is None:
            return
        sheet = contact_sheet([path for path, _ in files], retouchers, height=height, prepared=cells)
        import io

        buffer = io.BytesIO()
        sheet.save(buffer, format="PNG", optimize=True)
        write_atomic(out, buffer.getvalue())
        _stderr().print(_esc(f"wrote {out}: {len(files)} photos x {len(retouchers)} styles"))


@app.command("export-lut")
def export_lut(
    out: Annotated[Path, typer.Argument(help="The .cube file to write.")],
    style: Annotated[str, typer.Option("--style", "-s", help="Style name, style file, or mix.")] = DEFAULT_STYLE,
    image: Annotated[Optional[Path], typer.Option(help="Reference photo the look adapts to (default: the style's average look).")] = None,
    size: Annotated[int, typer.Option(help="Grid points per axis: 17, 33 or 65.")] = 33,
    strength: StrengthOpt = 1.0,
    hald: Annotated[Optional[Path], typer.Option(help="Also write a 16-bit Hald CLUT PNG (level 8, 64^3).")] = None,
    traceback: TracebackOpt = False,
) -> None:
    """Export the look as a 3D LUT for Lightroom, Resolve, darktable or ffmpeg (lut3d)."""
    with _errors(traceback):
        from csrtouch.errors import UsageError

        if size not in (17, 33, 65):
            raise UsageError(f"--size must be one of 17, 33, 65, got {size}")
        from csrtouch.engine import Retoucher
        from csrtouch.engine.lut import bake
        from csrtouch.export import write_cube, write_hald
        from csrtouch.io import decode

        retoucher = Retoucher(style, strength=strength, device="cpu")
        fn = retoucher.color_function(None if image is None else decode(image).pixels)
        reference = image.name if image else "average look"
        write_cube(out, bake(fn, size), f"csrtouch {__version__} {retoucher.name} strength {strength:g} ({reference})")
        if hald is not None:
            write_hald(hald, bake(fn, 64))
        _stderr().print(_esc(f"wrote {out}" + (f" and {hald}" if hald else "") + f" [style {retoucher.name}, {reference}]"))


@app.command("eval")
def eval_cmd(
    inputs: Annotated[Path, typer.Argument(help="Folder of input photos.")],
    targets: Annotated[Path, typer.Argument(help="Folder of target photos, matched to inputs by file name stem.")],
    style: Annotated[str, typer.Option("--style", "-s", help="Style name, style file, or mix.")] = DEFAULT_STYLE,
    exact: Annotated[bool, typer.Option("--exact", help="Exact network instead of the 8-bit LUT path.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per image, then the means.")] = False,
    traceback: TracebackOpt = False,
) -> None:
    """PSNR, SSIM and CIEDE2000 of a style against targets (8-bit sRGB, whole image), and of the untouched inputs."""
    with _errors(traceback):
        from csrtouch.engine import Retoucher
        from csrtouch.evaluate import evaluate, means

        scores = evaluate(Retoucher(style, exact=exact), inputs, targets)
        mean = means(scores)
        if json_out:
            for score in scores:
                typer.echo(json.dumps(score.as_dict()))
            typer.echo(json.dumps({"name": "mean", "images": len(scores), **{k: round(v, 4) for k, v in mean.items()}}))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(caption=f"style {_esc(style)}; untouched = the input itself against the target")
        for col in ("image", "PSNR", "SSIM", "ΔE00", "untouched PSNR", "SSIM", "ΔE00"):
            table.add_column(col, justify="left" if col == "image" else "right")
        rows = [(s.name, s.psnr, s.ssim, s.deltae, s.untouched_psnr, s.untouched_ssim, s.untouched_deltae) for s in scores]
        rows.append((f"mean of {len(scores)}", *mean.values()))
        for name, *values in rows:
            table.add_row(_esc(name), *(f"{v:.2f}" if i % 3 != 1 else f"{v:.4f}" for i, v in enumerate(values)))
        Console().print(table)


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Folder with input/ and an expert folder of matching photos.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write csrnet-shared.safetensors and styles/ into.")],
    expert: Annotated[str, typer.Option(help="Target folder name inside DATA, which also names the style.")] = "expertC",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same weights.")] = 0,
    iterations: Annotated[Optional[int], typer.Option(min=1, help="Optimiser steps (default: the recipe's).")] = None,
    cv: Annotated[int, typer.Option(min=0, help="Also cross-validate with this many folds and record the held-out PSNR (0: skip).")] = 0,
    finished: Annotated[Optional[Path], typer.Option(help="Folder of finished photos the look must leave nearly as they are (with the pairs' own targets).")] = None,
    corpus: Annotated[Optional[list[Path]], typer.Option(help="Folder of ordinary, finished photos to pre-train on (synthetic before/after pairs); repeatable. A fifth, chosen by file name, is never trained on.")] = None,
    pretrain_iterations: Annotated[Optional[int], typer.Option(min=1, help="Pre-training steps with --corpus (default: the recipe's).")] = None,
    traceback: TracebackOpt = False,
) -> None:
    """Train the shared network and one expert's style from before/after pairs."""
    with _errors(traceback):
        from csrtouch.training.recipe import train_and_save

        _check_out_folder(out, "--out")  # before training, not after
        err = _stderr()
        with _steps(err, enabled=err.is_terminal) as report:
            summary = train_and_save(
                data, out, expert=expert, seed=seed, iterations=iterations, folds=cv, finished=finished,
                corpus=corpus or (), pretrain_iterations=pretrain_iterations, progress=report,
            )
        for line in summary:
            err.print(_esc(line))


def _check_out_folder(folder: Path, option: str) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be created or written."""
    import os

    from csrtouch.errors import UsageError

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {folder} is a file; give a folder (it is created if missing)")
    existing = next((p for p in (folder, *folder.absolute().parents) if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)):
        raise UsageError(f"{option} {folder}: cannot write in {existing} ({'not a folder' if not existing.is_dir() else 'permission denied'})")


@contextmanager
def _steps(console, enabled: bool):
    """A progress bar for training phases: ``report(phase, step, total, loss)``."""
    if not enabled:
        yield lambda phase, step, total, loss: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"), console=console, transient=True,
    ) as progress:
        tasks: dict[str, int] = {}

        def report(phase: str, step: int, total: int, loss: float) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total, loss=loss)
            progress.update(tasks[phase], completed=step, loss=loss)

        yield report


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as e:
        if e.code in (128 + 1, 128 + 2, 128 + 15):  # stopped by SIGHUP, SIGINT, SIGTERM
            # A worker may still be inside a codec's C++ code (stuck in a read, or finishing a
            # strip): finalising the interpreter would unwind it and abort ("terminate called
            # without an active exception", exit -6). Every write is settled by now: leave.
            import contextlib
            import os

            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(e.code)
        raise
