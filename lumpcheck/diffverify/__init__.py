"""Differential verification of two near-copies of a network (ε / top-1 / argmin) with certificates.

Layers (imports point down): arith → pairing, relax, spec → chain → bounds → attack → bab → parallel →
certificate → api; `check` is the independent checker and imports none of them.
"""
