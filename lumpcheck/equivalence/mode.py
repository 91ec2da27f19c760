"""What "equivalent" means for `lumpcheck verify`: strict equality, |difference| <= ε, the same top-1 / argmin set,
δ-top-1 (A confident above δ implies B agrees), or a property as a VNN-LIB 2.0 file writes it (`written`), and its
exact decision at one input (`violated`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, Sequence

from ..errors import LumpcheckError
from ..ir.exact import fraction_str, parse_exact, to_fraction
from .confidence import check_delta, exceeds, log_odds_lower


KINDS = ("strict", "epsilon", "top1", "argmin", "delta-top1")
WRITTEN = "written"
"""The kind of a property taken as written: `dnf` over [y_a | y_b] describes the counterexamples (VNN-COMP)."""
OPS = ("<=", "<", "=")


class LinearAtom(Protocol):
    """coeffs · [y_a | y_b]  op  bound, op one of '<=', '<', '=' (e.g. io.vnnlib.OutputAtom)."""

    coeffs: tuple[Fraction, ...]
    op: str
    bound: Fraction


@dataclass(frozen=True)
class Mode:
    """What 'equivalent' means.

    strict:  y_a(x) = y_b(x) exactly, every output.
    epsilon: max_i |y_a,i(x) − y_b,i(x)| <= ε (exact rational ε >= 0).
    top1:    the SETS of maximal outputs are equal, {i : y_a,i = max y_a} = {i : y_b,i = max y_b}: ties count, so
             a tie in one net and a unique maximum in the other is a disagreement (symmetric and transitive).
    argmin:  the sets of minimal outputs are equal (ACAS Xu advisories are the minimal score); top1 of −y.
    delta-top1 (δ in [1/2, 1), exact): for every class c, softmax(y_a)_c > δ implies that c is B's UNIQUE maximal
             output (a tie in B counts as disagreement, as in top1). Asymmetric: A is the reference, and y_a are
             A's logits (confidence.py decides softmax(y_a)_c > δ rigorously). VeryDiff's δ-top-1 equivalence.
    written: `dnf`, a disjunction of conjunctions of exact linear atoms over [y_a | y_b] (a VNN-LIB 2.0 file's
             output assertions), describes the COUNTEREXAMPLES: an input violates the property iff y satisfies dnf.
    """

    kind: str
    epsilon: Fraction = Fraction(0)
    delta: Fraction | None = None
    dnf: tuple[tuple[LinearAtom, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS and self.kind != WRITTEN:
            raise ValueError(f"unknown mode {self.kind!r} (strict, epsilon=E, top1, argmin, delta-top1=D)")
        if (self.kind == WRITTEN) != (self.dnf is not None):
            raise ValueError("a dnf is given exactly for a property taken as written")
        if self.dnf is not None:
            object.__setattr__(self, "dnf", tuple(tuple(conj) for conj in self.dnf))
            widths = {len(atom.coeffs) for conj in self.dnf for atom in conj}
            if len(widths) > 1 or any(atom.op not in OPS for conj in self.dnf for atom in conj):
                raise ValueError(f"dnf atoms must share one width and use {', '.join(OPS)}")
        object.__setattr__(self, "epsilon", to_fraction(self.epsilon))
        if self.epsilon < 0 or (self.kind != "epsilon" and self.epsilon != 0):
            raise ValueError("ε must be >= 0 and is only meaningful in epsilon mode")
        if (self.delta is None) != (self.kind != "delta-top1"):
            raise ValueError("δ is required in delta-top1 mode and only meaningful there")
        if self.delta is not None:
            object.__setattr__(self, "delta", to_fraction(self.delta))
            check_delta(self.delta)

    @property
    def classifies(self) -> bool:
        """Is the property the equality of two decisions (top1 / argmin) rather than a distance or δ-top-1?"""
        return self.kind in ("top1", "argmin")

    @property
    def decides(self) -> bool:
        """Is the property about decisions (top1, argmin, delta-top1) rather than distances (strict, epsilon)?"""
        return self.kind in ("top1", "argmin", "delta-top1")

    @property
    def sign(self) -> int:
        """+1 if the decision is the maximal output, −1 if the minimal one (0 for strict/epsilon)."""
        return {"top1": 1, "argmin": -1, "delta-top1": 1}.get(self.kind, 0)

    @property
    def log_odds(self) -> Fraction:
        """delta-top1: the rational L⁻ <= ln(δ/(1 − δ)) its bounds use (confidence.log_odds_lower)."""
        if self.delta is None:
            raise ValueError(f"mode {self} has no δ")
        return log_odds_lower(self.delta)

    @classmethod
    def parse(cls, text: str) -> "Mode":
        """'strict', 'top1', 'argmin', 'epsilon=<exact decimal or p/q>' (e.g. 'epsilon=1e-6', 'epsilon=1/1024'), or
        'delta-top1=<exact decimal or p/q in [0.5, 1)>' (e.g. 'delta-top1=0.9', 'delta-top1=99/100')."""
        kind, _, value = text.partition("=")
        try:
            if kind.strip() == "epsilon":
                return cls("epsilon", parse_exact(value))
            if kind.strip() == "delta-top1":
                if not value.strip():
                    raise ValueError("delta-top1 needs a value, e.g. delta-top1=0.9")
                return cls("delta-top1", delta=parse_exact(value))
            if value:
                raise ValueError(f"mode {kind!r} takes no value")
            return cls(kind.strip())
        except (ValueError, ZeroDivisionError) as e:
            raise LumpcheckError(f"bad mode {text!r}: {e}") from None

    @property
    def written(self) -> bool:
        """Is this a property taken as written (a VNN-LIB 2.0 file's output assertions)?"""
        return self.kind == WRITTEN

    def __str__(self) -> str:
        if self.kind == WRITTEN:
            return f"as written ({len(self.dnf)} disjunct{'s' if len(self.dnf) != 1 else ''})"
        if self.kind == "epsilon":
            return f"epsilon={fraction_str(self.epsilon)}"
        if self.kind == "delta-top1":
            return f"delta-top1={fraction_str(self.delta)}"
        return self.kind


STRICT = Mode("strict")
TOP1 = Mode("top1")


def written_mode(dnf) -> Mode:
    """The property a VNN-LIB 2.0 file writes: counterexamples are the inputs whose [y_a | y_b] satisfies dnf."""
    return Mode(WRITTEN, dnf=dnf)


def atom_holds(atom: LinearAtom, y: Sequence[Fraction]) -> bool:
    """Exact truth of coeffs · y op bound."""
    s = sum((c * v for c, v in zip(atom.coeffs, y) if c), Fraction(0))
    return s < atom.bound if atom.op == "<" else s <= atom.bound if atom.op == "<=" else s == atom.bound


def dnf_holds(dnf, y: Sequence[Fraction]) -> bool:
    """Exact truth of a disjunction of conjunctions of atoms at y."""
    return any(all(atom_holds(atom, y) for atom in conj) for conj in dnf)


def epsilon_mode(eps: object) -> Mode:
    """Mode 'epsilon' with the exact rational ε (a float counts as its exact value)."""
    return Mode("epsilon", to_fraction(eps))


def decision(mode: Mode, y: Sequence[Fraction]) -> frozenset[int]:
    """The indices attaining the max (top1) or min (argmin) of exact outputs y, ties included."""
    best = max(y) if mode.sign > 0 else min(y)
    return frozenset(i for i, v in enumerate(y) if v == best)


def violated(mode: Mode, ya: Sequence[Fraction], yb: Sequence[Fraction]) -> bool:
    """Exact verdict at one input of exact rational outputs: do they violate the mode's property?"""
    if mode.kind == WRITTEN:
        return dnf_holds(mode.dnf, tuple(ya) + tuple(yb))
    if mode.kind in ("strict", "epsilon"):
        return any(abs(p - q) > mode.epsilon for p, q in zip(ya, yb))
    if mode.kind == "delta-top1":
        return confident_class(mode, ya, yb) is not None
    return decision(mode, ya) != decision(mode, yb)


def confident_class(mode: Mode, ya: Sequence[Fraction], yb: Sequence[Fraction]) -> int | None:
    """delta-top1 at one input of exact outputs: the class c with softmax(ya)_c > δ PROVED (rigorous enclosure)
    while c is not B's unique maximal output, or None (no such class, or the enclosure could not decide: then
    the point is not a witness). Only A's unique maximum can exceed δ >= 1/2."""
    top = decision(TOP1, ya)
    if len(top) != 1:
        return None  # a tie at A's maximum: every tied class has p <= 1/2 <= δ
    (c,) = top
    if decision(TOP1, yb) == top:
        return None
    return c if exceeds(ya, ya, c, mode.delta) is True else None
