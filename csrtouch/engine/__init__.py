"""The retouching engine: condition once per image, fold GFM, apply through a LUT or exactly.

Inference is numpy (``network``); torch is imported only to run on a GPU.
"""

from csrtouch.engine.fold import ColorFunction
from csrtouch.engine.network import Network
from csrtouch.engine.retoucher import DEFAULT_STYLE, Retoucher, resolve_device, retouch
from csrtouch.engine.thumbnail import THUMB_SIZE, thumbnail
from csrtouch.engine.tiles import apply_tiled

__all__ = [
    "DEFAULT_STYLE",
    "THUMB_SIZE",
    "ColorFunction",
    "Network",
    "Retoucher",
    "apply_tiled",
    "resolve_device",
    "retouch",
    "thumbnail",
]
