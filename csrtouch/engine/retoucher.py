"""``Retoucher(style, device)(image) -> image``: condition once per image, then folded tiles."""

from __future__ import annotations

import numpy as np
import torch

from csrtouch.engine.fold import ColorFunction, fold
from csrtouch.engine.lut import apply_lut, bake
from csrtouch.engine.thumbnail import thumbnail
from csrtouch.engine.tiles import CHUNK_PIXELS, apply_tiled
from csrtouch.errors import UsageError, WeightsError
from csrtouch.model import CSRNet
from csrtouch.styles import Style, load_shared_network, load_style

DEFAULT_STYLE = "expertC"


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


class Retoucher:
    """Retouches images in one style.

    Args:
        style: a style name from the registry, a style file path, or a loaded ``Style``.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        exact: evaluate the network for every pixel of 8-bit images too, instead of
            through a baked 3D LUT (16-bit and float images are always exact).
        chunk_pixels: pixels per chunk of the exact path; bounds memory.
    """

    def __init__(
        self,
        style: str | Style = DEFAULT_STYLE,
        *,
        device: str = "auto",
        exact: bool = False,
        chunk_pixels: int = CHUNK_PIXELS,
    ) -> None:
        self.style = style if isinstance(style, Style) else load_style(style)
        self.exact = exact
        self.device = resolve_device(device)
        self.chunk_pixels = chunk_pixels
        state = self.style.network if self.style.network is not None else load_shared_network()
        self.net = build_network(state, str(self.style.info.path)).to(self.device)
        self.gamma = torch.from_numpy(np.array(self.style.gamma, np.float32)).to(self.device)
        self.beta = torch.from_numpy(np.array(self.style.beta, np.float32)).to(self.device)

    @torch.no_grad()
    def condition(self, image: np.ndarray) -> torch.Tensor:
        """Condition vector ``(1, 32)`` of an ``(H, W, 3)`` image, from its thumbnail."""
        thumb = torch.from_numpy(np.ascontiguousarray(thumbnail(image).transpose(2, 0, 1)))[None]
        return self.net.condition(thumb.to(self.device))

    @torch.no_grad()
    def color_function(self, image: np.ndarray) -> ColorFunction:
        """The folded per-pixel colour function this style applies to ``image``."""
        mod = self.net.modulation(self.condition(image), self.gamma, self.beta)
        return fold(self.net, mod)

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Retouch ``(H, W, 3)`` uint8, uint16 or float32 in [0, 1]; returns the same dtype."""
        fn = self.color_function(image)

        def run(pixels: np.ndarray) -> np.ndarray:
            return fn(torch.from_numpy(pixels).to(self.device)).cpu().numpy()

        if image.dtype == np.uint8 and not self.exact:
            return apply_lut(image, bake(run))
        return apply_tiled(image, run, self.chunk_pixels)


def retouch(image: np.ndarray, style: str | Style = DEFAULT_STYLE, *, device: str = "auto", exact: bool = False) -> np.ndarray:
    """Retouch one image array; see ``Retoucher``."""
    return Retoucher(style, device=device, exact=exact)(image)
