# module: lumpcheck.prove.bad
"""The prover using the checker's code (only its format constants, from checker/document.py, are allowed)."""

from ..checker.strict import StrictVerifier  # noqa: F401
