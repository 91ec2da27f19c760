"""The strict check: re-derive every obligation of a certificate from the two networks and its relation, and
discharge it with exact integer algebra (all neurons, which decides) and z3 (the activation lemmas; the identities too
with solver_check='all', or a sample within Z3_TERM_BUDGET).

Claim checked: for every input (or, for domain reductions, every input of the certificate's box), both networks
compute the same outputs. Domain maps rest on phase claims, which are confirmed by re-running the recorded bounds
method (`lumpcheck.bounds.by_method`, part of the trusted core) on the original network over the box.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import z3

from ..bounds import LayerBounds, by_method, split_bounds
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import fraction_str
from ..ir.network import Layer, Network, layers_only
from ..ir.relation import NeuronMap
from ..ir.semantics import ComparisonError, compare
from .document import AXIOMS, Claim, LayerClaim
from .layer import (
    CLAIM_KINDS,
    ConstantClaim,
    DomainClaim,
    DomainTermClaim,
    GhostClaim,
    InactiveClaim,
    LayerCheck,
    NeuronClaim,
    TargetClaim,
    ghost_representatives,
    layer_shape,
    phase_slope,
    witness,
)
from .z3 import q, sigma, z3_unsat

MAX_SPLIT_CELLS = 1 << 16
"""Phase claims by 'split' bounds are re-checked only up to this many sub-boxes (parts ** inputs)."""
Z3_TERM_BUDGET = 0
"""solver_check='auto': z3 re-checks an evenly spaced sample of the linear identities of this many weight terms (all
of them if they fit). 0: none. The exact integer comparison decides every identity on its own (its tamper tests run
without z3); z3 decides the activation lemmas in every mode. 'all' re-checks every identity with z3 as well."""


class StrictVerifier:
    """Re-derives and discharges the obligations of one certificate against two loaded networks."""

    def __init__(self, claim: Claim, original: Network, reduced: Network, solver_check: str, timeout_ms: int):
        self.claim, self.solver_check, self.timeout_ms = claim, solver_check, timeout_ms
        self.a, self.b = original, reduced
        self.box: Box | None = None  # the box over the plain chains' inputs (set by _plain)
        self.expected: dict[str, list[int]] = {"structure": []}
        self.lemmas: set[tuple[Activation, Fraction, Fraction]] = set()

    def _plain(self) -> list[str]:
        """Both models as plain layer chains and the box over their inputs, as the claim's semantics defines them
        (semantics.compare for 'model'); the reasons why that is impossible, if any."""
        a, dom = self.a, self.claim.domain
        if dom is not None:
            lo, hi = dom
            if len(lo) != a.input_size or len(hi) != a.input_size or any(x > y for x, y in zip(lo, hi)):
                return [f"domain: must give lower <= upper for each of the {a.input_size} inputs"]
        box = None if dom is None else Box(tuple(dom[0]), tuple(dom[1]))
        if self.claim.semantics == "layers":
            self.a, self.b, self.box = layers_only(self.a), layers_only(self.b), box
            return []
        try:
            c = compare(self.a, self.b, box)
        except ComparisonError as e:
            return [f"normalisation: {e.message}"]
        self.a, self.b, self.box = c.a, c.b, c.box
        return []

    def run(self) -> list[str]:
        """Every reason the certificate is invalid ([] when it is valid)."""
        problem = self._plain()
        if problem:
            return problem
        shape = self._shape() or self._domain_shape()
        if shape:
            return shape
        reasons = self._bounds_reasons()
        k = len(self.a.layers)
        n = self.a.input_size
        layers = [LayerClaim(n, 0, tuple(NeuronMap(((i, Fraction(1)),)) for i in range(n))), *self.claim.relation]
        z3_claims = []
        for ell in range(1, k + 1):
            claims = self._classify(ell, layers[ell] if ell < k else None)
            layer = LayerCheck(ell, self.a.layers[ell - 1], self.b.layers[ell - 1], layers[ell - 1],
                               ghost_representatives(layers[ell]) if ell < k else [])
            reasons += layer.exact(claims)
            z3_claims += [(layer, c) for c in claims]
        reasons += self._z3(z3_claims)
        reasons += self._lemma_reasons()
        reasons += self._listed_reasons()
        return reasons

    # independent of prove/derive.py:structure_problems
    def _shape(self) -> list[str]:
        """Depth, widths, activations, domain, and every relation entry's shape."""
        a, b, rel = self.a, self.b, self.claim.relation
        if len(a.layers) != len(b.layers) or a.input_size != b.input_size or a.output_size != b.output_size:
            return [f"shape: original {a.shape_str()} and reduced {b.shape_str()} differ in depth, inputs or outputs"]
        out = [f"layer {i}: activation {x.activation} vs {y.activation}"
               for i, (x, y) in enumerate(zip(a.layers, b.layers), start=1) if x.activation != y.activation]
        if len(rel) != len(a.layers) - 1:
            return out + [f"relation: {len(rel)} layers for {len(a.layers) - 1} hidden layers"]
        for ell, lay in enumerate(rel, start=1):
            if len(lay.maps) != a.widths[ell] or lay.width != b.widths[ell]:
                out.append(f"relation layer {ell}: {len(lay.maps)} maps / reduced width {lay.width}, "
                           f"models have {a.widths[ell]} / {b.widths[ell]} neurons")
                continue
            out += layer_shape(ell, lay)
        return out

    # independent of prove/derive.py:domain_problems
    def _domain_shape(self) -> list[str]:
        """Domain maps need a box and phase claims; claims name distinct neurons of ReLU/LeakyReLU layers with
        phase ±1 (of the plain original chain: the box is over its own inputs)."""
        ph, a = self.claim.phases, self.a
        if ph is None:
            uses = any(m.reason in ("inactive", "linear") for lay in self.claim.relation for m in lay.maps)
            return ["domain maps (inactive/linear) need phase claims in 'bounds' and a claim.domain"] if uses else []
        out = [] if self.claim.domain is not None else ["phase claims without a claim.domain"]
        if ph.method == "split" and ph.parts ** a.input_size > MAX_SPLIT_CELLS:
            out.append(f"bounds: split into {ph.parts}^{a.input_size} sub-boxes is more than this checker re-runs")
        if len(ph.layers) != len(a.layers) - 1:
            return out + [f"bounds: phase claims for {len(ph.layers)} layers, {len(a.layers) - 1} hidden layers"]
        for ell, claims in enumerate(ph.layers, start=1):
            if claims and a.layers[ell - 1].activation.kind not in ("relu", "leaky_relu"):
                out.append(f"bounds layer {ell}: phase claims on a {a.layers[ell - 1].activation} layer")
            if any(not 0 <= r < a.widths[ell] for r in claims):
                out.append(f"bounds layer {ell}: a claimed neuron is out of range")
        return out

    def _bounds_reasons(self) -> list[str]:
        """Re-run the recorded bounds method on the original network over the box; every claim must hold."""
        ph = self.claim.phases
        if ph is None or not any(ph.layers):
            return []
        bounds = self._phase_bounds(ph.method, ph.parts)
        out = []
        for ell, claims in enumerate(ph.layers, start=1):
            b = bounds[ell - 1]
            bad = [r for r, p in sorted(claims.items()) if not _phase_holds(b, r, p)]
            out += [f"layer {ell} neuron {r}: claimed {'inactive' if claims[r] < 0 else 'active'}, but the "
                    f"{ph.method} bounds are [{b.lower[r]!r}, {b.upper[r]!r}]" for r in bad[:3]]
            if claims:
                self.expected[f"L{ell}.bounds"] = sorted(claims)
        return out

    def _phase_bounds(self, method: str, parts: int) -> list[LayerBounds]:
        """Sound bounds of the original's layers on the box for the phase claims. For 'split', the whole box's
        symbolic bounds first (sound, so a claim they confirm holds); the split (the recorded method) decides the rest
        and gives their reasons. It runs on the original's first layers up to the deepest claim still open, that
        layer cut to its open claims' neurons (if its arrays are floats): every bound of a layer depends only on the
        layers before it, and each neuron's own row of that layer (interval and back-substitution work row by row), so
        those neurons get the bounds the whole split would give them; the other neurons keep their whole-box bounds."""
        hidden = Network(self.a.layers[:-1], source=self.a.source)  # claims are on hidden layers: the output layer's
        if method != "split":  # bounds are never read, and no earlier layer's bounds depend on it
            return by_method(hidden, self.box, method, parts)
        whole = by_method(hidden, self.box, "symbolic", parts)
        open_rows = [sorted(r for r, p in claims.items() if not _phase_holds(whole[ell - 1], r, p))
                     for ell, claims in enumerate(self.claim.phases.layers, start=1)]
        depth = max((ell for ell, rows in enumerate(open_rows, start=1) if rows), default=0)
        if not depth:
            return whole
        last = self.a.layers[depth - 1]
        if last.stored_weight.dtype == object or last.stored_bias.dtype == object:  # rows of Fractions may turn
            rows, cut = np.arange(len(last.stored_bias)), last  # into floats, which changes the float path's terms
        else:
            rows = np.array(open_rows[depth - 1])
            cut = Layer(last.stored_weight[rows], last.stored_bias[rows], last.activation)
        first = Network([*self.a.layers[: depth - 1], cut], source=self.a.source)
        known = [*whole[: depth - 1], LayerBounds(whole[depth - 1].lower[rows], whole[depth - 1].upper[rows])]
        split = split_bounds(first, self.box, parts=parts, whole=known)
        lower, upper = whole[depth - 1].lower.copy(), whole[depth - 1].upper.copy()
        lower[rows], upper[rows] = split[-1].lower, split[-1].upper
        return [*split[:-1], LayerBounds(lower, upper), *whole[depth:]]

    def _classify(self, ell: int, lay: LayerClaim | None) -> list[NeuronClaim]:
        """Layer ℓ's per-neuron claims (the output layer's: z_s ≡ z'_s); records the expected obligation ids and the
        lemmas used."""
        if lay is None:
            self.expected[f"L{ell}.linear"] = list(range(self.a.output_size))
            return [TargetClaim(s, s, Fraction(1)) for s in range(self.a.output_size)]
        act = self.a.layers[ell - 1].activation
        reps = ghost_representatives(lay)
        phases = {} if self.claim.phases is None else self.claim.phases.layers[ell - 1]
        claims: list[NeuronClaim] = []
        used: dict[tuple[int, int, int, int], tuple[Fraction, Fraction]] = {}
        for s, m in enumerate(lay.maps):
            if m.reason == "inactive":
                claims.append(InactiveClaim(s, phases.get(s, 0)))
            elif m.reason == "linear":
                terms = tuple(DomainTermClaim(j, c, phase_slope(act, phases, witness(lay, j, act, phases)
                                                                if j < lay.width else reps[j - lay.width]))
                              for j, c in m.terms)
                claims.append(DomainClaim(s, phase_slope(act, phases, s), terms, m.offset))
            elif not m.terms:
                claims.append(ConstantClaim(s, m.offset))
            else:
                ((j, c),) = m.terms  # _shape rejected every other form
                claims.append(TargetClaim(s, j, c) if j < lay.width else GhostClaim(s, reps[j - lay.width], c))
                used[(c.numerator, c.denominator, m.offset.numerator, m.offset.denominator)] = (c, m.offset)
        self.lemmas.update((act, c, o) for c, o in used.values())  # (hashing ints, not Fractions, per neuron)
        for kind in CLAIM_KINDS:
            group = [c.neuron for c in claims if isinstance(c, kind)]
            if group:
                self.expected[f"L{ell}.{kind.obligation}"] = group
        return claims

    def _z3(self, claims: list[tuple[LayerCheck, NeuronClaim]]) -> list[str]:
        """z3 re-check of every neuron claim (or an evenly spaced sample when over the budget)."""
        if self.solver_check == "none" or not claims:
            return []
        costs = [lay.cost(c) for lay, c in claims]
        chosen = range(len(claims))
        if self.solver_check == "auto" and sum(costs) > Z3_TERM_BUDGET:
            if Z3_TERM_BUDGET <= 0:
                return []
            step = sum(costs) / Z3_TERM_BUDGET
            chosen = sorted({min(len(claims) - 1, round(i * step)) for i in range(int(len(claims) / step) + 1)})
        reasons = []
        for i in chosen:
            lay, c = claims[i]
            verdict = lay.z3(c, self.timeout_ms)
            if verdict:
                reasons.append(verdict)
        return reasons

    def _lemma_reasons(self) -> list[str]:
        """Derived lemmas must equal the listed ones, with the right basis, and each must hold."""
        out = []
        derived = {(act.kind, act.alpha, c, o): (act, c, o) for act, c, o in self.lemmas}
        if set(derived) != set(self.claim.lemmas):
            out.append(f"activation lemmas: certificate lists {len(self.claim.lemmas)}, the relation uses {len(derived)} "
                       f"(differ: {sorted(map(str, set(derived) ^ set(self.claim.lemmas)))[:2]})")
        for key, (act, c, o) in sorted(derived.items(), key=str):
            text = f"{act}({fraction_str(c)}*z) == {fraction_str(c)}*{act}(z) + {fraction_str(o)}"
            axiom = AXIOMS.get((act.kind, c, o))
            basis = ("trivial" if (c, o) == (1, 0) else "axiom" if axiom else
                     "theorem" if act.piecewise_linear else "invalid")
            if key in self.claim.lemmas and self.claim.lemmas[key] != (basis, axiom):
                out.append(f"activation lemma {text}: certificate says {self.claim.lemmas[key]}, expected {(basis, axiom)}")
            why = _lemma_false(act, c, o, self.timeout_ms) if basis in ("theorem", "invalid") else None
            if why:
                out.append(f"activation lemma {text} is not admitted: {why}")
        return out

    def _listed_reasons(self) -> list[str]:
        """The certificate must list exactly the obligations re-derived here, each 'proved'."""
        expected = dict(self.expected)
        for act, c, o in self.lemmas:
            expected[f"act.{act}:c={fraction_str(c)}:o={fraction_str(o)}"] = []
        listed = self.claim.obligations
        out = [f"obligation {i} is not listed in the certificate" for i in expected if i not in listed]
        out += [f"obligation {i} is listed but does not follow from the relation" for i in listed if i not in expected]
        for i, neurons in expected.items():
            if i in listed and (listed[i][0] != "proved" or listed[i][1] != neurons):
                out.append(f"obligation {i}: certificate lists it as {listed[i][0]} for neurons {listed[i][1][:5]}, "
                           f"re-derived for {neurons[:5]}")
        return out


def _phase_holds(b: LayerBounds, r: int, phase: int) -> bool:
    """Neuron r's phase claim (-1: z <= 0, +1: z >= 0) holds within the bounds b."""
    return bool(b.upper[r] <= 0 if phase < 0 else b.lower[r] >= 0)


# independent of prove/discharge.py:exact_lemma
def _lemma_false(act: Activation, c: Fraction, o: Fraction, timeout_ms: int) -> str | None:
    """Decide ∀z: σ(cz) = cσ(z) + o for piecewise-linear σ (exactly at z = −1, 0, 1, and with z3); None if true."""
    if not act.piecewise_linear:
        return f"{act} admits only tanh_odd (c=-1, o=0) / sigmoid_reflection (c=-1, o=1)"
    for z in (Fraction(-1), Fraction(0), Fraction(1)):
        if act.exact(c * z) != c * act.exact(z) + o:
            return f"at z={z}: {fraction_str(act.exact(c * z))} vs {fraction_str(c * act.exact(z) + o)}"
    zv = z3.Real("z")
    answer = z3_unsat(sigma(act, q(c) * zv) != q(c) * sigma(act, zv) + q(o), timeout_ms)
    return None if answer == z3.unsat else f"z3 says {answer} for its negation"
