"""Certificates proved on the logits of models that end in a Softmax: what they prove about the models' outputs.

`verify` decides a pair whose models end in a Softmax over the whole output on their logits (the Softmax's input)
and records in `claim.softmax` which models had one ({"a": bool, "b": bool}) and the mode meant for the outputs
("mode"). The checker strips the final Softmax from those model files itself (ir.graph.softmax_head, the same
reader as any model), checks the certificate on the logit networks as usual, and then accepts the outputs' mode
only when it follows from the logits' claim by one of these facts (p = softmax(z), each exact):
  * order: p_i > p_j iff z_i > z_j (one positive denominator, exp strictly increasing), so top1 / argmin of the
    outputs are those of the logits, ties included, whichever models end in a Softmax;
  * top1 of A and B equal implies delta-top1=D for D >= 1/2 (softmax(a)_c > D >= 1/2 makes c A's unique maximum);
  * delta-top1=D is about A's logits and B's top output (which B's Softmax keeps), for any heads;
  * equal logits (epsilon=0) give equal outputs; with both heads |softmax(u) − softmax(v)|_∞ <= ½·|u − v|_∞
    (the Jacobian diag(p) − p·pᵀ has max-norm max_i 2·p_i(1 − p_i) <= 1/2), so logits within E' prove outputs
    within E for E >= E'/2. Raw outputs and probabilities are never compared (epsilon needs both heads).
Trusted: io.load_any and ir.graph (softmax_head, dense.to_network), as for every model the checker reads.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from ..ir.exact import parse_exact
from ..ir.graph.dag import Graph
from ..ir.graph.dense import NotDenseChain, to_network
from ..ir.graph.softmax_head import strip_final_softmax
from ..ir.network import Network
from .document import Scope

LIPSCHITZ = Fraction(1, 2)
"""max_i |softmax(u)_i − softmax(v)_i| <= LIPSCHITZ · max_i |u_i − v_i| (the checker's own statement of the fact
that equivalence/softmax.py uses: the checker imports no prover code)."""


class HeadError(Exception):
    """claim.softmax is malformed, does not fit the model files, or its outputs' mode does not follow."""


def heads_of(claim: dict) -> tuple[bool, bool, str] | None:
    """(a has a head, b has a head, the outputs' mode) from claim.softmax, or None when the claim has none."""
    entry = claim.get("softmax")
    if entry is None:
        return None
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), bool) for k in ("a", "b")) \
            or not isinstance(entry.get("mode"), str) or not (entry["a"] or entry["b"]):
        raise HeadError("claim.softmax must be {\"a\": bool, \"b\": bool, \"mode\": str} with at least one head")
    return entry["a"], entry["b"], entry["mode"]


def logits_of(model: Network | Graph, path: str | Path) -> Network:
    """The dense logit network of a model whose only output is a final Softmax over the whole output."""
    logits = strip_final_softmax(model) if isinstance(model, Graph) else None
    if logits is None:
        raise HeadError(f"{Path(path).name}: claim.softmax says it ends in a Softmax over the whole output; it does not")
    try:
        return to_network(logits)
    except NotDenseChain as e:
        raise HeadError(f"{Path(path).name}: its logits are not a dense chain ({e})") from None


def outputs_scope(logit_scope: Scope, heads: tuple[bool, bool, str]) -> Scope:
    """The scope about the models' outputs that the checked logit scope implies (module docstring); HeadError
    when the recorded outputs' mode does not follow."""
    head_a, head_b, text = heads
    kind, _, value = text.partition("=")
    try:
        number = parse_exact(value) if value else None
    except (ValueError, ZeroDivisionError):
        raise HeadError(f"claim.softmax: outputs' mode {text!r}: {value!r} is not a number") from None
    if (kind == "delta-top1" and (number is None or not Fraction(1, 2) <= number < 1)) or \
            (kind == "epsilon" and (number is None or number < 0)):
        raise HeadError(f"claim.softmax: outputs' mode {text!r} (delta-top1 needs D in [1/2, 1), epsilon E >= 0)")
    proved = logit_scope.mode
    equal = proved == "strict" or (proved == "epsilon" and logit_scope.epsilon == 0)
    both = head_a and head_b
    if kind in ("top1", "argmin") and not value:
        ok = equal or proved == kind
    elif kind == "delta-top1":
        ok = equal or proved == "top1" or proved == text
    elif kind == "strict" and not value:
        ok = both and equal
    elif kind == "epsilon":
        ok = both and (equal or proved == "epsilon" and number >= LIPSCHITZ * logit_scope.epsilon)
    else:
        raise HeadError(f"claim.softmax: unknown outputs' mode {text!r}")
    if not ok:
        raise HeadError(f"claim.softmax: {text} of the outputs does not follow from the logits' {proved}"
                        f"{'' if logit_scope.epsilon is None else f' (ε = {logit_scope.epsilon})'} with "
                        f"{'both models' if both else 'one model'} ending in a Softmax")
    names = "both models'" if both else ("A's" if head_a else "B's")
    return replace(logit_scope, mode=text if kind == "delta-top1" else kind,
                   epsilon=number if kind == "epsilon" else None,
                   head=f"softmax outputs ({names} Softmax split off; proved on the logits: {proved}"
                        f"{'' if logit_scope.epsilon is None else f'={logit_scope.epsilon}'})")
