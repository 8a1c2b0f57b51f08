"""The table of image formats csrtouch reads and writes."""

from __future__ import annotations

from pathlib import Path

from csrtouch.errors import UsageError

#: File suffix (lower case, with the dot) -> format name.
SUFFIX_FORMATS: dict[str, str] = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
}

#: Every suffix :func:`csrtouch.io.decode` accepts and :func:`csrtouch.io.encode` writes.
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(SUFFIX_FORMATS)

#: Format name -> the bit depths it can write.
BIT_DEPTHS: dict[str, tuple[int, ...]] = {
    "jpeg": (8,),
    "png": (8, 16),
    "tiff": (8, 16),
}

#: Format name -> the suffix given to files written in it.
_OUTPUT_SUFFIXES: dict[str, str] = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif"}


def check_format(format: str) -> str:
    """Return ``format`` normalised to a known format name ("jpeg", "png" or "tiff").

    Raises:
        UsageError: the format is not one csrtouch writes.
    """
    name = format.lower()
    name = {"jpg": "jpeg", "tif": "tiff"}.get(name, name)
    if name not in BIT_DEPTHS:
        raise UsageError(f"unknown image format {format!r}; expected one of jpeg, png, tiff")
    return name


def format_of_suffix(path: Path | str) -> str | None:
    """The format a file name's suffix names, or None when it names none csrtouch knows."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


def output_suffix(format: str) -> str:
    """The suffix for files written in ``format``, e.g. ``".jpg"`` for ``"jpeg"``.

    Raises:
        UsageError: the format is not one csrtouch writes.
    """
    return _OUTPUT_SUFFIXES[check_format(format)]


def check_bit_depth(format: str, bit_depth: int) -> None:
    """Raise UsageError unless ``format`` (a normalised name) can store ``bit_depth`` bits."""
    depths = BIT_DEPTHS[format]
    if bit_depth not in depths:
        allowed = " or ".join(str(d) for d in depths)
        raise UsageError(
            f"{format.upper()} cannot store {bit_depth}-bit images (it stores {allowed}-bit); "
            "choose another format or bit depth"
        )
