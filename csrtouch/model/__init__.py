"""Neural network modules only: no paths, no I/O."""

from csrtouch.model.csrnet import BASE_NF, COND_NF, Condition, CSRNet, Modulation

__all__ = ["BASE_NF", "COND_NF", "CSRNet", "Condition", "Modulation"]
