"""A VNN-LIB 2.0 property decided as written (equivalence/written.py), against an independent ground truth: a z3 query
built here from the exact weights (not lumpcheck's encoder), and an exact replay of every witness."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import written_mode
from lumpcheck.equivalence.written import Region, verify_written
from lumpcheck.io.vnnlib import OutputAtom
from lumpcheck.io.vnnlib2 import holds_at, read_vnnlib2
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_float

from pair_helpers import near_copy, random_net

OPS = {"<=": lambda s, b: s <= b, "<": lambda s, b: s < b, "=": lambda s, b: s == b}


def truth(a: Network, b: Network, box: Box, dnf) -> str:
    """'sat' / 'unsat' by a z3 query written here: ReLU as If over the exact rational weights."""
    x = [z3.Real(f"t{i}") for i in range(box.dim)]

    def run(net):
        v = x
        for layer in net.layers:
            z = [z3.Sum([z3.RealVal(str(Fraction(float(w)))) * vi for w, vi in zip(row, v)]) +
                 z3.RealVal(str(Fraction(float(c)))) for row, c in zip(layer.weight, layer.bias)]
            v = [z3.If(t >= 0, t, 0) if layer.activation.kind == "relu" else t for t in z]
        return v

    y = run(a) + run(b)
    s = z3.Solver()
    for xi, lo, hi in zip(x, box.lower, box.upper):
        s.add(xi >= z3.RealVal(str(lo)), xi <= z3.RealVal(str(hi)))
    s.add(z3.Or([z3.And([OPS[t.op](z3.Sum([z3.RealVal(str(c)) * v for c, v in zip(t.coeffs, y)]),
                                   z3.RealVal(str(t.bound))) for t in conj]) for conj in dnf]))
    return str(s.check())


def holds(dnf, y) -> bool:
    return any(all(OPS[t.op](sum(c * v for c, v in zip(t.coeffs, y)), t.bound) for t in conj) for conj in dnf)


def spec_text(n: int, m: int, box: Box, dnf) -> str:
    """The property as a VNN-COMP 2026 file: two networks, tied inputs, the dnf over [Y_f | Y_g]."""
    names = [f"Y_f[{i}]" for i in range(m)] + [f"Y_g[{i}]" for i in range(m)]

    def num(q: Fraction) -> str:
        return f"(/ {q.numerator} {q.denominator})" if q.denominator != 1 else f"(- {-q.numerator})" if q < 0 else str(q)

    def atom(t) -> str:
        terms = " ".join(f"(* {num(c)} {v})" for c, v in zip(t.coeffs, names) if c) or "0"
        return f"({'==' if t.op == '=' else t.op} (+ {terms} 0) {num(t.bound)})"

    lines = ["(vnnlib-version <2.0>)",
             f"(declare-network f (declare-input X_f float32 [{n}]) (declare-output Y_f float32 [{m}]))",
             f"(declare-network g (equal-to f) (declare-input X_g float32 [{n}]) (declare-output Y_g float32 [{m}]))"]
    lines += [f"(assert (and (>= X_f[{i}] {num(lo)}) (<= X_f[{i}] {num(hi)})))" for i, (lo, hi) in
              enumerate(zip(box.lower, box.upper))]
    lines += [f"(assert (== X_g[{i}] X_f[{i}]))" for i in range(n)]
    lines.append("(assert (or " + " ".join("(and " + " ".join(atom(t) for t in conj) + ")" for conj in dnf) + "))")
    return "\n".join(lines) + "\n"


@st.composite
def problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a, b = random_net(rng, [2, 3, 2]), random_net(rng, [2, 4, 2])
    box = Box((Fraction(-1), Fraction(-1, 2)), (Fraction(1), Fraction(3, 4)))
    xs = rng.uniform([-1, -0.5], [1, 0.75], (200, 2))
    ys = np.hstack([evaluate_float(a, xs), evaluate_float(b, xs)])
    dnf = []
    for _ in range(draw(st.integers(1, 2))):
        conj = []
        for _ in range(draw(st.integers(1, 3))):
            coeffs = tuple(Fraction(draw(st.integers(-2, 2))) for _ in range(4))
            coeffs = coeffs if any(coeffs) else (Fraction(1),) + coeffs[1:]  # a file's atom names some output
            op = draw(st.sampled_from(["<=", "<", "<=", "<", "="]))
            low = float(np.min(ys @ np.array([float(c) for c in coeffs])))  # near the sampled minimum: both answers
            conj.append(OutputAtom(coeffs, op, Fraction(round(low * 8), 8) + Fraction(draw(st.integers(-2, 3)), 8)))
        dnf.append(tuple(conj))
    return a, b, box, tuple(dnf)


@settings(max_examples=25)
@given(problems())
def test_as_written_matches_an_independent_z3_query(tmp_path_factory, problem):
    a, b, box, dnf = problem
    p = tmp_path_factory.mktemp("w") / "p.vnnlib"
    p.write_text(spec_text(2, 2, box, dnf))
    spec = read_vnnlib2(p)  # the file round trip: the parser gives back the same exact atoms
    assert [c.box for c in spec.cases] == [Box(box.lower, box.upper, str(p))]
    assert spec.outputs == dnf
    regions = [Region(c.box, lambda x, c=c: holds_at(c, x)) for c in spec.cases]
    res = verify_written(a, b, regions, spec.outputs, 10)  # the differential engine gets at most half
    assert str(res.status) == truth(a, b, box, dnf), res.message
    if res.status == "sat":  # the witness, replayed exactly here: in the box, and the dnf holds at its outputs
        x = res.witness
        assert box.contains(x) and holds(dnf, tuple(evaluate(a, x)) + tuple(evaluate(b, x)))
        assert res.output_a == tuple(evaluate(a, x)) and res.output_b == tuple(evaluate(b, x))


def _identity_and_zero():
    """a(x) = x and b(x) = 0 on x in [0, 1]: max a - b is exactly 1, at x = 1."""
    ident = Activation("identity")
    return Network([Layer(np.array([[1.0]]), np.zeros(1), ident)]), \
        Network([Layer(np.array([[0.0]]), np.zeros(1), ident)]), Box((Fraction(0),), (Fraction(1),))


def test_the_exact_boundary_decides():
    a, b, box = _identity_and_zero()
    regions = [Region(box, lambda x: True)]
    over = ((OutputAtom((Fraction(-1), Fraction(1)), "<", Fraction(-1)),),)  # a - b > 1: never
    assert verify_written(a, b, regions, over, 6).status == "unsat"
    at = ((OutputAtom((Fraction(-1), Fraction(1)), "<=", Fraction(-1)),),)  # a - b >= 1: only at x = 1
    res = verify_written(a, b, regions, at, 6)
    assert res.status == "sat" and res.witness == (Fraction(1),)
    near = ((OutputAtom((Fraction(-1), Fraction(1)), "<", Fraction(-1) + Fraction(1, 2**60)),),)
    assert verify_written(a, b, regions, near, 6).status == "sat"


def test_a_witness_outside_the_written_region_is_never_sat():
    a, b, box = _identity_and_zero()
    anything = ((OutputAtom((Fraction(1), Fraction(0)), "<=", Fraction(5)),),)
    res = verify_written(a, b, [Region(box, lambda x: False)], anything, 30)  # e.g. a strict bound as written
    assert res.status == "unknown" and "strict input bound" in res.message


def test_contradictory_output_assertions_are_unsat_before_any_network_is_run():
    a, b, box = _identity_and_zero()
    band = ((OutputAtom((Fraction(1), Fraction(-1)), "<", Fraction(-1, 20)),  # y_g > y_f + 0.05 and y_g < y_f - 0.05
             OutputAtom((Fraction(-1), Fraction(1)), "<", Fraction(-1, 20))),)
    res = verify_written(a, b, [Region(box, lambda x: True)], band, 30)
    assert res.status == "unsat" and res.engine == "output-assertions"
    assert verify_written(a, b, [Region(box, lambda x: True)], band + ((band[0][1],),), 30).status == "sat"


def test_several_boxes_unsat_needs_every_box():
    a, b, _ = _identity_and_zero()
    boxes = [Box((Fraction(0),), (Fraction(1, 2),)), Box((Fraction(2),), (Fraction(3),))]
    above = ((OutputAtom((Fraction(-1), Fraction(0)), "<", Fraction(-1)),),)  # a > 1: only in the second box
    res = verify_written(a, b, [Region(bx, lambda x: True) for bx in boxes], above, 30)
    assert res.status == "sat" and Fraction(2) <= res.witness[0] <= 3 and "box 2 of the region's 2" in res.message
    assert verify_written(a, b, [Region(boxes[0], lambda x: True)], above, 30).status == "unsat"


@settings(max_examples=30)
@given(problems())
def test_differential_engine_never_contradicts_the_independent_query(problem):
    """Its verdicts agree with the z3 query; its unsat certificates check."""
    a, b, box, dnf = problem
    res = verify(a, b, box, written_mode(dnf), 3, engines=("differential",))
    if res.status in ("sat", "unsat"):
        assert str(res.status) == truth(a, b, box, dnf), res.message
    else:
        assert res.status in ("unknown", "timeout"), res.message
    if res.status == "unsat":  # its certificate re-derived by the independent checker
        assert check_certificate(res.certificate, a, b).valid
    if res.status == "sat":
        assert holds(dnf, tuple(evaluate(a, res.witness)) + tuple(evaluate(b, res.witness)))


def test_differential_engine_decides_an_isomorphic_acasxu_like_band():
    rng = np.random.default_rng(0)
    a = random_net(rng, [5, 20, 20, 5])
    b = near_copy(rng, a, "noise")
    box = Box(tuple(Fraction(v) for v in ("0.6", "-0.5", "-0.5", "0.45", "-0.5")),
              tuple(Fraction(v) for v in ("0.679857769", "0.5", "0.5", "0.5", "-0.45")))
    e = np.eye(10, dtype=int)

    def band(t):  # |Y_g0 - Y_f0| > t, as the 2026 files write it (an `or` of two strict atoms)
        return ((OutputAtom(tuple(Fraction(int(v)) for v in e[0] - e[5]), "<", -t),),
                (OutputAtom(tuple(Fraction(int(v)) for v in e[5] - e[0]), "<", -t),))

    wide = verify(a, b, box, written_mode(band(Fraction(1, 2))), 30, engines=("differential",))
    assert wide.status == "unsat" and wide.engine == "differential"
    narrow = verify(a, b, box, written_mode(band(Fraction(1, 20))), 30, engines=("differential",))
    assert narrow.status == "sat" and box.contains(narrow.witness)
    assert abs(narrow.output_b[0] - narrow.output_a[0]) > Fraction(1, 20)
