"""The retouching engine: condition once per image, fold GFM, apply in chunks."""

from csrtouch.engine.fold import ColorFunction, fold
from csrtouch.engine.retoucher import DEFAULT_STYLE, Retoucher, build_network, resolve_device, retouch
from csrtouch.engine.thumbnail import THUMB_SIZE, thumbnail
from csrtouch.engine.tiles import apply_tiled

__all__ = [
    "DEFAULT_STYLE",
    "THUMB_SIZE",
    "ColorFunction",
    "Retoucher",
    "apply_tiled",
    "build_network",
    "fold",
    "resolve_device",
    "retouch",
    "thumbnail",
]
