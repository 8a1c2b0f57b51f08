"""The ``csrtouch`` command: parse, call the API, print. Heavy imports happen inside commands."""

from csrtouch.cli.app import app, main

__all__ = ["app", "main"]
