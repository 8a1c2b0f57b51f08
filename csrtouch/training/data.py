"""Before/after pairs for training: ``root/input`` and ``root/<expert>``, matched by file stem."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from csrtouch.errors import DecodeError, UsageError
from csrtouch.io import RAW_SUFFIXES, decode

#: Extensions read as pair images (FiveK renders come as PNG, some as TIFF).
IMAGE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg"})

#: Pairs are trained at this long side at most (the size of the published FiveK renders);
#: larger photos are reduced to it, which also bounds memory for thousands of pairs.
MAX_SIDE = 512

#: Corpus photos (``csrtouch train --corpus``) kept out of training, by a hash of
#: ``<folder>/<file name>``: bucket 0 of 10 is the lockbox (looked at only for a recipe's
#: final figure), bucket 1 the development set that recipe choices are checked on.
CORPUS_BUCKETS = 10
CorpusPart = Literal["train", "dev", "lockbox"]

#: The folders of ``<shared>/data/photos/corpus`` that hold ordinary, finished photos (the
#: others, dicm, lime and fivek-exposure-afifi, are badly exposed on purpose: no "after").
CORPUS_FOLDERS = ("bsd100", "bsd200", "urban100", "sun-hays80", "mcmaster", "set14", "set5", "flickr-cc-afifi")

#: Two sides of a pair may differ in aspect ratio by this much (RAW converters crop a few
#: edge pixels differently) before the pair is refused as not the same framing.
ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Pair:
    """One training pair, stored as 16-bit (exact for 8- and 16-bit files; half the memory
    of float32 for the 5,000 pairs of the full FiveK).

    Attributes:
        name: File stem shared by the input and the target, e.g. ``dpe-a0212``.
        source16: Unedited rendering, uint16 ``(H, W, 3)``.
        target16: The expert's retouch of the same photo, same shape.
    """

    name: str
    source16: np.ndarray
    target16: np.ndarray

    @property
    def source(self) -> np.ndarray:
        """The input as float32 in [0, 1]."""
        return self.source16.astype(np.float32) / 65535.0

    @property
    def target(self) -> np.ndarray:
        """The target as float32 in [0, 1]."""
        return self.target16.astype(np.float32) / 65535.0

    @property
    def group(self) -> str:
        """Where the pair was published (the stem's prefix before the first ``-``)."""
        return self.name.split("-", 1)[0]


def load_pairs(root: Path, expert: str = "expertC", max_side: int = MAX_SIDE) -> list[Pair]:
    """Load every before/after pair under ``root``, matched by file stem.

    Two layouts are read:

    - ``root/input/<stem>.*`` and ``root/<expert>/<stem>.*`` (PNG, TIFF, JPEG);
    - the MIT-Adobe FiveK download: the camera RAWs anywhere under ``root/raw_photos/``
      (``HQa1to700/photos/a0001-jmac_DSC1459.dng``, ...) rendered as ``apply`` renders a
      RAW, and the expert's exports in ``root/<expert>/`` or ``root/tiff16_<x>/`` for
      ``expertA`` to ``expertE`` (16-bit ProPhoto TIFFs, converted to sRGB by their profile).

    Stems present on one side only are ignored; alpha is dropped; both sides of a pair are
    reduced (area averaging) to the same size with a long side of at most ``max_side``.

    Args:
        root: The dataset folder.
        expert: The expert whose retouches are the targets (the folder name in the first
            layout).
        max_side: Longest side pairs are kept at.

    Returns:
        Pairs sorted by name.

    Raises:
        UsageError: A folder is missing, no stem matches, an image cannot be read, or the
            two sides of a pair are not the same framing.
    """
    root = Path(root)
    if (root / "raw_photos").is_dir():
        sources = _images_by_stem(root / "raw_photos", "the FiveK camera RAWs", RAW_SUFFIXES, recursive=True)
        inputs = "raw_photos/"
        folder = _fivek_expert_folder(root, expert)
    else:
        sources = _images_by_stem(root / "input", f"the unedited images, beside {expert}/")
        inputs = "input/"
        folder = root / expert
    targets = _images_by_stem(folder, f"{expert}'s retouches, beside {inputs}")
    stems = sorted(sources.keys() & targets.keys())
    if not stems:
        raise UsageError(
            f"no pairs: no file stem is in both {inputs} ({len(sources)} images) and {folder.name}/ "
            f"({len(targets)} images); name each before/after pair alike, e.g. input/a0001.png "
            f"and {expert}/a0001.png",
            root,
        )
    pairs = []
    for stem in stems:
        source, target = _read16(sources[stem]), _read16(targets[stem])
        (h, w), (th, tw) = source.shape[:2], target.shape[:2]
        if abs(w / h - tw / th) > ASPECT_TOLERANCE * (w / h):
            raise UsageError(
                f"pair {stem!r} is not the same framing: input is {w}x{h}, {expert} is {tw}x{th}; "
                "pairs must be the same photo, uncropped",
                targets[stem],
            )
        size = _fit(w, h, max_side)
        pairs.append(Pair(stem, _resize(source, size), _resize(target, size)))
    return pairs


def _fivek_expert_folder(root: Path, expert: str) -> Path:
    """``root/<expert>`` if present, else FiveK's ``root/tiff16_<x>`` for ``expert<X>``."""
    match = re.fullmatch(r"expert([a-e])", expert, flags=re.IGNORECASE)
    candidates = [root / expert] + ([root / f"tiff16_{match[1].lower()}"] if match else [])
    for folder in candidates:
        if folder.is_dir():
            return folder
    names = " or ".join(f"{c.name}/" for c in candidates)
    raise UsageError(f"no {names} beside raw_photos/: download {expert}'s TIFFs into it", root)


def _fit(w: int, h: int, max_side: int) -> tuple[int, int]:
    """``(w, h)`` reduced to a long side of at most ``max_side``."""
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_finished(folder: Path, max_side: int = 2 * MAX_SIDE) -> list[tuple[Path, np.ndarray]]:
    """Finished photos (``train``'s identity items): every image in ``folder``, sorted by
    name, as float32 in [0, 1], reduced to a long side of at most ``max_side``.

    Raises:
        UsageError: The folder is missing, holds no image, or an image cannot be read.
    """
    paths = list(_images_by_stem(Path(folder), "finished photos").values())
    if not paths:
        raise UsageError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the finished-photos folder", folder)
    photos = []
    for path in paths:
        photo = _read16(path)
        size = _fit(photo.shape[1], photo.shape[0], max_side)
        photos.append((path, _resize(photo, size).astype(np.float32) / 65535.0))
    return photos


def _images_by_stem(
    folder: Path, holds: str, suffixes: frozenset[str] = IMAGE_SUFFIXES, recursive: bool = False
) -> dict[str, Path]:
    if not folder.is_dir():
        raise UsageError(f"no such folder; expected it to hold {holds}", folder)
    paths = folder.rglob("*") if recursive else folder.iterdir()
    return {p.stem: p for p in sorted(paths) if p.suffix.lower() in suffixes and p.is_file()}


def _read16(path: Path) -> np.ndarray:
    """The pixels ``apply`` would see (upright, in sRGB), as uint16."""
    try:
        image = decode(path)
    except DecodeError as exc:
        raise UsageError(f"cannot read image: {exc.message}", path) from exc
    return image.pixels.astype(np.uint16) * 257 if image.bit_depth == 8 else image.pixels


def corpus_part(path: Path) -> CorpusPart:
    """Which part of a corpus a photo belongs to, fixed by its folder and file name alone
    (so the same photo falls in the same part whatever corpus root or machine reads it):
    ``"lockbox"`` and ``"dev"`` a tenth each, never trained on, ``"train"`` the rest."""
    path = Path(path)
    key = f"{path.parent.name}/{path.name}".encode()
    bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % CORPUS_BUCKETS
    return "lockbox" if bucket == 0 else "dev" if bucket == 1 else "train"


def load_corpus(
    folders: Iterable[Path], parts: Iterable[CorpusPart] = ("train",), max_side: int = MAX_SIDE
) -> list[tuple[Path, np.ndarray]]:
    """Ordinary photos for synthetic pre-training: every image under ``folders``
    (recursively) whose :func:`corpus_part` is in ``parts``, read as ``apply`` reads it
    (through its colour profile, upright), reduced to ``max_side``, as uint8 ``(H, W, 3)``
    (a 500-photo corpus then holds about 300 MB).

    Raises:
        UsageError: A folder is missing or holds no image, or an image cannot be read.
    """
    wanted = set(parts)
    photos = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise UsageError("no such folder; expected it to hold ordinary photos", folder)
        # Not by stem: sets of photos in subfolders reuse names (1.png, ...).
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise UsageError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the corpus folder", folder)
        for path in (p for p in paths if corpus_part(p) in wanted):
            photo = _read16(path)
            size = _fit(photo.shape[1], photo.shape[0], max_side)
            photos.append((path, np.round(_resize(photo, size) / 257.0).astype(np.uint8)))
    return photos
