"""`check`: read a certificate file and re-verify it against the two model files (strict or ε, by its mode; or a
differential certificate of `verify`, by its format)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import LumpcheckError
from ..io import load_model
from .difference import check_certificate
from .domain_match import check_domain_match
from .document import DIFF_FORMAT, DOMAIN_FORMAT, GRAPH_FORMAT, SOLVER_CHECKS, Malformed, claim_scope, parse_claim
from .epsilon import check_epsilon
from .graph import check_graph
from .result import CheckResult, load_hashed
from .strict import StrictVerifier


def check(cert_path: str | Path, original_path: str | Path, reduced_path: str | Path,
          solver_check: str = "auto", timeout_ms: int = 60_000, original_arch: list[str] | None = None,
          jobs: int = 1) -> CheckResult:
    """Verify a certificate against the two model files; CheckResult(valid, reasons).

    `solver_check`: z3 re-checks all neurons' identities, none, or (auto) a sample within strict.Z3_TERM_BUDGET
    (0: none); exact algebra always checks everything, z3 the activation lemmas. A missing or unreadable model file raises LumpcheckError.
    `original_arch`: the activation after each Linear when the original is a PyTorch state_dict.
    `jobs`: processes that re-derive a differential certificate's leaves (the same verdict for any number).
    """
    if solver_check not in SOLVER_CHECKS:
        raise LumpcheckError(f"solver check must be all, auto or none, not {solver_check!r}")
    p = Path(cert_path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LumpcheckError("no such file", str(p)) from None
    except (ValueError, UnicodeDecodeError) as e:
        return CheckResult(False, [f"certificate: not JSON ({e})"])
    if isinstance(doc, dict) and doc.get("format") == GRAPH_FORMAT:  # a graph (CNN/ResNet) channel reduction
        return check_graph(doc, original_path, reduced_path)
    if isinstance(doc, dict) and doc.get("format") == DIFF_FORMAT:  # `verify --certify`: models A and B, no hashes
        return check_certificate(doc, load_model(original_path, original_arch), load_model(reduced_path, original_arch),
                                 jobs=jobs)
    if isinstance(doc, dict) and doc.get("format") == DOMAIN_FORMAT:  # `verify --certify` by domain-match: A and B
        return check_domain_match(doc, load_model(original_path, original_arch), load_model(reduced_path, original_arch),
                                  solver_check, timeout_ms)
    if isinstance(doc, dict) and isinstance(doc.get("claim"), dict) and doc["claim"].get("mode") == "epsilon":
        return check_epsilon(doc, original_path, reduced_path, solver_check, timeout_ms, original_arch)
    try:
        claim = parse_claim(doc)
    except Malformed as e:
        return CheckResult(False, [str(e)])
    nets, reasons = load_hashed(claim.hashes, original_path, reduced_path, original_arch)
    reasons += StrictVerifier(claim, nets[0], nets[1], solver_check, timeout_ms).run()
    return CheckResult(not reasons, reasons, None if reasons else claim_scope(doc))
