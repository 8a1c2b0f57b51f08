"""Neural network modules only: no paths, no I/O."""

from csrtouch.model.csrnet import BASE_NF, COND_NF, GFM_SIZES, Condition, CSRNet, Modulation, build_network

__all__ = ["BASE_NF", "COND_NF", "CSRNet", "GFM_SIZES", "Condition", "Modulation", "build_network"]
