"""Style and weight files: safetensors (no pickle) with metadata and a tensor checksum.

Every file csrtouch writes carries ``tensors_sha256``, a hash of its tensors' names, dtypes,
shapes and bytes, so a file that was truncated, edited or mixed up fails loudly on load.
Only the header is read to list styles, so listing stays fast and never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from csrtouch.errors import StyleError, WeightsError

FORMAT = "csrtouch-style"
FORMAT_VERSION = "1"
SUFFIX = ".safetensors"

#: Largest magnitude a weight may have. Trained weights are tiny beside it: the shipped network
#: peaks at 0.63, expertC's vectors at 0.05 and the authors' released checkpoint at 0.97. A
#: value past 1e4 (four orders of magnitude more) is damage, not a look: it saturates the
#: network and turns photos black, as NaN and infinity do, so all three are refused on load.
MAX_ABS = 1e4


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """Checksum of a set of tensors, independent of how the file lays them out."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """Write ``tensors`` and ``meta`` atomically to ``path``; returns the tensor checksum.

    Metadata values that are not strings are stored as JSON.
    """
    from safetensors.numpy import save

    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    checksum = tensors_sha256(tensors)
    header = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    header.update(format=FORMAT, format_version=FORMAT_VERSION, tensors_sha256=checksum)
    data = save(tensors, metadata=header)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:
        raise StyleError(f"cannot write here ({e.strerror or _short(e)})", path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise StyleError(f"cannot write ({e.strerror or _short(e)})", path) from e
        raise
    return checksum


def read_meta(path: Path) -> dict[str, str]:
    """The metadata header of a style file, without reading its tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own and OS errors for corrupt headers
        raise WeightsError(f"not a csrtouch style file ({_short(e)})", path) from e
    if meta.get("format") != FORMAT:
        raise WeightsError(f"not a csrtouch style file (format is {meta.get('format')!r}, expected {FORMAT!r})", path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise WeightsError(
            f"style file format version {meta.get('format_version')!r} is not supported "
            f"(this csrtouch reads version {FORMAT_VERSION}); upgrade csrtouch",
            path,
        )
    return meta


def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a style file, with the checksum verified."""
    from safetensors.numpy import load_file

    meta = read_meta(path)
    try:
        tensors = load_file(str(path))
    except Exception as e:
        raise WeightsError(f"cannot read tensors ({_short(e)})", path) from e
    actual = tensors_sha256(tensors)
    if actual != meta.get("tensors_sha256"):
        raise WeightsError(
            f"checksum mismatch: expected {meta.get('tensors_sha256', '?')[:12]}, got {actual[:12]}; "
            "the file is corrupt or was modified",
            path,
        )
    check_values(tensors, path)
    return tensors, meta


def check_values(tensors: Mapping[str, Any], source: str | Path) -> None:
    """Refuse weights holding NaN, infinities or magnitudes past ``MAX_ABS``.

    A checksum only proves the file is as written; this checks what was written.

    Raises:
        WeightsError: naming the first bad tensor (in name order) and what it holds.
    """
    bad = []
    for name in sorted(tensors):
        array = np.asarray(tensors[name], np.float64)
        big = np.isfinite(array) & (np.abs(array) > MAX_ABS)
        counts = {
            "NaN value": int(np.isnan(array).sum()),
            "+Inf value": int(np.isposinf(array).sum()),
            "-Inf value": int(np.isneginf(array).sum()),
            f"value beyond ±{MAX_ABS:g}": int(big.sum()),
        }
        what = [f"{n} {kind.replace('value', 'values') if n != 1 else kind}" for kind, n in counts.items() if n]
        if big.any():
            what[-1] += f" (largest {np.abs(array[big]).max():.3g})"
        if what:
            bad.append(f"tensor {name!r} holds {', '.join(what)}")
    if bad:
        more = f" (and {len(bad) - 1} more bad tensor{'s' * (len(bad) > 2)})" if len(bad) > 1 else ""
        raise WeightsError(f"{bad[0]}{more}; weights like these ruin every photo, so the file is refused", source)


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__
