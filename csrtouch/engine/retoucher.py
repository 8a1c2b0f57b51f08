"""``Retoucher(style, device)(image) -> image``: condition once per image, then folded tiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence, Union

import numpy as np
import torch

from csrtouch.engine.fold import fold
from csrtouch.engine.lut import apply_lut, bake
from csrtouch.engine.thumbnail import thumbnail
from csrtouch.engine.tiles import CHUNK_PIXELS, apply_by_colour, apply_tiled
from csrtouch.errors import UsageError, WeightsError
from csrtouch.model import COND_NF, CSRNet
from csrtouch.styles import Style, load_shared_network, load_style
from csrtouch.styles.registry import shared_network_info

DEFAULT_STYLE = "expertC"
MAX_STRENGTH = 1.5

StyleSpec = Union[str, Style, Sequence[tuple[Union[str, Style], float]]]
TorchPixelFunction = Callable[[torch.Tensor], torch.Tensor]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; an unavailable device is a usage error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: no MPS device is available (use --device cpu or auto)")
    if device not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unknown device {device!r}: expected auto, cpu, cuda or mps")
    return torch.device(device)


def build_network(state: dict[str, np.ndarray], source: str = "network") -> CSRNet:
    """A CSRNet holding ``state``, loaded strictly."""
    net = CSRNet()
    try:
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"weights do not fit CSRNet: {str(e).splitlines()[0]}", source) from e
    return net.eval()


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

    net: CSRNet
    gamma: torch.Tensor
    beta: torch.Tensor
    offset: torch.Tensor
    weight: float
    #: Condition of the network's average training input, when known: the look without an image.
    mean_condition: torch.Tensor | None = None


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
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        exact: evaluate the network at every colour of 8-bit images too, instead of
            through a baked 3D LUT (16-bit and float images are always exact; an 8-bit
            image retouched exactly is evaluated once per distinct colour).
        chunk_pixels: pixels per chunk of the exact path; bounds memory.
    """

    def __init__(
        self,
        style: StyleSpec = DEFAULT_STYLE,
        *,
        strength: float = 1.0,
        device: str = "auto",
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
            gamma = torch.from_numpy(np.array(s.gamma, np.float32)) * w
            beta = torch.from_numpy(np.array(s.beta, np.float32)) * w
            offset = torch.from_numpy(np.array(s.offset, np.float32)) * w
            if s.network_sha256 in nets:
                branch = nets[s.network_sha256]
                branch.gamma, branch.beta, branch.offset = branch.gamma + gamma, branch.beta + beta, branch.offset + offset
                branch.weight += w
                continue
            state = s.network if s.network is not None else load_shared_network()
            net = build_network(state, str(s.info.path)).to(self.device)
            mean = shared_network_info().get("mean_condition") if s.network is None else None
            mean = None if mean is None else torch.tensor([mean], dtype=torch.float32, device=self.device)
            nets[s.network_sha256] = _Branch(net, gamma, beta, offset, w, mean)
        #: Per-branch conditions shared by every image (``share_condition``), else None.
        self.shared: list[torch.Tensor] | None = None
        for branch in nets.values():
            # Averages within the branch: the branch's vectors were summed with global weights.
            branch.gamma = (branch.gamma / branch.weight).to(self.device)
            branch.beta = (branch.beta / branch.weight).to(self.device)
            branch.offset = (branch.offset / branch.weight).to(self.device)
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

    @torch.no_grad()
    def condition(self, image: np.ndarray, net: CSRNet | None = None) -> torch.Tensor:
        """Condition vector ``(1, 32)`` of an ``(H, W, 3)`` image, from its thumbnail."""
        thumb = torch.from_numpy(np.ascontiguousarray(thumbnail(image).transpose(2, 0, 1)))[None]
        return (net or self.branches[0].net).condition(thumb.to(self.device))

    @torch.no_grad()
    def color_function(self, image: np.ndarray | None = None) -> TorchPixelFunction:
        """The per-pixel colour function, ``(N, 3) -> (N, 3)`` on the device, for ``image``;
        without an image, the style's average look (the condition of its average training
        input)."""
        parts = []
        for i, b in enumerate(self.branches):
            if self.shared is not None:
                cond = self.shared[i]
            elif image is not None:
                cond = self.condition(image, b.net)
            elif b.mean_condition is not None:
                cond = b.mean_condition
            else:
                raise UsageError(f"style {self.name!r} has no average look recorded; give a reference image")
            mod = b.net.modulation(cond, b.gamma, b.beta, b.offset)
            parts.append((fold(b.net, mod), b.weight))
        strength = self.strength

        def fn(x: torch.Tensor) -> torch.Tensor:
            if len(parts) == 1 and strength == 1.0:
                return parts[0][0](x)
            # Blend what each style would show, i.e. its output clipped to the gamut.
            y = sum(f(x).clamp_(0.0, 1.0) * w for f, w in parts)
            return y if strength == 1.0 else x + strength * (y - x)

        return fn

    @torch.no_grad()
    def share_condition(self, images: Iterable[np.ndarray]) -> int:
        """Give every later image one look: the mean condition of ``images`` (a burst, a
        shoot), so the same scene does not flicker from frame to frame. Returns the count."""
        sums = [torch.zeros(1, COND_NF, device=self.device) for _ in self.branches]
        count = 0
        for image in images:
            for i, b in enumerate(self.branches):
                sums[i] += self.condition(image, b.net)
            count += 1
        if count == 0:
            raise UsageError("no readable images to share a condition across")
        self.shared = [s / count for s in sums]
        return count

    @torch.no_grad()
    def __call__(self, image: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
        """Retouch ``(H, W, 3)`` uint8, uint16 or float32 in [0, 1]; returns ``dtype``
        (default: the input's; uint16 for an 8-bit image retouches it at 16 bits)."""
        fn = self.color_function(image)
        dtype = np.dtype(dtype or image.dtype)

        def run(pixels: np.ndarray) -> np.ndarray:
            return fn(torch.from_numpy(pixels).to(self.device)).cpu().numpy()

        if image.dtype == np.uint8:
            if dtype == np.uint8 and not self.exact:
                return apply_lut(image, bake(run))
            out = apply_by_colour(image, run, self.chunk_pixels, dtype)
            if out is not None:
                return out
        return apply_tiled(image, run, self.chunk_pixels, dtype)


def retouch(image: np.ndarray, style: StyleSpec = DEFAULT_STYLE, **kwargs: object) -> np.ndarray:
    """Retouch one image array; ``kwargs`` as for ``Retoucher``."""
    return Retoucher(style, **kwargs)(image)  # type: ignore[arg-type]
