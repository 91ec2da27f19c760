# module: lumpcheck.checker.bad
"""A kernel module that loads z3 tightening: bounds.tighten is untrusted search, not part of the kernel."""

from ..bounds.tighten import tighten_bounds  # noqa: F401
