"""Independent checker of ε-certificates (specs/certificate-epsilon.md); shares no code with epsilon/certificate.py.

Claim: for every x in the box, max_i |original(x)_i − reduced(x)_i| <= ε. Checked as: the reduced file R plus
the certificate's corrections gives Q (each correction must round to R's value in R's float format); the
strict checker (strict.py's StrictVerifier, on in-memory networks) proves original ≡ Q (on all of R^n, or on the
box for domain reductions); and this module's own exact back-substituted bound on |Q − R| over the box
(`checked_bound`) must not exceed ε. The certificate's recorded bounds are never trusted.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..bounds import symbolic_bounds
from ..bounds.squash import derivative_range
from ..errors import LumpcheckError
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions, fraction_str
from ..ir.network import Layer, Network
from .document import Malformed, claim_scope, parse_claim, parse_rational
from .integers import scaled_ints
from .result import CheckResult, load_hashed
from .strict import StrictVerifier

_FLOATS = {"float32": np.float32, "float64": np.float64}


def check_epsilon(doc: Any, original_path: str | Path, reduced_path: str | Path,
                  solver_check: str = "auto", timeout_ms: int = 60_000,
                  original_arch: list[str] | None = None) -> CheckResult:
    """Verify an ε-certificate document against the two model files; CheckResult(valid, reasons)."""
    try:
        epsilon, fixes, claimed_dtype, window = _parse_epsilon(doc)
        claim = parse_claim({**doc, "claim": {**doc["claim"], "mode": "strict", "epsilon": None}})
    except Malformed as e:
        return CheckResult(False, [str(e)])
    nets, reasons = load_hashed(claim.hashes, original_path, reduced_path, original_arch)
    original, written = nets
    dtype = str(written.meta.get("dtype", ""))
    if dtype not in _FLOATS or written.normalization is not None:
        return CheckResult(False, reasons + ["reduced model: ε-certificates are for float32/float64 ONNX files without "
                                             "normalisation metadata"])
    if dtype != claimed_dtype:
        reasons.append(f"reduced model: the file is {dtype}, the certificate says {claimed_dtype}")
    quotient, problems = _rebuild(written, fixes, dtype)
    if problems:
        return CheckResult(False, reasons + problems)
    reasons += StrictVerifier(claim, original, quotient, solver_check, timeout_ms).run()
    lower, upper = claim.domain
    try:
        bound = checked_bound(quotient, written, Box(tuple(lower), tuple(upper)), window)
    except (LumpcheckError, ValueError) as e:
        return CheckResult(False, reasons + [f"domain: {e}"])
    if bound > epsilon:
        reasons.append(f"cannot establish ε={fraction_str(epsilon)} (bound {float(bound):.6g})")
    return CheckResult(not reasons, reasons, None if reasons else claim_scope(doc))


def _parse_epsilon(doc: Any) -> tuple[Fraction, list[tuple[int, int, int | str, Fraction]], str, int]:
    """(ε, corrections, dtype, substitution window) from the document; Malformed when malformed or without domain."""
    claim = doc.get("claim") if isinstance(doc, dict) else None
    if not isinstance(claim, dict) or claim.get("mode") != "epsilon":
        raise Malformed("certificate: claim.mode is not 'epsilon'")
    epsilon = parse_rational(claim.get("epsilon"), "claim.epsilon")
    if epsilon < 0:
        raise Malformed("certificate: claim.epsilon is negative")
    if claim.get("domain") is None:
        raise Malformed("certificate: an ε claim needs a domain (a rounding error is unbounded on all of R^n)")
    proof = doc.get("epsilon_proof")
    if not isinstance(proof, dict) or not isinstance(proof.get("corrections"), list):
        raise Malformed("certificate: epsilon_proof.corrections is missing")
    fixes = []
    for i, c in enumerate(proof["corrections"]):
        if not (isinstance(c, list) and len(c) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in c[:2])
                and (c[2] == "bias" or isinstance(c[2], int) and not isinstance(c[2], bool))):
            raise Malformed(f"certificate: epsilon_proof.corrections[{i}] is not [layer, row, column or 'bias', 'p/q']")
        fixes.append((c[0], c[1], c[2], parse_rational(c[3], f"epsilon_proof.corrections[{i}]")))
    window = proof.get("window")
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        raise Malformed("certificate: epsilon_proof.window is not a count of layers")
    return epsilon, fixes, str(proof.get("dtype")), window


def _rebuild(written: Network, fixes: list, dtype: str) -> tuple[Network, list[str]]:
    """Q = R with the corrections; each must name a parameter once and round to R's value in `dtype`."""
    weights = [as_fractions(layer.weight).copy() for layer in written.layers]
    biases = [as_fractions(layer.bias).copy() for layer in written.layers]
    problems, seen = [], set()
    for ell, row, col, value in fixes:
        where = f"correction layer {ell} row {row} column {col}"
        if not 1 <= ell <= len(weights) or not 0 <= row < len(biases[ell - 1]) or (
                col != "bias" and not 0 <= col < weights[ell - 1].shape[1]):
            problems.append(f"{where}: no such parameter in the reduced model")
            continue
        if (ell, row, col) in seen:
            problems.append(f"{where}: listed twice")
            continue
        seen.add((ell, row, col))
        target = biases[ell - 1] if col == "bias" else weights[ell - 1]
        index = row if col == "bias" else (row, col)
        if value == target[index] or not rounds_to(value, target[index], dtype):
            problems.append(f"{where}: {dtype} value {float(target[index])!r} is not {fraction_str(value)} rounded")
        target[index] = value
    layers = [Layer(w, b, layer.activation) for w, b, layer in zip(weights, biases, written.layers)]
    return Network(layers, None, written.source), problems[:5]


def rounds_to(value: Fraction, stored: Fraction, dtype: str) -> bool:
    """Is `stored` (a `dtype` value) nearest to `value` among `dtype` values (a tie may go either way)?"""
    kind = _FLOATS[dtype]
    f = kind(float(stored))
    if Fraction(float(f)) != stored:
        return False
    with np.errstate(over="ignore"):
        below, above = (np.nextafter(f, kind(s * np.inf)) for s in (-1, 1))
    mid = Fraction(float(f))
    down = Fraction(float(below)) if np.isfinite(below) else 2 * mid - Fraction(float(above))
    up = Fraction(float(above)) if np.isfinite(above) else 2 * mid - Fraction(float(below))
    return (down + mid) / 2 <= value <= (mid + up) / 2


# independent of bounds/deviation.py:difference_bound (the same bound, recomputed by the kernel)
def checked_bound(q: Network, r: Network, box: Box, window: int) -> Fraction:
    """Exact bound on max |Q(x) − R(x)| over the box: differences t = z_Q − z_R substituted back to the inputs.

    t_ℓ = R_ℓ·(h_Q − h_R) + [Q_ℓ − R_ℓ | bias difference]·(h_Q, 1), h_Q within Q's symbolic bounds (through σ).
    A neuron's h_Q − h_R is t times a secant slope in [s0, s1], i.e. mid·t plus at most half·|t|. After `window`
    layers the rest is bounded by |coefficients|·max|slope|·|t| of that layer. Integers over common denominators.
    """
    ranges = _ranges(list(box.lower), list(box.upper))
    history: list[tuple] = []  # per earlier layer: R's weights, slope mids, half-width·|t|, differences, ranges,
    #                            max |h_Q − h_R|; all as (integers, den)
    worst = Fraction(0)
    for lq, lr, pre in zip(q.layers, r.layers, symbolic_bounds(q, box)):
        (qn, qd), (rn, rd) = scaled_ints(np.column_stack([lq.weight, lq.bias])), scaled_ints(np.column_stack([lr.weight, lr.bias]))
        diff = (qn * rd - rn * qd, qd * rd)
        total = _extent(diff[0], diff[1], ranges)
        coeff, den = scaled_ints(lr.weight)
        for i, (w, mid, slack, d, rng, gap) in enumerate(history[::-1]):
            if i == window:
                total = total + _scaled(abs(coeff).dot(gap[0]), den * gap[1])
                break
            total = total + _scaled(abs(coeff).dot(slack[0]), den * slack[1])
            coeff, den = coeff * mid[0], den * mid[1]
            total = total + _extent(coeff.dot(d[0]), den * d[1], rng)
            if i + 1 < len(history):
                coeff, den = coeff.dot(w[0]), den * w[1]
        lo, hi = [Fraction(v) for v in pre.lower], [Fraction(v) for v in pre.upper]
        spans = [_span(lq.activation, a, b, t) for a, b, t in zip(lo, hi, total)]
        gap = [max(abs(a), abs(b)) * t for (a, b), t in zip(spans, total)]
        history.append((scaled_ints(lr.weight), scaled_ints(np.array([(a + b) / 2 for a, b in spans], dtype=object)),
                        scaled_ints(np.array([(b - a) / 2 * t for (a, b), t in zip(spans, total)], dtype=object)),
                        diff, ranges, scaled_ints(np.array(gap, dtype=object))))
        worst = max(gap, default=Fraction(0))
        images = [_range(lq.activation, a, b) for a, b in zip(lo, hi)]
        ranges = _ranges([v[0] for v in images], [v[1] for v in images])
    return worst


def _ranges(lower: list[Fraction], upper: list[Fraction]) -> tuple[np.ndarray, np.ndarray, int]:
    """(lower ints, upper ints, den) of the box of (v, 1), lower <= v <= upper."""
    ints, den = scaled_ints(np.array([*lower, Fraction(1), *upper, Fraction(1)], dtype=object))
    return ints[: len(lower) + 1], ints[len(lower) + 1:], den


def _scaled(ints: np.ndarray, den: int) -> np.ndarray:
    return np.array([Fraction(v, den) for v in ints], dtype=object)


def _extent(c: np.ndarray, den: int, ranges: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    """max |Σ_i c[s, i]·v_i| / den per row s over the box of v (each term at whichever end its sign picks)."""
    lo, hi, vden = ranges
    at_lo, at_hi = c * lo[None, :], c * hi[None, :]
    top, bottom = np.maximum(at_lo, at_hi).sum(axis=1), np.minimum(at_lo, at_hi).sum(axis=1)
    return _scaled(np.maximum(abs(top), abs(bottom)), den * vden)


# independent of bounds/deviation.py:secant_slopes
def _span(act: Activation, lo: Fraction, hi: Fraction, t: Fraction) -> tuple[Fraction, Fraction]:
    """Secant slopes of σ between z in [lo, hi] and any z' with |z − z'| <= t (sigmoid, tanh: the range of σ' on
    [lo − t, hi + t], by the mean value theorem; bounds.squash.derivative_range encloses it)."""
    if act.kind == "identity":
        return Fraction(1), Fraction(1)
    if act.kind in ("sigmoid", "tanh"):
        return derivative_range(act, lo - t, hi + t)
    if lo >= t:
        return Fraction(1), Fraction(1)
    if hi <= -t:
        return act.alpha, act.alpha
    return min(act.alpha, Fraction(1)), max(act.alpha, Fraction(1))


# independent of ir/activation.py:Activation.image
def _range(act: Activation, lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    """Rational bounds on σ(z) over [lo, hi]: exact for piecewise-linear σ (kink at 0); tanh via |tanh z| <= |z|;
    sigmoid via its tangent at 0, 1/2 + z/4, which it lies above for z < 0 and below for z > 0, within (0, 1)."""
    if act.kind == "sigmoid":
        return max(Fraction(0), Fraction(1, 2) + min(lo, Fraction(0)) / 4), min(Fraction(1), Fraction(1, 2) + max(hi, Fraction(0)) / 4)
    if act.kind == "tanh":
        return max(Fraction(-1), min(lo, Fraction(0))), min(Fraction(1), max(hi, Fraction(0)))
    values = [act.exact(lo), act.exact(hi)] + ([act.exact(Fraction(0))] if lo < 0 < hi else [])
    return min(values), max(values)
