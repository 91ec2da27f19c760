"""lumpcheck: shrink neural networks without changing what they compute, and prove it.

The package is layered, lowest first (tests/test_layers.py enforces it): `ir` (the exact network IR); `io`,
`bounds`, `solver`; then `reduction` → `prove` → `equivalence` → `epsilon` → `apps`. `checker` is the small
trusted kernel beside them: it rests on `ir`, `io` and `bounds` only.

The names below are re-exported lazily (module `__getattr__`), so `import lumpcheck` loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # the exact IR
    "Activation": "lumpcheck.ir.activation",
    "Layer": "lumpcheck.ir.network",
    "Network": "lumpcheck.ir.network",
    "Normalization": "lumpcheck.ir.normalization",
    "evaluate": "lumpcheck.ir.network",
    "evaluate_float": "lumpcheck.ir.network",
    "evaluate_symbolic": "lumpcheck.ir.network",
    # reduction
    "Reduction": "lumpcheck.reduction.lumping",
    "reduce": "lumpcheck.reduction.lumping",
    # the high-level API (load_model, reduce_model, verify, check, read_box, Verdict) goes here: name -> module
}

__all__ = [*sorted(_EXPORTS), "__version__"]

if TYPE_CHECKING:
    from .ir.activation import Activation
    from .ir.network import Layer, Network, evaluate, evaluate_float, evaluate_symbolic
    from .ir.normalization import Normalization
    from .reduction.lumping import Reduction, reduce


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lumpcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
