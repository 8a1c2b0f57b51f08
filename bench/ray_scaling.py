"""What Ray costs: `csrtouch apply` against `apply --ray` at equal cores, in one run.

    python bench/ray_scaling.py [--images 64] [--repeats 3]

Generates ``--images`` 12 MP JPEGs (4000x3000, bench/throughput.py's photos), then times
whole commands (start-up included), median of ``--repeats``, the modes interleaved within
each repeat so that the machine's drift hits them alike:

- local: ``csrtouch apply -j 1`` and ``-j 2``;
- Ray: a one-node cluster started once with ``ray start --head --num-cpus 2`` (as a user's
  cluster is running before a batch is sent to it), then ``csrtouch apply --ray ADDRESS``
  with ``-j 1`` and ``-j 2`` worker processes; start-up here is joining the cluster and
  starting the workers;
- once, ``--ray auto`` with no cluster running: Ray started for the command, and stopped.

Prints each wall time, the overhead of Ray at equal cores (``ray / local - 1``; target
<= 15%), the throughput per node in MP/s and photos/s, the driver's CPU seconds per file
(what bounds the files a single driver can hand out), and the bytes read and written per
photo (what bounds a shared store), which the README's 10- and 100-node prediction rests on.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import make_photo  # noqa: E402

BIN = Path(sys.executable).parent
# `ray start` turns token authentication on (Ray 2.60); its clients must use it too.
os.environ.setdefault("RAY_AUTH_MODE", "token")


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of a command and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Head:
    """``ray start --head --block`` in a process of its own; stopped by the ids of the
    processes it started."""

    def __init__(self, cpus: int) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = tempfile.mkdtemp(prefix="crb")
        self.proc = subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--port", str(self.port), "--num-cpus", str(cpus),
             "--include-dashboard", "false", "--temp-dir", self.temp, "--block", "--disable-usage-stats"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        code = "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); print(len(ray.nodes()))"
        for _ in range(120):
            if subprocess.run([sys.executable, "-c", code, self.address], capture_output=True).returncode == 0:
                return
            time.sleep(1)
        raise TimeoutError("the head did not start")

    def stop(self) -> None:
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if self.temp in cmd or self._descends(int(entry.name)):
                    pids.add(int(entry.name))
        pids.discard(os.getpid())
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp, ignore_errors=True)

    def _descends(self, pid: int) -> bool:
        for _ in range(64):
            if pid == self.proc.pid:
                return True
            try:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                return False
            if pid <= 1:
                return False
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    src = tmp / "in"
    src.mkdir()
    for i in range(args.images):
        cv2.imwrite(str(src / f"IMG_{i:03d}.jpg"), make_photo(4000, 3000, i), [cv2.IMWRITE_JPEG_QUALITY, 92])
    megapixels = 12.0 * args.images
    read = sum(p.stat().st_size for p in src.iterdir())
    print(f"{args.images} JPEGs of 12 MP, {read / args.images / 1e6:.2f} MB each, in {src}")

    csrtouch = str(BIN / "csrtouch")
    head = Head(cpus=2)
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    modes = {
        "local -j 1": ["-j", "1"],
        "local -j 2": ["-j", "2"],
        "ray, 1 worker": ["--ray", head.address, "-j", "1"],
        "ray, 2 workers": ["--ray", head.address, "-j", "2"],
    }
    try:
        for r in range(args.repeats):
            for name, options in modes.items():
                out = tmp / "out"
                shutil.rmtree(out, ignore_errors=True)
                wall, seconds = timed([csrtouch, "apply", "-q", *options, str(src), str(out)])
                times.setdefault(name, []).append(wall)
                cpu.setdefault(name, []).append(seconds)
                print(f"  repeat {r + 1}: {name:15s} {wall:6.2f} s (command's own CPU {seconds:5.2f} s)", flush=True)
        written = sum(p.stat().st_size for p in (tmp / "out").iterdir())
    finally:
        head.stop()
    shutil.rmtree(tmp / "out", ignore_errors=True)
    cold, _ = timed([csrtouch, "apply", "-q", "--ray", "auto", str(src), str(tmp / "out")])

    med = {name: statistics.median(t) for name, t in times.items()}
    print("\nmedian wall time of the command:")
    for name, t in med.items():
        print(f"  {name:15s} {t:6.2f} s  {megapixels / t:5.1f} MP/s  {args.images / t:5.2f} photos/s")
    print(f"  --ray auto, Ray started for the command (2 workers, once): {cold:.2f} s")
    for w in (1, 2):
        local, ray = med[f"local -j {w}"], med[f"ray, {w} worker{'s' if w > 1 else ''}"]
        print(f"Ray's overhead at {w} core(s): {ray / local - 1:+.1%} (target <= +15%)")
    ray2 = med["ray, 2 workers"]
    driver = statistics.median(cpu["ray, 2 workers"])
    print(f"per node (2 cores): {megapixels / ray2:.1f} MP/s, {args.images / ray2:.2f} photos/s")
    print(f"driver CPU per file (the command, workers excluded): {driver / args.images * 1000:.1f} ms")
    print(f"bytes per photo: read {read / args.images / 1e6:.2f} MB, written {written / args.images / 1e6:.2f} MB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
