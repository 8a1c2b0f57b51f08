"""CSRNet's inference in numpy: a thumbnail's condition, a style's GFM vectors, one folded
colour function per image.

Applying a style needs no torch: the condition network runs once per image on a 512 px
thumbnail (about 40 ms here) and the rest is three small matmuls per pixel, which OpenBLAS
runs as fast as torch. Not importing torch saves 1.6 s of every command's start-up on a
2-core laptop, a third of an 8-photo batch. torch stays for training, finetuning and GPUs.
The layers match ``csrtouch.model.CSRNet`` (tested against it).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from csrtouch.engine.blas import one_thread
from csrtouch.engine.fold import ColorFunction
from csrtouch.errors import WeightsError
from csrtouch.styles.files import check_values

COND_NF = 32
BASE_NF = 64
#: Sizes of the six GFM vectors (scale1..3, shift1..3) in the order of a style's ``offset``.
GFM_SIZES = (BASE_NF, BASE_NF, 3, BASE_NF, BASE_NF, 3)
HEADS = ("cond_scale1", "cond_scale2", "cond_scale3", "cond_shift1", "cond_shift2", "cond_shift3")
#: ``CSRNet().state_dict()``'s names and shapes, without importing torch.
SHAPES: dict[str, tuple[int, ...]] = {
    "cond_net.conv1.weight": (COND_NF, 3, 7, 7),
    "cond_net.conv1.bias": (COND_NF,),
    "cond_net.conv2.weight": (COND_NF, COND_NF, 3, 3),
    "cond_net.conv2.bias": (COND_NF,),
    "cond_net.conv3.weight": (COND_NF, COND_NF, 3, 3),
    "cond_net.conv3.bias": (COND_NF,),
    **{f"{h}.{p}": ((n, COND_NF) if p == "weight" else (n,)) for h, n in zip(HEADS, GFM_SIZES) for p in ("weight", "bias")},
    "conv1.weight": (BASE_NF, 3, 1, 1),
    "conv1.bias": (BASE_NF,),
    "conv2.weight": (BASE_NF, BASE_NF, 1, 1),
    "conv2.bias": (BASE_NF,),
    "conv3.weight": (3, BASE_NF, 1, 1),
    "conv3.bias": (3,),
}


class Network:
    """A CSRNet's weights, as numpy, for inference.

    Args:
        state: a CSRNet state dict (names as in the authors' release), checked strictly.
        source: named in errors (the file the weights came from).
    """

    def __init__(self, state: Mapping[str, np.ndarray], source: str = "network") -> None:
        missing, unexpected = sorted(set(SHAPES) - set(state)), sorted(set(state) - set(SHAPES))
        if missing or unexpected:
            raise WeightsError(f"weights do not fit CSRNet: missing {missing[:3]}, unexpected {unexpected[:3]}", source)
        for key, shape in SHAPES.items():
            if tuple(np.shape(state[key])) != shape:
                raise WeightsError(f"weights do not fit CSRNet: {key} has shape {np.shape(state[key])}, expected {shape}", source)
        self.params = {k: np.ascontiguousarray(state[k], np.float32) for k in SHAPES}
        # Again here, not only when files load: a state built in code (or the API) must not
        # hand NaN to every pixel either.
        check_values(self.params, source)

    def condition(self, thumb: np.ndarray) -> np.ndarray:
        """Condition vector ``(32,)`` of an ``(h, w, 3)`` float32 thumbnail in [0, 1]."""
        x = np.asarray(thumb, np.float32)
        # On one BLAS thread, as the colour function: the same condition whatever the
        # thread counts (engine.blas).
        with one_thread():
            for i in (1, 2, 3):
                # The paper zero-pads by one before every conv, which has stride 2 and no padding.
                x = np.pad(x, ((1, 1), (1, 1), (0, 0)))
                x = _conv_relu(x, self.params[f"cond_net.conv{i}.weight"], self.params[f"cond_net.conv{i}.bias"], 2)
        return x.mean(axis=(0, 1))

    def color_function(
        self,
        cond: np.ndarray,
        gamma: np.ndarray | None = None,
        beta: np.ndarray | None = None,
        offset: np.ndarray | None = None,
    ) -> ColorFunction:
        """The base network with GFM folded in for condition ``cond`` ``(32,)``, modulated by a
        style: ``c' = c * (1 + gamma) + beta``, and ``offset`` added to the GFM vectors."""
        cond = np.asarray(cond, np.float32).reshape(COND_NF)
        if gamma is not None:
            cond = cond * (1 + gamma)
        if beta is not None:
            cond = cond + beta
        p = self.params
        with one_thread():
            gfm = [p[f"{h}.weight"] @ cond + p[f"{h}.bias"] for h in HEADS]
        if offset is not None:
            gfm = [g + o for g, o in zip(gfm, np.split(np.asarray(offset, np.float32), np.cumsum(GFM_SIZES)[:-1]))]
        # GFM is y = (W x + b) * (1 + s) + t: again affine, W' = diag(1 + s) W, b' = (1 + s) b + t.
        weights, biases = [], []
        for i, (scale, shift) in enumerate(zip(gfm[:3], gfm[3:]), start=1):
            gain = 1 + scale
            weights.append((p[f"conv{i}.weight"][:, :, 0, 0] * gain[:, None]).T.astype(np.float32, order="C"))
            biases.append((p[f"conv{i}.bias"] * gain + shift).astype(np.float32))
        return ColorFunction(tuple(weights), tuple(biases))  # type: ignore[arg-type]


def _conv_relu(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """``relu(conv2d(x))`` without padding, ``(H, W, C)`` -> ``(H', W', O)``, as one matmul."""
    out, cin, kh, kw = weight.shape
    if x.shape[0] < kh or x.shape[1] < kw:
        raise ValueError(f"a {x.shape[1]}x{x.shape[0]} input is smaller than the {kw}x{kh} kernel")
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(0, 1))[::stride, ::stride]
    h, w = windows.shape[:2]
    # Gathered as (H', W', kh, kw, C), whose rows copy in runs of kw * C floats (4x faster
    # than torch's (C, kh, kw) order); the weights are put in the same order.
    patches = np.ascontiguousarray(windows.transpose(0, 1, 3, 4, 2)).reshape(h * w, kh * kw * cin)
    y = patches @ weight.transpose(0, 2, 3, 1).reshape(out, -1).T
    y += bias
    np.maximum(y, 0, out=y)
    return y.reshape(h, w, out)
