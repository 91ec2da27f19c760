# module: lumpcheck.epsilon.bad
"""A function-local import of one of our own modules (it would hide a cycle)."""


def confirm():
    from ..equivalence.engine import verify  # noqa: F401
