"""Discharge obligations with exact integer algebra: the proof itself (z3 re-checks it as a second engine).

Each `exact_*` function returns the first failing coefficient as a `Mismatch` with both exact values, or None when
the obligation holds.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..ir.exact import fraction_str, to_fraction
from .obligations import (
    ActivationLemma,
    BoundsObligation,
    ConstantObligation,
    DomainObligation,
    GhostObligation,
    InactiveObligation,
    LinearObligation,
    Mismatch,
    int_array,
    integer_form,
)


def exact_linear(ob: LinearObligation) -> Mismatch | None:
    """Compare both affine forms coefficient by coefficient in exact integer arithmetic; first mismatch or None."""
    sub = ob.pre.exact
    rows = [t.neuron for t in ob.targets]
    p = int_array(t.factor.numerator for t in ob.targets)[:, None]
    q = int_array(t.factor.denominator for t in ob.targets)[:, None]
    rm, rd = integer_form(ob.reduced_weight)
    rb, rbd = integer_form(ob.reduced_bias)
    width = ob.reduced_weight.shape[1]
    cls = [t.cls for t in ob.targets]
    den = int_array(sub.den[:width])[None, :]
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
    p = int_array(g.factor.numerator for g in ob.members)[:, None]
    q = int_array(g.factor.denominator for g in ob.members)[:, None]
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
    """Every claimed phase holds by the recomputed bounds (sound: see bounds/propagate.py)."""
    bounds = ob.source.layers[ob.layer - 1]
    for c in ob.claims:
        if c.phase < 0 and not bounds.upper[c.neuron] <= 0:
            return Mismatch(c.neuron, "claimed inactive: upper bound (vs 0)", to_fraction(bounds.upper[c.neuron]), Fraction(0))
        if c.phase > 0 and not bounds.lower[c.neuron] >= 0:
            return Mismatch(c.neuron, "claimed active: lower bound (vs 0)", to_fraction(bounds.lower[c.neuron]), Fraction(0))
    return None


def exact_inactive(ob: InactiveObligation) -> Mismatch | None:
    """Each neuron is claimed inactive, and σ vanishes on z <= 0 (its slope there is 0)."""
    zero = ob.activation.linear_slope(-1)
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
