"""The ``csrtouch`` command: parse, call the API, print. Heavy imports happen inside commands."""

from csrtouch.cli.app import app, main
from csrtouch.cli import hotfolder as _hotfolder  # registers `watch` on app

__all__ = ["app", "main"]
