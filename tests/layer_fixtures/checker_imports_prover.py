# module: lumpcheck.checker.bad
"""A kernel module that loads the prover: the checker must not trust the code it checks."""

from ..prove.prover import prove_networks  # noqa: F401
