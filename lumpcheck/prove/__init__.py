"""The prover: layer-local proof obligations of a reduction (obligations.py, derive.py), their exact discharge
(discharge.py) and SMT-LIB scripts for z3 (smt.py), the prover that runs them (prover.py), and the certificate as
records and JSON (records.py) with its schema (schema.py). Untrusted: lumpcheck.checker re-verifies its output."""
