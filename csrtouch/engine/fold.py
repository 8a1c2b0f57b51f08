"""One image's colour function: the base network with GFM folded into its weights.

GFM modulates a 1x1 conv per channel, ``y = (W x + b) * (1 + s) + t``, which is again an
affine map: ``W' = diag(1 + s) W`` and ``b' = (1 + s) b + t``. Once the condition is known the
whole base network is three small matmuls per pixel, with no per-pixel modulation tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from csrtouch.engine.blas import one_thread

#: Pixels per matmul block: 4,096 x 64 float32 activations (1 MB) stay in the CPU's cache;
#: blocks of 262,144 pixels ran 3.7x slower on a 2-core laptop-class CPU (memory-bound
#: bias, ReLU and copy passes over 64 MB). Measured: 2^10 7.4, 2^12 9.6, 2^14 7.3 MP/s.
BLOCK_PIXELS = 4096


@dataclass(frozen=True)
class ColorFunction:
    """The base network of one image, folded: float32 ``(N, 3) -> (N, 3)``, per pixel."""

    weights: tuple[np.ndarray, np.ndarray, np.ndarray]  # (3, 64), (64, 64), (64, 3)
    biases: tuple[np.ndarray, np.ndarray, np.ndarray]

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.ascontiguousarray(pixels, np.float32)
        out = np.empty((len(pixels), self.weights[-1].shape[1]), np.float32)
        # Every matmul gets the same shape, BLOCK_PIXELS rows (the last block padded with
        # zeros), on one BLAS thread: BLAS picks its kernel, and so the order in which it adds
        # a dot product's terms, by shape and thread count, and a row's result then depends
        # on that row alone, not on how many pixels came with it nor on the threads. Whole
        # and tiled images, per colour and per pixel, get the same bits (engine.blas).
        hidden = [np.empty((BLOCK_PIXELS, w.shape[1]), np.float32) for w in self.weights]
        tail = len(pixels) % BLOCK_PIXELS
        with one_thread():
            for i in range(0, len(pixels) - tail, BLOCK_PIXELS):
                self._block(pixels[i : i + BLOCK_PIXELS], hidden, out[i : i + BLOCK_PIXELS])
            if tail:
                padded = np.zeros((BLOCK_PIXELS, pixels.shape[1]), np.float32)
                padded[:tail] = pixels[len(pixels) - tail :]
                out[len(pixels) - tail :] = self._block(padded, hidden, hidden[-1])[:tail]
        return out

    def _block(self, x: np.ndarray, hidden: list[np.ndarray], out: np.ndarray) -> np.ndarray:
        """The network on ``BLOCK_PIXELS`` pixels, through ``hidden`` buffers, into ``out``."""
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            y = out if j == len(self.weights) - 1 else hidden[j]
            np.matmul(x, w, out=y)
            y += b
            if j < len(self.weights) - 1:
                np.maximum(y, 0, out=y)
            x = y
        return out

    def on(self, device: str) -> Callable[[np.ndarray], np.ndarray]:
        """The same function evaluated by torch on ``device`` (``cuda``, ``mps``); numpy in and out.

        A GPU takes the whole chunk in one launch per layer; the weights are copied once.
        """
        if device == "cpu":
            return self
        import torch

        weights = [torch.from_numpy(w).to(device) for w in self.weights]
        biases = [torch.from_numpy(b).to(device) for b in self.biases]

        @torch.no_grad()
        def run(pixels: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(np.ascontiguousarray(pixels, np.float32)).to(device)
            for j, (w, b) in enumerate(zip(weights, biases)):
                x = torch.addmm(b, x, w)
                if j < len(weights) - 1:
                    x = torch.relu_(x)
            return x.cpu().numpy()

        return run
