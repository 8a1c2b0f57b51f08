"""Installing styles from files: the authors' CSRNet checkpoint or a style file someone sent."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np

from csrtouch.errors import StyleError, UsageError
from csrtouch.styles import files
from csrtouch.styles.registry import (
    ARCH_NETWORK,
    ARCH_VECTOR,
    StyleInfo,
    get_style_info,
    shared_network_sha256,
    personal_style_path,
)


def import_style(source: str | Path, name: str, *, force: bool = False) -> StyleInfo:
    """Install ``source`` as the personal style ``name`` and return its info.

    Args:
        source: a CSRNet checkpoint (``.pth``, the authors' layout, loaded with
            ``weights_only=True``) or a csrtouch style file (``.safetensors``).
        name: the style's name in the registry.
        force: replace an existing personal style of that name.
    """
    source = Path(source)
    dest = personal_style_path(name, force=force)
    if not source.is_file():
        raise UsageError("no such file", source)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if source.suffix == files.SUFFIX:
        tensors, meta = files.read(source)
        if meta.get("arch") not in (ARCH_VECTOR, ARCH_NETWORK):
            raise StyleError(f"not a style (arch {meta.get('arch')!r})", source)
        meta = {k: v for k, v in meta.items() if k not in ("format", "format_version", "tensors_sha256")}
        if meta.get("arch") == ARCH_VECTOR and meta.get("network_sha256") != shared_network_sha256():
            tensors.update({f"network.{k}": v for k, v in _network_for(source, meta["network_sha256"]).items()})
            meta["arch"] = ARCH_NETWORK
        meta.update(name=name, origin=f"imported from {source.name} ({meta.get('origin', 'unknown origin')})")
        meta.setdefault("created", created)
    else:
        network = _read_checkpoint(source)
        tensors = {f"network.{k}": v for k, v in network.items()}
        tensors["gamma"] = np.zeros(32, np.float32)
        tensors["beta"] = np.zeros(32, np.float32)
        meta = {
            "name": name,
            "arch": ARCH_NETWORK,
            "description": f"whole CSRNet imported from {source.name}",
            "origin": f"imported from checkpoint {source.name}",
            "created": created,
        }
    files.write(dest, tensors, meta)
    return get_style_info(name)


def _network_for(style: Path, sha256: str) -> dict[str, np.ndarray]:
    """The shared network a vector style was trained with, when it is not the shipped one.

    ``csrtouch train --out DIR`` writes ``DIR/csrnet-shared.safetensors`` beside
    ``DIR/styles/``; importing such a style bundles that network into it.
    """
    for candidate in (style.parent.parent / "csrnet-shared.safetensors", style.parent / "csrnet-shared.safetensors"):
        if candidate.is_file() and files.read_meta(candidate).get("tensors_sha256") == sha256:
            return files.read(candidate)[0]
    raise StyleError(
        f"style was trained with shared network {sha256[:12]}, which is neither the one this csrtouch ships "
        f"({shared_network_sha256()[:12]}) nor a csrnet-shared.safetensors next to it",
        style,
    )


def _read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    import warnings

    import torch

    from csrtouch.model import CSRNet

    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        raise StyleError(f"cannot read ({e.strerror or e})", path) from e
    # torch.save writes a zip, older torch a pickle; anything else would give torch's KeyError: '101'.
    if not head.startswith((b"PK\x03\x04", b"\x80")):
        reason = "the file is empty" if not head else "it is neither a zip archive nor a pickle"
        raise StyleError(f"not a CSRNet checkpoint (torch could not read it: {reason})", path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the library never prints
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle refusals, zip errors, truncation all surface here
        reason = _torch_reason(e)
        if "GLOBAL" in reason:  # a pickle naming a Python function or class: code, not tensors
            message = f"cannot read checkpoint safely: it holds Python objects, not only tensors ({reason})"
            raise StyleError(message, path) from e
        raise StyleError(f"not a CSRNet checkpoint (torch could not read it: {reason})", path) from e
    for key in ("params", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        what = "a dict with keys that are not names" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise StyleError(f"not a CSRNet checkpoint: it holds {what}, expected a state dict", path)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = CSRNet().state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise StyleError(
            f"not a CSRNet checkpoint: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}",
            path,
        )
    out = {}
    for key, ref in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(ref.shape):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise StyleError(f"tensor {key} has shape {got}, expected {tuple(ref.shape)}", path)
        try:
            out[key] = value.detach().to(torch.float32).numpy()
        except (RuntimeError, TypeError) as e:  # sparse, quantized or meta tensors
            raise StyleError(f"tensor {key} cannot be read as float32 ({_torch_reason(e)})", path) from e
    files.check_values(out, path)
    return out


def _torch_reason(e: Exception) -> str:
    """The gist of one of torch's multi-paragraph load errors, on one short line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    # Refusals of weights_only loads bury the cause under advice on loading unsafely.
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    elif text.startswith("Weights only load failed"):
        text = text.partition("\n")[2]
    text = re.sub(r"\[enforce fail at [^\]]*\]\s*\.?\s*", "", text)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = line.split(". ", 1)[0].rstrip(".")
    if not line or line.strip("'\"").isdigit():  # EOFError(''), KeyError('101') of a garbled pickle
        line = "unexpected end of file" if isinstance(e, EOFError) else f"{type(e).__name__} {line}".strip()
    return line[:120]
