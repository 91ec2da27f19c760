"""Layer-local proof obligations of a reduction, derived from the two networks and the relation alone.

Induction over layers: if layer ℓ−1 satisfies the relation (ghost classes taking the values of their
representatives), then (LINEAR) each original pre-activation of layer ℓ, with that relation substituted, is
identical as an affine form to factor·(reduced pre-activation), ghost variables having coefficient 0;
(GHOST) each member of a removed class has factor·(its representative's substituted pre-activation); and
(ACTIVATION) σ(c·z) = c·σ(z) + offset for every (σ, c, offset) used; constants have their own obligation;
the output layer needs z_s ≡ z'_s. Domain reductions add, on the claimed input box, (BOUNDS) the recorded
bounds method re-run on the original network confirms every phase claim, (INACTIVE) a claimed-inactive
ReLU is 0, and (DOMAIN) a stably linear neuron is the claimed combination of stably linear classes. Nothing
here calls the reducer. `exact_*` functions discharge obligations with exact integer algebra (the real proof).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import numpy as np

from .bounds import LayerBounds, by_method
from .ir.domain import Box
from .ir.exact import fraction_str, to_fraction
from .ir.activation import Activation
from .ir.network import Network, layers_only
from .ir.semantics import ComparisonError, compare
from .ir.relation import DOMAIN_REASONS, LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation

AXIOMS = {("tanh", Fraction(-1), Fraction(0)): "tanh_odd", ("sigmoid", Fraction(-1), Fraction(1)): "sigmoid_reflection"}
"""The only lemmas about transcendental activations lumpcheck accepts (z3 has no tanh/exp)."""


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
        den = math.lcm(1, *(Fraction(v).denominator for v in arr.reshape(-1)))
        ints = [Fraction(v).numerator * (den // Fraction(v).denominator) for v in arr.reshape(-1)]
        return _objects(ints).reshape(arr.shape), den
    mant, exp = np.frexp(arr)
    mant = (mant * 2.0**53).astype(np.int64)  # exact: a float64 significand has 53 bits
    exp = exp.astype(np.int64) - 53
    low = min(0, int(exp[mant != 0].min())) if np.any(mant != 0) else 0
    shifts = exp - low
    shifts[mant == 0] = 0
    powers = _objects(1 << k for k in range(int(shifts.max(initial=0)) + 1))
    return mant.astype(object) * powers[shifts], 1 << -low


def _objects(values) -> np.ndarray:
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


def linear_slope(activation: Activation, phase: int) -> Fraction | None:
    """σ's slope on the box for a neuron of this phase (identity: 1 always), or None if σ is not linear there."""
    if activation.kind == "identity":
        return Fraction(1)
    if activation.kind in ("relu", "leaky_relu") and phase:
        return Fraction(1) if phase > 0 else activation.alpha
    return None


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


def structure_problems(original: Network, reduced: Network, relation: Relation) -> list[str]:
    """Everything that must hold before layer obligations make sense; empty when the shapes fit."""
    k = len(original.layers)
    if len(reduced.layers) != k:
        return [f"depth differs: original has {k} layers, reduced has {len(reduced.layers)}"]
    problems = []
    if original.input_size != reduced.input_size:
        problems.append(f"input size differs: {original.input_size} vs {reduced.input_size}")
    if original.output_size != reduced.output_size:
        problems.append(f"output size differs: {original.output_size} vs {reduced.output_size}")
    for i, (a, b) in enumerate(zip(original.layers, reduced.layers), start=1):
        if a.activation != b.activation:
            problems.append(f"layer {i}: activation {a.activation} vs {b.activation}")
    if len(relation.layers) != k - 1:
        return problems + [f"relation has {len(relation.layers)} layers, the network has {k - 1} hidden layers"]
    for ell, lr in enumerate(relation.layers, start=1):
        problems += _layer_relation_problems(ell, lr, original.widths[ell], reduced.widths[ell])
    return problems


def _layer_relation_problems(ell: int, lr: LayerRelation, width: int, reduced_width: int) -> list[str]:
    """Shape of one layer's maps: one per original neuron, classes in range, no zero/repeated terms, every
    reduced neuron used, ghost terms only alone and only for dead neurons, every ghost with a representative."""
    out = []
    if len(lr.maps) != width:
        out.append(f"layer {ell}: relation maps {len(lr.maps)} neurons, the original layer has {width}")
    if lr.reduced_width != reduced_width:
        out.append(f"layer {ell}: relation says reduced width {lr.reduced_width}, the reduced model has {reduced_width}")
    if lr.ghosts < 0:
        return out + [f"layer {ell}: negative number of ghost classes {lr.ghosts}"]
    n_classes = reduced_width + lr.ghosts
    used = set()
    for r, nm in enumerate(lr.maps):
        classes = [j for j, _ in nm.terms]
        if any(not 0 <= j < n_classes for j in classes):
            out.append(f"layer {ell} neuron {r}: class out of range in {classes} ({reduced_width} reduced + "
                       f"{lr.ghosts} ghost classes)")
        if len(set(classes)) != len(classes) or any(c == 0 for _, c in nm.terms):
            out.append(f"layer {ell} neuron {r}: repeated class or zero factor in its terms")
        ghost_terms = [j for j in classes if j >= reduced_width]
        if len(classes) > 1 and nm.reason != "linear":
            out.append(f"layer {ell} neuron {r}: only a domain map (reason 'linear') may have several terms")
        if nm.reason == "dead" and len(ghost_terms) != len(classes) or ghost_terms and nm.reason not in ("dead", "linear"):
            out.append(f"layer {ell} neuron {r}: exactly the dead neurons are members of ghost classes")
        if nm.reason == "inactive" and (nm.terms or nm.offset):
            out.append(f"layer {ell} neuron {r}: an inactive neuron has no terms and offset 0")
        used.update(classes)
    unused = sorted(set(range(reduced_width)) - used)
    if unused:
        out.append(f"layer {ell}: reduced neurons {unused[:5]} are not used by any original neuron")
    if not out:
        missing = [reduced_width + g for g, rep in enumerate(lr.ghost_representatives()) if rep is None]
        if missing:
            out.append(f"layer {ell}: ghost classes {missing[:5]} have no member with map 1*g + 0 (representative)")
    return out


def domain_problems(original: Network, relation: Relation, domain: Box | None, claims: PhaseClaims | None) -> list[str]:
    """Domain maps need a box and phase claims; the claims must name stable-able neurons of the original layer
    chain (plain: the box is over the chain's own inputs, see semantics.compare)."""
    uses = any(m.reason in DOMAIN_REASONS for lr in relation.layers for m in lr.maps)
    if claims is None:
        return ["inactive/linear maps hold on an input box only: they need a domain and phase claims"] if uses else []
    if domain is None:
        return ["phase claims without an input domain"]
    out = []
    if domain.dim != original.input_size:
        out.append(f"the domain has {domain.dim} inputs, the network {original.input_size}")
    if len(claims.layers) != len(original.layers) - 1:
        return out + [f"phase claims for {len(claims.layers)} layers, the network has {len(original.layers) - 1} hidden layers"]
    for ell, layer_claims in enumerate(claims.layers, start=1):
        neurons = [c.neuron for c in layer_claims]
        if layer_claims and original.layers[ell - 1].activation.kind not in ("relu", "leaky_relu"):
            out.append(f"layer {ell}: phase claims on a {original.layers[ell - 1].activation} layer")
        if len(set(neurons)) != len(neurons) or any(not 0 <= r < original.widths[ell] for r in neurons):
            out.append(f"layer {ell}: phase claims must name distinct neurons of the layer")
        if any(c.phase not in (-1, 1) for c in layer_claims):
            out.append(f"layer {ell}: a phase claim is -1 (inactive) or +1 (active)")
    return out


def _domain_map(nm: NeuronMap, s: int, here: LayerRelation, act: Activation, phases: dict[int, int]) -> DomainMap:
    """The slopes a domain-linear map uses: its own (from its phase claim) and each term class's (from a witness)."""
    reps = here.ghost_representatives()
    terms = []
    for j, c in nm.terms:
        if j < here.reduced_width:
            witness = next((t for t, m in enumerate(here.maps) if m.reason not in ("dead", *DOMAIN_REASONS)
                            and len(m.terms) == 1 and m.terms[0][0] == j and m.terms[0][1] > 0
                            and (t in phases or act.kind == "identity")), None)
        else:
            witness = reps[j - here.reduced_width]
        slope = None if witness is None else linear_slope(act, phases.get(witness, 0))
        terms.append(DomainTerm(j, c, witness, slope))
    return DomainMap(s, linear_slope(act, phases.get(s, 0)), tuple(terms), nm.offset)


def derive(
    original: Network,
    reduced: Network,
    relation: Relation,
    domain: Box | None = None,
    claims: PhaseClaims | None = None,
    semantics: str = "model",
) -> list[Obligation]:
    """All obligations of the claim 'reduced computes the same function as original' (strict mode), on all of
    R^n, or on `domain` when the relation has domain maps resting on phase `claims`. `semantics` 'model' compares
    the models (normalisation and clipping included, the domain over the original's input; semantics.compare),
    'layers' the bare layer chains (both files' normalisation ignored, the domain over the chains' inputs)."""
    if semantics == "layers":
        original, reduced = layers_only(original), layers_only(reduced)
    else:
        try:
            comparison = compare(original, reduced, domain)
        except ComparisonError as e:
            return [StructureObligation([e.message])]
        original, reduced, domain = comparison.a, comparison.b, comparison.box
    problems = structure_problems(original, reduced, relation)
    problems = problems or domain_problems(original, relation, domain, claims)
    obligations: list[Obligation] = [StructureObligation(problems)]
    if problems:
        return obligations
    k = len(original.layers)
    inputs = LayerRelation([NeuronMap(((i, Fraction(1)),)) for i in range(original.input_size)], original.input_size)
    layers = [inputs, *relation.layers]
    source = None if claims is None else ClaimedBounds(original, domain, claims)
    lemmas: dict[ActivationLemma, None] = {}
    for ell in range(1, k + 1):
        layer, red, prev = original.layers[ell - 1], reduced.layers[ell - 1], layers[ell - 1]
        pre = PreActivations(ell, layer.weight, layer.bias, tuple(prev.maps), prev.reduced_width, prev.ghosts)
        if ell == k:
            targets = [Target(s, s, Fraction(1)) for s in range(layer.out_features)]
            obligations.append(LinearObligation(ell, pre, red.weight, red.bias, targets))
            continue
        here = layers[ell]
        reps = here.ghost_representatives()
        layer_claims = [] if claims is None else claims.layers[ell - 1]
        phases = {c.neuron: c.phase for c in layer_claims}
        targets, ghosts, constants, inactive, linear = [], [], [], [], []
        for s, nm in enumerate(here.maps):
            if nm.reason == "inactive":
                inactive.append(s)
            elif nm.reason == "linear":
                linear.append(_domain_map(nm, s, here, layer.activation, phases))
            elif not nm.terms:
                constants.append((s, nm.offset))
            else:
                ((j, c),) = nm.terms
                if j < here.reduced_width:
                    targets.append(Target(s, j, c))
                else:
                    ghosts.append(GhostMember(s, reps[j - here.reduced_width], c))
                lemmas[ActivationLemma(layer.activation, c, nm.offset)] = None
        if layer_claims:
            obligations.append(BoundsObligation(ell, source, sorted(layer_claims, key=lambda c: c.neuron)))
        if targets:
            obligations.append(LinearObligation(ell, pre, red.weight, red.bias, targets))
        if ghosts:
            obligations.append(GhostObligation(ell, pre, ghosts))
        if constants:
            obligations.append(ConstantObligation(ell, pre, layer.activation, constants))
        if inactive:
            obligations.append(InactiveObligation(ell, layer.activation, inactive, phases))
        if linear:
            obligations.append(DomainObligation(ell, pre, red.weight, red.bias, linear, reps))
    return obligations + list(lemmas)


def exact_linear(ob: LinearObligation) -> Mismatch | None:
    """Compare both affine forms coefficient by coefficient in exact integer arithmetic; first mismatch or None."""
    sub = ob.pre.exact
    rows = [t.neuron for t in ob.targets]
    p = _objects(t.factor.numerator for t in ob.targets)[:, None]
    q = _objects(t.factor.denominator for t in ob.targets)[:, None]
    rm, rd = integer_form(ob.reduced_weight)
    rb, rbd = integer_form(ob.reduced_bias)
    width = ob.reduced_weight.shape[1]
    cls = [t.cls for t in ob.targets]
    den = _objects(sub.den[:width])[None, :]
    lhs = sub.num[rows, :width] * (q * rd)
    rhs = rm[cls] * p * den
    bad = np.argwhere(lhs != rhs)
    ghost_bad = np.argwhere(sub.num[rows, width:] != 0)  # the reduced network has no ghost inputs
    const_bad = np.flatnonzero(sub.const_num[rows] * q[:, 0] * rbd != rb[cls] * p[:, 0] * sub.const_den)
    candidates = [(int(i), int(k)) for i, k in bad[:1]] + [(int(i), width + int(k)) for i, k in ghost_bad[:1]]
    constant = sub.num.shape[1]  # sorts after every variable: coefficients are reported first
    candidates += [(int(i), constant) for i in const_bad[:1]]
    if not candidates:
        return None
    i, k = min(candidates)
    t = ob.targets[i]
    if k == constant:
        return Mismatch(t.neuron, "constant term", sub.constant(t.neuron), t.factor * Fraction(ob.reduced_bias[t.cls]))
    rhs_coeff = t.factor * Fraction(ob.reduced_weight[t.cls, k]) if k < width else Fraction(0)
    return Mismatch(t.neuron, f"coefficient of {sub.variables[k]}", sub.coefficient(t.neuron, k), rhs_coeff)


def exact_constant(ob: ConstantObligation) -> Mismatch | None:
    """Every coefficient zero and σ(κ) == offset for the constant κ, exactly (σ(κ) irrational fails)."""
    sub = ob.pre.exact
    for s, offset in ob.constants:
        nonzero = np.flatnonzero(sub.num[s] != 0)
        if len(nonzero):
            k = int(nonzero[0])
            return Mismatch(s, f"coefficient of {sub.variables[k]}", sub.coefficient(s, k), Fraction(0))
        kappa = sub.constant(s)
        try:
            value = ob.activation.exact(kappa)
        except ValueError:
            return Mismatch(s, f"{ob.activation}({fraction_str(kappa)}) is irrational; offset", Fraction(0), offset)
        if value != offset:
            return Mismatch(s, f"{ob.activation}({fraction_str(kappa)}) vs offset", value, offset)
    return None


def exact_ghost(ob: GhostObligation) -> Mismatch | None:
    """Each member's substituted form equals factor × its representative's, coefficient by coefficient, exactly
    (both forms share their column denominators, so integer numerators are compared)."""
    sub = ob.pre.exact
    rows, reps = [g.neuron for g in ob.members], [g.rep for g in ob.members]
    p = _objects(g.factor.numerator for g in ob.members)[:, None]
    q = _objects(g.factor.denominator for g in ob.members)[:, None]
    full_lhs = np.concatenate([sub.num[rows], sub.const_num[rows][:, None]], axis=1) * q
    full_rhs = np.concatenate([sub.num[reps], sub.const_num[reps][:, None]], axis=1) * p
    bad = np.argwhere(full_lhs != full_rhs)
    if not len(bad):
        return None
    i, k = int(bad[0][0]), int(bad[0][1])
    g = ob.members[i]
    if k == len(sub.variables):
        return Mismatch(g.neuron, f"constant term (vs {fraction_str(g.factor)} * neuron {g.rep})",
                        sub.constant(g.neuron), g.factor * sub.constant(g.rep))
    return Mismatch(g.neuron, f"coefficient of {sub.variables[k]} (vs {fraction_str(g.factor)} * neuron {g.rep})",
                    sub.coefficient(g.neuron, k), g.factor * sub.coefficient(g.rep, k))


def exact_lemma(lemma: ActivationLemma) -> str | None:
    """Decide the lemma exactly: None when it holds (theorem, axiom or trivial), else why not.

    For piecewise-linear σ (kink only at 0, σ(0) = 0), f(z) = σ(cz) − cσ(z) − o is affine on each side
    of 0, so f ≡ 0 iff f(−1) = f(0) = f(1) = 0.
    """
    if lemma.trivial or lemma.axiom:
        return None
    act, c, o = lemma.activation, lemma.factor, lemma.offset
    if not act.piecewise_linear:
        return f"{act} admits only the axiom {'tanh_odd (c=-1, o=0)' if act.kind == 'tanh' else 'sigmoid_reflection (c=-1, o=1)'}"
    for z in (Fraction(-1), Fraction(0), Fraction(1)):
        lhs, rhs = act.exact(c * z), c * act.exact(z) + o
        if lhs != rhs:
            return f"false at z={fraction_str(z)}: left side {fraction_str(lhs)}, right side {fraction_str(rhs)}"
    return None


def exact_bounds(ob: BoundsObligation) -> Mismatch | None:
    """Every claimed phase holds by the recomputed bounds (sound: see bounds.py)."""
    bounds = ob.source.layers[ob.layer - 1]
    for c in ob.claims:
        if c.phase < 0 and not bounds.upper[c.neuron] <= 0:
            return Mismatch(c.neuron, "claimed inactive: upper bound (vs 0)", to_fraction(bounds.upper[c.neuron]), Fraction(0))
        if c.phase > 0 and not bounds.lower[c.neuron] >= 0:
            return Mismatch(c.neuron, "claimed active: lower bound (vs 0)", to_fraction(bounds.lower[c.neuron]), Fraction(0))
    return None


def exact_inactive(ob: InactiveObligation) -> Mismatch | None:
    """Each neuron is claimed inactive, and σ vanishes on z <= 0 (its slope there is 0)."""
    zero = linear_slope(ob.activation, -1)
    for r in ob.inactive:
        if ob.phases.get(r) != -1:
            return Mismatch(r, "phase claim (inactive is -1)", Fraction(ob.phases.get(r, 0)), Fraction(-1))
        if zero != 0:
            return Mismatch(r, f"slope of {ob.activation} on z <= 0", zero if zero is not None else Fraction(1), Fraction(0))
    return None


def exact_domain(ob: DomainObligation) -> Mismatch | None:
    """Every slope is given by a phase claim, and s_r·z_r ≡ Σ c·s_cls·ẑ_cls + offset coefficient by coefficient
    (Fractions; the domain maps are few)."""
    sub = ob.pre.exact
    width = ob.reduced_weight.shape[1]
    n_vars = len(sub.variables)
    for d in ob.maps:
        if d.slope is None:
            return Mismatch(d.neuron, "phase claim (a linear map needs a stable phase)", Fraction(0), Fraction(1))
        lhs = [d.slope * sub.coefficient(d.neuron, k) for k in range(n_vars)] + [d.slope * sub.constant(d.neuron)]
        rhs = [Fraction(0)] * n_vars + [d.offset]
        for t in d.terms:
            if t.slope is None:
                return Mismatch(d.neuron, f"phase claim of a witness for class {t.cls}", Fraction(0), Fraction(1))
            scale = t.factor * t.slope
            if t.cls < ob.reduced_weight.shape[0]:
                row = [Fraction(v) for v in ob.reduced_weight[t.cls]] + [Fraction(0)] * (n_vars - width)
                row.append(Fraction(ob.reduced_bias[t.cls]))
            else:
                rep = ob.ghost_reps[t.cls - ob.reduced_weight.shape[0]]
                row = [sub.coefficient(rep, k) for k in range(n_vars)] + [sub.constant(rep)]
            rhs = [a + scale * b for a, b in zip(rhs, row)]
        for k, (a, b) in enumerate(zip(lhs, rhs)):
            if a != b:
                term = "constant term" if k == n_vars else f"coefficient of {sub.variables[k]}"
                return Mismatch(d.neuron, f"{term} (slope x original vs claimed combination)", a, b)
    return None
