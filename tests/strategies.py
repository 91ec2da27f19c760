"""Hypothesis strategies and planted-network builders shared by tests, plus an exact comparison for sigmoid/tanh.

`build_planted` makes a random MLP in which some hidden neurons are, by construction, duplicates, exact
multiples, negations, constants or dead; `planted_networks` draws such nets for every activation.
`canonical_outputs` evaluates a network exactly on a rational input with sigmoid/tanh values kept symbolic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.exact import as_fractions
from lumpcheck.ir.network import Layer, Network

KINDS = ("base", "copy", "constant", "dead")
# leaky_relu with several slopes: positive homogeneity holds for any alpha
ACTIVATIONS = (
    Activation("identity"),
    Activation("relu"),
    Activation("leaky_relu", Fraction(1, 100)),
    Activation("leaky_relu", Fraction(-1, 2)),
    Activation("leaky_relu", Fraction(3)),
    Activation("sigmoid"),
    Activation("tanh"),
)


def planted_factors(activation: Activation) -> list[Fraction]:
    """Factors c with v' = c·v (+ offset) exact for σ, all exact on float32-derived weights (<= 2 extra bits)."""
    if activation.kind in ("sigmoid", "tanh"):
        return [Fraction(1), Fraction(-1)]
    positive = [Fraction(1), Fraction(2), Fraction(3), Fraction(1, 2), Fraction(3, 4)]
    return positive + [Fraction(-1), Fraction(-3)] if activation.kind == "identity" else positive


@dataclass
class Planted:
    """A network and what was planted in each hidden layer (indices are original neuron indices)."""

    net: Network
    copies: list[list[tuple[int, int, Fraction]]] = field(default_factory=list)  # (neuron, base, c): v = c·v_base
    constants: list[dict[int, Fraction]] = field(default_factory=list)  # neuron -> its rational value
    irrational: list[list[int]] = field(default_factory=list)  # zero rows whose value σ(b) is irrational
    dead: list[list[int]] = field(default_factory=list)  # zero outgoing weights


def _float32_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random weights with float32 significands held as float64, so small multiples stay exact."""
    return rng.standard_normal(shape).astype(np.float32).astype(np.float64)


def build_planted(
    seed: int, activation: Activation, widths: list[int], kinds: list[list[str]], outputs: int = 2
) -> Planted:
    """Random MLP widths[0]-...-outputs, hidden layers of `activation`, identity output; kinds[l][i] says what
    hidden neuron i of hidden layer l+1 is: 'base' (random), 'copy' (c·a random base's incoming vector and
    bias), 'constant' (zero incoming weights), 'dead' (zero outgoing weights)."""
    rng = np.random.default_rng(seed)
    plan = Planted(net=None)  # type: ignore[arg-type]
    layers: list[Layer] = []
    fan_in = widths[0]
    for layer_kinds in kinds:
        n = len(layer_kinds)
        w, b = _float32_values(rng, (n, fan_in)), _float32_values(rng, (n,))
        bases = [i for i, k in enumerate(layer_kinds) if k == "base"] or [0]
        copies, constants, irrational, dead = [], {}, [], []
        for i, kind in enumerate(layer_kinds):
            if kind == "copy" and i not in bases:
                base = int(rng.choice(bases))
                c = planted_factors(activation)[int(rng.integers(len(planted_factors(activation))))]
                w[i], b[i] = w[base] * float(c), b[base] * float(c)  # exact: float32 significand times <= 2 bits
                copies.append((i, base, c))
            elif kind == "constant" and i not in bases:
                w[i] = 0.0
                if not activation.piecewise_linear and rng.random() < 0.5:
                    b[i] = 0.0  # sigmoid(0) = 1/2, tanh(0) = 0: rational
                if activation.piecewise_linear or b[i] == 0:
                    constants[i] = activation.exact(Fraction(b[i]))
                else:
                    irrational.append(i)
            elif kind == "dead" and i not in bases:
                dead.append(i)
        layers.append(Layer(w, b, activation))
        plan.copies.append(copies)
        plan.constants.append(constants)
        plan.irrational.append(irrational)
        plan.dead.append(dead)
        fan_in = n
    layers.append(Layer(_float32_values(rng, (outputs, fan_in)), _float32_values(rng, (outputs,)), IDENTITY))
    for ell, dead in enumerate(plan.dead):  # zeroing whole columns keeps planted rows proportional
        nxt = layers[ell + 1].weight.copy()
        nxt[:, dead] = 0.0
        layers[ell + 1] = Layer(nxt, layers[ell + 1].bias, layers[ell + 1].activation)
    plan.net = Network(layers)
    return plan


@st.composite
def planted_networks(draw: st.DrawFn, activations: tuple[Activation, ...] = ACTIVATIONS, max_width: int = 7) -> Planted:
    """A small planted MLP (1-3 hidden layers) for one of `activations`."""
    activation = draw(st.sampled_from(activations))
    depth = draw(st.integers(1, 3))
    widths = [draw(st.integers(1, 4))]
    kinds = [
        draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=max_width)) for _ in range(depth)
    ]
    return build_planted(draw(st.integers(0, 2**32 - 1)), activation, widths, kinds, outputs=draw(st.integers(1, 3)))


def rational_inputs(n: int) -> st.SearchStrategy[list[Fraction]]:
    """Random rational input vectors (small numerators/denominators, both signs, zero included)."""
    return st.lists(st.fractions(min_value=-4, max_value=4, max_denominator=12), min_size=n, max_size=n)


# ---------------------------------------------------------------- exact comparison with sigmoid/tanh

Form = dict[str, Fraction]  # linear combination of atoms ("" is the constant 1), zero coefficients omitted


def _combine(row: np.ndarray, values: list[Form], bias: Fraction) -> Form:
    out: Form = {"": bias} if bias else {}
    for w, form in zip(row, values):
        if w:
            for atom, c in form.items():
                out[atom] = out.get(atom, Fraction(0)) + w * c
    return {atom: c for atom, c in out.items() if c}


def _activate(activation: Activation, z: Form) -> Form:
    if set(z) <= {""}:  # a rational pre-activation
        q = z.get("", Fraction(0))
        if activation.piecewise_linear or q == 0:
            value = activation.exact(q)
            return {"": value} if value else {}
    if activation.kind == "identity":
        return z
    if activation.kind not in ("sigmoid", "tanh"):
        raise ValueError(f"{activation} of a non-rational value has no canonical form here")
    negate = z[min(z)] < 0  # canonical sign: the first atom (in sorted order) has a positive coefficient
    arg = {atom: -c for atom, c in z.items()} if negate else z
    atom = f"{activation.kind}({';'.join(f'{k}:{c}' for k, c in sorted(arg.items()))})"
    if not negate:
        return {atom: Fraction(1)}
    # tanh(-z) = -tanh(z); sigmoid(-z) = 1 - sigmoid(z): the only identities this proof uses
    return {atom: Fraction(-1)} if activation.kind == "tanh" else {"": Fraction(1), atom: Fraction(-1)}


def canonical_outputs(net: Network, x: list[Fraction]) -> list[Form]:
    """Exact outputs as linear forms over canonical sigmoid/tanh atoms: equal forms prove equal values
    (proof by rewriting with linearity, tanh(-z) = -tanh(z) and sigmoid(-z) = 1 - sigmoid(z) only)."""
    values: list[Form] = [{"": Fraction(v)} if v else {} for v in x]
    for layer in net.layers:
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        values = [_activate(layer.activation, _combine(row, values, bs)) for row, bs in zip(w, b)]
    return values
