"""The graph checker's per-op rules (checker/graph_rules.py) against exact evaluation of the ops themselves.

Ground truth: an input tensor whose channel m = 1 is tied to channel ρ = 0 by a known relation (t_m = r·t_ρ + o, or
both constant), the op applied exactly (ir.graph.evaluate.apply), and the relation read off the output. Every
relation `derive`/`join` return must hold on the output at every position (soundness), and the standard identities
of each op must be derived at all (so a rule that silently gives up is caught too). (issue 14: graph_checker group)
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy

from lumpcheck.checker.graph_document import Claim
from lumpcheck.checker.graph_rules import (derive, exact_root, join, matches, per_channel_values, pool_uniform, relate,
                                           softmax_entries)
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.evaluate import apply
from lumpcheck.ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, GlobalPool, Identity, MaxPool,
                                    Pad, Softmax, Transpose, Window)

F = Fraction
M, RHO, C = 1, 0, 3
SHAPE = (1, C, 3, 3)


def tensor(pair, seed: int = 0) -> np.ndarray:
    """Channel ρ varied (no two equal values, both signs), channel m tied to it by `pair`, channel 2 free."""
    rng = np.random.default_rng(seed)
    x = np.empty(SHAPE, dtype=object)
    base = [F(int(v), 8) for v in rng.choice(np.arange(-40, 41), size=9, replace=False)]
    x[0, RHO] = np.array(base, dtype=object).reshape(3, 3)
    x[0, 2] = np.array([F(int(v), 5) for v in rng.integers(-9, 10, 9)], dtype=object).reshape(3, 3)
    if pair[0] == "lin":
        x[0, M] = np.array([pair[1] * v + pair[2] for v in base], dtype=object).reshape(3, 3)
    else:
        x[0, M], x[0, RHO] = pair[1], pair[2]
        x[0, M] = np.full((3, 3), pair[1], dtype=object)
        x[0, RHO] = np.full((3, 3), pair[2], dtype=object)
    return x


def zero(v) -> bool:
    return sympy.simplify(sympy.sympify(v)) == 0 if isinstance(v, sympy.Basic) else v == 0


def holds(pair, y: np.ndarray) -> bool:
    ym, yr = y[0, M].reshape(-1), y[0, RHO].reshape(-1)
    assert pair[0] in ("lin", "const") and len(pair) == 3, pair
    if pair[0] == "lin":
        return all(zero(a - (pair[1] * b + pair[2])) for a, b in zip(ym, yr))
    return all(zero(a - pair[1]) for a in ym) and all(zero(b - pair[2]) for b in yr)


def channel_values(arr) -> list:
    return per_channel_values(np.asarray(arr, dtype=object).reshape(1, C, 1, 1), SHAPE, 1, 1, C)


RELU, LEAKY = Act(Activation("relu")), Act(Activation("leaky_relu", F(1, 8)))
SIG, TANH, IDENT = Act(Activation("sigmoid")), Act(Activation("tanh")), Act(Activation("identity"))
AFF = Affine(np.array([F(2), F(-3), F(1)], dtype=object).reshape(1, C, 1, 1),
             np.array([F(1, 2), F(1), F(0)], dtype=object).reshape(1, C, 1, 1))
AFF0 = Affine(np.array([F(0), F(0), F(1)], dtype=object).reshape(1, C, 1, 1),
              np.array([F(5), F(-1), F(0)], dtype=object).reshape(1, C, 1, 1))
CLIP = Clip(np.full((1, C, 1, 1), F(-1), dtype=object), np.full((1, C, 1, 1), F(1), dtype=object))
CLIP_UNEVEN = Clip(np.array([F(-1), F(-2), F(0)], dtype=object).reshape(1, C, 1, 1), None)
# γ²/(var + ε) are squares of rationals: 1/16, 4 and 9/4 (ε = 1/4; γ_ρ = 1/2 in (0, 1), γ_m < 0)
BN = BatchNorm(np.array([F(1, 2), F(-4), F(3)], dtype=object), np.array([F(1, 3), F(-2), F(0)], dtype=object),
               np.array([F(1, 2), F(-1), F(0)], dtype=object), np.array([F(15, 4), F(15, 4), F(15, 4)], dtype=object),
               F(1, 4))
BN_FLAT = BatchNorm(np.array([F(1), F(0), F(1)], dtype=object), np.array([F(1, 3), F(7), F(0)], dtype=object),
                    np.array([F(0), F(0), F(0)], dtype=object), np.array([F(3), F(3), F(3)], dtype=object), F(1))
# γ/√(var + ε) irrational (√2) and γ < 0: a constant away from the mean has no rational image
BN_IRR = BatchNorm(np.array([F(-1), F(-1), F(1)], dtype=object), np.array([F(0), F(0), F(0)], dtype=object),
                   np.array([F(0), F(0), F(0)], dtype=object), np.array([F(1), F(1), F(1)], dtype=object), F(1))
WIN = Window((2, 2), (1, 1), (0, 0, 0, 0), (1, 1))
PADDED = Window((2, 2), (1, 1), (1, 1, 1, 1), (1, 1))
AVG = AveragePool(PADDED, count_include_pad=True)  # zero pads counted: pool(1) is not 1 at the border
PAD = Pad((0, 0, 1, 1, 0, 0, 1, 1), F(1, 2))
SOFT = Softmax((2, 3))


def ctx_of(op) -> dict:
    """What the checker's context holds for an op (checker/graph_claims.py), built from the public helpers."""
    if isinstance(op, Affine):
        return {"affine": (channel_values(op.scale), channel_values(op.shift))}
    if isinstance(op, Clip):
        none = [None] * C
        return {"bounds": (channel_values(op.lower) if op.lower is not None else none,
                           channel_values(op.upper) if op.upper is not None else none)}
    if isinstance(op, AveragePool):
        return {"uniform": pool_uniform(op, SHAPE[2:])}
    if isinstance(op, Softmax):
        return {"softmax_n": softmax_entries(op, SHAPE)}
    return {}


LIN = lambda r, o: ("lin", F(r), F(o))  # noqa: E731
CONST = lambda a, b: ("const", F(a), F(b))  # noqa: E731
# (op, input relation, must a relation be derived)
CASES = [
    (IDENT, LIN(-3, F(1, 2)), True), (Identity(), LIN(2, 1), True), (Transpose((0, 1, 3, 2)), LIN(2, 1), True),
    (RELU, LIN(2, 0), True), (RELU, LIN(-1, 0), False), (RELU, LIN(2, F(1, 3)), False), (RELU, CONST(F(3, 2), -1), True),
    (LEAKY, LIN(3, 0), True), (LEAKY, CONST(-2, 1), True),
    (SIG, LIN(1, 0), True), (SIG, LIN(-1, 0), True), (SIG, CONST(0, 0), True), (SIG, CONST(1, 0), False),
    (TANH, LIN(-1, 0), True), (TANH, LIN(1, 0), True), (TANH, CONST(0, 0), True), (TANH, LIN(2, 0), False),
    (AFF, LIN(2, 1), True), (AFF, CONST(3, -1), True), (AFF0, LIN(2, 1), True), (AFF0, CONST(1, 2), True),
    (CLIP, LIN(1, 0), True), (CLIP, LIN(2, 0), False), (CLIP, CONST(3, F(-1, 2)), True), (CLIP, CONST(-3, 2), True),
    (CLIP_UNEVEN, LIN(1, 0), False), (CLIP_UNEVEN, CONST(-5, -5), True),
    (BN, LIN(2, 1), True), (BN, LIN(-1, F(1, 2)), True), (BN, LIN(3, 0), True), (BN, CONST(F(1, 2), 2), True),
    (BN, CONST(7, -1), True), (BN_FLAT, CONST(5, 2), True), (BN_IRR, CONST(1, 1), False), (BN_IRR, CONST(0, 0), True),
    (BN_IRR, LIN(1, 0), True), (BN_FLAT, LIN(2, 1), False),
    (MaxPool(WIN), LIN(2, 1), True), (MaxPool(WIN), LIN(-1, 0), False), (MaxPool(WIN), CONST(3, 4), True),
    (GlobalPool("max"), LIN(F(1, 2), -1), True), (GlobalPool("average"), LIN(-2, 1), True),
    (AveragePool(WIN), LIN(-2, 3), True), (AVG, LIN(3, 0), True), (AVG, LIN(3, 1), False), (AVG, CONST(2, 4), True),
    (AVG, CONST(0, 0), True), (AVG, CONST(1, 0), False),
    (PAD, CONST(F(1, 2), F(1, 2)), True), (PAD, CONST(2, 1), True), (PAD, CONST(2, F(1, 2)), False),
    (PAD, LIN(2, F(-1, 2)), True), (PAD, LIN(2, 0), False), (Pad((0,) * 8), LIN(5, 1), True),
    (SOFT, CONST(3, -1), True), (SOFT, LIN(1, 5), True), (SOFT, LIN(2, 0), False),
]


@pytest.mark.parametrize("op,pair,derivable", CASES, ids=[f"{c[0].kind}-{i}" for i, c in enumerate(CASES)])
def test_derived_relations_hold_on_the_ops_output(op, pair, derivable):
    for seed in (0, 1):
        x = tensor(pair, seed)
        assert holds(pair, x)
        out = derive(op, pair, M, RHO, ctx_of(op))
        if derivable:
            assert out is not None, (op.kind, pair)
        if out is not None:
            assert holds(out, apply(op, [x], exact=True)), (op.kind, pair, out)


def test_phase_claims_on_the_box_give_the_stable_slopes():
    """With verified phases, an active channel is the identity and an inactive one is α·x (ReLU: 0)."""
    x = tensor(LIN(-2, 1))  # channel m = -2·ρ + 1
    for op, alpha in ((RELU, F(0)), (LEAKY, F(1, 8))):
        for pm, pr in (("active", "active"), ("inactive", "active"), ("inactive", "inactive"), ("active", "inactive")):
            out = derive(op, LIN(-2, 1), M, RHO, {"phases": {M: pm, RHO: pr, 2: None}})
            # the ground truth under the phases: each channel multiplied by its stable slope
            s = {"active": F(1), "inactive": alpha}
            y = x.copy()
            y[0, M] = x[0, M] * s[pm]
            y[0, RHO] = x[0, RHO] * s[pr]
            if alpha != 0 or pr == "active" or pm == "inactive":
                assert out is not None, (op.kind, pm, pr)
            if out is not None:
                assert holds(out, y), (op.kind, pm, pr, out)
        assert derive(op, LIN(-2, 1), M, RHO, {"phases": {M: "active", RHO: None, 2: None}}) is None
        out = derive(op, CONST(3, -2), M, RHO, {"phases": {M: "active", RHO: "inactive", 2: None}})
        assert out == ("const", F(3), alpha * -2)


BINARY_CASES = [
    ("add", LIN(2, 1), LIN(2, -3), True), ("sub", LIN(2, 1), LIN(2, -3), True), ("add", LIN(2, 1), LIN(3, 0), False),
    ("add", LIN(2, 1), CONST(5, 1), True), ("sub", LIN(2, 1), CONST(5, 1), True),
    ("add", CONST(5, 1), LIN(2, 1), True), ("sub", CONST(5, 1), LIN(-2, 1), True),
    ("add", CONST(5, 1), CONST(-1, 2), True), ("sub", CONST(5, 1), CONST(-1, 2), True),
    ("max", CONST(5, 1), CONST(-1, 2), True), ("min", CONST(5, 1), CONST(-1, 2), True),
    ("max", LIN(2, 1), LIN(2, 1), True), ("min", LIN(3, -1), LIN(3, -1), True),
    ("max", LIN(F(1, 2), 1), LIN(F(1, 2), 1), True), ("max", LIN(-2, 1), LIN(-2, 1), False),
    ("max", LIN(2, 1), LIN(2, 0), False),
]


@pytest.mark.parametrize("kind,a,b,derivable", BINARY_CASES)
def test_joined_relations_hold_on_the_ops_output(kind, a, b, derivable):
    x, u = tensor(a, 0), tensor(b, 1)
    if a[0] == "lin" and b[0] == "lin":
        u = tensor(b, 0)  # the same ρ channel: both relations tie m to the same varying values
        u[0, RHO] = x[0, RHO] * 3 - 1 if a[1] != b[1] or kind in ("max", "min") else u[0, RHO]
        u[0, M] = np.array([b[1] * v + b[2] for v in u[0, RHO].reshape(-1)], dtype=object).reshape(3, 3)
    out = join(Binary(kind), a, b)
    if derivable:
        assert out is not None, (kind, a, b)
    if out is not None:
        assert holds(out, apply(Binary(kind), [x, u], exact=True)), (kind, a, b, out)
    assert join(Binary(kind), None, b) is None and join(Binary(kind), a, None) is None


def test_relate_and_matches():
    claims = {M: Claim(M, 2, F(3), F(1)), RHO: Claim(RHO, 2, F(-1, 2), F(2))}
    assert relate(claims, M, RHO) == ("lin", F(-6), F(13))  # t_m = 3X + 1, t_ρ = -X/2 + 2
    assert relate({M: Claim(M, RHO, F(3), F(1))}, M, RHO) == ("lin", F(3), F(1))
    assert relate({RHO: Claim(RHO, M, F(2), F(1))}, M, RHO) == ("lin", F(1, 2), F(-1, 2))
    assert relate({M: Claim(M, None, F(0), F(4)), RHO: Claim(RHO, None, F(0), F(-1))}, M, RHO) == ("const", F(4), F(-1))
    assert relate({M: Claim(M, None, F(0), F(4))}, M, RHO) is None
    assert relate({RHO: Claim(RHO, None, F(0), F(4))}, M, RHO) is None
    assert relate({M: Claim(M, 2, F(1), F(0))}, M, RHO) is None  # different representatives
    claim = Claim(M, RHO, F(3), F(1))
    assert matches(claim, ("lin", F(3), F(1)))
    assert not matches(claim, ("lin", F(3), F(2))) and not matches(claim, ("lin", F(2), F(1)))
    assert not matches(claim, None)
    assert matches(Claim(M, RHO, F(2), F(1)), ("const", F(5), F(2))) and not matches(claim, ("const", F(5), F(2)))


def test_exact_root():
    assert exact_root(F(9, 4)) == F(3, 2) and exact_root(F(0)) == 0
    assert exact_root(F(2)) is None and exact_root(F(9, 2)) is None and exact_root(F(-4)) is None


def test_per_channel_values():
    assert channel_values([F(1), F(-2), F(3)]) == [1, -2, 3]
    # channels on the last axis with an inner block of 2 positions (a flattened NHWC-like layout)
    arr = np.array([F(1), F(1), F(2), F(2), F(3), F(3)], dtype=object).reshape(1, 6)
    assert per_channel_values(arr, (2, 6), 1, 2, 3) == [1, 2, 3]
    assert per_channel_values(arr, (1, 6), 1, 2, 3) == [1, 2, 3]  # one value per position, each channel twice
    assert per_channel_values(arr, (2, 6), 1, 1, 3) is None  # channel 0 would hold 1 and 2
    varying = np.array([[F(1), F(2)], [F(3), F(3)]], dtype=object).reshape(1, 2, 2, 1)
    assert per_channel_values(varying, (1, 2, 2, 1), 1, 1, 2) is None  # varies inside channel 0
    assert per_channel_values(np.array(F(5)), (1, 2, 2, 2), 1, 1, 2) == [5, 5]
