"""The independent certificate checker: a small trusted kernel.

It re-derives every obligation from the two model files and the certificate's relation and discharges it with
exact integer algebra and its own z3 helper (z3.py). It imports only `lumpcheck.errors`, `lumpcheck.ir`,
`lumpcheck.io` and the trusted bound propagation `lumpcheck.bounds` (plus numpy and z3): never the reducer, the
prover, `verify`, the ε prover, the solver layer or the apps (tests/test_layers.py enforces this). It trusts the
model readers, the IR with its exact-number helpers and `bounds.by_method` (sound by bounds/propagate.py's
docstring), which domain reductions' phase claims are re-checked with. Where it restates a fact the prover also
uses, a comment names the prover's version it is independent of.

document.py parses the certificate into small frozen values; strict.py (with layer.py) checks the strict claim,
epsilon.py the ε claim; certificate.py's `check` reads the file and picks one by the claim's mode.
"""

from .certificate import check
from .document import AXIOMS, FORMAT, FORMAT_VERSION, SEMANTICS, SOLVER_CHECKS, Scope, claim_scope
from .epsilon import check_epsilon
from .result import CheckResult, load_hashed
from .strict import MAX_SPLIT_CELLS, Z3_TERM_BUDGET

__all__ = [
    "AXIOMS",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_SPLIT_CELLS",
    "SEMANTICS",
    "SOLVER_CHECKS",
    "Z3_TERM_BUDGET",
    "CheckResult",
    "Scope",
    "check",
    "check_epsilon",
    "claim_scope",
    "load_hashed",
]
