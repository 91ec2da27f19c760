"""Issue 13.5: `--smtlib` writes scripts that carry every assumption (the box, the phase claims) so that an external
solver alone re-checks the whole claim: every script is unsat for z3 (its binary, else its API) and for cvc5 (its
Python API) when installed; dropping the box, or a wrong reduced model, makes a script sat."""

from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import z3

from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.io import load_model
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.network import Layer, Network
from lumpcheck.prove.claim_smt import claim_scripts
from lumpcheck.reduction.domain import reduce_on_domain
from lumpcheck.reduction.lumping import reduce

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def z3_answer(text: str, tmp_path: Path) -> str:
    """z3's binary on the file when installed (what a user runs), else z3's API on the same text."""
    binary = shutil.which("z3")
    if binary:
        f = tmp_path / "q.smt2"
        f.write_text(text)
        return subprocess.run([binary, "-T:60", str(f)], capture_output=True, text=True, timeout=90).stdout.strip()
    solver = z3.Solver()
    solver.from_string(text)
    return str(solver.check())


def cvc5_answer(text: str) -> str:
    cvc5 = pytest.importorskip("cvc5", reason="cvc5 not installed (pip install cvc5): cvc5 re-check skipped")
    tm = cvc5.TermManager()
    solver, symbols = cvc5.Solver(tm), cvc5.SymbolManager(tm)
    parser = cvc5.InputParser(solver, symbols)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "script")
    answers = []
    while not (cmd := parser.nextCommand()).isNull():
        answer = cmd.invoke(solver, symbols)
        if answer.strip():
            answers.append(answer.strip())
    return answers[-1]


@pytest.fixture(scope="module")
def domain_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smt")
    res = run_reduction(EXAMPLES / "planted_relu.onnx", out / "r.onnx", domain_path=EXAMPLES / "box.vnnlib",
                        cert_path=out / "c.json", smtlib_dir=out / "smt")
    assert res.verdict == "proved" and res.reduction.claims is not None
    return out / "smt", res


def test_the_smtlib_directory_holds_the_whole_claim(domain_run):
    smt, res = domain_run
    names = {p.name for p in smt.glob("*.smt2")}
    layers = len(res.reduction.original.layers)
    assert {f"relation.L{ell}.smt2" for ell in range(1, layers + 1)} <= names
    assert {"phases.L1.smt2", "phases.L2.smt2"} <= names
    first = (smt / "relation.L1.smt2").read_text()
    box = read_box(EXAMPLES / "box.vnnlib")
    assert first.count("(assert (and (<= ") == box.dim  # the box travels with the script
    assert "(assert (<= o_z1_" in first or "(assert (>= o_z1_" in first  # and the layer's phase claims


def test_z3_alone_rechecks_every_script(domain_run, tmp_path):
    smt, _ = domain_run
    for f in sorted(smt.glob("*.smt2")):
        assert z3_answer(f.read_text(), tmp_path) == "unsat", f.name


def test_cvc5_alone_rechecks_every_claim_script(domain_run):
    smt, _ = domain_run
    for f in sorted([*smt.glob("phases.*.smt2"), *smt.glob("relation.*.smt2")]):
        assert cvc5_answer(f.read_text()) == "unsat", f.name


def test_without_the_box_the_claim_does_not_hold(domain_run, tmp_path):
    """The box is an assumption the scripts must carry: without it some phase claim fails (sat)."""
    smt, _ = domain_run
    answers = []
    for f in sorted(smt.glob("phases.L*.smt2")):
        unboxed = re.sub(r"\(assert \(and \(<= [^\n]*\n", "", f.read_text())
        assert unboxed != f.read_text()
        answers.append(z3_answer(unboxed, tmp_path))
    assert "sat" in answers


def test_a_wrong_reduced_model_makes_a_relation_script_sat(domain_run, tmp_path):
    _, res = domain_run
    red = res.reduction
    net = red.network
    last = net.layers[-1]
    bias = np.array(last.bias, dtype=object)
    bias[0] = Fraction(bias[0]) + Fraction(1, 2**40)  # a 2^-40 change of one output bias
    wrong = Network([*net.layers[:-1], Layer(last.weight, bias, last.activation)], net.normalization)
    scripts = claim_scripts(red.original, wrong, red.relation, red.domain, red.claims)
    answers = {name: z3_answer(text, tmp_path) for name, text in scripts.items()}
    assert answers[f"relation.L{len(net.layers)}.smt2"] == "sat"
    assert all(a == "unsat" for name, a in answers.items() if name.startswith("phases."))


def test_everywhere_reductions_and_epsilon_claims(tmp_path):
    rng = np.random.default_rng(3)
    w = rng.integers(-4, 5, size=(3, 2)) / 4
    net = Network([Layer(np.vstack([w, 2 * w]), rng.integers(-2, 3, size=6) / 4 * np.array([1, 1, 1, 2, 2, 2]), RELU),
                   Layer(rng.integers(-4, 5, size=(1, 6)) / 4, np.zeros(1))])
    red = reduce(net)
    scripts = claim_scripts(net, red.network, red.relation, None, None)
    assert sorted(scripts) == ["relation.L1.smt2", "relation.L2.smt2"] and "(<= " not in scripts["relation.L1.smt2"]
    assert all(z3_answer(t, tmp_path) == "unsat" for t in scripts.values())
    from lumpcheck.ir.domain import Box
    box = Box((Fraction(-1),) * 2, (Fraction(1),) * 2)
    shifted = Network([*red.network.layers[:-1], Layer(red.network.layers[-1].weight,
                                                       np.array([Fraction(1, 1000)], dtype=object))])
    holds = claim_scripts(net, shifted, red.relation, box, None, epsilon=Fraction(1, 1000))
    fails = claim_scripts(net, shifted, red.relation, box, None, epsilon=Fraction(1, 1001))
    assert z3_answer(holds["claim.smt2"], tmp_path) == "unsat" and z3_answer(fails["claim.smt2"], tmp_path) == "sat"
    on_box = reduce_on_domain(net, box)
    scripts = claim_scripts(net, on_box.network, on_box.relation, box, on_box.claims)
    assert all(z3_answer(t, tmp_path) == "unsat" for t in scripts.values())
