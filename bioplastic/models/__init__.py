"""Ready-made networks."""

from .mlp import deep_linear, mlp

__all__ = ["deep_linear", "mlp"]
