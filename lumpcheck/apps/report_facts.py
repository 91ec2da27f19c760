"""What a proof report shows beyond the certificate's own records: numbers people read (decimals, exact on hover),
the stable phases and proof time per layer, the VNN-LIB property's output constraint, how ε was established, and
whether the reduced model is a constant function. Each fact is read from the certificate (or, said so, a file it
names); nothing here re-verifies anything."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import LumpcheckError
from ..io import load_model
from ..io.vnnlib import read_vnnlib
from ..ir.network import evaluate
from ..prove.records import Certificate

SHORT = 12
"""Exact decimals up to this many characters are shown as they are; longer values as a rounded decimal."""


def decimal(q: Fraction | int) -> tuple[str, bool]:
    """(a short decimal for people, whether it is the exact value): '0.03' for 3/100, '≈0.0299999993' otherwise."""
    q = Fraction(q)
    shown = f"{float(q):.6g}" if q else "0"
    if "e" not in shown and Fraction(shown) == q:
        return shown, True
    for digits in (9, 12):
        text = f"{float(q):.{digits}g}"
        if "e" not in text and Fraction(text) == q:
            return text, True
    return "≈" + shown, False


@dataclass(frozen=True)
class PhaseRow:
    """Hidden layer `layer` of the original model on the box: neurons proved stably inactive / active, of `width`."""

    layer: int
    width: int
    inactive: int
    active: int

    @property
    def unstable(self) -> int:
        return self.width - self.inactive - self.active


def phase_rows(cert: Certificate) -> list[PhaseRow]:
    """Per hidden layer, the phase claims a domain reduction rests on (none without a domain reduction)."""
    if cert.claims is None:
        return []
    widths = [len(lr.maps) for lr in cert.relation.layers]
    return [PhaseRow(ell, widths[ell - 1] if ell <= len(widths) else len(claims),
                     sum(c.phase < 0 for c in claims), sum(c.phase > 0 for c in claims))
            for ell, claims in enumerate(cert.claims.layers, start=1)]


def layer_seconds(cert: Certificate) -> dict[int, float]:
    """Proof time per layer: every engine run of the layer's obligations."""
    out: dict[int, float] = {}
    for o in cert.obligations:
        if o.layer is not None:
            out[o.layer] = out.get(o.layer, 0.0) + sum(r.seconds for r in o.engines)
    return out


@dataclass(frozen=True)
class OutputProperty:
    """The output constraint of the VNN-LIB file the certificate's box came from (not part of the certificate)."""

    path: str
    text: str  # the output assertions, verbatim
    same_box: bool  # the file's input box is the certified one


def output_property(cert: Certificate, cert_dir: Path) -> OutputProperty | None:
    """Read the certificate's domain file again (as recorded, else beside the certificate) for its output part."""
    if cert.domain is None or not cert.domain.source:
        return None
    recorded = Path(cert.domain.source)
    found = next((p for p in (recorded, cert_dir / recorded, cert_dir / recorded.name) if p.is_file()), None)
    if found is None:
        return None
    try:
        spec = read_vnnlib(found)
    except LumpcheckError:
        return None
    if not spec.output_constraint.strip():
        return None
    lower = tuple(min(b.lower[i] for b in spec.boxes) for i in range(spec.n_inputs))
    upper = tuple(max(b.upper[i] for b in spec.boxes) for i in range(spec.n_inputs))
    return OutputProperty(str(found), spec.output_constraint.strip(),
                          (lower, upper) == (cert.domain.lower, cert.domain.upper))


def epsilon_method(cert_path: str | Path) -> str | None:
    """How an ε-certificate's ε was established, from its `epsilon_proof` record (None for other certificates)."""
    try:
        proof = json.loads(Path(cert_path).read_text(encoding="utf-8")).get("epsilon_proof")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(proof, dict):
        return None
    bound = Fraction(str(proof.get("bound", "0")))
    digits = proof.get("significant_digits")
    z3 = proof.get("z3", {}).get("result", "skipped")
    return (f"ε bounds max |original − reduced| over the box: the reduced file ({proof.get('dtype')}) is the exact "
            f"quotient plus {len(proof.get('corrections', []))} rounding corrections; the difference of the two is "
            f"bounded by {proof.get('method')} over {proof.get('window')} layer(s) with {proof.get('bounds')} bounds "
            f"(exact rationals): {decimal(bound)[0]}"
            + (f", rounded up to {digits} significant digits" if digits else "")
            + f"; z3 confirmation: {z3}")


def constant_outputs(cert: Certificate, reduced_path: str | None) -> list[Fraction] | None:
    """The outputs of a reduced model with a hidden layer of width 0 (a constant function: its output does not
    depend on its input); None when it has none. Evaluated on the reduced file when it is found (else [])."""
    widths = [lr.reduced_width for lr in cert.relation.layers]
    if 0 not in widths:
        return None
    if reduced_path is None:
        return []
    try:
        net = load_model(reduced_path)
        return [Fraction(v) for v in evaluate(net, [0] * net.input_size)]
    except (LumpcheckError, ValueError, TypeError, ArithmeticError):  # e.g. sigmoid of a non-zero constant
        return []
