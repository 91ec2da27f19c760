"""`check`: read a certificate file and re-verify it against the two model files (strict or ε, by its mode; or a
differential certificate of `verify`, by its format)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import z3

from ..errors import LumpcheckError, UnsupportedModelError
from ..ir.graph.dag import Graph
from ..ir.graph.softmax_head import strip_final_softmax
from ..io import load_any, load_chain
from ..io.vnnlib import read_boxes, version2
from ..io.vnnlib2 import read_vnnlib2
from ..ir.network import Network
from ..ir.semantics import chain_box, model_box
from .bound_pair import check_bound_certificate
from .difference import check_certificate
from .difference_written import parse_dnf
from .domain_match import check_domain_match
from .document import (BOUND_FORMAT, DIFF_FORMAT, DOMAIN_FORMAT, GRAPH_FORMAT, SOLVER_CHECKS, UNION_FORMAT, Malformed,
                       claim_scope, parse_claim)
from .epsilon import check_epsilon
from .graph import check_graph
from .result import CheckResult, load_hashed
from .softmax_heads import HeadError, heads_of, logits_of, outputs_scope
from .strict import StrictVerifier
from .union import check_union
from .z3 import q, z3_unsat


def check(cert_path: str | Path, original_path: str | Path, reduced_path: str | Path,
          solver_check: str = "auto", timeout_ms: int = 60_000, original_arch: list[str] | None = None,
          jobs: int = 1, domain: str | Path | None = None, domain_space: str = "input") -> CheckResult:
    """Verify a certificate against the two model files; CheckResult(valid, reasons).

    `solver_check`: z3 re-checks all neurons' identities, none, or (auto) a sample within strict.Z3_TERM_BUDGET
    (0: none); exact algebra always checks everything, z3 the activation lemmas. A missing or unreadable model file raises LumpcheckError.
    `original_arch`: the activation after each Linear when the original is a PyTorch state_dict.
    `jobs`: processes that re-derive a differential certificate's leaves (the same verdict for any number).
    `domain`: a VNN-LIB file (its box in `domain_space` of the original, as `reduce --domain` takes it) that must lie
    inside the certified box: the scope then names that file as checked (without it, the scope names the file only
    as the certificate records it). Its boxes are compared (each inside a certified box); its output assertions only
    for a claim as written, which must prove the file's own assertions false (`_written_mismatch`).
    """
    try:
        result = _check_file(cert_path, original_path, reduced_path, solver_check, timeout_ms, original_arch, jobs)
    except LumpcheckError:  # a model file that cannot be read, a bad option: the user's error, not the certificate's
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, ArithmeticError, RecursionError) as e:
        # a field of the wrong type or size that a rule read before checking it: never valid
        return CheckResult(False, [f"malformed certificate: {type(e).__name__}: {e}"])
    if domain is None or not result.valid or result.scope is None:
        return result
    original = load_any(original_path, original_arch)
    boxes = read_boxes(domain, n_inputs=original.input_size if isinstance(original, Network) else None)
    if isinstance(original, Network):  # a 'layers' claim is about the bare chains: their coordinates, no clip
        boxes = tuple(chain_box(original, box, domain_space) if result.scope.semantics == "layers" else
                      model_box(original, box, domain_space) for box in boxes)
    elif domain_space != "input":
        raise LumpcheckError(f"--domain-space {domain_space} needs a dense model with normalisation", str(original_path))
    try:
        scope = result.scope.on_property_boxes(boxes, str(domain))
    except ValueError as e:
        return CheckResult(False, [f"the certificate's box does not contain the input region of {Path(domain).name}: "
                                   f"{e}"])
    if scope.mode == "written":  # a pair of dense chains (the only claims as written)
        why = _written_mismatch(cert_path, domain, original.output_size if isinstance(original, Network) else 0)
        if why:
            return CheckResult(False, [why])
    return replace(result, scope=scope)


def _written_mismatch(cert_path, domain, n_out: int) -> str:
    """'' when a claim as written is about the property file's own output assertions: every disjunct of the file's
    output DNF (over [y_A | y_B], io.vnnlib2.Spec2.pair_outputs) is one the certificate proves false (the same atoms)
    or one no outputs at all satisfy (z3 over free rational outputs; the prover drops those); else the reason."""
    name = Path(domain).name
    spec = read_vnnlib2(domain) if version2(domain) else None
    if spec is None or spec.outputs is None:
        return f"the certificate proves output assertions false as written, and {name} is no VNN-LIB 2.0 file with any"
    doc = json.loads(Path(cert_path).read_text(encoding="utf-8"))
    claimed = parse_dnf((doc["parts"][0] if doc.get("format") == UNION_FORMAT else doc)["claim"]["dnf"], n_out)
    proved = {frozenset((tuple(c), op, b) for c, op, b in conj) for conj in claimed}
    for k, conj in enumerate(spec.pair_outputs(n_out, n_out)):
        if frozenset((a.coeffs, a.op, a.bound) for a in conj) in proved:
            continue
        y = [z3.Real(f"y_{i}") for i in range(2 * n_out)]
        atoms = [z3.Sum([q(c) * v for c, v in zip(a.coeffs, y) if c] or [q(0)]) for a in conj]
        holds = [t < q(a.bound) if a.op == "<" else t <= q(a.bound) if a.op == "<=" else t == q(a.bound)
                 for t, a in zip(atoms, conj)]
        if z3_unsat(z3.And(*holds), 60_000) != z3.unsat:
            return (f"disjunct {k + 1} of {name}'s output assertions is not among those the certificate proves false, "
                    "and some outputs satisfy it: the certificate is not about this file's assertions")
    return ""


def _check_file(cert_path, original_path, reduced_path, solver_check: str, timeout_ms: int,
                original_arch: list[str] | None, jobs: int) -> CheckResult:
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
    if isinstance(doc, dict) and doc.get("format") == UNION_FORMAT:  # `verify --certify` on an `or` of boxes
        return check_union(doc, lambda part: _pair_document(part, original_path, reduced_path, original_arch,
                                                            solver_check, timeout_ms, jobs))
    pair = _pair_document(doc, original_path, reduced_path, original_arch, solver_check, timeout_ms, jobs)
    if pair is not None:
        return pair
    if isinstance(doc, dict) and isinstance(doc.get("claim"), dict) and doc["claim"].get("mode") == "epsilon":
        return check_epsilon(doc, original_path, reduced_path, solver_check, timeout_ms, original_arch)
    try:
        claim = parse_claim(doc)
    except Malformed as e:
        return CheckResult(False, [str(e)])
    nets, reasons = load_hashed(claim.hashes, original_path, reduced_path, original_arch)
    reasons += StrictVerifier(claim, nets[0], nets[1], solver_check, timeout_ms).run()
    return CheckResult(not reasons, reasons, None if reasons else claim_scope(doc))


def _pair_document(doc, a_path, b_path, arch, solver_check: str, timeout_ms: int, jobs: int) -> CheckResult | None:
    """A pair certificate of `verify` (models A and B, no hashes) checked by its format; None for other documents."""
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt == DIFF_FORMAT:  # the differential engine
        return _check_pair(doc, a_path, b_path, arch, lambda a, b: check_certificate(doc, a, b, jobs=jobs))
    if fmt == DOMAIN_FORMAT:  # domain-match
        return _check_pair(doc, a_path, b_path, arch, lambda a, b: check_domain_match(doc, a, b, solver_check,
                                                                                      timeout_ms))
    if fmt == BOUND_FORMAT:  # difference-bound
        return _check_pair(doc, a_path, b_path, arch, lambda a, b: check_bound_certificate(doc, a, b))
    return None


def _check_pair(doc: dict, a_path, b_path, arch, check_networks) -> CheckResult:
    """A `verify` certificate (differential or domain-match) against models A and B. With claim.softmax, the models
    it names end in a Softmax: the certificate is checked on their logits and its outputs' mode must follow
    (softmax_heads.py); without it, the models are read as dense chains as they are."""
    claim = doc.get("claim")
    try:
        heads = heads_of(claim) if isinstance(claim, dict) else None
        a, b = (claim_network(p, bool(heads and head), arch) for p, head in zip((a_path, b_path), heads or (0, 0)))
        result = check_networks(a, b)
        if heads is None or not result.valid:
            return result
        return replace(result, scope=outputs_scope(result.scope, heads))
    except HeadError as e:
        return CheckResult(False, [str(e)])


def claim_network(path, head: bool, arch=None):
    """The network a `verify` certificate's claim is about for this model file: its logits when claim.softmax
    flags a head, else the model as a dense chain (a model ending in a Softmax the certificate does not name is a
    HeadError: the claim would be about its logits, not about the file)."""
    if head:
        return logits_of(load_any(path, arch), path)
    try:
        return load_chain(path, arch)  # a Gemm/BatchNorm chain with irrational BN scales: its radical chain
    except UnsupportedModelError:
        model = load_any(path, arch)
        if isinstance(model, Graph) and strip_final_softmax(model) is not None:
            raise HeadError(f"{Path(path).name} ends in a Softmax that the certificate's claim.softmax does not name: "
                            "the claim is not about this file as it is") from None
        raise
