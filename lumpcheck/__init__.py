"""lumpcheck: shrink neural networks without changing what they compute, and prove it.

The package is layered, lowest first (tests/test_layers.py enforces it): `ir` (the exact network IR); `io`,
`bounds`, `solver`; then `reduction` → `prove` → `equivalence` → `epsilon` → `apps`. `checker` is the small
trusted kernel beside them: it rests on `ir`, `io` and `bounds` only.

The names below are re-exported lazily (module `__getattr__`), so `import lumpcheck` loads nothing else. The
high-level API is what the command line does: `load_model`, `read_box`, `reduce_model` (`lumpcheck reduce`),
`check` (`lumpcheck check`, the independent checker), `verify` (`lumpcheck verify`), with the result types
`PipelineResult`, `CheckResult`, `VerifyResult`, `Certificate` and the `Verdict` of a solver or `verify`.
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
    # the high-level API (what the command line does) and its result types
    "load_model": "lumpcheck.io",
    "save_model": "lumpcheck.io",
    "read_box": "lumpcheck.io.vnnlib",
    "Box": "lumpcheck.ir.domain",
    "reduce_model": "lumpcheck.apps.api",
    "PipelineResult": "lumpcheck.apps.pipeline",
    "verify": "lumpcheck.apps.api",
    "VerifyResult": "lumpcheck.equivalence.result",
    "Mode": "lumpcheck.equivalence.mode",
    "check": "lumpcheck.checker",
    "CheckResult": "lumpcheck.checker",
    "Certificate": "lumpcheck.prove.records",
    "read_certificate": "lumpcheck.prove.records",
    "Verdict": "lumpcheck.solver",
    "LumpcheckError": "lumpcheck.errors",
}

__all__ = [*sorted(_EXPORTS), "__version__"]

if TYPE_CHECKING:
    from .apps.api import reduce_model, verify
    from .apps.pipeline import PipelineResult
    from .checker import CheckResult, check
    from .equivalence.mode import Mode
    from .equivalence.result import VerifyResult
    from .errors import LumpcheckError
    from .io import load_model, save_model
    from .io.vnnlib import read_box
    from .ir.activation import Activation
    from .ir.domain import Box
    from .ir.network import Layer, Network, evaluate, evaluate_float, evaluate_symbolic
    from .ir.normalization import Normalization
    from .prove.records import Certificate, read_certificate
    from .reduction.lumping import Reduction, reduce
    from .solver import Verdict


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
