"""``csrtouch watch``: the hot folder (:mod:`csrtouch.watch`) on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from csrtouch.cli.app import (
    DEFAULT_STYLE,
    BitDepthOpt,
    DeviceOpt,
    ExactOpt,
    LongSideOpt,
    NameOpt,
    SuffixOpt,
    FormatOpt,
    MaxSizeOpt,
    QualityOpt,
    StrengthOpt,
    StyleOpt,
    TracebackOpt,
    _check_out_folder,
    _Command,
    _errors,
    _esc,
    _export_size,
    _stderr,
    app,
)


@app.command(cls=_Command)
def watch(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="INPUT OUTPUT", help="The folder to watch (recursively), then the output folder."),
    ],
    style: StyleOpt = DEFAULT_STYLE,
    strength: StrengthOpt = 1.0,
    device: DeviceOpt = "cpu",
    exact: ExactOpt = False,
    format: FormatOpt = None,
    quality: QualityOpt = 95,
    bit_depth: BitDepthOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Redo, on start, the photos whose output exists and is newer.")] = False,
    long_side: LongSideOpt = None,
    max_size: MaxSizeOpt = None,
    suffix: SuffixOpt = None,
    template: NameOpt = None,
    settle: Annotated[Optional[str], typer.Option("--settle", metavar="SECONDS", help="How long a photo must stay unchanged, and closed by its writer, to be taken as complete (default 1).")] = None,
    n_jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Photos retouched at once (default: the CPU count).")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="Print one JSON object per file on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only failures.")] = False,
    traceback: TracebackOpt = False,
) -> None:
    """Hot folder: retouch what is in INPUT, then every photo that arrives or is replaced, until Ctrl-C."""
    with _errors(traceback):
        import os

        workers = n_jobs or os.cpu_count() or 1
        for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as apply: BLAS threads x workers <= cores
            os.environ.setdefault(name, str(max(1, (os.cpu_count() or 1) // workers)))

        from csrtouch.errors import UsageError

        if len(paths) != 2:
            raise UsageError(f"watch takes one folder to watch and the OUTPUT folder; got {len(paths)} path(s)")
        folder, out_dir = paths
        if bit_depth not in (None, 8, 16):
            raise UsageError(f"--bit-depth must be 8 or 16, got {bit_depth}")
        settle_s = _settle(settle)
        fit = _export_size(long_side, max_size)
        if not folder.is_dir():
            what = "does not exist" if not folder.exists() else "is not a folder"
            raise UsageError(f"INPUT {folder} {what}; watch takes a folder")
        from csrtouch.batch import FAILED, OK, SKIPPED, name_template, retouch_file
        from csrtouch.watch import watch_folder

        naming = name_template(template, suffix)
        _check_out_folder(out_dir, "OUTPUT")
        if format is not None:
            from csrtouch.io.formats import check_bit_depth, check_format

            format = check_format(format)
            if bit_depth is not None:
                check_bit_depth(format, bit_depth)
        from csrtouch.engine import Retoucher

        retoucher = Retoucher(style, strength=strength, device=device, exact=exact)
        err = _stderr()
        counts = {OK: 0, SKIPPED: 0, FAILED: 0}

        def on_result(result) -> None:
            counts[result.status] = counts.get(result.status, 0) + 1
            if json_lines:
                sys.stdout.write(json.dumps(result.as_dict()) + "\n")
                sys.stdout.flush()
            if result.status == FAILED:
                err.print(f"[red]failed[/]: {_esc(result.error if str(result.input) in (result.error or '') else f'{result.input}: {result.error}')}")
            elif result.status == OK and not quiet:
                err.print(_esc(f"retouched {result.input} -> {result.output} ({result.seconds:.2f} s)"))
                for warning in result.warnings:
                    err.print(f"  [yellow]warning[/]: {_esc(result.input)}: {_esc(warning)}")

        rounds = watch_folder(
            folder, out_dir,
            lambda job: retouch_file(job, retoucher, format=format, quality=quality, bit_depth=bit_depth, fit=fit),
            format=format, name=naming, style=retoucher.name, overwrite=overwrite, settle=settle_s,
            workers=workers, on_result=on_result, reraise=traceback,
        )
        try:
            for i, _ in enumerate(rounds):
                if i == 0 and not quiet:
                    # Photos written in the last --settle seconds follow, each on its own line.
                    err.print(_esc(
                        f"watching {folder} -> {out_dir} [style {retoucher.name}]: {counts[SKIPPED]} already done, "
                        f"{counts[FAILED]} failed; Ctrl-C stops"
                    ))
        except KeyboardInterrupt:
            if not quiet:
                err.print(_esc(
                    f"watched {folder}: {counts[OK]} retouched, {counts[SKIPPED]} already done, {counts[FAILED]} failed"
                ))
            raise


def _settle(value: str | None) -> float:
    from csrtouch.errors import UsageError
    from csrtouch.watch import SETTLE

    if value is None:
        return SETTLE
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds <= 3600:  # NaN too
        raise UsageError(f"--settle is a number of seconds from 0 to 3600, such as 1 or 0.5; got {value!r}")
    return seconds
