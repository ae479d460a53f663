"""Ready-made networks."""

from .cnn import cnn, knet
from .mlp import deep_linear, mlp

__all__ = ["cnn", "deep_linear", "knet", "mlp"]
