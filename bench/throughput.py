"""Throughput, memory and start-up of csrtouch against the paper's own forward pass.

    python bench/throughput.py [--images 8] [--skip-paper] [--skip-50mp] [--device cuda]

Prints, all measured in this run on this machine:
- end to end: `csrtouch apply` on a folder of generated 12 MP JPEGs (decode, model,
  encode, metadata, start-up included), MP/s of the median of ``--repeats`` runs, and the
  per-stage split in one process (median s per image);
- the default path (the network per distinct colour for photos of up to 65^3 colours, a
  baked LUT above), the exact path (`--exact`, and 16-bit TIFF) in MP/s; the default per
  photo added to a batch (the 8-photo command minus a 1-photo one: start-up paid once);
  the LUT path alone (bake and apply, in this process);
- the paper's full-resolution forward pass (original architecture; the released
  checkpoint when ../shared is present, else random weights of the same shape: the cost
  is the same) on one 12 MP image: seconds and peak RSS; and the ratio csrtouch/paper;
- peak RSS of `csrtouch apply` on one JPEG of 12, 24, 50 (8660x5773) and 100 MP, to JPEG
  and to 16-bit TIFF (read in bands from 16 MP, ``csrtouch.io.stream``), with its slope in
  MB per MP (what grows with the photo), and the 50 MP JPEG through the whole-frame path;
  and what reading in bands costs in time: 24 and 50 MP, both paths in one process;
- TIFF compressors on one 16-bit 12 MP frame: seconds and MB (why csrtouch.io.tiff uses
  ISA-L Deflate);
- `csrtouch --help` and `csrtouch list-styles` wall time (median of 5);
- the bare-codec ceiling: OpenCV decode + encode (quality 95) of the same JPEGs, one
  process per core, and csrtouch's JPEG -> JPEG as a share of it;
- the RAW folder (``--raws``, default 4 generated 24 MP Bayer DNGs, tests/dng.py): whole
  commands to 16-bit TIFF (the default) and to JPEG with the default ``--jobs``, MP/s and
  peak RSS, beside ``--exact`` (the network at every pixel) in the same run; a RAW's stages
  in one process; the demosaic algorithms LibRaw offers, ``half_size`` and the tone step;
- start-up: ``python -c pass``, ``--help``, and a one-photo ``apply`` to its first decode
  (an audit hook notes when the input is opened) and to its end, with the import time of
  each package from ``-X importtime``.

``--only`` runs some sections: jpeg, paper, rss, raw, codec, startup (comma-separated).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CSRTOUCH_SHARED", ROOT.parent / "shared"))
CHECKPOINT = SHARED / "reference" / "csrnet-official-expertC.pth"


def make_photo(width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like RGB uint8 frame: an example photo upscaled, with grain."""
    examples = sorted((ROOT / "examples").glob("*.png")) + sorted((ROOT / "examples").glob("*.jpg"))
    base = cv2.imread(str(examples[seed % len(examples)]))
    big = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(seed).normal(0, 4, (height, width, 1)).astype(np.float32)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def distinct_colours(path: Path) -> int:
    pixels = cv2.imread(str(path)).reshape(-1, 3).astype(np.int32)
    return len(np.unique((pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]))


def peak_rss_of(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of a child process."""
    code = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:]);"
        "print(json.dumps([r.returncode, time.perf_counter() - t,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True)
    rc, seconds, kb = json.loads(out.stdout.strip().splitlines()[-1])
    if rc != 0:
        raise RuntimeError(f"{cmd} failed: {out.stderr[-2000:]}")
    return seconds, kb / 1024**2


def run_stats(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (GB) and CPU seconds (user + system) of a child process. CPU
    time is what a loaded machine distorts least: other jobs take cores, not instructions."""
    code = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:]);"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(json.dumps([r.returncode, time.perf_counter() - t, u.ru_maxrss, u.ru_utime + u.ru_stime]))"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True)
    rc, seconds, kb, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    if rc != 0:
        raise RuntimeError(f"{cmd} failed: {out.stderr[-2000:]}")
    return seconds, kb / 1024**2, cpu


def median_wall(cmd: list[str], runs: int = 5, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def stage_split(paths: list[Path], out: Path, exact: bool, tiff16: bool = False, device: str = "cpu") -> dict[str, float]:
    """Median seconds per stage over ``paths``, in this process."""
    from csrtouch.engine import Retoucher
    from csrtouch.io import decode, encode

    retoucher = Retoucher("expertC", device=device, exact=exact)
    stages: dict[str, list[float]] = {"decode": [], "condition": [], "apply": [], "encode": []}
    for p in paths:
        t0 = time.perf_counter()
        image = decode(p)
        t1 = time.perf_counter()
        retoucher.color_function(image.pixels)
        t2 = time.perf_counter()
        image.pixels = retoucher(image.pixels, np.uint16 if tiff16 else None)  # condition again + apply
        t3 = time.perf_counter()
        encode(image, out / (p.stem + (".tif" if tiff16 else p.suffix)), software="bench")
        t4 = time.perf_counter()
        stages["decode"].append(t1 - t0)
        stages["condition"].append(t2 - t1)
        stages["apply"].append((t3 - t2) - (t2 - t1))
        stages["encode"].append(t4 - t3)
    return {k: statistics.median(v) for k, v in stages.items()}


def lut_split(paths: list[Path]) -> dict[str, float]:
    """Median seconds to bake the 65^3 LUT and to apply it once per distinct colour (as the
    retoucher does for photos of more colours than the LUT has points), over ``paths``."""
    from csrtouch.engine import Retoucher
    from csrtouch.engine.lut import bake, interpolator
    from csrtouch.engine.tiles import map_colours
    from csrtouch.io import decode

    retoucher = Retoucher("expertC")
    stages: dict[str, list[float]] = {"bake": [], "apply": []}
    for p in paths:
        pixels = decode(p).pixels
        fn = retoucher.color_function(pixels)
        t0 = time.perf_counter()
        interpolate = interpolator(bake(fn))
        t1 = time.perf_counter()
        map_colours(pixels, lambda rgb: interpolate(rgb[:, None])[:, 0], out=pixels)
        stages["bake"].append(t1 - t0)
        stages["apply"].append(time.perf_counter() - t1)
    return {k: statistics.median(v) for k, v in stages.items()}


def tiff_compressors(path: Path) -> None:
    """Seconds (median of 3) and MB of each TIFF compressor on one 16-bit retouched frame."""
    import zlib

    from isal import isal_zlib

    from csrtouch.engine import Retoucher
    from csrtouch.io import decode
    from csrtouch.io.tiff import LEVEL, STRIP_BYTES, _differences

    pixels = Retoucher("expertC", device="cpu")(decode(path).pixels, np.uint16)
    rows = STRIP_BYTES // pixels[0].nbytes
    strips = [pixels[i : i + rows] for i in range(0, len(pixels), rows)]
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)

    def strips_through(compress, predict: bool):
        return lambda: b"".join(compress(_differences(s) if predict else s) for s in strips)

    candidates = {"libtiff LZW (OpenCV, csrtouch before)": lambda: cv2.imencode(".tif", bgr)[1].tobytes()}
    for name, compress in (("zlib level 1", lambda b: zlib.compress(b, 1)),
                           (f"ISA-L level {LEVEL}", lambda b: isal_zlib.compress(b, LEVEL))):
        candidates[name] = strips_through(compress, False)
        candidates[name + " + predictor"] = strips_through(compress, True)
    parts = []
    for name, run in candidates.items():
        times = []
        for _ in range(3):
            t = time.perf_counter()
            size = len(run())
            times.append(time.perf_counter() - t)
        parts.append(f"{name} {statistics.median(times):.2f} s {size / 1e6:.0f} MB")
    print(f"TIFF compressors, one 16-bit 12 MP frame ({pixels.nbytes / 1e6:.0f} MB): " + "; ".join(parts))


def rss_slope(tmp: Path, apply: list[str]) -> None:
    """Peak RSS of one JPEG at 12, 24, 50 and 100 MP, to JPEG and to 16-bit TIFF (both read
    in bands from 16 MP), and its growth per megapixel; and, in the same run, the
    whole-frame path on the 50 MP JPEG, which streaming replaces."""
    sizes = {12: (4000, 3000), 24: (6000, 4000), 50: (8660, 5773), 100: (12240, 8160)}
    for mp, (w, h) in sizes.items():
        (tmp / f"rss{mp}").mkdir()
        cv2.imwrite(str(tmp / f"rss{mp}" / "a.jpg"), make_photo(w, h, 2), [cv2.IMWRITE_JPEG_QUALITY, 92])
    for label, extra in (("JPEG", []), ("16-bit TIFF", ["--format", "tiff", "--bit-depth", "16"])):
        rss, seconds = {}, {}
        for mp in sizes:
            cmd = [*apply, *extra, str(tmp / f"rss{mp}"), str(tmp / f"rss{mp}-out-{len(extra)}")]
            seconds[mp], rss[mp] = peak_rss_of(cmd)
        slope = (rss[100] - rss[24]) * 1024 / (100 - 24)
        print(f"peak RSS, one JPEG to {label}: " + ", ".join(f"{mp} MP {gb:.2f} GB ({seconds[mp]:.1f} s)" for mp, gb in rss.items())
              + f"; slope 24->100 MP {slope:.1f} MB per MP (the 8-bit decoded frame alone is 3 MB per MP)")
    seconds, gb = peak_rss_of([sys.executable, __file__, "--whole-frame", str(tmp / "rss50" / "a.jpg")])
    print(f"peak RSS, the 50 MP JPEG decoded whole (the path before streaming, in one process): {gb:.2f} GB ({seconds:.1f} s)")
    streamed_cost([tmp / f"rss{mp}" / "a.jpg" for mp in (24, 50)])


def streamed_cost(paths: list[Path], runs: int = 3) -> None:
    """Seconds per photo, JPEG to JPEG in one process: read in bands against decoded whole."""
    from csrtouch.batch import Job, retouch_file
    from csrtouch.engine import Retoucher
    import PIL.Image

    from csrtouch.io import decode, encode

    retoucher = Retoucher()
    for path in paths:
        whole, streamed = [], []
        for _ in range(runs):
            start = time.perf_counter()
            image = decode(path)
            image.pixels = retoucher(image.pixels, out=image.pixels)
            encode(image, path.with_name("whole.jpg"))
            whole.append(time.perf_counter() - start)
            start = time.perf_counter()
            retouch_file(Job(path, path.with_name("streamed.jpg")), retoucher)
            streamed.append(time.perf_counter() - start)
        with PIL.Image.open(path) as pil:
            mp = pil.width * pil.height / 1e6
        w, s = statistics.median(whole), statistics.median(streamed)
        print(f"{mp:.0f} MP JPEG -> JPEG, one process, median of {runs}: read in bands {s:.2f} s, decoded whole {w:.2f} s ({s / w:.2f}x)")


def whole_frame(path: Path) -> None:
    """Child process: a JPEG through decode, the retoucher and encode, held whole."""
    from csrtouch.engine import Retoucher
    from csrtouch.io import decode, encode

    retoucher = Retoucher()
    image = decode(path)
    image.pixels = retoucher(image.pixels, out=image.pixels)
    encode(image, path.with_name("whole.jpg"))


def paper_forward(path: Path, device: str) -> None:
    """Child process: the paper's forward pass on one image at full resolution."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from paper_csrnet import PaperCSRNet

    net = PaperCSRNet().eval()
    if CHECKPOINT.is_file():
        net.load_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    net.to(device)
    image = cv2.imread(str(path))[..., ::-1]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().to(device) / 255
    with torch.no_grad():
        y = net(x)
    out = (y[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    cv2.imwrite(str(path.with_suffix(".paper.jpg")), out[..., ::-1])


def make_raw_folder(folder: Path, count: int, width: int = 6000, height: int = 4000) -> list[Path]:
    """``count`` Bayer DNGs of photo-like scenes (tests/dng.py: 16-bit RGGB, ColorMatrix1,
    AsShotNeutral), 24 MP by default."""
    sys.path.insert(0, str(ROOT / "tests"))
    from dng import tiny_dng

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        srgb = make_photo(width, height, i)[..., ::-1].astype(np.float32) / 255
        linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
        path = folder / f"raw{i:02d}.dng"
        path.write_bytes(tiny_dng(linear))
        paths.append(path)
    return paths


def raw_section(tmp: Path, apply: list[str], count: int, repeats: int) -> None:
    """RAW folder -> 16-bit TIFF and -> JPEG, default and --exact, in this run."""
    folder = tmp / "raw-in"
    paths = make_raw_folder(folder, count)
    mp = raw_pixels(paths[0]) / 1e6
    print(f"# RAW folder: {count} x {mp:.0f} MP Bayer DNGs (tests/dng.py), default --jobs ({os.cpu_count()} CPUs)")
    configs = (
        ("raw->tiff16 (default)", []),
        ("raw->jpeg (default)", ["--format", "jpeg"]),
        ("raw->tiff16 --exact", ["--exact"]),
        ("raw->jpeg --exact", ["--exact", "--format", "jpeg"]),
    )
    for n, (label, extra) in enumerate(configs):
        runs = [run_stats([*apply, *extra, str(folder), str(tmp / f"raw-out-{n}-{r}")]) for r in range(repeats)]
        seconds, rss = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
        cpu = statistics.median(r[2] for r in runs)
        print(f"{label:24s} {count * mp / seconds:6.1f} MP/s  {seconds / count:6.2f} s/photo  peak RSS {rss:.2f} GB  "
              f"CPU {cpu / count:.2f} s/photo = {count * mp / cpu:.1f} MP per CPU-second  (whole command, median of {repeats})")
    raw_stages(paths[:2])
    demosaic_choices(paths[0])


def raw_pixels(path: Path) -> int:
    """Pixels of a RAW's render (LibRaw's output size)."""
    import rawpy

    with rawpy.imread(str(path)) as raw:
        return raw.sizes.width * raw.sizes.height


def raw_stages(paths: list[Path]) -> None:
    """Median seconds per stage of a RAW in this process: LibRaw, tone, the LUT's three steps
    (cells seen, corners baked, interpolation), the per-pixel network (--exact), encoders."""
    import io

    import rawpy

    from csrtouch.engine import Retoucher
    from csrtouch.engine.lut16 import Lut16
    from csrtouch.engine.tiles import apply_tiled
    from csrtouch.io import decode, encode
    from csrtouch.io import raw as raw_module

    retoucher = Retoucher("expertC")
    stages: dict[str, list[float]] = {k: [] for k in ("libraw AHD", "tone", "decode total", "condition",
                                                       "lut see", "lut bake", "lut apply", "exact per pixel",
                                                       "encode tiff16", "encode jpeg")}
    corners = []
    for path in paths:
        data = path.read_bytes()
        t = time.perf_counter()
        with rawpy.imread(io.BytesIO(data)) as raw:
            linear = raw.postprocess(use_camera_wb=True, output_color=rawpy.ColorSpace.sRGB, output_bps=16,
                                     gamma=(1, 1), no_auto_bright=True)
        stages["libraw AHD"].append(time.perf_counter() - t)
        t = time.perf_counter()
        raw_module._tone(linear)
        stages["tone"].append(time.perf_counter() - t)
        t = time.perf_counter()
        image = decode(path)
        stages["decode total"].append(time.perf_counter() - t)
        t = time.perf_counter()
        fn = retoucher.color_function(image.pixels)
        stages["condition"].append(time.perf_counter() - t)
        lut = Lut16()
        t = time.perf_counter()
        lut.see(image.pixels)
        stages["lut see"].append(time.perf_counter() - t)
        t = time.perf_counter()
        lut.bake(fn)
        stages["lut bake"].append(time.perf_counter() - t)
        corners.append(lut.points)
        out = np.empty_like(image.pixels)
        t = time.perf_counter()
        lut.apply(image.pixels, out)
        stages["lut apply"].append(time.perf_counter() - t)
        t = time.perf_counter()
        apply_tiled(image.pixels, fn)
        stages["exact per pixel"].append(time.perf_counter() - t)
        image.pixels = out
        t = time.perf_counter()
        encode(image, path.with_suffix(".tif"), software="bench")
        stages["encode tiff16"].append(time.perf_counter() - t)
        t = time.perf_counter()
        encode(image, path.with_suffix(".jpg"), software="bench")
        stages["encode jpeg"].append(time.perf_counter() - t)
        path.with_suffix(".tif").unlink()
        path.with_suffix(".jpg").unlink()
    print("RAW stages, one process (median s per photo): " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in stages.items())
          + f"; LUT corners baked {min(corners):,} to {max(corners):,} of 129^3 = {129**3:,}")


def demosaic_choices(path: Path) -> None:
    """LibRaw's demosaic algorithms on one RAW: seconds (median of 2) and mean difference
    from AHD (16-bit linear levels); and half_size, the size a condition thumbnail needs."""
    import io

    import rawpy

    data = path.read_bytes()

    def render(**options):
        times = []
        for _ in range(2):
            with rawpy.imread(io.BytesIO(data)) as raw:
                t = time.perf_counter()
                out = raw.postprocess(use_camera_wb=True, output_color=rawpy.ColorSpace.sRGB, output_bps=16,
                                      gamma=(1, 1), no_auto_bright=True, **options)
                times.append(time.perf_counter() - t)
        return out, statistics.median(times)

    reference, _ = render()
    parts = []
    algorithms = rawpy.DemosaicAlgorithm
    for name in ("AHD", "LINEAR", "PPG", "VNG", "DHT", "AAHD"):
        out, seconds = render(demosaic_algorithm=getattr(algorithms, name))
        diff = np.abs(out.astype(np.int32) - reference).mean()
        parts.append(f"{name} {seconds:.2f} s ({diff:.0f})")
    _, seconds = render(half_size=True)
    parts.append(f"half_size {seconds:.2f} s")
    print("demosaic, one 24 MP RAW (s; mean |difference| from AHD in 16-bit linear levels): " + ", ".join(parts))


def codec_ceiling(paths: list[Path], tmp: Path, repeats: int, mp: float) -> tuple[float, float]:
    """Bare OpenCV decode + encode (quality 95, csrtouch's default) of ``paths``, one process
    per core: MP/s and CPU seconds per photo, the medians of ``repeats``."""
    code = (
        "import cv2, sys\n"
        "cv2.setNumThreads(1)\n"
        "for src in sys.argv[2:]:\n"
        "    cv2.imwrite(sys.argv[1] + '/' + src.rsplit('/', 1)[1], cv2.imread(src), [cv2.IMWRITE_JPEG_QUALITY, 95])\n"
    )
    cores = os.cpu_count() or 1
    out = tmp / "ceiling"
    out.mkdir(exist_ok=True)
    import resource

    times, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", code, str(out), *map(str, paths[i::cores])]) for i in range(cores)]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError("the bare-codec run failed")
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return len(paths) * mp / statistics.median(times), statistics.median(cpus) / len(paths)


FIRST_DECODE_HOOK = """
import os, sys, time
_input = os.path.abspath(sys.argv[1])
def _hook(event, args):
    if event == "open" and isinstance(args[0], str) and os.path.abspath(args[0]) == _input:
        sys.stderr.write(f"FIRST-OPEN {time.time()!r}\\n")
sys.addaudithook(_hook)
sys.argv = ["csrtouch", "apply", "-q", "--overwrite", sys.argv[1], sys.argv[2]]
from csrtouch.cli import main
main()
"""


def startup_split(photo: Path, tmp: Path, runs: int = 9) -> None:
    """A one-photo command: to its first decode (the input's first open) and to its end,
    median of ``runs``; and what its imports cost, by package (median of 5 -X importtime).

    With bytecode written (``PYTHONDONTWRITEBYTECODE`` unset for these runs, a warm-up run
    first), as an installed package has it: else every command compiles csrtouch's sources.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", FIRST_DECODE_HOOK, str(photo), str(tmp / "startup-out")], env=env, check=True, capture_output=True)
    first, total = [], []
    for _ in range(runs):
        t = time.time()
        p = subprocess.run([sys.executable, "-c", FIRST_DECODE_HOOK, str(photo), str(tmp / "startup-out")],
                           capture_output=True, text=True, check=True, env=env)
        total.append(time.time() - t)
        first.append(float(next(l for l in p.stderr.splitlines() if l.startswith("FIRST-OPEN")).split()[1]) - t)
    bare = median_wall([sys.executable, "-c", "pass"], runs, env)
    imports: dict[str, list[float]] = {}
    for _ in range(5):
        p = subprocess.run([sys.executable, "-X", "importtime", "-c", FIRST_DECODE_HOOK, str(photo), str(tmp / "startup-out")],
                           capture_output=True, text=True, check=True, env=env)
        sums: dict[str, float] = {}
        for line in p.stderr.splitlines():
            if line.startswith("import time:") and "self [us]" not in line:
                own, _, name = line[len("import time:"):].split("|")
                top = name.strip().split(".")[0]
                sums[top] = sums.get(top, 0.0) + int(own) / 1e6
        for k, v in sums.items():
            imports.setdefault(k, []).append(v)
    by_package = sorted(((statistics.median(v), k) for k, v in imports.items()), reverse=True)
    total_imports = sum(v for v, _ in by_package)
    print(f"start-up, one {photo.stat().st_size // 1024} KB JPEG (median of {runs}): `python -c pass` {bare:.3f} s, "
          f"command to first decode {statistics.median(first):.3f} s, whole command {statistics.median(total):.3f} s")
    print(f"imports of that command {total_imports:.3f} s: " + ", ".join(f"{k} {v:.3f}" for v, k in by_package[:12]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each whole command; the median is printed")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-50mp", action="store_true", help="skip the peak RSS at 12 to 100 MP")
    parser.add_argument("--device", default="cpu", help="for csrtouch and the paper's pass alike: cpu, cuda, mps")
    parser.add_argument("--raws", type=int, default=4, help="24 MP DNGs in the RAW folder")
    parser.add_argument("--only", default="jpeg,paper,rss,raw,codec,startup", help="sections to run, comma-separated")
    parser.add_argument("--paper-forward", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--whole-frame", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.paper_forward:
        return paper_forward(args.paper_forward, args.device)
    if args.whole_frame:
        return whole_frame(args.whole_frame)

    # The installed console script, as users run it (not the source tree on the CWD).
    script = Path(sys.executable).with_name("csrtouch")
    csrtouch = [str(script)] if script.exists() else [sys.executable, "-m", "csrtouch"]
    apply = [*csrtouch, "apply", "-q", "--device", args.device]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        src.mkdir()
        w, h = 4000, 3000
        mp = w * h / 1e6
        paths = []
        for i in range(args.images):
            p = src / f"img{i:02d}.jpg"
            cv2.imwrite(str(p), make_photo(w, h, i), [cv2.IMWRITE_JPEG_QUALITY, 92])
            paths.append(p)
        print(f"# csrtouch throughput, {args.images} x {mp:.0f} MP JPEG, {os.cpu_count()} CPUs, device {args.device}, "
              f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
        only = set(args.only.split(","))

        results = {}
        if "jpeg" in only or "codec" in only:
            counts = [distinct_colours(p) for p in paths]
            print(f"distinct colours per photo: {min(counts):,} to {max(counts):,} "
                  f"({sum(c <= 65**3 for c in counts)} of {len(counts)} within 65^3, which the default evaluates exactly)")
            configs = (
                ("jpeg->jpeg (default)", [], src),
                ("jpeg->jpeg --exact", ["--exact"], src),
                ("jpeg->tiff16", ["--format", "tiff", "--bit-depth", "16"], src),
            )
            for label, extra, folder in configs if "jpeg" in only else configs[:1]:
                runs = [
                    run_stats([*apply, *extra, str(folder), str(tmp / f"out-{len(results)}-{r}")])
                    for r in range(args.repeats)
                ]
                seconds, rss = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
                cpu = statistics.median(r[2] for r in runs)
                results[label] = (args.images * mp / seconds, seconds / args.images, rss, cpu)
                print(f"{label:22s} {args.images * mp / seconds:6.1f} MP/s  {seconds / args.images:6.2f} s/image  peak RSS {rss:.2f} GB  "
                      f"CPU {cpu / args.images:.2f} s/image  (whole command incl. start-up, median of {args.repeats})")

        if "codec" in only:
            ceiling, ceiling_cpu = codec_ceiling(paths, tmp, args.repeats, mp)
            ours, ours_cpu = results["jpeg->jpeg (default)"][0], results["jpeg->jpeg (default)"][3] / args.images
            print(f"bare OpenCV decode + encode (quality 95), one process per core, the same {args.images} JPEGs: "
                  f"{ceiling:.1f} MP/s, CPU {ceiling_cpu:.2f} s/image; csrtouch jpeg->jpeg {ours:.1f} MP/s = {ours / ceiling:.0%} "
                  f"of it ({ceiling_cpu / ours_cpu:.0%} in CPU time)")

        if "jpeg" in only:
            # Start-up (importing, loading the style) is paid once per command; a long batch
            # runs at the rate one more photo adds: the 8-photo command minus a 1-photo one.
            one = tmp / "one-in"
            one.mkdir()
            (one / paths[0].name).symlink_to(paths[0])
            single = statistics.median(
                peak_rss_of([*apply, str(one), str(tmp / f"one-out-{r}")])[0] for r in range(args.repeats)
            )
            batch = results["jpeg->jpeg (default)"][1] * args.images
            if args.images > 1:
                print(f"jpeg->jpeg (default) per added photo: {(args.images - 1) * mp / (batch - single):.1f} MP/s "
                      f"(1-photo command {single:.2f} s, {args.images}-photo {batch:.2f} s: start-up about {single - (batch - single) / (args.images - 1):.1f} s)")

            split = stage_split(paths[: min(4, len(paths))], tmp / "split", exact=False, device=args.device)
            print("stages, default path (median s per 12 MP image): " + ", ".join(f"{k} {v:.3f}" for k, v in split.items()))
            print("LUT path alone (median s per 12 MP image): " + ", ".join(f"{k} {v:.3f}" for k, v in lut_split(paths[:4]).items()))
            split = stage_split(paths[: min(2, len(paths))], tmp / "split-exact", exact=True, device=args.device)
            print("stages, exact path (median s per 12 MP image): " + ", ".join(f"{k} {v:.3f}" for k, v in split.items()))
            split = stage_split(paths[: min(2, len(paths))], tmp / "split-tiff16", exact=True, tiff16=True, device=args.device)
            print("stages, 16-bit TIFF (median s per 12 MP image): " + ", ".join(f"{k} {v:.3f}" for k, v in split.items()))
            tiff_compressors(paths[0])

        if "paper" in only and not args.skip_paper and "jpeg->jpeg --exact" in results:
            weights = "released checkpoint" if CHECKPOINT.is_file() else "random weights (no ../shared)"
            seconds, rss = peak_rss_of([sys.executable, __file__, "--paper-forward", str(paths[0]), "--device", args.device])
            ours = results["jpeg->jpeg (default)"][1]
            print(f"paper forward pass ({weights}, {args.device}), one 12 MP image: {seconds:.2f} s (incl. decode/encode), peak RSS {rss:.2f} GB")
            print(f"ratio, csrtouch end to end vs paper: {seconds / ours:.1f}x faster (default), "
                  f"{seconds / results['jpeg->jpeg --exact'][1]:.1f}x (exact)")

        if "rss" in only and not args.skip_50mp:
            rss_slope(tmp, apply)

        if "raw" in only and args.raws:
            raw_section(tmp, apply, args.raws, args.repeats)

        if "startup" in only:
            small = tmp / "small.jpg"
            cv2.imwrite(str(small), make_photo(640, 480, 0), [cv2.IMWRITE_JPEG_QUALITY, 92])
            startup_split(small, tmp)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            print(f"csrtouch --help: {median_wall([*csrtouch, '--help'], 9, env):.3f} s (median of 9)")
            print(f"csrtouch list-styles: {median_wall([*csrtouch, 'list-styles'], 5, env):.3f} s (median of 5)")


if __name__ == "__main__":
    main()
