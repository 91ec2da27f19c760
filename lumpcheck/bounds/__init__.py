"""Sound pre-activation bounds on an input box.

propagate.py (with arith.py and squash.py, sigmoid/tanh) is trusted: the checker re-runs `by_method`, and this
package's __init__ loads nothing else, so importing `lumpcheck.bounds` loads no solver. tighten.py (z3 LP/MILP tightening, untrusted
search) and deviation.py (certified bounds on |exact − rounded| of two networks) are imported by name.
"""

from .arith import check_float_environment
from .propagate import (
    LayerBounds,
    by_method,
    interval_bounds,
    layer_phases,
    split_bounds,
    stable_phases,
    symbolic_bounds,
)
from .squash import SQUASH_CLAMP, SQUASH_PRECISION

__all__ = [
    "SQUASH_CLAMP",
    "SQUASH_PRECISION",
    "LayerBounds",
    "by_method",
    "check_float_environment",
    "interval_bounds",
    "layer_phases",
    "split_bounds",
    "stable_phases",
    "symbolic_bounds",
]
