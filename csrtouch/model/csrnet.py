"""CSRNet (He et al., ECCV 2020) with a style modulation of the condition vector.

Parameter names match the authors' release (hejingwenhejingwen/CSRNet) so that its
checkpoint loads with ``strict=True``. The one addition is the style: a pair of 32-d
vectors ``(gamma, beta)`` that modulate the condition vector before the six GFM heads,
``c' = c * (1 + gamma) + beta``, and an optional offset of the GFM scales and shifts
themselves (``GFM_SIZES`` values) for looks the condition space cannot reach, such as a
monochrome. With all of them zero the network is exactly the paper's, so a whole-network
style (the released checkpoint) uses the zero style.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# The sizes live with the numpy inference, which must not import torch.
from csrtouch.engine.network import BASE_NF, COND_NF, GFM_SIZES
from csrtouch.errors import WeightsError


class Condition(nn.Module):
    """Condition network: three strided convs and a global mean, ``(B, 3, H, W) -> (B, 32)``."""

    def __init__(self, in_nc: int = 3, nf: int = COND_NF) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_nc, nf, 7, 2, 0)
        self.conv2 = nn.Conv2d(nf, nf, 3, 2, 0)
        self.conv3 = nn.Conv2d(nf, nf, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The paper zero-pads by one before every conv (nn.ZeroPad2d(1), conv padding 0).
        x = F.relu(self.conv1(F.pad(x, (1, 1, 1, 1))))
        x = F.relu(self.conv2(F.pad(x, (1, 1, 1, 1))))
        x = F.relu(self.conv3(F.pad(x, (1, 1, 1, 1))))
        return x.mean(dim=(2, 3))


@dataclass(frozen=True)
class Modulation:
    """Per-channel GFM scales and shifts of the three base layers, each ``(B, C)``."""

    scales: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    shifts: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class CSRNet(nn.Module):
    """Base network (three 1x1 convs with GFM) plus condition network and GFM heads."""

    def __init__(self, in_nc: int = 3, out_nc: int = 3, base_nf: int = BASE_NF, cond_nf: int = COND_NF) -> None:
        super().__init__()
        self.cond_net = Condition(in_nc, cond_nf)
        self.cond_scale1 = nn.Linear(cond_nf, base_nf)
        self.cond_scale2 = nn.Linear(cond_nf, base_nf)
        self.cond_scale3 = nn.Linear(cond_nf, out_nc)
        self.cond_shift1 = nn.Linear(cond_nf, base_nf)
        self.cond_shift2 = nn.Linear(cond_nf, base_nf)
        self.cond_shift3 = nn.Linear(cond_nf, out_nc)
        self.conv1 = nn.Conv2d(in_nc, base_nf, 1)
        self.conv2 = nn.Conv2d(base_nf, base_nf, 1)
        self.conv3 = nn.Conv2d(base_nf, out_nc, 1)

    def condition(self, thumb: torch.Tensor) -> torch.Tensor:
        """Image condition vector ``(B, 32)`` from ``(B, 3, h, w)`` in [0, 1]."""
        return self.cond_net(thumb)

    def modulation(
        self,
        cond: torch.Tensor,
        gamma: torch.Tensor | None = None,
        beta: torch.Tensor | None = None,
        offset: torch.Tensor | None = None,
    ) -> Modulation:
        """GFM parameters from a condition ``(B, 32)`` and an optional style: ``gamma`` and
        ``beta`` ``(*, 32)`` modulate the condition, ``offset`` ``(*, sum(GFM_SIZES))`` is
        added to the GFM vectors."""
        if gamma is not None:
            cond = cond * (1 + gamma)
        if beta is not None:
            cond = cond + beta
        heads = (self.cond_scale1, self.cond_scale2, self.cond_scale3, self.cond_shift1, self.cond_shift2, self.cond_shift3)
        gfm = [head(cond) for head in heads]
        if offset is not None:
            gfm = [g + o for g, o in zip(gfm, offset.split(GFM_SIZES, dim=-1))]
        return Modulation(scales=tuple(gfm[:3]), shifts=tuple(gfm[3:]))

    def base(self, x: torch.Tensor, mod: Modulation) -> torch.Tensor:
        """Base network on ``(B, 3, H, W)``; GFM is ``y = conv(x) * (1 + scale) + shift``."""
        convs = (self.conv1, self.conv2, self.conv3)
        for i, conv in enumerate(convs):
            y = conv(x)
            s = mod.scales[i][:, :, None, None]
            t = mod.shifts[i][:, :, None, None]
            x = y * s + t + y
            if i < 2:
                x = F.relu(x)
        return x

    def forward(
        self,
        x: torch.Tensor,
        thumb: torch.Tensor | None = None,
        gamma: torch.Tensor | None = None,
        beta: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Retouch ``(B, 3, H, W)``; the condition comes from ``thumb`` (default: ``x`` itself)."""
        cond = self.condition(x if thumb is None else thumb)
        return self.base(x, self.modulation(cond, gamma, beta))


def build_network(state: dict[str, np.ndarray], source: str = "network") -> CSRNet:
    """A CSRNet holding ``state``, loaded strictly, for training (inference uses ``csrtouch.engine.network``)."""
    net = CSRNet()
    try:
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"weights do not fit CSRNet: {str(e).splitlines()[0]}", source) from e
    return net.eval()
