"""verify through a final Softmax: each property of the softmax outputs reduced, soundly, to one of the logits.

p = softmax(z), p_i = e^{z_i} / Σ_j e^{z_j}. Facts used (each exact):
  * order: p_i > p_j iff z_i > z_j, p_i = p_j iff z_i = z_j (one positive denominator, exp strictly increasing).
    So top1 / argmin of p are top1 / argmin of z, ties included: decided on the logits EXACTLY (both verdicts),
    also when only one of the two models ends in a Softmax.
  * strict: softmax(u) = softmax(v) iff u − v is a constant vector (softmax is shift-invariant, and
    log p_i − log p_j = z_i − z_j). Equal logits prove equal outputs; a logit witness counts only when its
    difference is not constant (else the verdict is unknown).
  * epsilon: the Jacobian J = diag(p) − p·pᵀ has max-norm (largest absolute row sum)
    max_i [p_i(1 − p_i) + p_i Σ_{j≠i} p_j] = max_i 2·p_i(1 − p_i) <= 1/2, and softmax(u) − softmax(v) =
    ∫_0^1 J(v + t(u − v))·(u − v) dt, so max_i |softmax(u)_i − softmax(v)_i| <= ½·max_i |u_i − v_i|.
    Hence logits within 2ε prove outputs within ε (sufficient only): a logit witness beyond 2ε is a
    counterexample only when rigorous interval enclosures of both softmax outputs (mpmath, outward rounding)
    prove some |p_i − q_i| > ε there; else unknown. Outputs lie in (0, 1), so ε >= 1 holds everywhere.
    strict and epsilon need both models to end in a Softmax.
  * delta-top1 is defined on A's logits (softmax(a)_c > δ implies c is B's unique maximum): when A ends in a
    Softmax its logits are the Softmax's input and p its own output; B's Softmax does not move its argmax.
    So it is decided on the logit networks as it is, both verdicts exact (a witness's confidence is proved by
    a rigorous enclosure when it is replayed).
Certificates (--certify) are proved on the logits and say so (claim.softmax: which models end in a Softmax, and
the mode meant for the outputs); the checker splits the Softmax off the model files itself and accepts the
outputs' mode only by the facts above (checker/softmax_heads.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Sequence

from ..errors import UnsupportedModelError
from ..ir.domain import Box
from ..ir.graph.dag import Graph
from ..ir.graph.dense import NotDenseChain, to_network
from ..ir.graph.softmax_head import strip_final_softmax
from ..ir.network import Network
from ..solver import Verdict
from .engine import verify as run_verify
from .falsify import Enclosure, Value, decide
from .mode import Mode
from .result import VerifyResult

LIPSCHITZ = Fraction(1, 2)
"""max_i |softmax(u)_i − softmax(v)_i| <= LIPSCHITZ · max_i |u_i − v_i| (module docstring)."""
PRECISION = 128  # bits of the interval enclosures of softmax at a witness


@dataclass(frozen=True)
class Heads:
    """Which of the two models ended in a Softmax that was split off (their networks then compute the logits)."""

    a: bool = False
    b: bool = False

    @property
    def any(self) -> bool:
        return self.a or self.b

    def describe(self) -> str:
        return {(True, True): "both models end", (True, False): "A ends", (False, True): "B ends"}[(self.a, self.b)] + \
            " in a Softmax"


def split_heads(a: Network | Graph, b: Network | Graph) -> tuple[Network | Graph, Network | Graph, Heads]:
    """Models whose only output is a Softmax over the whole output, the rest being a dense chain, become the
    dense logit networks; the Heads say which. When a model would stay a graph, both are returned unchanged."""
    out: list[Network | Graph] = []
    heads: list[bool] = []
    for m in (a, b):
        logits = strip_final_softmax(m) if isinstance(m, Graph) else None
        try:
            out.append(to_network(logits) if logits is not None else m)
            heads.append(logits is not None)
        except NotDenseChain:
            out.append(m)
            heads.append(False)
    if not any(heads) or any(isinstance(m, Graph) for m in out):
        return a, b, Heads()
    return out[0], out[1], Heads(*heads)


def logits_mode(mode: Mode, heads: Heads) -> Mode:
    """The mode decided on the logits (module docstring); UnsupportedModelError when none is sound."""
    if mode.decides:
        return mode
    if not (heads.a and heads.b):
        raise UnsupportedModelError(
            f"{heads.describe()} and the other does not: {mode} would compare probabilities with raw outputs; "
            "only top1, argmin and delta-top1 are decided through a single softmax head (they are about the logits' order, "
            "and A's logits)")
    return mode if mode.kind == "strict" else Mode("epsilon", mode.epsilon / LIPSCHITZ)


def verify_softmax(a: Network, b: Network, box: Box | None, mode: Mode, heads: Heads, timeout: float,
                   **kw) -> VerifyResult:
    """engine.verify on the logit networks `a`, `b` (split_heads) for `mode` on the softmax outputs; `kw` as
    engine.verify. Every verdict holds for the models with their Softmax (module docstring)."""
    if mode.kind == "epsilon" and mode.epsilon >= 1 and heads.a and heads.b:
        return VerifyResult(Verdict.UNSAT, mode, "softmax", f"{heads.describe()}: softmax outputs lie in (0, 1), so "
                            "|A_i(x) - B_i(x)| < 1 <= ε at every input")
    inner = logits_mode(mode, heads)
    res = run_verify(a, b, box, inner, timeout, **kw)
    notes = [f"{heads.describe()}, decided on the logits ({inner})"]
    res = replace(res, mode=mode, certificate=_about_outputs(res.certificate, heads, mode))
    if res.status == Verdict.UNSAT:
        return _with(res, Verdict.UNSAT, _why_unsat(mode), notes)
    if res.status == Verdict.SAT:
        return _checked_witness(res, mode, notes)
    return _with(res, res.status, "", notes)


def _about_outputs(cert: dict | None, heads: Heads, mode: Mode) -> dict | None:
    """The logits' certificate with claim.softmax: which models end in a Softmax the checker must split off
    itself, and the mode meant for their outputs (checker/softmax_heads.py re-derives that it follows)."""
    if cert is None:
        return None
    return {**cert, "claim": {**cert["claim"], "softmax": {"a": heads.a, "b": heads.b, "mode": str(mode)}}}


def _why_unsat(mode: Mode) -> str:
    if mode.kind == "delta-top1":
        return ("delta-top1 is about A's logits (the input of its Softmax) and B's top output, which B's Softmax "
                "keeps: proved on the logits")
    if mode.classifies:
        return f"softmax keeps the order of its inputs (ties included), so the {mode} of the outputs is the logits'"
    if mode.kind == "strict":
        return "equal logits give equal softmax outputs"
    return (f"max |logit_A - logit_B| <= 2ε proved and softmax is 1/2-Lipschitz in the max norm, so "
            f"max |A_i - B_i| <= ε = {mode.epsilon}")


def _with(res: VerifyResult, status: str, why: str, notes: list[str], **kw) -> VerifyResult:
    message = "; ".join([t for t in (why, res.message) if t] + notes)
    return replace(res, status=status, message=message, **kw)


def _checked_witness(res: VerifyResult, mode: Mode, notes: list[str]) -> VerifyResult:
    """A logit counterexample, re-decided for the softmax outputs: kept (with the softmax outputs, enclosed, in
    place of the logits for epsilon) or turned into unknown."""
    ya, yb = res.output_a, res.output_b
    pa, pb = enclose_softmax(ya), enclose_softmax(yb)
    shown = "the outputs shown enclose the softmax values; details hold the exact logits"
    kept = dict(output_a=pa, output_b=pb, details={**res.details, "logits_a": [str(v) for v in ya],
                                                   "logits_b": [str(v) for v in yb]})
    if mode.kind == "delta-top1":
        return _with(res, Verdict.SAT, f"A's softmax confidence exceeds δ at the witness (proved by a rigorous "
                     f"enclosure) and B's top output is not that class alone ({shown})", notes, **kept)
    if mode.classifies:
        return _with(res, Verdict.SAT, f"the {mode} of the logits differs, so that of the softmax outputs does ({shown})",
                     notes, **kept)
    if mode.kind == "strict":
        exact = all(isinstance(v, Fraction) for v in (*ya, *yb))
        if exact and len({p - q for p, q in zip(ya, yb)}) > 1:
            return _with(res, Verdict.SAT, f"the logits differ by a non-constant vector, so the softmax outputs differ "
                         f"({shown})", notes, **kept)
        return _with(res, Verdict.UNKNOWN, "the logits differ at the witness but possibly by a constant vector, which "
                     "softmax cancels: undecided", notes, witness=None, output_a=None, output_b=None)
    if decide(mode, pa, pb):
        return _with(res, Verdict.SAT, f"the softmax outputs differ by more than ε at the witness (rigorous interval "
                     f"enclosures; {shown})", notes, **kept)
    return _with(res, Verdict.UNKNOWN, "the logits differ by more than 2ε at a witness, but its softmax outputs are "
                 "not proved to differ by more than ε: undecided (the 2ε condition is only sufficient)", notes,
                 witness=None, output_a=None, output_b=None)


def enclose_softmax(z: Sequence[Value], prec: int = PRECISION) -> tuple[Value, ...]:
    """Rigorous enclosures of softmax(z), z exact or enclosed: p_i = 1 / Σ_j e^{z_j − z_i} in mpmath interval
    arithmetic (outward rounding), differences taken exactly first when z is exact."""
    from mpmath import iv

    saved = iv.prec
    iv.prec = prec
    try:
        def ival(lo: Fraction, hi: Fraction):
            return iv.mpf([_mpf_down(lo, iv), _mpf_up(hi, iv)])

        def bounds(v: Value) -> tuple[Fraction, Fraction]:
            return (v.lo, v.hi) if isinstance(v, Enclosure) else (v, v)

        out = []
        for i, zi in enumerate(z):
            ilo, ihi = bounds(zi)
            total = sum((iv.exp(ival(bounds(zj)[0] - ihi, bounds(zj)[1] - ilo)) for j, zj in enumerate(z) if j != i),
                        iv.mpf(1))  # the term j = i is e^0 = 1 exactly
            out.append(_enclosure(1 / total))
        return tuple(out)
    finally:
        iv.prec = saved


def _mpf_down(q: Fraction, iv):
    return (iv.mpf(q.numerator) / iv.mpf(q.denominator)).a


def _mpf_up(q: Fraction, iv):
    return (iv.mpf(q.numerator) / iv.mpf(q.denominator)).b


def _enclosure(y) -> Enclosure:
    """The exact rational endpoints of an mpmath interval (mpf exponents are unbounded: finite values)."""
    lo, hi = (_exact(t) for t in y._mpi_)  # independent of falsify's private helper of the same job
    return Enclosure(lo, hi)


def _exact(t) -> Fraction:
    from mpmath.libmp import finf, fnan, fninf

    if t in (finf, fninf, fnan):
        raise ArithmeticError("softmax enclosure is not finite")
    sign, man, exp, _ = t
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)
