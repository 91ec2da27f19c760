"""ONNX <-> exact IR: read dense feed-forward chains exactly (read.py, ops.py, chain.py); write a Gemm chain with
honest rounding (write.py)."""

from .ops import SUPPORTED
from .read import read_onnx
from .write import write_onnx

__all__ = ["SUPPORTED", "read_onnx", "write_onnx"]
