"""Before/after pairs for training: ``root/input`` and ``root/<expert>``, matched by file stem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from csrtouch.errors import DecodeError, UsageError
from csrtouch.io import decode

#: Extensions read as pair images (FiveK renders come as PNG, some as TIFF).
IMAGE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg"})


@dataclass(frozen=True)
class Pair:
    """One training pair.

    Attributes:
        name: File stem shared by the input and the target, e.g. ``dpe-a0212``.
        source: Unedited rendering, float32 ``(H, W, 3)`` in [0, 1].
        target: The expert's retouch of the same photo, same shape and range.
    """

    name: str
    source: np.ndarray
    target: np.ndarray

    @property
    def group(self) -> str:
        """Where the pair was published (the stem's prefix before the first ``-``)."""
        return self.name.split("-", 1)[0]


def load_pairs(root: Path, expert: str = "expertC") -> list[Pair]:
    """Load every pair of ``root/input/<stem>.*`` and ``root/<expert>/<stem>.*``.

    Stems present on one side only are ignored; alpha is dropped; 8- and 16-bit images are
    scaled by their maximum.

    Args:
        root: Folder holding ``input/`` and ``<expert>/``.
        expert: Name of the folder with the retouched targets.

    Returns:
        Pairs sorted by name.

    Raises:
        UsageError: A folder is missing, no stem matches, or a pair's sizes differ.
    """
    root = Path(root)
    sources = _images_by_stem(root / "input", f"the unedited images, beside {expert}/")
    targets = _images_by_stem(root / expert, f"{expert}'s retouches, beside input/")
    stems = sorted(sources.keys() & targets.keys())
    if not stems:
        raise UsageError(
            f"no pairs: no file stem is in both input/ ({len(sources)} images) and {expert}/ "
            f"({len(targets)} images); name each before/after pair alike, e.g. input/a0001.png "
            f"and {expert}/a0001.png",
            root,
        )
    pairs = []
    for stem in stems:
        source, target = _read_rgb(sources[stem]), _read_rgb(targets[stem])
        if source.shape != target.shape:
            raise UsageError(
                f"pair {stem!r} differs in size: input is {source.shape[1]}x{source.shape[0]}, "
                f"{expert} is {target.shape[1]}x{target.shape[0]}; pairs must be the same photo "
                "at the same size",
                targets[stem],
            )
        pairs.append(Pair(stem, source, target))
    return pairs


def load_finished(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """Finished photos (``train``'s identity items): every image in ``folder``, sorted by name.

    Raises:
        UsageError: The folder is missing, holds no image, or an image cannot be read.
    """
    paths = list(_images_by_stem(Path(folder), "finished photos").values())
    if not paths:
        raise UsageError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the finished-photos folder", folder)
    return [(path, _read_rgb(path)) for path in paths]


def _images_by_stem(folder: Path, holds: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise UsageError(f"no such folder; expected it to hold {holds}", folder)
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _read_rgb(path: Path) -> np.ndarray:
    """The pixels ``apply`` would see (upright, in sRGB), as float32 in [0, 1]."""
    try:
        image = decode(path)
    except DecodeError as exc:
        raise UsageError(f"cannot read image: {exc.message}", path) from exc
    scale = 65535.0 if image.bit_depth == 16 else 255.0
    return image.pixels.astype(np.float32) / scale
