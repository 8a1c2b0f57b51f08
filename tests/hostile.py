"""The hostile set of issue 14: what a hostile but realistic user does to csrtouch, run
against the installed ``csrtouch`` command in a child process, as that user would run it.

Every case builds its own inputs in a fresh folder, runs the command and checks what a user
would check: the exit status, that the message names the file and what is wrong in one line,
that no input was changed, that no partial or wrong output was left. A case that fails raises
``AssertionError`` saying what went wrong; one that cannot run here (root reads every
folder) raises :class:`Skip`.

``tests/test_hostile.py`` runs every case under pytest; ``bench/hostile.py`` runs them all and
prints the table of the README's reliability section. The classes are the issue's:
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

CLASSES = {
    1: "inputs never rewritten",
    2: "damaged files not passed as good",
    3: "non-finite weights refused",
    4: "no partial file after signals",
    5: "stops at once",
    6: "nothing skipped silently",
    7: "names",
    8: "same-name inputs",
    9: "no tracebacks",
    10: "exit codes and messages",
    11: "kept as it was",
    12: "preview",
    13: "same input, same bytes",
}


class Skip(Exception):
    """The case cannot be tried on this machine (the reason is the message)."""


@dataclass(frozen=True)
class Case:
    cls: int
    name: str
    run: Callable[[Path], None]

    @property
    def id(self) -> str:
        return f"{self.cls:02d}-{self.name}"


CASES: list[Case] = []


def case(cls: int, name: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        CASES.append(Case(cls, name, fn))
        return fn

    return register


# --- running the command --------------------------------------------------------------------


def command() -> list[str]:
    """The installed ``csrtouch`` of this interpreter's environment, or ``$CSRTOUCH_COMMAND``
    (e.g. an older checkout's ``python -m csrtouch``, to compare)."""
    if os.environ.get("CSRTOUCH_COMMAND"):
        return shlex.split(os.environ["CSRTOUCH_COMMAND"])
    script = Path(sys.executable).with_name("csrtouch")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "csrtouch"]


@dataclass
class Ran:
    rc: int
    out: bytes
    err: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def env(tmp: Path, **extra: str) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "CSRTOUCH_HOME": str(home), "COLUMNS": "1000", "NO_COLOR": "1", **extra}


def csrtouch(tmp: Path, *args: str | Path, stdin: bytes | None = None, timeout: float = 120, cwd: Path | None = None,
             extra_env: dict[str, str] | None = None, **popen: object) -> Ran:
    start = time.perf_counter()
    proc = subprocess.run(
        [*command(), *map(str, args)], input=stdin, capture_output="stdout" not in popen, timeout=timeout,
        cwd=cwd or tmp, env=env(tmp, **(extra_env or {})), **popen,
    )
    err = (proc.stderr or b"").decode("utf-8", "replace")
    return Ran(proc.returncode, proc.stdout or b"", err, time.perf_counter() - start)


def start(tmp: Path, *args: str | Path, cwd: Path | None = None, **popen: object) -> subprocess.Popen:
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen([*command(), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd or tmp, env=env(tmp), **popen)


def finish(proc: subprocess.Popen, timeout: float) -> Ran:
    start_ = time.perf_counter()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"still running {timeout:g} s after it was told to stop") from None
    return Ran(proc.returncode, out, err.decode("utf-8", "replace"), time.perf_counter() - start_)


def expect(ran: Ran, rc: int, *say: str, lines: int | None = None) -> None:
    """The exit status is ``rc``, stderr says each of ``say`` and shows no traceback."""
    assert ran.rc == rc, f"exit {ran.rc}, expected {rc}; stderr: {ran.err[-800:]}"
    assert "Traceback" not in ran.err, f"a traceback: {ran.err[-800:]}"
    for text in say:
        assert text in ran.err, f"stderr does not say {text!r}: {ran.err[-800:]}"
    if lines is not None:
        assert len(ran.lines) == lines, f"expected {lines} line(s) on stderr: {ran.err[-800:]}"


# --- inputs ---------------------------------------------------------------------------------


def pixels(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: smooth colour gradients with a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.3 + 0.5 * x, 0.2 + 0.6 * y, 0.6 - 0.4 * x * y], -1) + rng.normal(0, 0.03, (h, w, 3))
    return (np.clip(base * (0.7 + 0.3 * rng.random(3)), 0, 1) * 255).astype(np.uint8)


def photo(path: Path, *, seed: int = 0, size: tuple[int, int] = (96, 128), mode: str = "RGB", **save: object) -> Path:
    """Write a photo at ``path`` in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels(*size, seed=seed))
    if mode != "RGB":
        image = image.convert(mode)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}[path.suffix.lower()]
    image.save(path, fmt, **save)
    return path


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (96, 128), **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels(*size, seed=seed)).save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


def dng(path: Path, seed: int = 0) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from dng import tiny_dng

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tiny_dng((pixels(64, 96, seed) / 255.0) ** 2.2))
    return path


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under ``folders`` and the hash of its bytes."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()
    }


def unchanged(before: dict[str, str]) -> None:
    for path, digest in before.items():
        assert Path(path).is_file(), f"input {path} is gone"
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest, f"input {path} was rewritten"


def parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.part"))


def whole(path: Path) -> None:
    """``path`` is an image that decodes whole."""
    with Image.open(path) as image:
        image.load()


def outputs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --- 1. Inputs never rewritten ---------------------------------------------------------------


@case(1, "input folder nested in the output folder, same names")
def _(tmp: Path) -> None:
    # apply shoot/ ./ where shoot/shoot/x.jpg exists: ./shoot/x.jpg is an input.
    photo(tmp / "shoot" / "x.jpg")
    photo(tmp / "shoot" / "shoot" / "x.jpg", seed=1)
    before = snapshot(tmp / "shoot")
    ran = csrtouch(tmp, "apply", "shoot/", "./")
    unchanged(before)
    expect(ran, 1, "shoot/shoot/x.jpg", "would overwrite the input")
    whole(tmp / "x.jpg")


@case(1, "input folder nested in the output folder, --overwrite")
def _(tmp: Path) -> None:
    photo(tmp / "shoot" / "x.jpg")
    photo(tmp / "shoot" / "shoot" / "x.jpg", seed=1)
    before = snapshot(tmp / "shoot")
    ran = csrtouch(tmp, "apply", "--overwrite", "shoot", ".")
    unchanged(before)
    expect(ran, 1, "shoot/shoot/x.jpg")


@case(1, "output folder's subfolder as input (apply out/sub out)")
def _(tmp: Path) -> None:
    photo(tmp / "out" / "sub" / "x.jpg")
    photo(tmp / "out" / "sub" / "sub" / "x.jpg", seed=1)
    before = snapshot(tmp / "out" / "sub")
    for flags in ([], ["--overwrite"]):
        ran = csrtouch(tmp, "apply", *flags, "out/sub", "out")
        unchanged(before)
        assert ran.rc in (1, 2) and "Traceback" not in ran.err, ran.err


@case(1, "a file retouched into its own folder")
def _(tmp: Path) -> None:
    photo(tmp / "a.jpg")
    photo(tmp / "b.png", seed=1)
    before = snapshot(tmp)
    for args in (["a.jpg", "."], ["--overwrite", "a.jpg", "."], ["-f", "jpeg", "--overwrite", "a.jpg", "./"],
                 ["--overwrite", "b.png", str(tmp)]):
        ran = csrtouch(tmp, "apply", *args)
        unchanged(before)
        expect(ran, 1, "would overwrite its input")


@case(1, "the output is a hard link of the input")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "x.jpg")
    (tmp / "out").mkdir()
    os.link(tmp / "in" / "x.jpg", tmp / "out" / "x.jpg")
    before = snapshot(tmp / "in")
    ran = csrtouch(tmp, "apply", "--overwrite", "in", "out")
    unchanged(before)
    expect(ran, 1, "would overwrite its input")


@case(1, "the output folder is a symbolic link to the input folder")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "x.jpg")
    (tmp / "out").symlink_to(tmp / "in")
    before = snapshot(tmp / "in")
    ran = csrtouch(tmp, "apply", "--overwrite", "in", "out")
    unchanged(before)
    expect(ran, 2, "inside input folder")


@case(1, "one input under two names, one of them the output")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "x.jpg")
    photo(tmp / "out" / "x.jpg", seed=3)
    before = snapshot(tmp / "in", tmp / "out")
    # out/x.jpg is an input too (named directly): the folder's x.jpg must not be written onto it.
    ran = csrtouch(tmp, "apply", "--overwrite", "in", "out/x.jpg", "out")
    unchanged(before)
    assert ran.rc == 1 and "Traceback" not in ran.err, ran.err


# --- 2. Damaged files not passed as good --------------------------------------------------


def _cut_with_eoi(data: bytes, fraction: float) -> bytes:
    scan = data.index(b"\xff\xda")
    return data[: scan + int((len(data) - scan) * fraction)].rstrip(b"\xff") + b"\xff\xd9"


def _taller(data: bytes, rows: int) -> bytes:
    out = bytearray(data)
    sof = out.index(b"\xff\xc0")
    out[sof + 5 : sof + 7] = (int.from_bytes(out[sof + 5 : sof + 7], "big") + rows).to_bytes(2, "big")
    return bytes(out)


def _damaged(tmp: Path, name: str, data: bytes, *say: str) -> None:
    photo(tmp / "in" / "good.jpg")
    (tmp / "in" / name).write_bytes(data)
    ran = csrtouch(tmp, "apply", "--json", "in", "out")
    expect(ran, 1, name, *say)
    assert outputs(tmp / "out") == ["good.jpg"], outputs(tmp / "out")
    records = {Path(r["input"]).name: r for r in map(json.loads, ran.out.decode().splitlines())}
    assert records[name]["status"] == "failed" and records["good.jpg"]["status"] == "ok", records


@case(2, "JPEG cut short and closed with an end-of-image marker")
def _(tmp: Path) -> None:
    _damaged(tmp, "cut.jpg", _cut_with_eoi(jpeg_bytes(size=(240, 320)), 0.6), "ends early")


@case(2, "JPEG cut just before its end")
def _(tmp: Path) -> None:
    _damaged(tmp, "cut.jpg", _cut_with_eoi(jpeg_bytes(size=(240, 320)), 0.99), "damaged JPEG")


@case(2, "JPEG header claiming more rows than its data")
def _(tmp: Path) -> None:
    _damaged(tmp, "tall.jpg", _taller(jpeg_bytes(size=(240, 320)), 64), "damaged JPEG")


@case(2, "progressive JPEG cut between scans")
def _(tmp: Path) -> None:
    data = jpeg_bytes(size=(240, 320), progressive=True)
    second = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    _damaged(tmp, "prog.jpg", data[:second] + b"\xff\xd9", "damaged JPEG")


@case(2, "PNG failing its CRC")
def _(tmp: Path) -> None:
    data = bytearray(photo(tmp / "x.png").read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF
    _damaged(tmp, "crc.png", bytes(data), "crc.png")


@case(2, "PNG cut short")
def _(tmp: Path) -> None:
    data = photo(tmp / "x.png").read_bytes()
    _damaged(tmp, "short.png", data[: len(data) * 2 // 3], "short.png")


@case(2, "TIFF cut short")
def _(tmp: Path) -> None:
    data = photo(tmp / "x.tif", compression="tiff_deflate").read_bytes()
    _damaged(tmp, "short.tif", data[: len(data) // 2], "short.tif")


@case(2, "not an image under an image's name")
def _(tmp: Path) -> None:
    _damaged(tmp, "notes.jpg", b"Dear diary, today I renamed a text file.\n" * 20, "notes.jpg")


# --- 3. Non-finite weights refused --------------------------------------------------------


def _tampered_style(tmp: Path, value: float) -> Path:
    """The shipped expertC style with ``value`` planted and its checksum made valid again."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save

    from csrtouch.styles import files, paths

    src = paths.bundled_dir() / "styles" / "expertC.safetensors"
    with safe_open(str(src), framework="np") as f:
        meta = dict(f.metadata())
    tensors = load_file(str(src))
    tensors["gamma"] = tensors["gamma"].copy()
    tensors["gamma"].reshape(-1)[3] = value
    meta["tensors_sha256"] = files.tensors_sha256(tensors)
    out = tmp / "bad.safetensors"
    out.write_bytes(save(tensors, metadata=meta))
    return out


def _refused_weights(tmp: Path, value: float, say: str) -> None:
    style = _tampered_style(tmp, value)
    photo(tmp / "in" / "x.jpg")
    ran = csrtouch(tmp, "import", style, "--name", "bad")
    expect(ran, 2, say, lines=1)
    assert "bad" not in csrtouch(tmp, "list-styles").out.decode()
    styles = tmp / "home" / "styles"
    styles.mkdir(parents=True, exist_ok=True)
    (styles / "planted.safetensors").write_bytes(style.read_bytes())
    ran = csrtouch(tmp, "apply", "--style", "planted", "in", "out")
    expect(ran, 2, say, lines=1)
    assert not outputs(tmp / "out") if (tmp / "out").exists() else True


@case(3, "NaN in a style with a valid checksum")
def _(tmp: Path) -> None:
    _refused_weights(tmp, float("nan"), "NaN")


@case(3, "Inf in a style with a valid checksum")
def _(tmp: Path) -> None:
    _refused_weights(tmp, float("inf"), "Inf")


@case(3, "an absurd value in a style with a valid checksum")
def _(tmp: Path) -> None:
    _refused_weights(tmp, 1e30, "beyond")


@case(3, "a style file of random bytes")
def _(tmp: Path) -> None:
    (tmp / "junk.safetensors").write_bytes(os.urandom(4096))
    expect(csrtouch(tmp, "import", "junk.safetensors", "--name", "junk"), 2, "junk.safetensors", lines=1)


# --- 4. No partial file after signals ----------------------------------------------------------


def _big_batch(tmp: Path, n: int = 8) -> Path:
    """Photos large enough that writing each takes a while (PNG, 6 MP)."""
    src = tmp / "in"
    src.mkdir()
    image = Image.fromarray(pixels(2000, 3000))
    for i in range(n):
        image.save(src / f"p{i}.png", compress_level=0)
    return src


def _mid_write(tmp: Path, *flags: str, timeout: float = 120) -> subprocess.Popen:
    """A run of the big batch into ``out/``, returned once it is writing a temporary file."""
    out = tmp / "out"
    proc = start(tmp, "apply", *flags, "-f", "png", "in", out)
    deadline = time.monotonic() + timeout
    while not (out.is_dir() and any(p.name.endswith(".part") for p in out.iterdir())):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the run never wrote a temporary file")
        time.sleep(0.005)
    return proc


def _signalled(tmp: Path, signals: list[int], rc: int, say: str, *flags: str) -> None:
    """Send ``signals`` (10 ms apart) to a run mid-write: it stops with ``rc``, leaving no
    temporary file and only whole outputs."""
    _big_batch(tmp)
    proc = _mid_write(tmp, *flags)
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.01)
    ran = finish(proc, timeout=10)
    expect(ran, rc, say, "no partial file was left")
    assert not parts(tmp / "out"), parts(tmp / "out")
    for path in (tmp / "out").glob("*.png"):
        whole(path)


@case(4, "SIGTERM mid-write")
def _(tmp: Path) -> None:
    _signalled(tmp, [signal.SIGTERM], 128 + signal.SIGTERM, "stopped by SIGTERM")


@case(4, "SIGHUP mid-write (the terminal closed)")
def _(tmp: Path) -> None:
    _signalled(tmp, [signal.SIGHUP], 128 + signal.SIGHUP, "stopped by SIGHUP")


@case(4, "Ctrl-C mid-write")
def _(tmp: Path) -> None:
    _signalled(tmp, [signal.SIGINT], 130, "interrupted", "-j", "2")


@case(4, "Ctrl-C twice in quick succession, then SIGTERM")
def _(tmp: Path) -> None:
    _signalled(tmp, [signal.SIGINT, signal.SIGINT, signal.SIGTERM], 130, "interrupted", "-j", "2")


@case(4, "SIGKILL, then a re-run cleans up and finishes")
def _(tmp: Path) -> None:
    _big_batch(tmp, n=4)
    proc = _mid_write(tmp)
    proc.kill()
    proc.wait()
    ran = csrtouch(tmp, "apply", "-f", "png", "in", "out")
    expect(ran, 0)
    assert not parts(tmp / "out"), parts(tmp / "out")
    assert outputs(tmp / "out") == [f"p{i}.png" for i in range(4)]
    for path in (tmp / "out").glob("*.png"):
        whole(path)


@case(4, "stale temporary files go, others' files and locked ones stay")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    photo(tmp / "in" / "sub" / "b.jpg", seed=1)
    out = tmp / "out"
    (out / "sub").mkdir(parents=True)
    stale = [out / ".a.jpg.0123abcd.part", out / "sub" / ".b.jpg.deadbeef.part"]
    mine = [out / "notes.part", out / ".draft.part", out / "sub" / ".b.jpg.XYZ.part"]
    for path in stale + mine:
        path.write_bytes(b"partial")
    locked = out / ".other.jpg.89abcdef.part"
    locked.write_bytes(b"being written")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'rb+'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(60)"), str(locked)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        expect(csrtouch(tmp, "apply", "in", "out"), 0)
        assert not any(p.exists() for p in stale), "stale temporary files left"
        assert all(p.exists() for p in mine), "a file csrtouch did not name was deleted"
        assert locked.exists(), "a temporary file another process is writing was deleted"
    finally:
        holder.kill()
        holder.wait()


# --- 5. Stops at once ------------------------------------------------------------------------


@case(5, "a FIFO among the photos")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    os.mkfifo(tmp / "in" / "pipe.jpg")
    ran = csrtouch(tmp, "apply", "in", "out", timeout=60)
    expect(ran, 1, "pipe.jpg", "not a regular file")
    assert outputs(tmp / "out") == ["a.jpg"]


@case(5, "a FIFO named directly, and a symbolic link to one")
def _(tmp: Path) -> None:
    os.mkfifo(tmp / "pipe.jpg")
    (tmp / "link.jpg").symlink_to(tmp / "pipe.jpg")
    photo(tmp / "a.jpg")
    ran = csrtouch(tmp, "apply", "pipe.jpg", "link.jpg", "a.jpg", "out", timeout=60)
    expect(ran, 1, "pipe.jpg", "link.jpg")


def _interrupt_after(proc: subprocess.Popen, seconds: float, sig: int = signal.SIGINT) -> Ran:
    time.sleep(seconds)
    assert proc.poll() is None, "the command ended before it was interrupted"
    sent = time.perf_counter()
    proc.send_signal(sig)
    ran = finish(proc, timeout=5)
    ran.seconds = time.perf_counter() - sent
    assert ran.seconds < 2.5, f"took {ran.seconds:.1f} s to stop"
    return ran


@case(5, "Ctrl-C while the list of files is still arriving on stdin")
def _(tmp: Path) -> None:
    proc = start(tmp, "apply", "--from-list", "-", "out", stdin=subprocess.PIPE)
    try:
        expect(_interrupt_after(proc, 1.5), 130, "interrupted")
    finally:
        proc.stdin.close()


@case(5, "Ctrl-C while the image is still arriving on stdin")
def _(tmp: Path) -> None:
    proc = start(tmp, "apply", "-", "-", stdin=subprocess.PIPE)
    try:
        expect(_interrupt_after(proc, 1.5), 130, "interrupted")
    finally:
        proc.stdin.close()


# A worker stuck in a read that never returns (a hung network mount): the decoder is made to
# open a FIFO no one writes to. The rest is the installed command's own code.
_STUCK = """
import sys
import csrtouch.batch
fifo = sys.argv[1]
def stuck(*args, **kwargs):
    open(fifo, "rb").read()
csrtouch.batch.retouch_file = stuck
sys.argv = ["csrtouch", *sys.argv[2:]]
from csrtouch.cli import main
main()
"""


def _stuck(tmp: Path, sig: int, *flags: str) -> Ran:
    photo(tmp / "in" / "a.jpg")
    photo(tmp / "in" / "b.jpg", seed=1)
    os.mkfifo(tmp / "hung")
    proc = subprocess.Popen([sys.executable, "-c", _STUCK, str(tmp / "hung"), "apply", *flags, "in", "out"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp, env=env(tmp))
    return _interrupt_after(proc, 2.0, sig)


@case(5, "Ctrl-C with every worker stuck in a read")
def _(tmp: Path) -> None:
    expect(_stuck(tmp, signal.SIGINT, "-j", "2"), 130, "interrupted")


@case(5, "SIGTERM with the one worker stuck in a read")
def _(tmp: Path) -> None:
    expect(_stuck(tmp, signal.SIGTERM, "-j", "1"), 128 + signal.SIGTERM, "stopped by SIGTERM")


@case(5, "Ctrl-C while --consistent reads a stuck file")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    os.mkfifo(tmp / "hung")
    code = _STUCK.replace("csrtouch.batch.retouch_file = stuck", "csrtouch.batch.readable_thumbnails = stuck")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp / "hung"), "apply", "--consistent", "in", "out"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp, env=env(tmp))
    expect(_interrupt_after(proc, 2.0), 130, "interrupted")


# --- 6. Nothing skipped silently -------------------------------------------------------------


@case(6, "a subfolder too deep to be read (path longer than PATH_MAX)")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    fd = os.open(tmp / "in", os.O_RDONLY)
    for _ in range(18):
        os.mkdir("d" * 250, dir_fd=fd)
        deeper = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    with os.fdopen(os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
        f.write(jpeg_bytes())
    os.close(fd)
    ran = csrtouch(tmp, "apply", "in", "out")
    expect(ran, 1, "cannot read the folder")
    assert outputs(tmp / "out") == ["a.jpg"]


@case(6, "a subfolder without read permission")
def _(tmp: Path) -> None:
    if os.geteuid() == 0:
        raise Skip("root reads every folder")
    photo(tmp / "in" / "a.jpg")
    photo(tmp / "in" / "locked" / "b.jpg")
    (tmp / "in" / "locked").chmod(0)
    try:
        expect(csrtouch(tmp, "apply", "in", "out"), 1, "locked", "cannot read the folder")
    finally:
        (tmp / "in" / "locked").chmod(stat.S_IRWXU)


@case(6, "a folder where an output should go")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    photo(tmp / "in" / "b.jpg", seed=1)
    (tmp / "out" / "a.jpg").mkdir(parents=True)
    for flags in ([], ["--overwrite"]):
        ran = csrtouch(tmp, "apply", *flags, "in", "out")
        expect(ran, 1, "is a folder")
        assert "skipped" not in ran.err.split("retouched")[-1].split(",")[0]
        assert (tmp / "out" / "a.jpg").is_dir()


@case(6, "a broken symbolic link among the photos")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    (tmp / "in" / "gone.jpg").symlink_to(tmp / "nowhere.jpg")
    expect(csrtouch(tmp, "apply", "in", "out"), 1, "gone.jpg", "broken symbolic link")


@case(6, "an input that does not exist, among ones that do")
def _(tmp: Path) -> None:
    photo(tmp / "a.jpg")
    ran = csrtouch(tmp, "apply", "a.jpg", "missing.jpg", "missing-folder", "out")
    expect(ran, 1, "missing.jpg", "missing-folder", "no such file")
    assert outputs(tmp / "out") == ["a.jpg"]


# --- 7. Names ---------------------------------------------------------------------------------


def _named(tmp: Path, name: str | bytes) -> None:
    folder = os.fsencode(tmp / "in")
    os.makedirs(folder, exist_ok=True)
    raw = os.fsencode(name)
    with open(os.path.join(folder, raw), "wb") as f:
        f.write(jpeg_bytes())
    ran = csrtouch(tmp, "apply", "in", "out")
    expect(ran, 0)
    assert os.path.exists(os.path.join(os.fsencode(tmp / "out"), raw)), outputs(tmp / "out")


@case(7, "a 255-byte ASCII file name")
def _(tmp: Path) -> None:
    _named(tmp, "a" * 251 + ".jpg")


@case(7, "a 255-byte UTF-8 file name")
def _(tmp: Path) -> None:
    _named(tmp, "é" * 125 + "a.jpg")


@case(7, "a latin-1 (not UTF-8) file name")
def _(tmp: Path) -> None:
    _named(tmp, b"caf\xe9 cr\xe8me.jpg")


@case(7, "terminal control characters in a file name")
def _(tmp: Path) -> None:
    name = "evil\x1b]0;pwned\x07\x1b[2J\r.jpg"
    (tmp / "in").mkdir()
    (tmp / "in" / name).write_bytes(b"not a photo")
    ran = csrtouch(tmp, "apply", "in", "out")
    expect(ran, 1, "\\x1b")
    assert not any(c in ran.err for c in "\x1b\x07\r"), repr(ran.err)


def _listed(tmp: Path, via_stdin: bool, sep: bytes) -> None:
    names = [b"caf\xe9.jpg", "naïve.jpg".encode(), b"two\nlines.jpg" if sep == b"\0" else b"plain.jpg"]
    folder = os.fsencode(tmp / "in")
    os.makedirs(folder)
    for i, raw in enumerate(names):
        with open(os.path.join(folder, raw), "wb") as f:
            f.write(jpeg_bytes(seed=i))
    listing = sep.join(os.path.join(folder, raw) for raw in names) + sep
    if via_stdin:
        ran = csrtouch(tmp, "apply", "--from-list", "-", "out", stdin=listing)
    else:
        (tmp / "list.txt").write_bytes(listing)
        ran = csrtouch(tmp, "apply", "--from-list", "list.txt", "out")
    expect(ran, 0, "3 retouched")


@case(7, "latin-1 names in a --from-list file")
def _(tmp: Path) -> None:
    _listed(tmp, via_stdin=False, sep=b"\n")


@case(7, "latin-1 names in a --from-list on stdin")
def _(tmp: Path) -> None:
    _listed(tmp, via_stdin=True, sep=b"\n")


@case(7, "a NUL-separated list (find -print0) with a newline in a name")
def _(tmp: Path) -> None:
    _listed(tmp, via_stdin=True, sep=b"\0")


@case(7, "a file name starting with a dash")
def _(tmp: Path) -> None:
    photo(tmp / "-x.jpg")
    expect(csrtouch(tmp, "apply", "--", "-x.jpg", "out"), 0)
    assert outputs(tmp / "out") == ["-x.jpg"]


# --- 8. Same-name inputs ----------------------------------------------------------------------


def _same_stem(tmp: Path, files: dict[str, Callable[[Path], object]], flags: list[str], expected: list[str]) -> None:
    for name, make in files.items():
        make(tmp / "in" / name)
    ran = csrtouch(tmp, "apply", *flags, "in", "out")
    expect(ran, 0)
    assert outputs(tmp / "out") == expected, outputs(tmp / "out")
    for name in expected:
        whole(tmp / "out" / name)
    # Named in the other order, the names are the same.
    listing = "\n".join(str(tmp / "in" / name) for name in reversed(list(files))).encode()
    ran = csrtouch(tmp, "apply", *flags, "--from-list", "-", "out2", stdin=listing)
    expect(ran, 0)
    assert outputs(tmp / "out2") == expected, outputs(tmp / "out2")


@case(8, "a camera's RAW and its own JPEG, --format jpeg")
def _(tmp: Path) -> None:
    _same_stem(tmp, {"IMG_1.DNG": dng, "IMG_1.JPG": photo}, ["--format", "jpeg"], ["IMG_1.DNG.jpg", "IMG_1.JPG"])


@case(8, "a camera's RAW and its own JPEG, lower case, default format")
def _(tmp: Path) -> None:
    _same_stem(tmp, {"img_2.dng": dng, "img_2.jpg": photo}, [], ["img_2.jpg", "img_2.tif"])


@case(8, "a RAW and a TIFF of the same photo (RAW's default output is TIFF)")
def _(tmp: Path) -> None:
    _same_stem(tmp, {"x.dng": dng, "x.tif": photo}, [], ["x.dng.tif", "x.tif"])


@case(8, "PNG, TIFF and JPEG of one stem, --format tiff")
def _(tmp: Path) -> None:
    _same_stem(tmp, {"x.png": photo, "x.tif": photo, "x.jpg": photo}, ["-f", "tiff"], ["x.jpg.tif", "x.png.tif", "x.tif"])


# --- 9. No tracebacks -------------------------------------------------------------------------


def _home_is_a_file(tmp: Path) -> dict[str, str]:
    (tmp / "home-file").write_text("not a folder")
    return {"CSRTOUCH_HOME": str(tmp / "home-file")}


@case(9, "CSRTOUCH_HOME is a file: import, remove, list-styles")
def _(tmp: Path) -> None:
    from csrtouch.styles import paths

    style = paths.bundled_dir() / "styles" / "expertC.safetensors"
    home = _home_is_a_file(tmp)
    expect(csrtouch(tmp, "import", style, "--name", "mine", extra_env=home), 1, "home-file", "is a file", lines=1)
    ran = csrtouch(tmp, "remove", "mine", extra_env=home)
    assert ran.rc in (1, 2) and "Traceback" not in ran.err and len(ran.lines) == 1, ran.err
    ran = csrtouch(tmp, "list-styles", extra_env=home)
    expect(ran, 0, "home-file")
    assert b"expertC" in ran.out


@case(9, "CSRTOUCH_HOME is a file: finetune refuses before training")
def _(tmp: Path) -> None:
    for i in range(3):
        photo(tmp / "liked" / f"{i}.jpg", seed=i)
    ran = csrtouch(tmp, "finetune", "--style", "mine", "liked", extra_env=_home_is_a_file(tmp))
    expect(ran, 1, "home-file", "is a file", lines=1)
    assert ran.seconds < 20, f"took {ran.seconds:.0f} s: it trained before checking"


@case(9, "train --out is a file")
def _(tmp: Path) -> None:
    (tmp / "weights").write_text("a file")
    (tmp / "data").mkdir()
    expect(csrtouch(tmp, "train", "data", "--out", "weights"), 2, "weights", lines=1)
    assert (tmp / "weights").read_text() == "a file"


@case(9, "apply - - with stdout closed")
def _(tmp: Path) -> None:
    ran = csrtouch(tmp, "apply", "-", "-", stdin=jpeg_bytes(), stdout=None, preexec_fn=lambda: os.close(1),
                   stderr=subprocess.PIPE)
    expect(ran, 2, "stdout", lines=1)


@case(9, "apply - - into a pipe whose reader has gone")
def _(tmp: Path) -> None:
    proc = start(tmp, "apply", "-f", "png", "-", "-", stdin=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(jpeg_bytes(size=(600, 800)), timeout=60)
    ran = Ran(proc.returncode, b"", err.decode(), 0)
    expect(ran, 1, "stdout", lines=1)


@case(9, "apply - - with empty or non-image stdin")
def _(tmp: Path) -> None:
    for data in (b"", b"hello"):
        ran = csrtouch(tmp, "apply", "-", "-", stdin=data)
        assert ran.rc in (1, 2) and "Traceback" not in ran.err and len(ran.lines) == 1, ran.err
        assert ran.out == b""


# --- 10. Exit codes and messages ------------------------------------------------------------


@case(10, "--from-list names a missing file")
def _(tmp: Path) -> None:
    expect(csrtouch(tmp, "apply", "--from-list", "nope.txt", "out"), 2, "nope.txt", lines=1)
    assert not (tmp / "out").exists()


@case(10, "--bit-depth 16 with JPEG outputs is one usage error")
def _(tmp: Path) -> None:
    for i in range(3):
        photo(tmp / "in" / f"{i}.jpg", seed=i)
    expect(csrtouch(tmp, "apply", "--bit-depth", "16", "-f", "jpeg", "in", "out"), 2, "16", lines=1)
    expect(csrtouch(tmp, "apply", "--bit-depth", "16", "in", "out"), 2, "JPEG", lines=1)
    assert not (tmp / "out").exists()


@case(10, "--consistent with only unreadable inputs says each file's reason")
def _(tmp: Path) -> None:
    (tmp / "in").mkdir()
    (tmp / "in" / "a.jpg").write_bytes(b"junk")
    (tmp / "in" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\njunk")
    ran = csrtouch(tmp, "apply", "--consistent", "in", "out")
    expect(ran, 1, "a.jpg", "b.png")


@case(10, "the same file named twice is retouched once")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    ran = csrtouch(tmp, "apply", "in/a.jpg", "in/a.jpg", "./in/../in/a.jpg", "out")
    expect(ran, 0, "1 retouched")
    assert outputs(tmp / "out") == ["a.jpg"]


@case(10, "remove deletes a corrupt style")
def _(tmp: Path) -> None:
    styles = tmp / "home" / "styles"
    styles.mkdir(parents=True)
    (styles / "broken.safetensors").write_bytes(b"\x00" * 100)
    expect(csrtouch(tmp, "remove", "broken"), 0, "removed")
    assert not (styles / "broken.safetensors").exists()


@case(10, "import of a file that is not a checkpoint is one line")
def _(tmp: Path) -> None:
    for name, data in {"notes.pth": b"just text\n" * 50, "empty.pth": b"", "photo.pth": jpeg_bytes()}.items():
        (tmp / name).write_bytes(data)
        expect(csrtouch(tmp, "import", name, "--name", "x"), 2, name, lines=1)


@case(10, "an unknown style is one usage error")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "a.jpg")
    expect(csrtouch(tmp, "apply", "--style", "nope", "in", "out"), 2, "nope", lines=1)


# --- 11. Kept as it was -----------------------------------------------------------------------


@case(11, "gray + alpha PNG stays gray + alpha")
def _(tmp: Path) -> None:
    photo(tmp / "in" / "la.png", mode="LA")
    photo(tmp / "in" / "l.png", mode="L")
    expect(csrtouch(tmp, "apply", "in", "out"), 0)
    for name, mode in (("la.png", "LA"), ("l.png", "L")):
        with Image.open(tmp / "out" / name) as image:
            assert image.mode == mode, (name, image.mode)


@case(11, "transparent PNG to JPEG says it flattened the alpha")
def _(tmp: Path) -> None:
    rgba = np.dstack([pixels(), np.tile(np.linspace(0, 255, 128).astype(np.uint8), (96, 1))])
    (tmp / "in").mkdir()
    Image.fromarray(rgba, "RGBA").save(tmp / "in" / "rgba.png")
    ran = csrtouch(tmp, "apply", "--json", "-f", "jpeg", "in", "out")
    expect(ran, 0)
    (record,) = map(json.loads, ran.out.decode().splitlines())
    assert any("alpha" in w for w in record["warnings"]), record


@case(11, "the user's EXIF caption and tags are kept, provenance goes to Software and XMP")
def _(tmp: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "Anna and Ben, 12 June"  # ImageDescription
    exif[0x013B] = "Jo Photographer"  # Artist
    exif[0x8298] = "(c) Jo"  # Copyright
    photo(tmp / "in" / "a.jpg", exif=exif.tobytes())
    photo(tmp / "in" / "b.tif", exif=exif.tobytes())
    expect(csrtouch(tmp, "apply", "--style", "expertC", "in", "out"), 0)
    for name in ("a.jpg", "b.tif"):
        with Image.open(tmp / "out" / name) as image:
            tags = image.getexif()
            xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
            if not xmp and hasattr(image, "tag_v2"):
                xmp = image.tag_v2.get(700, b"")
        assert tags[0x010E] == "Anna and Ben, 12 June" and tags[0x013B] == "Jo Photographer" and tags[0x8298] == "(c) Jo", dict(tags)
        assert tags[0x0131].startswith("csrtouch"), tags.get(0x0131)
        xmp = xmp.decode() if isinstance(xmp, bytes) else str(xmp)
        assert "expertC" in xmp and "ns.csrtouch.org" in xmp, xmp[:400]


@case(11, "a palette PNG with transparency comes out RGBA")
def _(tmp: Path) -> None:
    image = Image.fromarray(pixels()).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    image.info["transparency"] = 0
    (tmp / "in").mkdir()
    image.save(tmp / "in" / "p.png", transparency=0)
    expect(csrtouch(tmp, "apply", "in", "out"), 0)
    with Image.open(tmp / "out" / "p.png") as out:
        assert out.mode == "RGBA", out.mode


# --- 12. Preview ------------------------------------------------------------------------------


@case(12, "a contact sheet written into the photos' own folder")
def _(tmp: Path) -> None:
    for i in range(2):
        photo(tmp / "photos" / f"{i}.jpg", seed=i)
    before = snapshot(tmp / "photos")
    for _ in range(2):  # the second run must not take the sheet for a photo
        expect(csrtouch(tmp, "preview", "photos", "-o", "photos/sheet.png"), 0, "2 photos")
    unchanged(before)
    whole(tmp / "photos" / "sheet.png")


@case(12, "a contact sheet into a subfolder of the photos")
def _(tmp: Path) -> None:
    photo(tmp / "photos" / "a.jpg")
    (tmp / "photos" / "sheets").mkdir()
    expect(csrtouch(tmp, "preview", "photos", "-o", "photos/sheets/s.png"), 0, "1 photos")
    expect(csrtouch(tmp, "preview", "photos", "-o", "photos/sheets/s.png"), 0, "1 photos")


# --- 13. Same input, same bytes --------------------------------------------------------------


def _batch(tmp: Path) -> list[Path]:
    return [photo(tmp / "in" / f"{i}.jpg", seed=i, size=(150 + 40 * i, 200 + 30 * i)) for i in range(5)]


def _same_bytes(a: Path, b: Path) -> None:
    assert outputs(a) == outputs(b), (outputs(a), outputs(b))
    for name in outputs(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"


@case(13, "-j 1 and -j 2 give the same bytes")
def _(tmp: Path) -> None:
    _batch(tmp)
    expect(csrtouch(tmp, "apply", "-j", "1", "in", "j1"), 0)
    expect(csrtouch(tmp, "apply", "-j", "2", "in", "j2"), 0)
    _same_bytes(tmp / "j1", tmp / "j2")


@case(13, "BLAS threads do not change the bytes")
def _(tmp: Path) -> None:
    _batch(tmp)
    expect(csrtouch(tmp, "apply", "in", "t1", extra_env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}), 0)
    expect(csrtouch(tmp, "apply", "in", "t2", extra_env={"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}), 0)
    _same_bytes(tmp / "t1", tmp / "t2")


@case(13, "--consistent in either order gives the same bytes")
def _(tmp: Path) -> None:
    paths = _batch(tmp)
    for name, order in (("fwd", paths), ("rev", paths[::-1])):
        listing = "\n".join(map(str, order)).encode()
        expect(csrtouch(tmp, "apply", "--consistent", "--from-list", "-", name, stdin=listing), 0)
    _same_bytes(tmp / "fwd", tmp / "rev")


@case(13, "a photo alone gives the bytes it gives in a batch")
def _(tmp: Path) -> None:
    paths = _batch(tmp)
    expect(csrtouch(tmp, "apply", "in", "all"), 0)
    expect(csrtouch(tmp, "apply", paths[2], "one"), 0)
    assert (tmp / "all" / paths[2].name).read_bytes() == (tmp / "one" / paths[2].name).read_bytes()
