"""Planted CNNs and ResNets: small graphs whose channels are, by construction, copies (positive factors),
negated copies, constants, dead, or near misses (a copy with one weight one ulp off), with optional BatchNorm,
pooling, padding and TF-style NHWC flattening. `expected` is the number of producer channels an exact channel
lumping must end with, derived from the plan (not from running the reducer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.evaluate import evaluate_exact, exact_equal_arrays
from lumpcheck.ir.graph.ops import (Act, AveragePool, BatchNorm, Binary, Conv, MatMul, MaxPool, Pad, Reshape, Transpose,
                                    Window)  # fmt: skip

EPS = Fraction(1, 1024)
FACTORS = (Fraction(1), Fraction(2), Fraction(1, 2), Fraction(3), Fraction(3, 4))


@dataclass
class Plan:
    base: int = 2
    copies: list[Fraction] = field(default_factory=lambda: [Fraction(2)])  # one copy of base 0 per factor
    negated: int = 0  # copies with factor −1 (never merge through ReLU)
    constants: list[int] = field(default_factory=list)  # sign of each constant channel's bias (+1 or −1)
    dead: int = 0
    near_miss: bool = False
    bn: bool = False
    act: str = "relu"
    pool: str = "none"  # none | max | avg | avg_pad_include | pad
    conv2_pads: int = 0
    residual: bool = False
    nhwc: bool = False
    base2: int = 2
    copies2: int = 1
    seed: int = 0


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(-1, 1, shape).astype(np.float32).astype(np.float64)


def _conv1(p: Plan, rng: np.random.Generator, cin: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows, bias, kinds = [], [], []
    for _ in range(p.base):
        rows.append(_f32(rng, cin, 3, 3)), bias.append(float(_f32(rng, 1)[0])), kinds.append("base")
    for f in p.copies:
        rows.append(rows[0] * float(f)), bias.append(bias[0] * float(f)), kinds.append(f"copy{f}")
    for _ in range(p.negated):
        rows.append(-rows[1 % p.base]), bias.append(-bias[1 % p.base]), kinds.append("negated")
    for s in p.constants:
        rows.append(np.zeros((cin, 3, 3))), bias.append(s * float(abs(_f32(rng, 1)[0]) + 0.125)), kinds.append(f"const{s}")
    for _ in range(p.dead):
        rows.append(_f32(rng, cin, 3, 3)), bias.append(float(_f32(rng, 1)[0])), kinds.append("dead")
    if p.near_miss:
        near = rows[0].copy()
        near[0, 1, 1] = np.nextafter(near[0, 1, 1], 2.0)
        rows.append(near), bias.append(bias[0]), kinds.append("near")
    return np.stack(rows), np.array(bias), kinds


def _bn(kinds: list[str], copies: list[Fraction], bias: np.ndarray, rng: np.random.Generator) -> BatchNorm:
    """BatchNorm whose parameters keep the planted relations: copy B of A by f has μ_B = f μ_A and
    var_B + ε = f²(var_A + ε), so y_B = y_A; constant channels have μ = their value, so y = β (rational)."""
    n = len(kinds)
    g = [Fraction(float(abs(v)) + 0.25) for v in _f32(rng, n)]
    b = [Fraction(float(v)) for v in _f32(rng, n)]
    m = [Fraction(float(v)) for v in _f32(rng, n)]
    v = [Fraction(float(abs(x)) + 0.5) for x in _f32(rng, n)]
    fi = iter(copies)
    for c, kind in enumerate(kinds):
        if kind.startswith("copy"):
            f = next(fi)
            g[c], b[c], m[c], v[c] = g[0], b[0], f * m[0], f * f * (v[0] + EPS) - EPS
        elif kind.startswith("const"):
            m[c] = Fraction(float(bias[c]))
        elif kind == "near":
            g[c], b[c], m[c], v[c] = g[0], b[0], m[0], v[0]
    return BatchNorm(np.array(g, dtype=object), np.array(b, dtype=object), np.array(m, dtype=object),
                     np.array(v, dtype=object), EPS)  # fmt: skip


def _constant_value(p: Plan, kinds: list[str], c: int, bias: np.ndarray, bn: BatchNorm | None) -> Fraction:
    value = Fraction(bn.bias[c]) if bn is not None else Fraction(float(bias[c]))
    if p.act == "relu":
        return max(value, Fraction(0))
    return value if value >= 0 else value / 10


@dataclass
class Planted:
    graph: Graph
    expected: int
    kinds: list[str]


def build(p: Plan) -> Planted:
    rng = np.random.default_rng(p.seed)
    cin, hw = 2, 6
    w1, b1, kinds = _conv1(p, rng, cin)
    c1 = len(kinds)
    act = Activation("relu") if p.act == "relu" else Activation("leaky_relu", Fraction(1, 10))
    nodes: list[Node] = []

    def add(name: str, op, *inputs: str) -> str:
        nodes.append(Node(name, op, inputs, name))
        return name

    t = add("conv1", Conv(w1, b1, Window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))), "x")
    bn = _bn(kinds, p.copies, b1, rng) if p.bn else None
    if bn is not None:
        t = add("bn1", bn, t)
    h1 = add("act1", Act(act), t)
    position_dependent = p.conv2_pads > 0 or p.residual
    if p.pool == "max":
        h1 = add("pool", MaxPool(Window((2, 2), (2, 2), (0, 0, 0, 0), (1, 1))), h1)
    elif p.pool == "avg":
        h1 = add("pool", AveragePool(Window((2, 2), (2, 2), (0, 0, 0, 0), (1, 1))), h1)
    elif p.pool == "avg_pad_include":
        h1 = add("pool", AveragePool(Window((2, 2), (2, 2), (1, 1, 1, 1), (1, 1)), count_include_pad=True), h1)
        position_dependent = True
    elif p.pool == "pad":
        h1 = add("pool", Pad((0, 0, 1, 0, 0, 0, 0, 1)), h1)
        position_dependent = True
    if p.residual:
        w2 = _f32(rng, c1, c1, 3, 3)
        b2 = _f32(rng, c1)
        fi = iter(p.copies)
        for c, kind in enumerate(kinds):
            if kind.startswith("copy"):
                f = 1.0 if p.bn else float(next(fi))  # the planted BatchNorm maps copies to y_B = y_A
                w2[c], b2[c] = w2[0] * f, b2[0] * f
            elif kind.startswith("const"):
                w2[c] = 0
        t2 = add("conv2", Conv(w2, b2, Window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))), h1)
        h2 = add("act2", Act(act), add("join", Binary("add"), t2, h1))
        c2_expected = 0
    else:
        c2 = p.base2 + p.copies2
        w2 = _f32(rng, c2, c1, 3, 3)
        b2 = _f32(rng, c2)
        for j in range(p.copies2):
            w2[p.base2 + j], b2[p.base2 + j] = w2[j % p.base2] * 2, b2[j % p.base2] * 2
        for c, kind in enumerate(kinds):
            if kind == "dead":
                w2[:, c] = 0
        pads = (p.conv2_pads,) * 4
        h2 = add("act2", Act(act), add("conv2", Conv(w2, b2, Window((3, 3), (1, 1), pads, (1, 1))), h1))
        c2_expected = p.base2
    shape = _shape_after(nodes, (1, cin, hw, hw), h2)
    if p.nhwc:
        h2 = add("nhwc", Transpose((0, 2, 3, 1)), h2)
    flat = add("flatten", Reshape((1, int(np.prod(shape)))), h2)
    n_out = 3
    add("logits", MatMul(_f32(rng, int(np.prod(shape)), n_out), _f32(rng, n_out)), flat)
    g = Graph((TensorSpec("x", (1, cin, hw, hw)),), tuple(nodes), ("logits",))
    nonzero_consts = sum(1 for c, k in enumerate(kinds) if k.startswith("const") and _constant_value(p, kinds, c, b1, bn) != 0)
    kept1 = p.base + p.negated + int(p.near_miss) + (1 if nonzero_consts and position_dependent else 0)
    if p.residual:  # conv1 and conv2 produce the one joined space: both keep the same channels
        c2_expected = kept1
    return Planted(g, kept1 + c2_expected + n_out, kinds)


def _shape_after(nodes: list[Node], x_shape: tuple, name: str) -> tuple:
    g = Graph((TensorSpec("x", x_shape),), tuple(nodes), (name,))
    return g.shapes[name]


@st.composite
def plans(draw, residual: bool | None = None) -> Plan:
    res = draw(st.booleans()) if residual is None else residual
    pool = "none" if res else draw(st.sampled_from(["none", "max", "avg", "avg_pad_include", "pad"]))
    return Plan(
        base=draw(st.integers(1, 3)),
        copies=draw(st.lists(st.sampled_from(FACTORS), max_size=3)),
        negated=draw(st.integers(0, 1)),
        constants=draw(st.lists(st.sampled_from([1, -1]), max_size=2)),
        dead=0 if res else draw(st.integers(0, 2)),
        near_miss=draw(st.booleans()),
        bn=draw(st.booleans()),
        act=draw(st.sampled_from(["relu", "leaky"])),
        pool=pool,
        conv2_pads=draw(st.integers(0, 1)),
        residual=res,
        nhwc=draw(st.booleans()),
        base2=draw(st.integers(1, 2)),
        copies2=draw(st.integers(0, 2)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def rational_inputs(g: Graph, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    to = np.vectorize(lambda v: Fraction(int(v), 16), otypes=[object])
    return {s.name: to(rng.integers(-24, 25, s.shape)) for s in g.inputs}


def assert_same_function(a: Graph, b: Graph, samples: int = 2) -> None:
    for seed in range(samples):
        x = rational_inputs(a, seed)
        ya, yb = evaluate_exact(a, x), evaluate_exact(b, x)
        for name in a.outputs:
            assert exact_equal_arrays(ya[name], yb[name]), name
