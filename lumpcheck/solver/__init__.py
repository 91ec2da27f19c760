"""Untrusted solving: every z3 query lumpcheck's prover, tightener and `verify` make goes through solver/z3.py
and comes back as one `Answer` carrying a `Verdict`. The checker (lumpcheck/checker) has its own small z3
helper and never imports this package."""

from .verdict import Verdict

__all__ = ["Verdict"]
