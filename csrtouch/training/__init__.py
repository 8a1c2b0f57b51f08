"""Training of the shared CSRNet and its built-in styles (off the inference path)."""
