"""Style registry, safe style files, and where they live."""

from csrtouch.styles.importing import import_style
from csrtouch.styles.paths import home_dir, user_styles_dir, user_styles_problem
from csrtouch.styles.registry import (
    Style,
    StyleInfo,
    get_style_info,
    list_styles,
    load_shared_network,
    load_style,
    remove_style,
)

__all__ = [
    "Style",
    "StyleInfo",
    "get_style_info",
    "home_dir",
    "import_style",
    "list_styles",
    "load_shared_network",
    "load_style",
    "remove_style",
    "user_styles_dir",
    "user_styles_problem",
]
