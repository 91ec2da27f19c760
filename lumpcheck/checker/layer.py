"""One layer of the strict check: the per-neuron claims the relation makes, and their exact and z3 discharge.

Layer ℓ's original pre-activations z = W·v + b are rewritten with layer ℓ−1's maps substituted for v (ghost
classes as free variables); every claim about a neuron of layer ℓ is then an identity of affine forms (or, for a
constant, a value of σ) that is checked coefficient by coefficient in exact integer arithmetic, and re-checked by
z3 for the sampled neurons. Each claim is a small frozen value; nothing here comes from the prover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import ClassVar

import numpy as np
import z3

from ..ir.activation import Activation
from ..ir.exact import as_fractions, fraction_str
from ..ir.network import Layer
from .document import LayerClaim
from .integers import as_objects, int_array, max_bits, mul, small_ints
from .modular import Substitution, decide
from .z3 import q, sigma, z3_unsat


@dataclass(frozen=True)
class TargetClaim:
    """Original z_neuron ≡ factor · z'_cls, the reduced neuron's pre-activation (a lumping map, or an output)."""

    neuron: int
    cls: int
    factor: Fraction
    obligation: ClassVar[str] = "linear"


@dataclass(frozen=True)
class GhostClaim:
    """Original z_neuron ≡ factor · z_rep: a member of a removed (ghost) class against the class's representative."""

    neuron: int
    rep: int
    factor: Fraction
    obligation: ClassVar[str] = "ghost"


@dataclass(frozen=True)
class ConstantClaim:
    """z_neuron is a constant κ (no coefficient on any class) with σ(κ) == offset."""

    neuron: int
    offset: Fraction
    obligation: ClassVar[str] = "constant"


@dataclass(frozen=True)
class InactiveClaim:
    """The neuron is claimed inactive on the box (`phase` its phase claim, 0 if none) and σ vanishes there."""

    neuron: int
    phase: int
    obligation: ClassVar[str] = "inactive"


@dataclass(frozen=True)
class DomainTermClaim:
    """One term factor · slope · ẑ_cls of a domain map; `slope` from a witness's phase claim (None: no witness)."""

    cls: int
    factor: Fraction
    slope: Fraction | None


@dataclass(frozen=True)
class DomainClaim:
    """On the box: slope · z_neuron ≡ Σ factor · slope_cls · ẑ_cls + offset (ẑ: reduced, or the ghost's representative)."""

    neuron: int
    slope: Fraction | None
    terms: tuple[DomainTermClaim, ...]
    offset: Fraction
    obligation: ClassVar[str] = "domain"

    @property
    def slopes_known(self) -> bool:
        return self.slope is not None and all(t.slope is not None for t in self.terms)


NeuronClaim = TargetClaim | GhostClaim | ConstantClaim | InactiveClaim | DomainClaim
CLAIM_KINDS = (TargetClaim, GhostClaim, ConstantClaim, InactiveClaim, DomainClaim)
"""In the order their obligations are listed (L{ℓ}.linear, .ghost, .constant, .inactive, .domain)."""


# independent of ir/activation.py:Activation.linear_slope (used by the prover and the domain reducer)
def phase_slope(act: Activation, phases: dict[int, int], r: int | None) -> Fraction | None:
    """Slope of σ at neuron r on the box: identity 1; ReLU/LeakyReLU by r's phase claim; else (or r None) None."""
    if act.kind == "identity":
        return Fraction(1)
    if r is None or r not in phases or act.kind not in ("relu", "leaky_relu"):
        return None
    return Fraction(1) if phases[r] > 0 else act.alpha


# independent of prove/derive.py:_domain_map (its witness choice)
def witness(lay: LayerClaim, j: int, act: Activation, phases: dict[int, int]) -> int | None:
    """A neuron whose phase is reduced neuron j's: the lowest with a lumping map c·v'_j (c > 0, so its linear
    obligation gives z = c·z'_j) and a phase claim (any, for identity layers)."""
    for t, m in enumerate(lay.maps):
        if (m.reason not in ("dead", "inactive", "linear") and len(m.terms) == 1 and m.terms[0][0] == j
                and m.terms[0][1] > 0 and (t in phases or act.kind == "identity")):
            return t
    return None


# independent of ir/relation.py:LayerRelation.ghost_representatives
def ghost_representatives(lay: LayerClaim) -> list[int | None]:
    """Per ghost class (in order), its lowest member whose map is exactly 1·g + 0, or None."""
    reps: list[int | None] = [None] * lay.ghosts
    for r, m in enumerate(lay.maps):
        if m.reason == "dead" and len(m.terms) == 1 and m.terms[0][0] >= lay.width and m.terms[0][1] == 1 and m.offset == 0:
            g = m.terms[0][0] - lay.width
            if 0 <= g < lay.ghosts and reps[g] is None:
                reps[g] = r
    return reps


# independent of prove/derive.py:structure_problems (per layer)
def layer_shape(ell: int, lay: LayerClaim) -> list[str]:
    """One layer's maps: single terms on distinct in-range classes with non-zero factors; dead exactly for ghost
    members; every reduced neuron used; every ghost class with a representative (and so non-empty)."""
    out, used = [], set()
    n_classes = lay.width + lay.ghosts
    for r, m in enumerate(lay.maps):
        cls = [j for j, _ in m.terms]
        if any(not 0 <= j < n_classes for j in cls) or len(set(cls)) != len(cls) or any(c == 0 for _, c in m.terms):
            out.append(f"relation layer {ell} neuron {r}: terms {cls} must name distinct classes < {n_classes} "
                       f"({lay.width} reduced + {lay.ghosts} ghost) with non-zero factors")
        ghost = [j for j in cls if j >= lay.width]
        if len(cls) > 1 and m.reason != "linear":
            out.append(f"relation layer {ell} neuron {r}: several terms, but only a domain map (reason 'linear') "
                       f"may have them")
        if (m.reason == "dead" and (len(cls) != 1 or not ghost)) or (ghost and m.reason not in ("dead", "linear")):
            out.append(f"relation layer {ell} neuron {r}: reason {m.reason!r}, but exactly the dead neurons are "
                       f"members of ghost classes")
        if m.reason == "inactive" and (m.terms or m.offset):
            out.append(f"relation layer {ell} neuron {r}: an inactive neuron has no terms and offset 0")
        used.update(cls)
    if len(used & set(range(lay.width))) != lay.width:
        out.append(f"relation layer {ell}: reduced neurons {sorted(set(range(lay.width)) - used)[:5]} are unused")
    missing = [lay.width + g for g, rep in enumerate(ghost_representatives(lay)) if rep is None]
    if missing:
        out.append(f"relation layer {ell}: ghost classes {missing[:5]} have no representative (a member 1*g + 0)")
    return out


def _row(layer: Layer, s: int) -> np.ndarray:
    """Row s of the layer's weights, exact (float32 rows widened: the whole matrix is not)."""
    row = layer.stored_weight[s]
    return row.astype(np.float64) if row.dtype == np.float32 else row


def _value_is(act: Activation, kappa: Fraction, offset: Fraction) -> bool:
    try:
        return act.exact(kappa) == offset
    except ValueError:
        return False


class LayerCheck:
    """One layer ℓ: original z = W·v + b with layer ℓ−1's maps for v (ghost classes free), versus the reduced layer."""

    def __init__(self, ell: int, orig: Layer, red: Layer, prev: LayerClaim, reps: list[int | None]):
        self.ell, self.orig, self.red, self.prev = ell, orig, red, prev.maps
        self.prev_width, self.prev_ghosts, self.reps = prev.width, prev.ghosts, reps

    # independent of prove/obligations.py:PreActivations.exact
    @cached_property
    def _substituted(self) -> tuple[np.ndarray, list[int], list[Fraction]]:
        """(cols, dens, consts): z_s = Σ_j cols[s, j] / dens[j] · u_j + consts[s], u = reduced values, then ghosts,
        in Python ints (int64 when |cols| <= max|W numerators| · Σ|term multipliers| < 2**62)."""
        wn, wd = small_ints(self.orig.weight)
        sub = Substitution.of(self.prev, self.prev_width + self.prev_ghosts)
        bits = max_bits(wn)
        small = bits is not None and bits + max(sub.reach, default=0).bit_length() <= 62
        cols = np.zeros((wn.shape[0], len(sub.dens)), dtype=np.int64 if small else object)
        w = wn if small else as_objects(wn)
        for r, j, k in sub.terms:
            cols[:, j] += w[:, r] * k
        return cols, [wd * d for d in sub.dens], self._constants

    @cached_property
    def _constants(self) -> list[Fraction]:
        """consts[s] = b[s] + Σ_r W[s, r]·offset_r: the constant term of z_s once layer ℓ−1's maps are substituted."""
        const = as_fractions(self.orig.stored_bias)
        for r, m in enumerate(self.prev):
            if m.offset:
                const = const + as_fractions(self.orig.stored_weight[:, r]) * m.offset
        return list(const)

    def exact(self, claims: list[NeuronClaim]) -> list[str]:
        """Exact comparison of all coefficients (integers: by residues, else Python ints) and constant terms
        (Fractions); one reason per failing neuron (at most 3)."""
        targets = [c for c in claims if isinstance(c, TargetClaim)]
        ghosts = [c for c in claims if isinstance(c, GhostClaim)]
        constants = [c for c in claims if isinstance(c, ConstantClaim)]
        ok_t, ghost_t, ok_g, zero_c = self._identities(targets, ghosts, constants)
        consts, w = self._constants, self.prev_width
        rb = as_fractions(self.red.stored_bias)
        out = []
        for t, ok, ghost in zip(targets, ok_t, ghost_t):
            what = ([] if ok else ["a coefficient"]) + (
                [f"weight on ghost class {w + int(ghost)} of layer {self.ell - 1}"] if ghost >= 0 else []) + (
                ["constant term"] if consts[t.neuron] != t.factor * rb[t.cls] else [])
            if what:
                out.append(f"layer {self.ell} neuron {t.neuron}: original pre-activation != {fraction_str(t.factor)} * "
                           f"reduced neuron {t.cls} ({', '.join(what)})")
        verdict = {id(c): ok for c, ok in zip(ghosts, ok_g)} | {id(c): ok for c, ok in zip(constants, zero_c)}
        for c in claims:
            if isinstance(c, GhostClaim):
                if not verdict[id(c)] or consts[c.neuron] != c.factor * consts[c.rep]:
                    out.append(f"layer {self.ell} neuron {c.neuron}: original pre-activation != {fraction_str(c.factor)} "
                               f"* that of neuron {c.rep} (the representative of its ghost class)")
            elif isinstance(c, ConstantClaim):
                if not verdict[id(c)] or not _value_is(self.orig.activation, consts[c.neuron], c.offset):
                    out.append(f"layer {self.ell} neuron {c.neuron}: not the constant {fraction_str(c.offset)}")
            elif isinstance(c, InactiveClaim):
                if c.phase != -1 or phase_slope(self.orig.activation, {c.neuron: -1}, c.neuron) != 0:
                    out.append(f"layer {self.ell} neuron {c.neuron}: inactive needs a claimed phase -1 and a ReLU (or "
                               f"LeakyReLU with alpha 0), not phase {c.phase} of {self.orig.activation}")
            elif isinstance(c, DomainClaim):
                problem = self._domain_exact(c, *self._substituted)
                if problem:
                    out.append(f"layer {self.ell} neuron {c.neuron}: {problem}")
        return out[:3]

    def _identities(self, targets: list[TargetClaim], ghosts: list[GhostClaim], constants: list[ConstantClaim]):
        """(target coefficients agree, first nonzero ghost column or -1, ghost member coefficients agree, constant's
        coefficients all zero): by residues (modular.py) when the weights are floats, else in Python ints."""
        sub = Substitution.of(self.prev, self.prev_width + self.prev_ghosts)
        decided = decide(self.orig.stored_weight, self.red.stored_weight, sub, self.prev_width,
                         [(t.neuron, t.cls, t.factor.numerator, t.factor.denominator) for t in targets],
                         [(g.neuron, g.rep, g.factor.numerator, g.factor.denominator) for g in ghosts],
                         [c.neuron for c in constants])
        if decided is not None:
            return decided.target_coefficients, decided.target_ghost, decided.ghost_coefficients, decided.constant_zero
        cols, dens, _ = self._substituted
        ok_g = [not np.any(mul(cols[g.neuron], int_array([g.factor.denominator]))
                           != mul(cols[g.rep], int_array([g.factor.numerator]))) for g in ghosts]
        zero_c = [not np.any(cols[c.neuron] != 0) for c in constants]
        return (*self._target_flags(targets, cols, dens), ok_g, zero_c)

    def _target_flags(self, targets: list[TargetClaim], cols: np.ndarray, dens: list[int]) -> tuple[list, list]:
        """The target claims on Python ints, all rows at once (coefficients agree; first nonzero ghost column).

        cols[s, j] / dens[j] == (p/q) · rn[c, j] / rd  ⇔  cols[s, j] · q · (rd / g_j) == rn[c, j] · p · (dens[j] / g_j)
        with g_j = gcd(rd, dens[j]) > 0 (both sides multiplied by q·rd·dens[j] / g_j > 0)."""
        if not targets:
            return [], []
        w = self.prev_width
        rn, rd = small_ints(self.red.weight)
        gcds = [math.gcd(rd, d) for d in dens[:w]]
        num = int_array([t.factor.numerator for t in targets])[:, None]
        den = int_array([t.factor.denominator for t in targets])[:, None]
        rows = [t.neuron for t in targets]
        lhs = mul(mul(cols[rows, :w], den), int_array([rd // g for g in gcds])[None, :])
        rhs = mul(mul(rn[[t.cls for t in targets]], num), int_array([d // g for d, g in zip(dens[:w], gcds)])[None, :])
        ghost = cols[rows, w:] != 0
        first = [int(np.argmax(row)) if row.any() else -1 for row in ghost]
        return list(~np.any(lhs != rhs, axis=1)), first

    def _domain_exact(self, c: DomainClaim, cols: np.ndarray, dens: list[int], consts: list[Fraction]) -> str | None:
        """s_r·z_r ≡ Σ c·s_j·ẑ_j + offset (ẑ_j: reduced pre-activation, or the ghost representative's), exactly."""
        if not c.slopes_known:
            return "a linear map needs a phase claim for itself and for a witness of each of its classes"
        s, n, w = c.neuron, cols.shape[1], self.prev_width
        lhs = [c.slope * Fraction(int(cols[s, k]), dens[k]) for k in range(n)] + [c.slope * consts[s]]
        rhs = [Fraction(0)] * n + [c.offset]
        for t in c.terms:
            if t.cls < self.red.out_features:
                row = [Fraction(v) for v in self.red.weight[t.cls]] + [Fraction(0)] * (n - w) + [Fraction(self.red.bias[t.cls])]
            else:
                rep = self.reps[t.cls - self.red.out_features]
                row = [Fraction(int(cols[rep, k]), dens[k]) for k in range(n)] + [consts[rep]]
            rhs = [a + t.factor * t.slope * b for a, b in zip(rhs, row)]
        bad = [k for k in range(n + 1) if lhs[k] != rhs[k]]
        if bad:
            what = "constant term" if bad[0] == n else f"coefficient {bad[0]}"
            return f"slope x pre-activation != the claimed combination ({what})"
        return None

    def cost(self, c: NeuronClaim) -> int:
        """Size of the claim's z3 query in weight terms (for sampling within the checker's budget)."""
        n = int(np.count_nonzero(self.orig.stored_weight[c.neuron]))
        if isinstance(c, DomainClaim):
            return n * (1 + len(c.terms))
        if isinstance(c, TargetClaim):
            return n + int(np.count_nonzero(self.red.stored_weight[c.cls]))
        return n + (int(np.count_nonzero(self.orig.stored_weight[c.rep])) if isinstance(c, GhostClaim) else 0)

    @cached_property
    def _values(self) -> tuple[list[z3.ArithRef], list[z3.ArithRef]]:
        """z3 terms for the reduced previous-layer values and each original previous neuron's value."""
        classes = [z3.Real(f"h{j}") for j in range(self.prev_width)]
        classes += [z3.Real(f"g{j}") for j in range(self.prev_width, self.prev_width + self.prev_ghosts)]
        values = [z3.Sum([q(c) * classes[j] for j, c in m.terms] + [q(m.offset)]) for m in self.prev]
        return classes[: self.prev_width], values

    def _reduced(self, j: int) -> z3.ArithRef:
        wr, prev = _row(self.red, j), self._values[0]
        return z3.Sum([q(wr[i]) * prev[i] for i in np.flatnonzero(wr != 0)] + [q(self.red.bias[j])])

    def _original(self, s: int) -> z3.ArithRef:
        w = _row(self.orig, s)
        values = self._values[1]
        return z3.Sum([q(w[r]) * values[r] for r in np.flatnonzero(w != 0)] + [q(self.orig.bias[s])])

    def z3(self, c: NeuronClaim, timeout_ms: int) -> str | None:
        """∃ values with original z_s ≠ c·z'_cls (target), z_s ≠ c·z_rep (ghost member), σ(z_s) ≠ offset / z_s ≠ 0
        (constant), or the domain identity false; None if unsat."""
        if isinstance(c, InactiveClaim):
            return None  # nothing algebraic: the bounds decide it
        if isinstance(c, DomainClaim) and not c.slopes_known:
            return None  # reported by the exact check
        z = self._original(c.neuron)
        if isinstance(c, DomainClaim):
            rhs = [q(c.offset)]
            for t in c.terms:
                rhs.append(q(t.factor * t.slope) * (self._reduced(t.cls) if t.cls < self.red.out_features
                                                    else self._original(self.reps[t.cls - self.red.out_features])))
            negation = q(c.slope) * z != z3.Sum(rhs)
        elif isinstance(c, TargetClaim):
            negation = z != q(c.factor) * self._reduced(c.cls)
        elif isinstance(c, GhostClaim):
            negation = z != q(c.factor) * self._original(c.rep)
        elif self.orig.activation.piecewise_linear:
            negation = sigma(self.orig.activation, z) != q(c.offset)
        else:
            negation = z != 0
        answer = z3_unsat(negation, timeout_ms)
        return None if answer == z3.unsat else f"layer {self.ell} neuron {c.neuron}: z3 answers {answer} (expected unsat)"
