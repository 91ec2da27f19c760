# module: lumpcheck.checker.bad
"""A private name imported from another module (give it a public name inside its package)."""

from .strict import _Verifier  # noqa: F401
