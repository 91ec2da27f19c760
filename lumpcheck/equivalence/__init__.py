"""`lumpcheck verify`: equivalence of two networks lumpcheck did not make (strict, within ε, or same top-1).

mode.py says what "equivalent" means, result.py what the answer is; engine.py runs the engines: falsify.py
(float search, exact replay), the certified difference bound (bounds/deviation.py), match.py (coarsest lumped
quotients matched up to permutation and scaling) and encode.py (one monolithic z3 query)."""
