"""csrtouch: batch photo retouching with CSRNet, in an expert's look or your own.

The public API is re-exported here. Names that need torch are imported on first use, so
that ``csrtouch --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Retoucher": "csrtouch.engine",
    "retouch": "csrtouch.engine",
    "DEFAULT_STYLE": "csrtouch.engine",
    "load_style": "csrtouch.styles",
    "list_styles": "csrtouch.styles",
    "import_style": "csrtouch.styles",
    "Style": "csrtouch.styles",
    "StyleInfo": "csrtouch.styles",
    "run_batch": "csrtouch.batch",
    "finetune": "csrtouch.finetuning",
    "CsrtouchError": "csrtouch.errors",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from csrtouch.batch import run_batch
    from csrtouch.engine import DEFAULT_STYLE, Retoucher, retouch
    from csrtouch.errors import CsrtouchError
    from csrtouch.finetuning import finetune
    from csrtouch.styles import Style, StyleInfo, import_style, list_styles, load_style


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'csrtouch' has no attribute {name!r}")
