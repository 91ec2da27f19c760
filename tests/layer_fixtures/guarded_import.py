# module: lumpcheck.equivalence.bad
"""Our own module imported under try/except ImportError (it is always there)."""

try:
    from ..reduction.lumping import reduce  # noqa: F401
except ImportError:
    reduce = None
