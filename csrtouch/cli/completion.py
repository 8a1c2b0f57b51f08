"""Shell completion of values: style names, from the registry that ``list-styles`` shows.

The shells' scripts themselves are typer's (``csrtouch --install-completion``).
"""

from __future__ import annotations


def complete_style(incomplete: str) -> list[str]:
    """Style names that complete ``incomplete``; in a mix (``expertC:0.7,mi``) the part after
    the last comma is completed and the rest kept. A style file's path is left to the shell.

    Never raises: a broken personal styles folder must not print a traceback into the prompt.
    """
    head, _, last = incomplete.rpartition(",")
    if ":" in last or "/" in last or "\\" in last:  # a weight being typed, or a path
        return []
    try:
        from csrtouch.styles import list_styles

        names = sorted({s.name for s in list_styles()})
    except Exception:
        return []
    prefix = head + "," if head else ""
    return [prefix + name for name in names if name.startswith(last)]
