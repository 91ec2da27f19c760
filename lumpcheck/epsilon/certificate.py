"""ε-certificates for rounded exports: original ≡ Q exactly, and |Q − R| <= ε on a box.

When the exact quotient Q does not fit the written float format, the reduced file holds R = round(Q). The
certificate then carries every rounded parameter's exact value ("corrections", so Q = R + corrections is
fixed by the file and the certificate), the strict layer-local proof original ≡ Q (prove.prover.prove_networks),
and ε >= a sound bound on max |Q(x) − R(x)| over the box, back-substituted through the layers
(`difference_bound`). Format: specs/certificate-epsilon.md; independent checker: checker/epsilon.py.
"""

from __future__ import annotations

import copy
import math
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..bounds import symbolic_bounds
from ..bounds.deviation import certified_epsilon
from ..equivalence.engine import verify
from ..equivalence.mode import epsilon_mode
from ..errors import LumpcheckError
from ..io import load_model
from ..io.atomic import write_text_atomic
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions, ceil_float, fraction_str
from ..ir.network import Layer, Network
from ..ir.relation import Relation
from ..prove.prover import prove_networks
from ..prove.records import Certificate, ModelRecord, certificate_from_dict, certificate_to_dict, dump_json, sha256_file
from ..prove.schema import SCHEMA, schema_errors

METHOD = "difference-backsubstitution"
SIGNIFICANT_DIGITS = 2
WINDOW_BUDGET = 100_000_000
"""Integer multiply-adds (about 5 s) the back-substitution may spend; larger nets substitute fewer layers back."""
Correction = tuple[int, int, "int | str", Fraction]
"""(layer ℓ >= 1, row, column or 'bias', exact value): parameter of layer ℓ's affine map in Q."""

_CORRECTION = {"type": "array", "minItems": 4, "maxItems": 4, "prefixItems": [
    {"type": "integer", "minimum": 1}, {"type": "integer", "minimum": 0},
    {"anyOf": [{"type": "integer", "minimum": 0}, {"const": "bias"}]}, {"$ref": "#/$defs/rational"}]}
_RATIONAL = {"$ref": "#/$defs/rational"}
EPSILON_SCHEMA: dict[str, Any] = copy.deepcopy(SCHEMA)
EPSILON_SCHEMA["required"].append("epsilon_proof")
EPSILON_SCHEMA["properties"]["epsilon_proof"] = {
    "type": "object",
    "required": ["dtype", "corrections", "method", "bounds", "window", "layer_deltas", "bound", "interval_bound",
                 "significant_digits", "z3", "seconds"],
    "additionalProperties": False,
    "properties": {
        "dtype": {"enum": ["float32", "float64"]},
        "corrections": {"type": "array", "items": _CORRECTION},
        "method": {"const": METHOD},
        "bounds": {"const": "symbolic"},
        "window": {"type": "integer", "minimum": 0},
        "layer_deltas": {"type": "array", "items": _RATIONAL},
        "bound": _RATIONAL,
        "interval_bound": _RATIONAL,
        "significant_digits": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 1}]},
        "z3": {"type": "object", "required": ["result", "seconds"], "additionalProperties": False,
               "properties": {"result": {"enum": ["unsat", "sat", "unknown", "timeout", "error", "skipped"]},
                              "seconds": {"type": "number", "minimum": 0}}},
        "seconds": {"type": "number", "minimum": 0},
    },
}
"""The strict SCHEMA plus `epsilon_proof` (inline, reusing only SCHEMA's $defs, which schema_errors resolves)."""


# ---------------------------------------------------------------- corrections


def corrections(exact: Network, written: Network) -> list[Correction]:
    """Every weight/bias where the written network differs from the exact one, with its exact value."""
    if exact.widths != written.widths or [l.activation for l in exact.layers] != [l.activation for l in written.layers]:
        raise LumpcheckError(f"the written model ({written.shape_str()}) does not have the exact quotient's "
                             f"architecture ({exact.shape_str()}) and activations")
    out: list[Correction] = []
    for ell, (le, lw) in enumerate(zip(exact.layers, written.layers), start=1):
        for name, a, b in (("weight", le.weight, lw.weight), ("bias", le.bias, lw.bias)):
            ea, wa = as_fractions(a), as_fractions(b)
            for index in zip(*np.nonzero(ea != wa)):
                row, col = (int(index[0]), int(index[1])) if name == "weight" else (int(index[0]), "bias")
                out.append((ell, row, col, ea[index]))
    return out


def apply_corrections(written: Network, fixes: list[Correction]) -> Network:
    """Q: the written network with every corrected parameter set to its exact value."""
    weights = [as_fractions(layer.weight).copy() for layer in written.layers]
    biases = [as_fractions(layer.bias).copy() for layer in written.layers]
    for ell, row, col, value in fixes:
        if col == "bias":
            biases[ell - 1][row] = value
        else:
            weights[ell - 1][row, col] = value
    layers = [Layer(w, b, layer.activation) for w, b, layer in zip(weights, biases, written.layers)]
    return Network(layers, written.normalization, written.source, dict(written.meta))


# ---------------------------------------------------------------- the difference bound


def _slopes(act: Activation, lo: Fraction, hi: Fraction, t: Fraction) -> tuple[Fraction, Fraction]:
    """Range of the secant slope (σ(z) − σ(z'))/(z − z') for z in [lo, hi], |z − z'| <= t."""
    if act.kind == "identity":
        return Fraction(1), Fraction(1)
    if act.kind == "sigmoid":
        return Fraction(0), Fraction(1, 4)
    if act.kind == "tanh":
        return Fraction(0), Fraction(1)
    alpha = act.alpha  # relu (alpha 0) / leaky_relu: slopes alpha (z <= 0) and 1 (z >= 0)
    if lo - t >= 0:
        return Fraction(1), Fraction(1)
    if hi + t <= 0:
        return alpha, alpha
    return min(alpha, Fraction(1)), max(alpha, Fraction(1))


def _integers(values: Any) -> tuple[np.ndarray, int]:
    """(N, den) with values == N / den exactly: N an object array of Python ints (from floats, ints or Fractions)."""
    arr = np.asarray(values)
    pairs = [v.as_integer_ratio() for v in arr.reshape(-1).tolist()]
    den = math.lcm(1, *(d for _, d in pairs))
    out = np.empty(arr.shape, dtype=object)
    out.flat[:] = [n * (den // d) for n, d in pairs]
    return out, den


def _difference(exact: Layer, rounded: Layer) -> tuple[np.ndarray, int]:
    """G = [W − W' | b − b'] as (integers, den)."""
    (qn, qd), (rn, rd) = (_integers(np.column_stack([l.weight, l.bias])) for l in (exact, rounded))
    den = math.lcm(qd, rd)
    return qn * (den // qd) - rn * (den // rd), den


def _reach(c: np.ndarray, scale: int, box: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    """Per row of C = c / scale, max |C·h| over h in the box (lower, upper ends as integers / den); Fractions."""
    lo, hi, den = box
    pos, neg = np.where(c > 0, c, 0), np.where(c < 0, c, 0)
    top, bottom = pos.dot(hi) + neg.dot(lo), pos.dot(lo) + neg.dot(hi)
    return np.array([Fraction(max(abs(x), abs(y)), scale * den) for x, y in zip(top, bottom)], dtype=object)


def _weigh(a: np.ndarray, scale: int, v: tuple[np.ndarray, int]) -> np.ndarray:
    """|a / scale| · v for v = (integers, den) >= 0, as Fractions."""
    return np.array([Fraction(x, scale * v[1]) for x in np.abs(a).dot(v[0])], dtype=object)


def _with_one(lower: list[Fraction], upper: list[Fraction]) -> tuple[np.ndarray, np.ndarray, int]:
    """The box of (h, 1) for lower <= h <= upper, as (lower ints, upper ints, den)."""
    ints, den = _integers([*lower, 1, *upper, 1])
    return ints[: len(lower) + 1], ints[len(lower) + 1:], den


def difference_bound(
    exact: Network, rounded: Network, box: Box, window: int | None = None
) -> tuple[Fraction, list[Fraction]]:
    """(B, per-layer δ): B >= max_i |y_exact,i − y_rounded,i| on the box; δ_ℓ >= max_s |z_ℓ,s − z'_ℓ,s|.

    t_ℓ = z_ℓ − z'_ℓ = W'_ℓ·d_{ℓ−1} + e_ℓ with d = h − h' (d_0 = 0), e_ℓ = G_ℓ·(h_{ℓ−1}, 1), G_ℓ = [W − W' | b − b'],
    h in the exact net's intervals (symbolic bounds [l, u] through σ). Per neuron d = s·t with the secant slope s
    in [s0, s1] (`_slopes`): d = m·t + ν, m = (s0 + s1)/2, |ν| <= r·T, r = (s1 − s0)/2. Substituting back to
    layer 0: T_ℓ = reach(G_ℓ) + Σ_j |A_j|·(r_j∘T_j) + reach((A_j∘m_j)·G_j), A_{ℓ−1} = W'_ℓ,
    A_{j−1} = (A_j∘m_j)·W'_j, reach(C) = max |C·(h_{j−1}, 1)| per row. Substitution stops after `window` layers
    (None: all) with |A_j|·D_j, D_j = max|s|·T_j >= |d_j|. Exact (integers over common denominators); at least
    as tight as forward intervals (bounds.deviation.certified_epsilon, which is window 0 with cruder magnitudes).
    """
    if exact.widths != rounded.widths or [l.activation for l in exact.layers] != [l.activation for l in rounded.layers]:
        raise LumpcheckError(f"architectures differ: {exact.shape_str()} vs {rounded.shape_str()} (or activations differ)")
    if box.dim != exact.input_size:
        raise LumpcheckError(f"the box has {box.dim} inputs, the networks {exact.input_size}", box.source or None)
    inputs = _with_one(list(box.lower), list(box.upper))
    earlier: list[tuple] = []  # per layer, as (integers, den): W', m, r∘T, G, the box of (h_{ℓ−1}, 1), D
    deltas: list[Fraction] = []
    out = Fraction(0)
    for le, lr, lb in zip(exact.layers, rounded.layers, symbolic_bounds(exact, box)):
        wr, g = _integers(lr.weight), _difference(le, lr)
        t = _reach(g[0], g[1], inputs)
        a, den = wr  # A = a / den in integers: the n³ products stay cheap
        for j, ((wi, wd), (mi, md), rt, (gi, gd), box_j, dd) in enumerate(reversed(earlier)):
            if j == window:
                t = t + _weigh(a, den, dd)
                break
            t = t + _weigh(a, den, rt)
            a, den = a * mi[None, :], den * md
            t = t + _reach(a.dot(gi), den * gd, box_j)
            if j < len(earlier) - 1:  # the coefficients on d_0 = 0 are never needed
                a, den = a.dot(wi), den * wd
        zlo, zhi = [Fraction(v) for v in lb.lower], [Fraction(v) for v in lb.upper]
        s = [_slopes(le.activation, l, u, ts) for l, u, ts in zip(zlo, zhi, t)]
        d = [max(abs(s0), abs(s1)) * ts for (s0, s1), ts in zip(s, t)]
        earlier.append((wr, _integers([(s0 + s1) / 2 for s0, s1 in s]),
                        _integers([(s1 - s0) / 2 * ts for (s0, s1), ts in zip(s, t)]), g, inputs, _integers(d)))
        deltas.append(max(t, default=Fraction(0)))
        out = max(d, default=Fraction(0))
        images = [le.activation.image(l, u) for l, u in zip(zlo, zhi)]
        inputs = _with_one([v[0] for v in images], [v[1] for v in images])
    return out, deltas


def substitution_window(net: Network, budget: int = WINDOW_BUDGET) -> int:
    """The most layers `difference_bound` may substitute back while its products stay within `budget` terms."""
    widths = net.widths
    for window in range(len(net.layers) - 1, 0, -1):
        cost = sum(2 * widths[ell + 1] * widths[j] * widths[j - 1]
                   for ell in range(len(net.layers)) for j in range(max(1, ell - window + 1), ell + 1))
        if cost <= budget:
            return window
    return 0


def float_up(x: Fraction) -> Fraction:
    """The smallest float64 >= x, as a Fraction (short to print, still a bound); x itself beyond float64's range."""
    try:
        return Fraction(ceil_float(x))
    except OverflowError:
        return x


def round_up(x: Fraction, digits: int | None = SIGNIFICANT_DIGITS) -> Fraction:
    """The smallest m·10^k >= x with an integer m of `digits` digits (x itself for None or x <= 0)."""
    if digits is None or x <= 0:
        return x
    k = len(str(x.numerator)) - len(str(x.denominator)) - digits  # an estimate; the loops make it exact:
    while x / Fraction(10) ** k >= 10**digits:
        k += 1
    while x / Fraction(10) ** (k - 1) < 10**digits:
        k -= 1
    return math.ceil(x / Fraction(10) ** k) * Fraction(10) ** k  # 10^(digits−1) <= x / 10^k < 10^digits


# ---------------------------------------------------------------- proving


# over 60 lines by its one-per-line signature and the document's one-per-line fields; the logic is 25 lines
def prove_epsilon(
    original_path: str | Path,
    reduced_path: str | Path,
    reduction: Any,
    box: Box | None,
    exact_quotient: Network,
    *,
    digits: int | None = SIGNIFICANT_DIGITS,
    z3_seconds: float = 0.0,
    smtlib_dir: str | Path | None = None,
    solver_check: str = "auto",
    timeout_ms: int = 60_000,
    semantics: str = "model",
    original_arch: list[str] | None = None,
) -> dict[str, Any]:
    """The ε-certificate (JSON document) for a reduced file that holds `exact_quotient` rounded (`semantics` as in
    prove.derive.derive).

    Proves original ≡ Q strictly (Q = reduced file + corrections), bounds |Q − R| on the box and states ε as
    that bound rounded up to `digits` significant digits (None: the bound itself). With z3_seconds > 0 a
    monolithic z3 query re-confirms ε (piecewise-linear nets; the result is recorded, the checker ignores it).
    """
    if box is None:
        raise LumpcheckError("an ε-certificate needs an input domain: on all of R^n a rounding error is unbounded")
    relation = getattr(reduction, "relation", reduction)
    if not isinstance(relation, Relation):
        raise LumpcheckError(f"expected a Reduction or Relation, got {type(reduction).__name__}")
    original, written = load_model(original_path, original_arch), load_model(reduced_path)
    dtype = str(written.meta.get("dtype", ""))
    if dtype not in ("float32", "float64") or written.normalization is not None:
        raise LumpcheckError("ε-certificates are for float32/float64 ONNX exports without normalisation or clipping "
                             "metadata: write a .nnet (exact decimals), or pass --normalization drop (the layer "
                             "chain on normalised values)", str(reduced_path))
    fixes = corrections(exact_quotient, written)
    quotient = apply_corrections(written, fixes)
    records, lemmas, times = prove_networks(original, quotient, relation, box, smtlib_dir, solver_check, timeout_ms,
                                            claims=getattr(reduction, "claims", None), semantics=semantics)
    start = time.perf_counter()
    window = substitution_window(quotient)
    bound, deltas = difference_bound(quotient, written, box, window)
    epsilon = round_up(float_up(bound), digits)
    interval = certified_epsilon(quotient, written, box)
    seconds = time.perf_counter() - start
    cert = Certificate(
        ModelRecord(str(original_path), sha256_file(original_path), original.shape_str()),
        ModelRecord(str(reduced_path), sha256_file(reduced_path), written.shape_str()),
        relation, lemmas, records, box, mode="epsilon", epsilon=epsilon, semantics=semantics, solver_check=solver_check,
        times=times,
    )
    doc = certificate_to_dict(cert)
    doc["epsilon_proof"] = {
        "dtype": dtype,
        "corrections": [[ell, row, col, fraction_str(v)] for ell, row, col, v in fixes],
        "method": METHOD,
        "bounds": "symbolic",
        "window": window,
        "layer_deltas": [fraction_str(float_up(d)) for d in deltas],
        "bound": fraction_str(float_up(bound)),
        "interval_bound": fraction_str(interval),
        "significant_digits": digits,
        "z3": _confirm(quotient, written, box, epsilon, z3_seconds),
        "seconds": round(seconds, 6),
    }
    return doc


def _confirm(quotient: Network, written: Network, box: Box, epsilon: Fraction, seconds: float) -> dict[str, Any]:
    """Monolithic z3 check of max |Q − R| <= ε on the box (a second opinion; 'sat' would expose a bug)."""
    if seconds <= 0 or not quotient.piecewise_linear:
        return {"result": "skipped", "seconds": 0.0}
    res = verify(quotient, written, box, epsilon_mode(epsilon), seconds, engines=("monolithic",))
    if res.status == "sat":
        raise LumpcheckError(f"internal error: z3 refutes the certified ε = {fraction_str(epsilon)} (unsound bound)")
    return {"result": res.status, "seconds": round(res.times.get("monolithic", 0.0), 6)}


# ---------------------------------------------------------------- the document


def epsilon_schema_errors(doc: Any) -> list[str]:
    """Schema violations of an ε-certificate document (EPSILON_SCHEMA); [] when well-formed."""
    errors = schema_errors(doc, EPSILON_SCHEMA)
    if not errors and doc["claim"]["mode"] != "epsilon":
        errors.append("$.claim.mode: must be 'epsilon'")
    return errors


def as_certificate(doc: dict[str, Any]) -> Certificate:
    """The Certificate object of an ε-certificate document (the strict fields; `epsilon_proof` is dropped)."""
    errors = epsilon_schema_errors(doc)
    if errors:
        raise LumpcheckError(f"not a valid ε-certificate: {errors[0]}")
    return certificate_from_dict({k: v for k, v in doc.items() if k != "epsilon_proof"})


def write_epsilon_certificate(doc: dict[str, Any], path: str | Path) -> None:
    """Write the document as JSON atomically (one correction or obligation per line)."""
    write_text_atomic(path, dump_json(doc) + "\n")
