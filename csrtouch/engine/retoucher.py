"""``Retoucher(style, device)(image) -> image``: condition once per image, then the folded
colour function, through a baked LUT or exactly.

On the CPU this needs no torch (``engine.network``); torch is imported only for a GPU.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence, Union

import numpy as np

from csrtouch.engine.lut import LUT_SIZE, apply_lut, bake, interpolator
from csrtouch.engine.lut16 import Lut16
from csrtouch.engine.network import Network
from csrtouch.engine.thumbnail import BandThumbnail, thumbnail
from csrtouch.engine.tiles import CHUNK_PIXELS, ColourMap, PixelFunction, apply_tiled, map_colours
from csrtouch.errors import UsageError
from csrtouch.styles import Style, load_shared_network, load_style
from csrtouch.styles.registry import shared_network_info

DEFAULT_STYLE = "expertC"
MAX_STRENGTH = 1.5
DEVICES = ("auto", "cpu", "cuda", "mps")

StyleSpec = Union[str, Style, Sequence[tuple[Union[str, Style], float]]]


def resolve_device(device: str = "cpu") -> str:
    """``auto`` picks CUDA, then MPS, then the CPU; an unavailable device is a usage error.

    torch is imported only where a GPU may be present, so ``auto`` on a machine without one
    starts as fast as ``cpu``.
    """
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}: expected auto, cpu, cuda or mps")
    if device == "cpu" or (device == "auto" and not _gpu_driver_present()):
        return "cpu"
    try:
        import torch
    except ImportError:  # torch is a dependency, but a broken install should not stop the CPU path
        if device == "auto":
            return "cpu"
        raise UsageError(f"--device {device}: torch cannot be imported (use --device cpu)") from None
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if device == "auto":
        return next((d for d, ok in available.items() if ok), "cpu")
    if not available[device]:
        raise UsageError(f"--device {device}: no {device.upper()} device is available (use --device cpu or auto)")
    return device


def _gpu_driver_present() -> bool:
    """Whether a GPU torch could use may be here: an NVIDIA or ROCm driver, or Apple silicon."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd"))
    return True  # Windows and others: ask torch


def parse_mix(spec: str) -> list[tuple[str, float]]:
    """``"a:0.7,b:0.3"`` -> ``[("a", 0.7), ("b", 0.3)]``; a bare name weighs 1."""
    parts = []
    for item in spec.split(","):
        name, sep, weight = item.strip().rpartition(":")
        if not sep:
            name, weight = weight, "1"
        try:
            value = float(weight)
        except ValueError:
            raise UsageError(f"style mix {spec!r}: weight {weight!r} of {name!r} is not a number") from None
        if not name:
            raise UsageError(f"style mix {spec!r}: empty style name")
        parts.append((name, value))
    return parts


def _normalise(style: StyleSpec) -> list[tuple[Style, float]]:
    if isinstance(style, str):
        style = parse_mix(style) if ("," in style or ":" in style) and not style.endswith(".safetensors") else [(style, 1.0)]
    elif isinstance(style, Style):
        style = [(style, 1.0)]
    total = sum(w for _, w in style)
    if not style or not np.isfinite(total) or total <= 0 or any(w < 0 for _, w in style):
        weights = ", ".join(f"{w:g}" for _, w in style)
        raise UsageError(f"style weights must be non-negative and sum to a positive number, got {weights or 'none'}")
    loaded = [(s if isinstance(s, Style) else load_style(s), w / total) for s, w in style]
    return [(s, w) for s, w in loaded if w > 0]


@dataclass
class _Branch:
    """Styles that share one network, mixed in condition space."""

    net: Network
    gamma: np.ndarray
    beta: np.ndarray
    offset: np.ndarray
    weight: float
    #: Condition of the network's average training input, when known: the look without an image.
    mean_condition: np.ndarray | None = None


class Retoucher:
    """Retouches images in one style or a mix of styles.

    Args:
        style: a style name, a style file, a loaded ``Style``, a mix ``"a:0.7,b:0.3"``, or a
            list of ``(style, weight)``. Styles on the same network mix in condition space
            (their ``gamma``/``beta``/``offset`` vectors are averaged by weight, so the mix is a style of
            its own that still adapts to each image); styles with different networks (an
            imported checkpoint) mix their outputs.
        strength: 0 leaves the image untouched, 1 applies the style, up to 1.5
            extrapolates; the output is ``x + strength * (style(x) - x)``.
        device: ``cpu`` (default), ``cuda``, ``mps``, or ``auto`` (a GPU if there is one).
            The CPU is the default because it was the faster end to end even beside an
            H200: folded, the network costs three small matmuls per colour, and a GPU adds
            torch's import, CUDA's start and copies (README, "GPU").
        exact: evaluate the network at every colour of 8-bit images, however many, and at
            every pixel of 16-bit ones. Without it, an 8-bit image with more distinct
            colours than a 65^3 LUT has points goes through the LUT baked from its colour
            function (within 0.5/255 on average), and one with fewer is evaluated once per
            distinct colour, exactly; a 16-bit image (a RAW render) goes through a 129^3
            LUT baked where its colours fall (``engine.lut16``: about one 16-bit level on
            average, half an 8-bit level at most), unless it is so small that its pixels
            are fewer than the LUT's corners it needs. Float images are always exact.
        chunk_pixels: pixels per chunk of the exact path; bounds memory.
    """

    def __init__(
        self,
        style: StyleSpec = DEFAULT_STYLE,
        *,
        strength: float = 1.0,
        device: str = "cpu",
        exact: bool = False,
        chunk_pixels: int = CHUNK_PIXELS,
    ) -> None:
        if not 0.0 <= strength <= MAX_STRENGTH:
            raise UsageError(f"strength must be between 0 and {MAX_STRENGTH}, got {strength:g}")
        self.mix = _normalise(style)
        self.strength = strength
        self.exact = exact
        self.device = resolve_device(device)
        self.chunk_pixels = chunk_pixels
        self.branches: list[_Branch] = []
        nets: dict[str, _Branch] = {}
        for s, w in self.mix:
            gamma = np.array(s.gamma, np.float32) * w
            beta = np.array(s.beta, np.float32) * w
            offset = np.array(s.offset, np.float32) * w
            if s.network_sha256 in nets:
                branch = nets[s.network_sha256]
                branch.gamma, branch.beta, branch.offset = branch.gamma + gamma, branch.beta + beta, branch.offset + offset
                branch.weight += w
                continue
            state = s.network if s.network is not None else load_shared_network()
            net = Network(state, str(s.info.path))
            mean = shared_network_info().get("mean_condition") if s.network is None else None
            mean = None if mean is None else np.array(mean, np.float32)
            nets[s.network_sha256] = _Branch(net, gamma, beta, offset, w, mean)
        #: Per-branch conditions shared by every image (``share_condition``), else None.
        self.shared: list[np.ndarray] | None = None
        for branch in nets.values():
            # Averages within the branch: the branch's vectors were summed with global weights.
            branch.gamma = branch.gamma / np.float32(branch.weight)
            branch.beta = branch.beta / np.float32(branch.weight)
            branch.offset = branch.offset / np.float32(branch.weight)
            self.branches.append(branch)

    @property
    def name(self) -> str:
        """The style as given on the command line: ``expertC`` or ``a:0.7,b:0.3``."""
        if len(self.mix) == 1:
            return self.mix[0][0].name
        return ",".join(f"{s.name}:{w:.3g}" for s, w in self.mix)

    @property
    def network_sha256(self) -> str:
        return "+".join(sorted({s.network_sha256[:16] for s, _ in self.mix}))

    def condition(self, image: np.ndarray, net: Network | None = None) -> np.ndarray:
        """Condition vector ``(32,)`` of an ``(H, W, 3)`` image, from its thumbnail."""
        return (net or self.branches[0].net).condition(thumbnail(image))

    def color_function(self, image: np.ndarray | None = None, *, thumb: np.ndarray | None = None) -> PixelFunction:
        """The per-pixel colour function, float32 ``(N, 3) -> (N, 3)``, evaluated on the
        retoucher's device, for ``image`` (or for the image whose ``thumbnail`` is
        ``thumb``); without either, the style's average look (the condition of its average
        training input)."""
        if thumb is None and image is not None:
            thumb = thumbnail(image)
        parts = []
        for i, b in enumerate(self.branches):
            if self.shared is not None:
                cond = self.shared[i]
            elif thumb is not None:
                cond = b.net.condition(thumb)
            elif b.mean_condition is not None:
                cond = b.mean_condition
            else:
                raise UsageError(f"style {self.name!r} has no average look recorded; give a reference image")
            parts.append((b.net.color_function(cond, b.gamma, b.beta, b.offset).on(self.device), b.weight))
        strength = np.float32(self.strength)
        if len(parts) == 1 and strength == 1:
            return parts[0][0]

        def fn(x: np.ndarray) -> np.ndarray:
            # Blend what each style would show, i.e. its output clipped to the gamut.
            y = sum(np.clip(f(x), 0.0, 1.0) * np.float32(w) for f, w in parts)
            return y if strength == 1 else x + strength * (y - x)

        return fn

    def share_condition(self, images: Iterable[np.ndarray]) -> int:
        """Give every later image one look: the mean condition of ``images`` (a burst, a
        shoot), so the same scene does not flicker from frame to frame. Returns the count.

        ``images`` may be their ``thumbnail``s, which are their own thumbnails."""
        conditions: list[list[np.ndarray]] = [[] for _ in self.branches]
        for image in images:
            for i, b in enumerate(self.branches):
                conditions[i].append(self.condition(image, b.net))
        count = len(conditions[0])
        if count == 0:
            raise UsageError("no readable images to share a condition across")
        # Summed exactly (fsum rounds once), so the order the images come in, which a
        # float32 running sum would show in the last bit and a pixel now and then in a
        # level, cannot change the look.
        self.shared = [
            np.array([math.fsum(column) / count for column in np.stack(c).astype(np.float64).T], np.float32)
            for c in conditions
        ]
        return count

    def __call__(self, image: np.ndarray, dtype: np.dtype | type | None = None, *, out: np.ndarray | None = None) -> np.ndarray:
        """Retouch ``(H, W, 3)`` uint8, uint16 or float32 in [0, 1]; returns ``dtype``
        (default: the input's; uint16 for an 8-bit image retouches it at 16 bits).

        ``out``, a C-contiguous array of the output's shape and dtype, receives the result;
        it may be ``image`` itself, which saves a frame of memory.
        """
        dtype = np.dtype(dtype or image.dtype)
        fn = self.color_function(image)
        if image.dtype == np.uint16 and dtype in (np.uint8, np.uint16) and not self.exact:
            result = self._through_lut16(image, fn, dtype, out)
            if result is not None:
                return result
        if image.dtype != np.uint8 or dtype not in (np.uint8, np.uint16):
            return apply_tiled(image, fn, self.chunk_pixels, dtype, out=out)
        result = map_colours(image, self._values(fn, dtype), dtype, out)
        if result is not None:
            return result
        return self._per_pixel(fn, dtype)(image, np.empty(image.shape, dtype) if out is None else out)

    def stream(
        self,
        read: Callable[[], Iterable[np.ndarray]],
        height: int,
        width: int,
        dtype: np.dtype | type = np.uint8,
        upright: Callable[[np.ndarray], np.ndarray] | None = None,
        to_srgb: Callable[[np.ndarray], np.ndarray] | None = None,
        from_srgb: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        """Retouch a uint8 image read as bands of rows, never held whole; as ``__call__``.

        ``read()`` must give the image's ``(rows, width, 3)`` bands, top to bottom, each
        time it is called; it is called twice. The first reading gives the thumbnail and the
        distinct colours; the second is retouched a band at a time and yielded: in place for
        8-bit output, else into one ``dtype`` (uint16) buffer that the next band overwrites.
        The bands bound the working memory: about 20 bytes a pixel of one band.

        ``upright`` turns the thumbnail of a photo whose bands are stored turned, so that the
        look is the upright photo's. ``to_srgb`` and ``from_srgb`` convert ``(H, W, 3)``
        pixels from the file's colour space to sRGB, where the style works, and back (to
        ``dtype``): per pixel for the thumbnail, and otherwise only at each distinct colour,
        which gives every pixel the value converting it would.
        """
        dtype = np.dtype(dtype)
        thumb, colours = BandThumbnail(height, width), ColourMap(width)
        for band in read():
            thumb.add(band if to_srgb is None else to_srgb(band))
            colours.see(band)
        small = thumb.result() if upright is None else upright(thumb.result())
        fn = self.color_function(thumb=small)
        values, per_pixel = self._values(fn, dtype), self._per_pixel(fn, dtype)
        if to_srgb is not None and from_srgb is not None:
            in_srgb, srgb_per_pixel = values, per_pixel

            def values(rgb: np.ndarray) -> np.ndarray:
                return from_srgb(in_srgb(to_srgb(rgb[:, None])[:, 0])[:, None])[:, 0]

            def per_pixel(band: np.ndarray, out: np.ndarray) -> np.ndarray:
                out[...] = from_srgb(srgb_per_pixel(to_srgb(band), np.empty(band.shape, dtype)))
                return out

        per_band = colours.apply if colours.build(values, dtype) else per_pixel
        buffer = None
        for band in read():
            if dtype == np.uint8:
                yield per_band(band, band)
                continue
            if buffer is None or len(buffer) < len(band):
                buffer = np.empty((len(band), width, 3), dtype)
            yield per_band(band, buffer[: len(band)])

    def _through_lut16(self, image: np.ndarray, fn: PixelFunction, dtype: np.dtype, out: np.ndarray | None) -> np.ndarray | None:
        """A 16-bit image through the 129^3 LUT baked at the corners of its colours' cells
        (``engine.lut16``), or None where those corners outnumber its pixels (small images),
        where the network at every pixel costs less."""
        if image.ndim != 3 or image.shape[2] != 3 or self.strength == 0:
            # At strength 0 the function is the identity, which the network path gives to the
            # bit; the LUT's last cell, whose far corner is clipped to white, would not.
            return None
        lut = Lut16()
        lut.see(image)
        if lut.corners() >= image.shape[0] * image.shape[1]:
            return None
        lut.bake(fn)
        if out is None:
            out = np.empty(image.shape, dtype)
        elif out.shape != image.shape or out.dtype != dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous {dtype} array of shape {image.shape}")
        return lut.apply(np.ascontiguousarray(image), out)

    def _values(self, fn: PixelFunction, dtype: np.dtype) -> Callable[[np.ndarray], np.ndarray]:
        """``fn`` at an 8-bit image's distinct colours, as ``dtype`` (uint8 or uint16):
        exactly (the network at each of a photo's colours costs no more than at each of the
        LUT's points), or, for 8-bit output past that many colours and without ``exact``,
        through the LUT baked from ``fn``."""
        exact = self.exact or dtype != np.uint8

        def values(rgb: np.ndarray) -> np.ndarray:
            if exact or len(rgb) <= LUT_SIZE**3:
                return apply_tiled(rgb[:, None], fn, self.chunk_pixels, dtype)[:, 0]
            return interpolator(bake(fn))(rgb[:, None])[:, 0]

        return values

    def _per_pixel(self, fn: PixelFunction, dtype: np.dtype) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """``(image, out) -> out`` for an 8-bit image with more colours than half its pixels
        (noise, tiny images), where once per colour would cost more: the LUT, or ``fn``."""
        if self.exact or dtype != np.uint8:
            return lambda image, out: apply_tiled(image, fn, self.chunk_pixels, dtype, out=out)
        lut = bake(fn)
        return lambda image, out: apply_lut(image, lut, out=out)


def retouch(image: np.ndarray, style: StyleSpec = DEFAULT_STYLE, **kwargs: object) -> np.ndarray:
    """Retouch one image array; ``kwargs`` as for ``Retoucher``."""
    return Retoucher(style, **kwargs)(image)  # type: ignore[arg-type]
