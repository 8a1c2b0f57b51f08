"""Typed errors. The library raises these and never prints or exits; the CLI turns them into
one line for the user and an exit status."""

from __future__ import annotations

from pathlib import Path


class CsrtouchError(Exception):
    """Base class of every error csrtouch raises on purpose."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class UsageError(CsrtouchError):
    """The command line or API call asks for something impossible (exit status 2)."""


class DecodeError(CsrtouchError):
    """An input file cannot be read as an image."""


class EncodeError(CsrtouchError):
    """An output cannot be written (format limits, disk full, permissions)."""


class StyleError(CsrtouchError):
    """A style is unknown, corrupt, or does not match the shared network."""


class WeightsError(StyleError):
    """A weights file fails its checksum or does not hold the expected tensors."""
