"""Differential verification of two near-copies of a network (ε / top-1 / argmin) with certificates.

Public API:
- api.verify_pair(a, b, box, mode, timeout, *, workers=0, memory_mb=2048, certificate=True, pairing=None,
  strategy="auto", batch=None, seed=0) -> api.DiffResult (status, counterexample, certificate, stats)
- spec.DiffMode.parse("epsilon=0.05" | "top1" | "argmin")
- check.check_certificate(doc_or_path, a, b) -> check.CheckResult  (independent checker)
- vnncomp.results_text / write_results / read_instances / read_box_v2 / parse_models
Layers (imports point down): arith → pairing, relax, spec → chain → bounds → attack → bab → parallel →
certificate → api → vnncomp; check, check_bounds, check_pass form the checker and import none of them.
"""
