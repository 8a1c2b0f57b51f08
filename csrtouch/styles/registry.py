"""The one registry of styles: bundled ones and the user's, listed from file headers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from csrtouch.errors import StyleError, UsageError
from csrtouch.styles import files
from csrtouch.styles.paths import (
    HOME_ENV,
    bundled_dir,
    shared_network_path,
    user_styles_dir,
    user_styles_problem,
    writable_user_styles_dir,
)

#: A style is a pair of 32-d vectors that modulate the shared network's condition.
ARCH_VECTOR = "style-vector"
#: A style that brings a whole CSRNet of its own (e.g. the authors' released checkpoint).
ARCH_NETWORK = "network"
ARCH_SHARED = "shared-network"

KIND_BUILTIN = "built-in"
KIND_PERSONAL = "personal"
KIND_IMPORTED = "imported"

#: Length of a style's GFM offset: scale1..3 and shift1..3 of CSRNet (64, 64, 3, 64, 64, 3).
GFM_OFFSET = 262

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class StyleInfo:
    """What ``list-styles`` shows about one style; read from the file header only."""

    name: str
    kind: str
    path: Path
    arch: str
    description: str = ""
    origin: str = ""
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "arch": self.arch,
            "description": self.description,
            "origin": self.origin,
            "created": self.created,
            "path": str(self.path),
            **self.extra,
        }


@dataclass(frozen=True)
class Style:
    """A loaded style: its info, its style vectors, and its own network if it has one.

    ``offset`` (``GFM_OFFSET`` values, zero for styles without one) is added to the GFM
    scales and shifts; fine-tuned personal styles use it for looks the condition alone
    cannot reach.
    """

    info: StyleInfo
    gamma: np.ndarray
    beta: np.ndarray
    network: dict[str, np.ndarray] | None
    network_sha256: str
    offset: np.ndarray = field(default_factory=lambda: np.zeros(GFM_OFFSET, np.float32))

    def __post_init__(self) -> None:
        # Also a Style built in code, not loaded from a file; the network is checked by Network.
        files.check_values({"gamma": self.gamma, "beta": self.beta, "offset": self.offset}, self.info.path)

    @property
    def name(self) -> str:
        return self.info.name


def check_name(name: str) -> str:
    """Return ``name`` if it can be a style name, else raise UsageError."""
    if not _NAME.match(name):
        raise UsageError(
            f"invalid style name {name!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def personal_style_path(name: str, *, force: bool = False) -> Path:
    """Where a new personal style called ``name`` goes; refuses a bad or built-in name, an
    existing style unless ``force``, and a folder it cannot write (a StyleError)."""
    check_name(name)
    if name in builtin_names():
        raise UsageError(f"{name!r} is a built-in style; choose another name")
    dest = user_styles_dir() / f"{name}{files.SUFFIX}"
    if dest.exists() and not force:
        raise UsageError(f"style {name!r} already exists ({dest}); use --force to replace it")
    writable_user_styles_dir()
    return dest


def remove_style(name: str) -> Path:
    """Delete the personal or imported style ``name`` and return the path it had.

    The file is found by name, never read, so a corrupt or unreadable style can be removed.
    """
    path, kind = style_path(name)
    if kind == KIND_BUILTIN:
        raise UsageError(f"{name!r} is a built-in style and cannot be removed")
    try:
        path.unlink()
    except OSError as e:
        message = f"cannot remove this style file ({e.strerror or e}); check the permissions of {path.parent}"
        raise StyleError(message, path) from e
    return path


def _info(path: Path, kind: str) -> StyleInfo:
    meta = files.read_meta(path)
    extra = json.loads(meta["info"]) if "info" in meta else {}
    if kind != KIND_BUILTIN:
        kind = KIND_IMPORTED if meta.get("origin", "").startswith("imported") else KIND_PERSONAL
    return StyleInfo(
        name=meta.get("name", path.stem),
        kind=kind,
        path=path,
        arch=meta.get("arch", "?"),
        description=meta.get("description", ""),
        origin=meta.get("origin", ""),
        created=meta.get("created", ""),
        extra=extra,
    )


def _scan(directory: Path, kind: str) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.stem: p for p in sorted(directory.glob(f"*{files.SUFFIX}")) if not p.name.startswith(".")}


def builtin_names() -> list[str]:
    return sorted(_scan(bundled_dir() / "styles", KIND_BUILTIN))


def list_styles() -> list[StyleInfo]:
    """Every available style, built-in first. Unreadable user files are skipped here;
    asking for one by name reports why it cannot be read."""
    out = [_info(p, KIND_BUILTIN) for p in _scan(bundled_dir() / "styles", KIND_BUILTIN).values()]
    builtin = {s.name for s in out}
    for name, path in _scan(user_styles_dir(), KIND_PERSONAL).items():
        if name in builtin:
            continue
        try:
            out.append(_info(path, KIND_PERSONAL))
        except StyleError:
            continue
    return out


def style_path(name: str) -> tuple[Path, str]:
    """Path and kind of the style called ``name``; an unknown name lists the available ones."""
    builtin = _scan(bundled_dir() / "styles", KIND_BUILTIN)
    if name in builtin:
        return builtin[name], KIND_BUILTIN
    user = _scan(user_styles_dir(), KIND_PERSONAL)
    if name in user:
        return user[name], KIND_PERSONAL
    available = ", ".join(sorted(set(builtin) | set(user))) or "none"
    problem = user_styles_problem()
    where = f"unusable: {problem}; set ${HOME_ENV} to a usable folder" if problem else f"set ${HOME_ENV} to move them"
    raise StyleError(
        f"unknown style {name!r}. Available: {available}. Personal styles live in {user_styles_dir()} "
        f"({where}); see 'csrtouch list-styles'"
    )


def get_style_info(name: str) -> StyleInfo:
    path, kind = style_path(name)
    return _info(path, kind)


def load_style(name_or_path: str | Path) -> Style:
    """Load a style by registry name or from a style file, checksum verified."""
    path = Path(name_or_path)
    if path.suffix == files.SUFFIX and path.is_file():
        kind = KIND_PERSONAL
    else:
        path, kind = style_path(str(name_or_path))
    tensors, _ = files.read(path)
    info = _info(path, kind)
    gamma, beta = tensors.get("gamma"), tensors.get("beta")
    if gamma is None or beta is None:
        raise StyleError("style file has no 'gamma'/'beta' tensors", path)
    offset = tensors.get("offset", np.zeros(GFM_OFFSET, np.float32))
    shapes = {"gamma": gamma.shape, "beta": beta.shape, "offset": offset.shape}
    expected_shapes = {"gamma": (32,), "beta": (32,), "offset": (GFM_OFFSET,)}
    if shapes != expected_shapes:
        raise StyleError(f"style tensors have shapes {shapes}, expected {expected_shapes}", path)
    meta = files.read_meta(path)
    if info.arch == ARCH_NETWORK:
        prefix = "network."
        network = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        return Style(info, gamma, beta, network, network_sha256=files.tensors_sha256(network), offset=offset)
    if info.arch != ARCH_VECTOR:
        raise StyleError(f"unknown style architecture {info.arch!r}", path)
    expected = shared_network_sha256()
    if meta.get("network_sha256") != expected:
        raise StyleError(
            f"style was made for shared network {meta.get('network_sha256', '?')[:12]}, but this csrtouch ships "
            f"{expected[:12]}; fine-tune it again with this version",
            path,
        )
    return Style(info, gamma, beta, None, network_sha256=expected, offset=offset)


def shared_network_sha256() -> str:
    return files.read_meta(shared_network_path())["tensors_sha256"]


def shared_network_info() -> dict[str, Any]:
    """Provenance of the shared network (training data, recipe, metrics, mean condition)."""
    meta = files.read_meta(shared_network_path())
    return json.loads(meta["info"]) if "info" in meta else {}


def load_shared_network() -> dict[str, np.ndarray]:
    tensors, _ = files.read(shared_network_path())
    return tensors
