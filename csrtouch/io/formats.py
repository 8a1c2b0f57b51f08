"""The table of image formats csrtouch reads and writes, and where a result goes by default.

csrtouch writes JPEG, PNG, TIFF and WebP. It also reads HEIC/HEIF and camera RAW files
(every format LibRaw reads), which it cannot write: a result of one of those is written,
unless a format is asked for, as a TIFF in the bit depth it was decoded to (16 bits for a
RAW, 8 or 16 for a HEIC). A TIFF keeps everything the decoded image holds: a RAW's 16-bit
render, a 10-bit HEIC's extra bits, its colour profile and EXIF. A JPEG is smaller and what
a quick look needs, but it would throw away bits the photographer paid for and could not
get back without going to the RAW again; it is one option away (``--format jpeg``).
The choice depends on the input's format only, never on its pixels, so a batch can name
every output before decoding anything (and so tell, on a re-run, which are done).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from csrtouch.errors import UsageError

if TYPE_CHECKING:
    from csrtouch.io.image import Image

#: File suffix (lower case, with the dot) -> the format csrtouch writes under that name.
SUFFIX_FORMATS: dict[str, str] = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".webp": "webp",
}

#: Suffixes of camera RAW files: the formats LibRaw reads.
RAW_SUFFIXES: frozenset[str] = frozenset(
    {
        ".3fr", ".ari", ".arw", ".bay", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dcs", ".dng",
        ".drf", ".eip", ".erf", ".fff", ".gpr", ".iiq", ".k25", ".kdc", ".mdc", ".mef", ".mos",
        ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".ptx", ".pxn", ".qtk", ".raf", ".raw",
        ".rdc", ".rw2", ".rwl", ".rwz", ".sr2", ".srf", ".srw", ".sti", ".x3f",
    }
)

#: Suffix -> format, for the formats csrtouch reads but does not write.
READ_ONLY_SUFFIXES: dict[str, str] = {
    ".heic": "heif",
    ".heif": "heif",
    ".hif": "heif",
    **dict.fromkeys(sorted(RAW_SUFFIXES), "raw"),
}

#: Every suffix :func:`csrtouch.io.decode` accepts (a batch looks for these).
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(SUFFIX_FORMATS) | frozenset(READ_ONLY_SUFFIXES)

#: Format name -> the bit depths it can write.
BIT_DEPTHS: dict[str, tuple[int, ...]] = {
    "jpeg": (8,),
    "png": (8, 16),
    "tiff": (8, 16),
    "webp": (8,),
}

#: Formats decode reports that encode cannot write.
READ_ONLY_FORMATS: frozenset[str] = frozenset(READ_ONLY_SUFFIXES.values())

#: Where a read-only input's result goes unless a format is asked for (see the module doc).
READ_ONLY_OUTPUT_FORMAT = "tiff"

#: Format name -> the suffix given to files written in it.
_OUTPUT_SUFFIXES: dict[str, str] = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif", "webp": ".webp"}


def check_format(format: str) -> str:
    """Return ``format`` normalised to a format name csrtouch writes ("jpeg", "png", ...).

    Raises:
        UsageError: the format is not one csrtouch writes.
    """
    name = format.lower()
    name = {"jpg": "jpeg", "tif": "tiff"}.get(name, name)
    if name not in BIT_DEPTHS:
        known = ", ".join(BIT_DEPTHS)
        if name in READ_ONLY_FORMATS or f".{name}" in READ_ONLY_SUFFIXES:
            raise UsageError(f"csrtouch reads {format} but cannot write it; write one of {known}")
        raise UsageError(f"unknown image format {format!r}; expected one of {known}")
    return name


def format_of_suffix(path: Path | str) -> str | None:
    """The format csrtouch writes under a file name's suffix, or None when it writes none."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


def default_output_format(source: Image | Path | str) -> str:
    """The format a result is written in when none is asked for.

    That is the input's own format when csrtouch writes it, else TIFF (see the module doc).

    Args:
        source: the decoded input, or the input's file name.

    Raises:
        UsageError: ``source`` is a file name whose suffix names no format csrtouch reads.
    """
    from csrtouch.io.image import Image

    if isinstance(source, Image):
        fmt = source.format
    else:
        suffix = Path(source).suffix.lower()
        named = SUFFIX_FORMATS.get(suffix) or READ_ONLY_SUFFIXES.get(suffix)
        if named is None:
            raise UsageError(f"no image format csrtouch reads has the suffix {suffix!r}", source)
        fmt = named
    return READ_ONLY_OUTPUT_FORMAT if fmt in READ_ONLY_FORMATS else fmt


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
