"""Ready-made networks."""

from .cnn import cnn
from .mlp import deep_linear, mlp

__all__ = ["cnn", "deep_linear", "mlp"]
