"""VNN-LIB reader: exact input boxes, disjunctions, output constraints, line-numbered errors, the zoo's files."""

from fractions import Fraction
from pathlib import Path

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.errors import ModelFormatError, UnsupportedModelError
from lumpcheck.io.vnnlib import OutputAtom, domain_box, in_region, read_box, read_vnnlib, version2

ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"


@pytest.fixture
def zoo() -> Path:
    if not ZOO.is_dir():
        pytest.skip(f"network zoo not found at {ZOO}")
    return ZOO


def declarations(n_in: int, n_out: int) -> str:
    xs = "".join(f"(declare-const X_{i} Real)\n" for i in range(n_in))
    return xs + "".join(f"(declare-const Y_{j} Real)\n" for j in range(n_out))


def spec_of(tmp_path: Path, body: str, n_in: int = 2, n_out: int = 2):
    path = tmp_path / "p.vnnlib"
    path.write_text(declarations(n_in, n_out) + body)
    return read_vnnlib(path)


def test_separate_bound_assertions_give_one_exact_box(tmp_path):
    spec = spec_of(
        tmp_path,
        """; a comment (with parens) ; and more
(assert (<= X_0 0.6))   ; trailing comment
(assert (>= X_0 -0.3))
(assert (<= X_1 1e-3))
(assert (>= X_1 (- 0.5)))
(assert (<= Y_0 Y_1))
""",
    )
    assert spec.n_inputs == 2 and spec.n_outputs == 2 and len(spec.boxes) == 1
    box = spec.boxes[0]
    assert box.lower == (Fraction(-3, 10), Fraction(-1, 2))
    assert box.upper == (Fraction(3, 5), Fraction(1, 1000))  # the decimals, not their float64 roundings
    assert spec.output_constraint == "(assert (<= Y_0 Y_1))"
    assert spec.output_dnf == ((OutputAtom((Fraction(1), Fraction(-1)), "<=", Fraction(0)),),)
    assert box.output_constraints == ("(assert (<= Y_0 Y_1))",)


def test_and_form_with_reversed_scaled_and_equality_bounds(tmp_path):
    spec = spec_of(
        tmp_path,
        """(assert (and (>= 1.5E+1 X_0) (<= (* 2 X_0) 7) (>= X_0 -2.5e-1) (= X_1 (/ 1 3)) (< X_1 1)))
(assert (>= (+ Y_0 (* -3 Y_1) 1) 0.5))
""",
    )
    (box,) = spec.boxes
    assert box.lower == (Fraction(-1, 4), Fraction(1, 3)) and box.upper == (Fraction(7, 2), Fraction(1, 3))
    # Y_0 - 3 Y_1 + 1 >= 1/2  <=>  -Y_0 + 3 Y_1 <= 1/2
    assert spec.output_dnf == ((OutputAtom((Fraction(-1), Fraction(3)), "<=", Fraction(1, 2)),),)


def test_or_of_input_boxes_and_their_hull(tmp_path):
    spec = spec_of(
        tmp_path,
        """(assert (or
    (and (<= X_0 1) (>= X_0 0) (<= X_1 -0.5) (>= X_1 -1))
    (and (<= X_0 3) (>= X_0 2) (<= X_1 1) (>= X_1 0.5))
))
(assert (or (and (<= Y_1 Y_0)) (and (< Y_0 -2))))
""",
    )
    assert [b.lower for b in spec.boxes] == [(0, -1), (2, Fraction(1, 2))]
    assert [b.upper for b in spec.boxes] == [(1, Fraction(-1, 2)), (3, 1)]
    hull = domain_box(spec)
    assert hull.lower == (0, -1) and hull.upper == (3, 1)
    assert all(hull.contains(b.lower) and hull.contains(b.upper) for b in spec.boxes)
    assert [[(a.coeffs, a.op, a.bound) for a in conj] for conj in spec.output_dnf] == [
        [((-1, 1), "<=", 0)],
        [((1, 0), "<", -2)],
    ]


def test_mixed_single_disjunct_splits_exactly(tmp_path):
    spec = spec_of(tmp_path, "(assert (or (and (>= X_0 -1) (<= X_0 1) (>= Y_0 100))))\n", n_in=1, n_out=1)
    assert spec.boxes[0].lower == (-1,) and spec.boxes[0].upper == (1,)
    assert spec.output_dnf == ((OutputAtom((Fraction(-1),), "<=", Fraction(-100)),),)


def test_mixed_disjuncts_keep_text_only_and_project_the_boxes(tmp_path):
    body = "(assert (or (and (>= X_0 0) (<= X_0 1) (>= Y_0 1)) (and (>= X_0 2) (<= X_0 3) (<= Y_0 0))))"
    spec = spec_of(tmp_path, body + "\n", n_in=1, n_out=1)
    assert spec.output_dnf is None and spec.output_constraint == body
    assert [(b.lower, b.upper) for b in spec.boxes] == [((0,), (1,)), ((2,), (3,))]


def test_output_atom_mentioning_an_input_has_no_parsed_form(tmp_path):
    spec = spec_of(tmp_path, "(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= Y_0 X_0))\n", n_in=1, n_out=1)
    assert spec.output_dnf is None and spec.output_constraint == "(assert (<= Y_0 X_0))"


def test_duplicate_disjuncts_merge_and_empty_ones_drop(tmp_path):
    spec = spec_of(
        tmp_path,
        "(assert (or (and (<= X_0 1) (>= X_0 0)) (and (>= X_0 0) (<= X_0 1)) (and (<= X_0 0) (>= X_0 5))))\n",
        n_in=1,
        n_out=0,
    )
    assert [(b.lower, b.upper) for b in spec.boxes] == [((0,), (1,))]
    assert spec.output_constraint == "" and spec.output_dnf == ((),)


def error_of(tmp_path: Path, text: str, kind: type = ModelFormatError) -> str:
    path = tmp_path / "bad.vnnlib"
    path.write_text(text)
    with pytest.raises(kind) as info:
        read_vnnlib(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    return message


BOX_1D = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOX_1D, "line 1: X_0 has no upper bound"),
        (BOX_1D + "(assert (<= X_0 1)\n", "line 4: unclosed '('"),
        (BOX_1D + "(assert (<= X_0 1)))\n", "line 4: unmatched ')'"),
        (BOX_1D + "(assert (<= X_0 nan))\n", "line 4: 'nan' is neither a number nor a declared variable"),
        (BOX_1D + "(assert (<= X_0 1))\n(assert (<= X_7 1))\n", "line 5: X_7 is used but not declared"),
        (BOX_1D + "(assert (<= X_0 (/ 1 0)))\n", "line 4: division by zero"),
        (BOX_1D + "(assert (<= X_0 1))\n(push 1)\n", "line 5: expected (declare-const"),
        (BOX_1D + "(assert (<= X_0 1.7976931348623157e308))\n", "X_0 has an upper bound of magnitude above 1e300"),
        (BOX_1D + "(assert (<= X_0 1e401))\n", "exponent out of range"),
        (BOX_1D + "(assert (<= X_0 " + "(+ 1 " * 3000 + "0" + ")" * 3000 + "))\n", "nested more than"),
        (BOX_1D + "(assert " + "(and " * 3000 + "(<= X_0 1)" + ")" * 3000 + ")\n", "nested more than"),
        (BOX_1D + "(assert (<= X_0 1))\n(assert (>= X_0 2))\n", "unsatisfiable"),
        ("(declare-const X_0 Real)\n(declare-const X_0 Real)\n", "line 2: X_0 declared twice"),
        ("(declare-const X_0 Int)\n", "line 1: expected (declare-const NAME Real)"),
        ("(declare-const X_1 Real)\n", "X_0 is not declared"),
        ("(declare-const Y_0 Real)\n", "no input variables"),
        (BOX_1D + "(assert (<= X_0 1))\n(assert (or))\n", "line 5: (or) without disjuncts is false"),
        (BOX_1D + "(assert (and (<= X_0 1) (or)))\n", "line 4: (or) without disjuncts is false"),
        (BOX_1D + "(assert (<= X_0 [1))\n", "line 4: unexpected '['"),
    ],
)
def test_malformed_properties_name_file_and_line(tmp_path, text, expected):
    assert expected in error_of(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOX_1D + "(assert (not (<= X_0 1)))\n", "line 4: unsupported operator 'not'"),
        (BOX_1D + "(assert (<= (* X_0 Y_0) 1))\n", "line 4: product of variables is not linear"),
        ("(declare-const X_0 Real)(declare-const X_1 Real)(assert (<= X_0 X_1))", "line 1: input constraint over X_0, X_1"),
        ("(declare-const Z Real)\n", "line 1: variable 'Z'"),
        (BOX_1D + "(assert (<= X_0 1))\n(assert (<= 1 2))\n", "line 5: constraint without variables"),
    ],
)
def test_unsupported_properties_are_reported(tmp_path, text, expected):
    assert expected in error_of(tmp_path, text, UnsupportedModelError)


def test_read_box_checks_the_input_count(tmp_path):
    path = tmp_path / "p.vnnlib"
    path.write_text(BOX_1D + "(assert (<= X_0 1))\n")
    assert read_box(path, n_inputs=1).upper == (1,)
    with pytest.raises(ModelFormatError, match="declares 1 inputs but the network has 5"):
        read_box(path, n_inputs=5)


@pytest.mark.zoo
def test_every_zoo_property_parses(zoo):
    files = sorted(zoo.rglob("*.vnnlib"))
    assert len(files) >= 20
    for path in files:
        spec = read_vnnlib(path)
        box = domain_box(spec)
        assert box.dim == spec.n_inputs and all(lo <= hi for lo, hi in zip(box.lower, box.upper)), path
        assert spec.output_constraint.count("Y_") > 0, path


@pytest.mark.zoo
@pytest.mark.parametrize("k", range(1, 11))
def test_acas_properties_are_five_dimensional_boxes(zoo, k):
    spec = read_vnnlib(zoo / f"vnncomp2021/benchmarks/acasxu/prop_{k}.vnnlib")
    assert spec.n_inputs == 5 and spec.n_outputs == 5
    assert len(spec.boxes) == (2 if k == 6 else 1)
    assert spec.output_dnf is not None
    box = domain_box(spec)
    assert all(Fraction(-1) <= lo <= hi <= Fraction(1) for lo, hi in zip(box.lower, box.upper))  # normalised inputs


@pytest.mark.zoo
def test_acas_property_2_bounds_are_the_decimals_of_the_file(zoo):
    box = read_box(zoo / "vnncomp2021/benchmarks/acasxu/prop_2.vnnlib", n_inputs=5)
    assert box.lower == tuple(Fraction(s) for s in ("0.6", "-0.5", "-0.5", "0.45", "-0.5"))
    assert box.upper == tuple(Fraction(s) for s in ("0.679857769", "0.5", "0.5", "0.5", "-0.45"))


@pytest.mark.zoo
@pytest.mark.parametrize("name", ["prop_0_0.03", "prop_0_0.05", "prop_1_0.03"])
def test_mnistfc_properties_are_784_dimensional(zoo, name):
    spec = read_vnnlib(zoo / f"vnncomp2021/benchmarks/mnistfc/{name}.vnnlib")
    assert spec.n_inputs == 784 and spec.n_outputs == 10 and len(spec.boxes) == 1
    box = spec.boxes[0]
    assert all(0 <= lo <= hi <= 1 for lo, hi in zip(box.lower, box.upper))
    assert len(spec.output_dnf) == 9  # "some other class scores at least as high": one disjunct per class


def _bound(name: str, op: str, value: Fraction) -> str:
    return f"({op} {name} (/ {value.numerator} {value.denominator}))"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_in_region_agrees_with_z3_on_the_written_bounds(tmp_path, data):
    """in_region (strict bounds strict, an `or` of boxes not its hull) against z3 on the file's own text, with the
    point substituted: the independent ground truth. Points are drawn on the bounds and between them."""
    n = data.draw(st.integers(1, 2))
    values = st.fractions(-2, 2, max_denominator=2)
    disjuncts, edges = [], set()
    for _ in range(data.draw(st.integers(1, 3))):
        atoms = []
        for i in range(n):
            lo, hi = sorted((data.draw(values), data.draw(values)))
            if data.draw(st.booleans()):
                atoms.append(_bound(f"X_{i}", data.draw(st.sampled_from([">=", ">"])), lo))
                atoms.append(_bound(f"X_{i}", data.draw(st.sampled_from(["<=", "<"])), hi))
            else:
                atoms.append(_bound(f"X_{i}", "=", lo))
            edges |= {lo, hi}
        disjuncts.append(f"(and {' '.join(atoms)})")
    text = declarations(n, 1) + f"(assert (or {' '.join(disjuncts)}))\n"
    path = tmp_path / "in_region.vnnlib"
    path.write_text(text)
    candidates = sorted(edges | {(u + v) / 2 for u in edges for v in edges})
    x = [data.draw(st.sampled_from(candidates)) for _ in range(n)]
    solver = z3.Solver()
    solver.add(z3.parse_smt2_string(text))
    solver.add(*[z3.Real(f"X_{i}") == z3.RealVal(str(v)) for i, v in enumerate(x)])
    try:
        expected = solver.check() == z3.sat
        assert in_region(path, x) == expected, (text, x)
    except ModelFormatError:  # every disjunct empty: the reader refuses the file, and then no point is in it
        assert not expected


def test_a_strict_bound_excludes_its_end_point(tmp_path):
    path = tmp_path / "strict.vnnlib"
    path.write_text(declarations(1, 1) + "(assert (> X_0 0))\n(assert (< X_0 1))\n")
    assert read_box(path).lower == (0,) and read_box(path).upper == (1,)  # the closed box: sound for unsat
    assert not in_region(path, [Fraction(1)]) and not in_region(path, [Fraction(0)])
    assert in_region(path, [Fraction(1, 2)])
    path.write_text(declarations(1, 1) + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n")
    assert in_region(path, [Fraction(1)]) and in_region(path, [Fraction(0)])


def test_a_property_rewritten_in_place_is_read_again(tmp_path):
    """read_vnnlib is memoised by the file's bytes, not its name or time: the same name with other bounds of the
    same length (written within one clock tick) gives the new box, and a file made malformed gives the error."""
    path = tmp_path / "p.vnnlib"
    for lower, upper in (("0.25", "0.50"), ("0.50", "0.75"), ("0.25", "0.50")):
        path.write_text(f"(declare-const X_0 Real)\n(assert (>= X_0 {lower}))\n(assert (<= X_0 {upper}))\n")
        assert read_box(path).lower == (Fraction(lower),) and read_box(path).upper == (Fraction(upper),)
    path.write_text("(declare-const X_0 Real)\n(assert (>= X_0 0.25))\n")
    with pytest.raises(ModelFormatError, match="X_0 has no upper bound"):
        read_box(path)


def test_only_a_version_command_makes_a_file_vnnlib_2(tmp_path):
    """The words in a comment do not: such a 1.0 file reads as 1.0."""
    path = tmp_path / "p.vnnlib"
    path.write_text("; generated from a vnnlib-version 1.0 template\n" + BOX_1D + "(assert (<= X_0 1))\n")
    assert not version2(path) and read_box(path).upper == (1,)
    path.write_text("; a 2.0 file\n(vnnlib-version <2.0>)\n")
    assert version2(path)
