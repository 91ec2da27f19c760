"""Layer-local proof obligations of a reduction, derived from the two networks and the relation alone.

Induction over layers: if layer ℓ−1 satisfies the relation (ghost classes taking the values of their
representatives), then (LINEAR) each original pre-activation of layer ℓ, with that relation substituted, is
identical as an affine form to factor·(reduced pre-activation), ghost variables having coefficient 0;
(GHOST) each member of a removed class has factor·(its representative's substituted pre-activation); and
(ACTIVATION) σ(c·z) = c·σ(z) + offset for every (σ, c, offset) used; constants have their own obligation;
the output layer needs z_s ≡ z'_s. Domain reductions add, on the claimed input box, (BOUNDS) the recorded
bounds method re-run on the original network confirms every phase claim, (INACTIVE) a claimed-inactive
ReLU is 0, and (DOMAIN) a stably linear neuron is the claimed combination of stably linear classes. Nothing
here calls the reducer. derive.py derives them; discharge.py decides them with exact integer algebra (the real
proof); smt.py writes them as SMT-LIB for z3's second opinion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import numpy as np

from ..bounds import LayerBounds, by_method
from ..checker.document import AXIOMS
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import fraction_str
from ..ir.network import Network
from ..ir.relation import NeuronMap, PhaseClaim, PhaseClaims


def value_var(layer: int, j: int) -> str:
    """SMT name of reduced neuron j's value in layer `layer` (layer 0: the shared inputs)."""
    return f"x{j}" if layer == 0 else f"h{layer}_{j}"


def ghost_var(layer: int, j: int) -> str:
    """SMT name of ghost class j's free value in layer `layer` (j counts on from the reduced neurons)."""
    return f"g{layer}_{j}"


def class_var(layer: int, j: int, width: int) -> str:
    """SMT name of class j of a layer whose reduced width is `width` (a reduced neuron, else a ghost)."""
    return value_var(layer, j) if j < width else ghost_var(layer, j)


def integer_form(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """(M, D) with arr == M / D exactly: M an object array of Python ints, D > 0 (a power of 2 for floats)."""
    if arr.dtype == object:
        ratios = [(v if type(v) in (Fraction, int) else Fraction(v)).as_integer_ratio() for v in arr.reshape(-1)]
        den = math.lcm(1, *(q for _, q in ratios))  # (p, q) in lowest terms, q > 0
        return int_array([p * (den // q) for p, q in ratios]).reshape(arr.shape), den
    mant, exp = np.frexp(arr)
    mant = (mant * 2.0**53).astype(np.int64)  # exact: a float64 significand has 53 bits
    exp = exp.astype(np.int64) - 53
    low = min(0, int(exp[mant != 0].min())) if np.any(mant != 0) else 0
    shifts = exp - low
    shifts[mant == 0] = 0
    powers = int_array(1 << k for k in range(int(shifts.max(initial=0)) + 1))
    return mant.astype(object) * powers[shifts], 1 << -low


def int_array(values) -> np.ndarray:
    """1-D object array of Python ints (never int64, so products cannot overflow)."""
    out = list(values)
    arr = np.empty(len(out), dtype=object)
    arr[:] = out
    return arr


@dataclass(frozen=True)
class Affine:
    """An affine form Σ coeffs[var]·var + const with exact coefficients (zero coefficients omitted)."""

    coeffs: dict[str, Fraction]
    const: Fraction


@dataclass
class Substituted:
    """Exact matrix form of the substituted pre-activations: z[s] = Σ_k num[s,k]/den[k]·var_k + const_num[s]/const_den."""

    variables: list[str]
    num: np.ndarray
    den: list[int]
    const_num: np.ndarray
    const_den: int

    def coefficient(self, s: int, k: int) -> Fraction:
        return Fraction(self.num[s, k], self.den[k])

    def constant(self, s: int) -> Fraction:
        return Fraction(self.const_num[s], self.const_den)


@dataclass
class PreActivations:
    """Original layer ℓ's pre-activations z = W·v + b with layer ℓ−1's relation substituted for v.

    `prev` maps each original neuron of layer ℓ−1 to its classes (identity maps for the inputs): variable j
    is reduced neuron j for j < prev_width, else a free ghost variable, so that any non-zero weight on a
    ghost shows up as a mismatch against the reduced network.
    """

    layer: int
    weight: np.ndarray
    bias: np.ndarray
    prev: tuple[NeuronMap, ...]
    prev_width: int
    prev_ghosts: int = 0

    def release(self) -> None:
        """Forget the cached `exact` form (memory: object arrays of the layer's size); a later use recomputes it."""
        self.__dict__.pop("exact", None)

    @cached_property
    def exact(self) -> Substituted:
        """Substitute exactly: column j collects Σ_r c_r·W[:, r] over the terms (j, c_r) of layer ℓ−1."""
        m, d = integer_form(self.weight)
        b, db = integer_form(self.bias)
        n_vars = self.prev_width + self.prev_ghosts
        lcms = [1] * n_vars
        for nm in self.prev:
            for j, c in nm.terms:
                lcms[j] = math.lcm(lcms[j], c.denominator)
        num = np.zeros((self.weight.shape[0], n_vars), dtype=object)
        off_den = math.lcm(1, *(nm.offset.denominator for nm in self.prev))
        const = np.zeros(self.weight.shape[0], dtype=object)
        for r, nm in enumerate(self.prev):
            for j, c in nm.terms:
                scale = c.numerator * (lcms[j] // c.denominator)
                num[:, j] += m[:, r] if scale == 1 else m[:, r] * scale
            if nm.offset:
                const += m[:, r] * (nm.offset.numerator * (off_den // nm.offset.denominator))
        const_den = math.lcm(d * off_den, db)
        const = const * (const_den // (d * off_den)) + b * (const_den // db)
        names = [class_var(self.layer - 1, j, self.prev_width) for j in range(n_vars)]
        return Substituted(names, num, [d * q for q in lcms], const, const_den)

    def affine(self, s: int) -> Affine:
        """Neuron s's substituted pre-activation as an explicit affine form (for messages and tests)."""
        ex = self.exact
        coeffs = {v: ex.coefficient(s, k) for k, v in enumerate(ex.variables) if ex.num[s, k] != 0}
        return Affine(coeffs, ex.constant(s))


@dataclass(frozen=True)
class Target:
    """Claim z_neuron ≡ factor · z'_cls (original pre-activation vs reduced pre-activation, same layer)."""

    neuron: int
    cls: int
    factor: Fraction


@dataclass
class Mismatch:
    """First failing coefficient of an obligation, with both exact values."""

    neuron: int
    term: str
    lhs: Fraction
    rhs: Fraction

    def __str__(self) -> str:
        return f"neuron {self.neuron}: {self.term}: {fraction_str(self.lhs)} != {fraction_str(self.rhs)}"


@dataclass
class LinearObligation:
    """Layer ℓ: for every target, substituted z_s ≡ factor·z'_cls exactly (coefficient by coefficient)."""

    layer: int
    pre: PreActivations
    reduced_weight: np.ndarray
    reduced_bias: np.ndarray
    targets: list[Target]
    kind: str = "linear"

    @property
    def id(self) -> str:
        return f"L{self.layer}.linear"

    @property
    def neurons(self) -> list[int]:
        return [t.neuron for t in self.targets]

    def statement(self) -> str:
        return f"layer {self.layer}: z_s (layer {self.layer - 1} relation substituted) == c_s * z'_cls(s), as affine forms"

    def rhs(self, t: Target) -> Affine:
        """factor·z'_cls as an explicit affine form over the reduced previous-layer values."""
        w, b = self.reduced_weight[t.cls], self.reduced_bias[t.cls]
        coeffs = {value_var(self.layer - 1, i): t.factor * Fraction(w[i]) for i in range(len(w)) if w[i] != 0}
        return Affine(coeffs, t.factor * Fraction(b))


@dataclass
class ConstantObligation:
    """Layer ℓ: each listed neuron's substituted pre-activation is a constant κ with σ(κ) == offset exactly."""

    layer: int
    pre: PreActivations
    activation: Activation
    constants: list[tuple[int, Fraction]]
    kind: str = "constant"

    @property
    def id(self) -> str:
        return f"L{self.layer}.constant"

    @property
    def neurons(self) -> list[int]:
        return [s for s, _ in self.constants]

    def statement(self) -> str:
        return f"layer {self.layer}: z_s is constant and {self.activation}(z_s) == offset_s"


@dataclass(frozen=True)
class GhostMember:
    """Claim z_neuron ≡ factor · z_rep: a member of a ghost class against the class's representative, both
    substituted original pre-activations of the same layer."""

    neuron: int
    rep: int
    factor: Fraction


@dataclass
class GhostObligation:
    """Layer ℓ: every member of a ghost class has factor × its representative's pre-activation (exactly)."""

    layer: int
    pre: PreActivations
    members: list[GhostMember]
    kind: str = "ghost"

    @property
    def id(self) -> str:
        return f"L{self.layer}.ghost"

    @property
    def neurons(self) -> list[int]:
        return [g.neuron for g in self.members]

    def statement(self) -> str:
        return (f"layer {self.layer}: z_r == c_r * z_rep(g) for each member r of a ghost class g (both with the "
                f"layer {self.layer - 1} relation substituted), as affine forms")


@dataclass
class ClaimedBounds:
    """The bounds the phase claims rest on: the recorded method on the original network over the box, computed
    once (on first use) for all layers."""

    net: Network
    box: Box
    claims: PhaseClaims

    @cached_property
    def layers(self) -> list[LayerBounds]:
        return by_method(self.net, self.box, self.claims.method, self.claims.parts)


@dataclass
class BoundsObligation:
    """Layer ℓ: every phase claim is confirmed by the recomputed bounds (inactive: upper <= 0, active: lower >= 0)."""

    layer: int
    source: ClaimedBounds
    claims: list[PhaseClaim]
    kind: str = "bounds"

    @property
    def id(self) -> str:
        return f"L{self.layer}.bounds"

    @property
    def neurons(self) -> list[int]:
        return [c.neuron for c in self.claims]

    def statement(self) -> str:
        return (f"layer {self.layer}: {self.source.claims.describe()} bounds of the original network on the box give "
                f"upper <= 0 for each claimed-inactive and lower >= 0 for each claimed-active neuron")


@dataclass
class InactiveObligation:
    """Layer ℓ: each listed neuron is claimed inactive and σ is 0 on z <= 0 (ReLU, or LeakyReLU with α = 0)."""

    layer: int
    activation: Activation
    inactive: list[int]
    phases: dict[int, int]
    kind: str = "inactive"

    @property
    def id(self) -> str:
        return f"L{self.layer}.inactive"

    @property
    def neurons(self) -> list[int]:
        return list(self.inactive)

    def statement(self) -> str:
        return f"layer {self.layer}: z_r <= 0 on the box (claimed phase) and {self.activation}(z) == 0 for z <= 0"


@dataclass(frozen=True)
class DomainTerm:
    """One term c·u_cls of a domain-linear map, with the neuron whose phase claim gives cls's slope on the box
    (for a reduced neuron: a lumping member c_w·z'_cls with c_w > 0; for a ghost: its representative)."""

    cls: int
    factor: Fraction
    witness: int | None
    slope: Fraction | None


@dataclass(frozen=True)
class DomainMap:
    """Claim on the box: s_r·z_r ≡ Σ c·s_cls·ẑ_cls + offset, ẑ the reduced pre-activation (ghost: representative's)."""

    neuron: int
    slope: Fraction | None
    terms: tuple[DomainTerm, ...]
    offset: Fraction


@dataclass
class DomainObligation:
    """Layer ℓ: each stably linear neuron's value s_r·z_r is the claimed combination of stably linear classes."""

    layer: int
    pre: PreActivations
    reduced_weight: np.ndarray
    reduced_bias: np.ndarray
    maps: list[DomainMap]
    ghost_reps: list[int | None]
    kind: str = "domain"

    @property
    def id(self) -> str:
        return f"L{self.layer}.domain"

    @property
    def neurons(self) -> list[int]:
        return [d.neuron for d in self.maps]

    def statement(self) -> str:
        return (f"layer {self.layer}: s_r * z_r == sum_k c_k * s_k * z'_k + offset_r as affine forms (layer "
                f"{self.layer - 1} relation substituted; z'_k of a ghost: its representative's z), s the slopes "
                f"of the claimed phases")


@dataclass(frozen=True)
class ActivationLemma:
    """∀z: σ(c·z) = c·σ(z) + offset, for one activation σ and one (c, offset) used by the relation."""

    activation: Activation
    factor: Fraction
    offset: Fraction
    kind: str = field(default="activation", init=False)

    @property
    def id(self) -> str:
        return f"act.{self.activation}:c={fraction_str(self.factor)}:o={fraction_str(self.offset)}"

    @property
    def layer(self) -> None:
        return None

    @property
    def neurons(self) -> list[int]:
        return []

    def statement(self) -> str:
        c, o = fraction_str(self.factor), fraction_str(self.offset)
        return f"forall z: {self.activation}({c}*z) == {c}*{self.activation}(z) + {o}"

    @property
    def axiom(self) -> str | None:
        """Name of the admitted axiom this lemma is, if any (tanh/sigmoid)."""
        return AXIOMS.get((self.activation.kind, self.factor, self.offset))

    @property
    def trivial(self) -> bool:
        """c = 1, offset = 0: σ(z) = σ(z), true for every σ."""
        return self.factor == 1 and self.offset == 0


@dataclass
class StructureObligation:
    """The two networks and the relation fit together (depth, widths, activations, one map per neuron)."""

    problems: list[str]
    kind: str = "structure"
    id: str = "structure"
    layer: None = None

    @property
    def neurons(self) -> list[int]:
        return []

    def statement(self) -> str:
        return ("same depth, inputs, outputs and activations; every original neuron mapped once; every reduced "
                "neuron used; every ghost class has a representative")


Obligation = (
    StructureObligation | LinearObligation | ConstantObligation | GhostObligation | BoundsObligation
    | InactiveObligation | DomainObligation | ActivationLemma
)
