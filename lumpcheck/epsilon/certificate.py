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

from ..bounds.deviation import certified_epsilon, difference_bound, substitution_window
from ..equivalence.engine import verify
from ..equivalence.mode import epsilon_mode
from ..errors import LumpcheckError
from ..io import load_model
from ..io.atomic import write_text_atomic
from ..ir.domain import Box
from ..ir.exact import as_fractions, ceil_float, fraction_str
from ..ir.network import Layer, Network
from ..ir.relation import Relation
from ..prove.prover import prove_networks
from ..prove.records import Certificate, ModelRecord, certificate_from_dict, certificate_to_dict, dump_json, sha256_file
from ..prove.schema import SCHEMA, schema_errors

METHOD = "difference-backsubstitution"
SIGNIFICANT_DIGITS = 2
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
    claims = getattr(reduction, "claims", None)  # a box reduction's phase claims: proved, and recorded for `check`
    records, lemmas, times = prove_networks(original, quotient, relation, box, smtlib_dir, solver_check, timeout_ms,
                                            claims=claims, semantics=semantics)
    start = time.perf_counter()
    window = substitution_window(quotient)
    bound, deltas = difference_bound(quotient, written, box, window)
    epsilon = round_up(float_up(bound), digits)
    interval = certified_epsilon(quotient, written, box)
    seconds = time.perf_counter() - start
    cert = Certificate(
        ModelRecord(str(original_path), sha256_file(original_path), original.shape_str()),
        ModelRecord(str(reduced_path), sha256_file(reduced_path), written.shape_str()),
        relation, lemmas, records, box, claims, mode="epsilon", epsilon=epsilon, semantics=semantics,
        solver_check=solver_check, times=times,
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
