"""lumpcheck: shrink neural networks without changing what they compute, and prove it."""

from .lumping import Reduction, reduce
from .network import Activation, Layer, Network, Normalization, evaluate, evaluate_float, evaluate_symbolic

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Layer",
    "Network",
    "Normalization",
    "Reduction",
    "evaluate",
    "evaluate_float",
    "evaluate_symbolic",
    "reduce",
    "__version__",
]
