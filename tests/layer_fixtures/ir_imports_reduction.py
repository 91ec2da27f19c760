# module: lumpcheck.ir.bad
"""The IR (the lowest layer) importing the reducer: an import pointing up the pipeline."""

from ..reduction.lumping import reduce  # noqa: F401
