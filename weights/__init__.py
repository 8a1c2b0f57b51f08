"""Shipped weights (installed as ``csrtouch.weights``); see README.md in this folder."""
