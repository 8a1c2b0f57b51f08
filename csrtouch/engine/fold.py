"""Folding GFM into the base network's weights: one exact colour function per image.

GFM modulates a 1x1 conv per channel, ``y = (W x + b) * (1 + s) + t``, which is again an
affine map: ``W' = diag(1 + s) W`` and ``b' = (1 + s) b + t``. Once the condition is known the
whole base network is three small matmuls per pixel, with no per-pixel modulation tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from csrtouch.model import CSRNet, Modulation


#: Pixels per matmul block: 4,096 x 64 float32 activations (1 MB) stay in the CPU's cache;
#: blocks of 262,144 pixels ran 3.7x slower on a 2-core laptop-class CPU (memory-bound
#: bias, ReLU and copy passes over 64 MB). Measured: 2^10 7.4, 2^12 9.6, 2^14 7.3 MP/s.
BLOCK_PIXELS = 4096


@dataclass(frozen=True)
class ColorFunction:
    """The base network of one image, folded: ``(N, 3) -> (N, 3)``, per pixel."""

    weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (3, 64), (64, 64), (64, 3)
    biases: tuple[torch.Tensor, torch.Tensor, torch.Tensor]

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        if len(pixels) <= BLOCK_PIXELS or pixels.device.type != "cpu":  # a GPU wants big launches
            return self._block(pixels)
        out = pixels.new_empty(len(pixels), self.weights[-1].shape[1])
        for i in range(0, len(pixels), BLOCK_PIXELS):
            out[i : i + BLOCK_PIXELS] = self._block(pixels[i : i + BLOCK_PIXELS])
        return out

    def _block(self, x: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.addmm(b, x, w)
            if i < 2:
                x = torch.relu_(x)
        return x

    def to(self, device: torch.device | str) -> ColorFunction:
        return ColorFunction(
            tuple(w.to(device) for w in self.weights),  # type: ignore[arg-type]
            tuple(b.to(device) for b in self.biases),  # type: ignore[arg-type]
        )


@torch.no_grad()
def fold(net: CSRNet, mod: Modulation, index: int = 0) -> ColorFunction:
    """Fold the modulation of batch item ``index`` into the base network's weights."""
    weights, biases = [], []
    for conv, scale, shift in zip((net.conv1, net.conv2, net.conv3), mod.scales, mod.shifts):
        gain = 1 + scale[index]
        w = conv.weight[:, :, 0, 0] * gain[:, None]  # diag(1 + s) W, (out, in)
        weights.append(w.t().contiguous())
        biases.append(conv.bias * gain + shift[index])
    return ColorFunction(tuple(weights), tuple(biases))  # type: ignore[arg-type]
