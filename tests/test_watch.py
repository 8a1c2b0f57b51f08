"""``csrtouch watch``, the hot folder: the installed command run as a user runs it, with real
files arriving while it watches (a slow writer, a replaced photo, a damaged one, temporary
names) and stopped by signals."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from csrtouch.cli import app
from csrtouch.watch import held_for_writing, is_photo
from hostile import _cut_with_eoi, command, env, jpeg_bytes, parts, photo, pixels

runner = CliRunner()


class Watching:
    """``csrtouch watch --json`` running in ``tmp``; its JSON lines and stderr read as they come."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*command(), "watch", "--json", *args], cwd=tmp, env=env(tmp), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.records: list[dict] = []
        self._lines: queue.SimpleQueue = queue.SimpleQueue()
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=lambda: self._err.extend(line.decode("utf-8", "replace") for line in self.proc.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))

    @property
    def err(self) -> str:
        return "".join(self._err)

    def of(self, name: str) -> list[dict]:
        return [r for r in self.records if Path(r["input"]).name == name]

    def _until(self, done, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.proc.kill()
                raise AssertionError(f"waited for {what}; got {self.records}; stderr: {self.err[-1500:]}")
            try:
                self.records.append(self._lines.get(timeout=min(left, 0.1)))
            except queue.Empty:
                pass

    def wait_for(self, *names: str, count: int = 1, timeout: float = 60) -> None:
        """Until each of ``names`` has ``count`` records."""
        self._until(lambda: all(len(self.of(n)) >= count for n in names), str(names), timeout)

    def started(self, timeout: float = 60) -> None:
        """Until it says it is watching (after its initial pass)."""
        self._until(lambda: "watching " in self.err, "it to start watching", timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("still running after it was told to stop") from None
        for reader in self._readers:
            reader.join(timeout=10)
        while not self._lines.empty():
            self.records.append(self._lines.get())
        return self.proc.returncode


def _png_bytes(seed: int, size: tuple[int, int] = (400, 600)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels(*size, seed=seed)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _write_slowly(path: Path, data: bytes, chunks: int, pause: float, *, held: bool) -> None:
    """``data`` in ``chunks`` pieces ``pause`` seconds apart: from one open file (``held``),
    or appended and closed piece by piece, as a copy over a share does."""
    pieces = [data[i * len(data) // chunks:(i + 1) * len(data) // chunks] for i in range(chunks)]
    if held:
        with open(path, "wb") as f:
            for piece in pieces:
                f.write(piece)
                f.flush()
                time.sleep(pause)
        return
    for piece in pieces:
        with open(path, "ab") as f:
            f.write(piece)
        time.sleep(pause)


def test_hot_folder(tmp_path):
    """What arrived while it was down, then new, slow, replaced, damaged and temporary files."""
    src, out = tmp_path / "in", tmp_path / "out"
    # Before it starts: one done already, one whose photo was replaced since, one new.
    photo(src / "done.png", seed=1)
    time.sleep(0.05)
    photo(out / "done.png", seed=99)
    photo(out / "stale.png", seed=98)
    time.sleep(0.05)
    photo(src / "stale.png", seed=2)
    photo(src / "fresh.png", seed=3, size=(120, 160))
    done_before = (out / "done.png").read_bytes()

    # The settle time alone would take the held slow file (pausing 1.1 s) while half written.
    w = Watching(tmp_path, "--settle", "0.8", "-j", "1", "in", "out")
    w.wait_for("done.png", "stale.png", "fresh.png")
    assert [r["status"] for r in w.of("done.png")] == ["skipped"]
    assert (out / "done.png").read_bytes() == done_before
    assert [r["status"] for r in w.of("stale.png")] == ["ok"]
    assert [r["status"] for r in w.of("fresh.png")] == ["ok"]
    fresh_before = (out / "fresh.png").read_bytes()

    held = threading.Thread(target=_write_slowly, args=(src / "slow_held.png", _png_bytes(4), 3, 1.1), kwargs={"held": True})
    appended = threading.Thread(target=_write_slowly, args=(src / "slow_appended.png", _png_bytes(5), 20, 0.1), kwargs={"held": False})
    held.start()
    appended.start()
    photo(src / "sub" / "new.jpg", seed=6)
    (src / "broken.jpg").write_bytes(_cut_with_eoi(jpeg_bytes(seed=7, size=(300, 400)), 0.5))
    for name in (".x.png.part", "~y.png", "z.png~", ".hidden.png", "#e.png#"):
        (src / name).write_bytes(_png_bytes(8, (20, 20)))
    (src / ".git").mkdir()
    photo(src / ".git" / "inside.png", seed=9)
    # Replaced as editors and cameras replace a file: written beside it, renamed onto it.
    photo(src / ".fresh.png.tmp.png", seed=10, size=(120, 160))
    os.replace(src / ".fresh.png.tmp.png", src / "fresh.png")
    held.join()
    appended.join()

    w.wait_for("slow_held.png", "slow_appended.png", "new.jpg", "broken.jpg")
    w.wait_for("fresh.png", count=2)
    time.sleep(1.5)  # time for anything wrongly taken (a second go, a temporary file) to show
    rc = w.stop(signal.SIGTERM)

    assert rc == 143, (rc, w.err)
    assert "stopped by SIGTERM" in w.err and "no partial file was left" in w.err, w.err
    assert "Traceback" not in w.err, w.err
    # Each slow file taken once, whole: half a PNG would have failed as truncated.
    for name in ("slow_held.png", "slow_appended.png"):
        assert [r["status"] for r in w.of(name)] == ["ok"], w.of(name)
        with Image.open(out / name) as image:
            assert image.size == (600, 400)
    assert [r["status"] for r in w.of("new.jpg")] == ["ok"]
    assert (out / "sub" / "new.jpg").is_file()
    # The damaged file: one failed line naming it, and the watch went on.
    [broken] = w.of("broken.jpg")
    assert broken["status"] == "failed" and "broken.jpg" in broken["error"], broken
    assert sum("broken.jpg" in line for line in w.err.splitlines()) == 1, w.err
    assert not (out / "broken.jpg").exists()
    # The replaced photo redone.
    assert [r["status"] for r in w.of("fresh.png")] == ["ok", "ok"]
    assert (out / "fresh.png").read_bytes() != fresh_before
    # Temporary and hidden names are no photos.
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "done.png", "fresh.png", "slow_appended.png", "slow_held.png", "stale.png", "sub/new.jpg",
    ]
    assert len(w.records) == 8, w.records


def test_ctrl_c_mid_write_leaves_no_partial_file(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    w = Watching(tmp_path, "--settle", "0.2", "-f", "png", "in", "out")
    w.started()
    big = Image.fromarray(pixels(2000, 3000))
    for i in range(2):
        big.save(src / f".p{i}.png", compress_level=0)
        os.replace(src / f".p{i}.png", src / f"p{i}.png")
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(p.name.endswith(".part") for p in out.iterdir())):
        assert time.monotonic() < deadline and w.proc.poll() is None, "it never wrote a temporary file"
        time.sleep(0.005)
    rc = w.stop(signal.SIGINT)
    assert rc == 130, (rc, w.err)
    assert "interrupted" in w.err and "no partial file was left" in w.err, w.err
    assert "Traceback" not in w.err
    assert not parts(out), parts(out)
    for path in out.glob("*.png"):
        with Image.open(path) as image:
            image.load()


@pytest.mark.parametrize(
    ("args", "say"),
    [
        (["in"], "one folder to watch and the OUTPUT folder"),
        (["in", "out", "more"], "one folder to watch and the OUTPUT folder"),
        (["missing", "out"], "INPUT missing does not exist"),
        (["in/a.png", "out"], "is not a folder"),
        (["--settle", "-1", "in", "out"], "--settle is a number of seconds"),
        (["--settle", "soon", "in", "out"], "--settle is a number of seconds"),
        (["in", "in/out"], "is inside input folder"),
        (["--name", "{nope}.{ext}", "in", "out"], "unknown placeholder {nope}"),
        (["--long-side", "0", "in", "out"], "--long-side is a whole number"),
        (["--style", "nosuch", "in", "out"], "nosuch"),
        (["--bit-depth", "12", "in", "out"], "--bit-depth must be 8 or 16"),
    ],
)
def test_watch_usage_errors(tmp_path, monkeypatch, args, say):
    photo(tmp_path / "in" / "a.png")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["watch", *args])
    assert result.exit_code == 2, result.output
    assert say in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "in" / "out").exists()


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("IMG_1.JPG", True), ("a/b/IMG_1.cr2", True), ("x.png", True),
        (".x.png", False), (".x.png.part", False), ("x.png.part", False), (".IMG_1.JPG.a1b2c3d4.part", False),
        ("~x.png", False), ("~$x.png", False), ("x.png~", False), ("#x.png#", False), (".#x.png", False),
        ("x.png.crdownload", False), ("x.txt", False), (".hidden/x.png", False),
    ],
)
def test_what_is_a_photo(name, taken):
    assert is_photo(Path("/hot") / name, "/hot") is taken


def test_held_for_writing(tmp_path):
    """A file another process has open for writing is held; one it only reads is not."""
    path = tmp_path / "x.png"
    path.write_bytes(b"0")
    code = "import sys, time; f = open(sys.argv[1], sys.argv[2]); print('open', flush=True); time.sleep(30)"
    for mode, held in (("ab", True), ("rb", False)):
        proc = subprocess.Popen([sys.executable, "-c", code, str(path), mode], stdout=subprocess.PIPE)
        try:
            assert proc.stdout.readline().strip() == b"open"
            assert held_for_writing([path]) == ({path} if held else set())
        finally:
            proc.kill()
            proc.wait()
    assert held_for_writing([path]) == set()


def test_initial_pass_uses_apply_names(tmp_path):
    """A RAW and the camera's JPEG of one shot, with -f jpeg: both written, as apply names them."""

    sys.path.insert(0, str(Path(__file__).parent))
    from hostile import dng

    src = tmp_path / "in"
    dng(src / "IMG_1.dng")
    photo(src / "IMG_1.jpg")
    past = time.time() - 60  # arrived long ago: taken at once
    for p in src.iterdir():
        os.utime(p, (past, past))
    w = Watching(tmp_path, "-f", "jpeg", "--suffix", "_web", "in", "out")
    w.wait_for("IMG_1.dng", "IMG_1.jpg")
    assert w.stop() == 130
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["IMG_1.dng_web.jpg", "IMG_1_web.jpg"]
    assert np.array(Image.open(tmp_path / "out" / "IMG_1_web.jpg")).shape == (96, 128, 3)


def test_a_newcomer_that_takes_a_name(tmp_path):
    """IMG_1.dng is written as IMG_1.tif; when a TIFF named IMG_1.tif arrives, apply's rule
    gives it that name and the RAW IMG_1.dng.tif: the RAW is redone under its new name."""
    from hostile import dng

    src, out = tmp_path / "in", tmp_path / "out"
    dng(src / "IMG_1.dng")  # 64 x 96
    w = Watching(tmp_path, "--settle", "0.3", "in", "out")
    w.wait_for("IMG_1.dng")
    assert sorted(p.name for p in out.iterdir()) == ["IMG_1.tif"]
    photo(src / ".IMG_1.tif.tmp.tif", size=(96, 128))
    os.replace(src / ".IMG_1.tif.tmp.tif", src / "IMG_1.tif")
    w.wait_for("IMG_1.tif")
    w.wait_for("IMG_1.dng", count=2)
    assert w.stop() == 130
    assert [r["output"] for r in w.of("IMG_1.dng")] == ["out/IMG_1.tif", "out/IMG_1.dng.tif"]
    assert sorted(p.name for p in out.iterdir()) == ["IMG_1.dng.tif", "IMG_1.tif"]
    assert Image.open(out / "IMG_1.tif").size == (128, 96) and Image.open(out / "IMG_1.dng.tif").size == (96, 64)


def test_a_folder_moved_in(tmp_path):
    """A folder moved into the hot folder brings its photos without an event for each."""
    src = tmp_path / "in"
    src.mkdir()
    photo(tmp_path / "card" / "DCIM" / "a.jpg", seed=1)
    photo(tmp_path / "card" / "DCIM" / "b.png", seed=2)
    w = Watching(tmp_path, "--settle", "0.3", "in", "out")
    w.started()
    os.rename(tmp_path / "card", src / "card")
    w.wait_for("a.jpg", "b.png")
    assert w.stop() == 130
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")) == [
        "card/DCIM/a.jpg", "card/DCIM/b.png",
    ]


def test_the_watched_folder_removed(tmp_path):
    """Nothing more can arrive: one line, exit status 1, rather than watching nothing."""
    import shutil

    photo(tmp_path / "in" / "a.png")
    w = Watching(tmp_path, "--settle", "0.2", "in", "out")
    w.wait_for("a.png")
    shutil.rmtree(tmp_path / "in")
    try:
        w.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        w.stop(signal.SIGKILL)
        raise AssertionError("still watching a removed folder") from None
    w.stop(signal.SIGINT)  # gone already: collects its output
    assert w.proc.returncode == 1, w.err
    assert "the watched folder in was removed or moved" in w.err and "Traceback" not in w.err, w.err
