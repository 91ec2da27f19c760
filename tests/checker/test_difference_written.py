"""The 'written' claim of differential certificates (checker/difference_written.py): a DNF of output atoms proven false
on the box; the checker re-derives every leaf and refuses tampered or inexact claims."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import written_mode
from lumpcheck.io.sexpr import OutputAtom
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import evaluate

from pair_helpers import near_copy, random_net

M = 3


def atom(i: int, j: int, op: str, bound: Fraction) -> OutputAtom:
    """y_A,i − y_B,j  op  bound over [y_A | y_B]."""
    c = [Fraction(0)] * (2 * M)
    c[i] += 1
    c[M + j] -= 1
    return OutputAtom(tuple(c), op, bound)


@pytest.fixture(scope="module")
def certified():
    rng = np.random.default_rng(11)
    a = random_net(rng, [3, 12, 12, M])
    b = near_copy(rng, a, "noise")
    box = Box((Fraction(-1, 2),) * 3, (Fraction(1, 2),) * 3)
    band = Fraction(3, 2)  # |y_A,0 − y_B,0| > 3/2 written as VNN-COMP 2026 does: (or (> ...) (< ...))
    dnf = ((atom(0, 0, "<", -band),), (atom(0, 0, "<=", band), atom(1, 1, "=", Fraction(7))))
    res = verify(a, b, box, written_mode(dnf), 30, engines=("differential",))
    assert res.status == "unsat" and res.certificate is not None, res.message
    return a, b, res.certificate


def test_a_written_certificate_checks(certified):
    a, b, cert = certified
    result = check_certificate(cert, a, b)
    assert result.valid, result.reasons
    assert result.scope.mode == "written" and result.scope.disjuncts == 2


@pytest.mark.parametrize("tamper, reason", [
    (lambda c: c["claim"]["dnf"][0][0].update(bound="-1/100"), "has no atom proven false"),  # now often true
    (lambda c: c["claim"]["dnf"][1].pop(), "has no atom proven false"),  # only y_A,0 − y_B,0 <= 3/2 is left
    (lambda c: c["claim"]["dnf"][0][0]["coeffs"].__setitem__(0, "1/3"), "not exact in binary64"),
    (lambda c: c["claim"]["dnf"][0][0]["coeffs"].__setitem__(0, str(10 ** 400)), "not exact in binary64"),
    (lambda c: c["claim"]["dnf"].append([]), "a disjunct without atoms"),
    (lambda c: c["claim"]["dnf"][0][0].update(op=">"), "an op in"),
    (lambda c: c["claim"].pop("dnf"), "'dnf' must be a list"),
    (lambda c: c["leaves"][0].update(part="a"), "do not fit mode written"),
    (lambda c: c["leaves"][0].update(path=[["x", 0, (0.0).hex(), 0]]), "lacks a side"),  # half the box uncovered
])
def test_tampered_written_claims_are_invalid(certified, tamper, reason):
    a, b, cert = certified
    bad = copy.deepcopy(cert)
    tamper(bad)
    result = check_certificate(bad, a, b)
    assert not result.valid and reason in result.reasons[0], result.reasons


def test_a_written_certificate_is_about_its_two_networks(certified):
    a, b, cert = certified
    assert not check_certificate(cert, b, a).valid  # the atoms are over [y_A | y_B]: the order matters


def test_relu_splitting_written_claims_check_and_witnesses_replay():
    """40 inputs (above INPUT_SPLIT_MAX_DIM_DIFFERENCE): the search splits neuron phases; its unsat certificates
    check, its sat witnesses replay here."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        a = random_net(rng, [40, 10, 10, M])
        b = near_copy(rng, a, "noise")
        box = Box((Fraction(-1, 32),) * 40, (Fraction(1, 32),) * 40)
        far = ((atom(0, 0, "<", Fraction(-1, 2)),), (atom(0, 0, "<=", Fraction(1, 2)), atom(2, 2, "=", Fraction(9))))
        res = verify(a, b, box, written_mode(far), 20, engines=("differential",))
        assert res.status == "unsat" and res.certificate["strategy"] == "relu"
        assert check_certificate(res.certificate, a, b).valid
        up = atom(0, 0, "<", Fraction(-1, 100))  # y_B,0 − y_A,0 > 1/100 ...
        down = OutputAtom(tuple(-c for c in up.coeffs), "<", Fraction(-1, 100))  # ... or y_A,0 − y_B,0 > 1/100
        near = ((up,), (down,))
        hit = verify(a, b, box, written_mode(near), 20, engines=("differential",))
        assert hit.status == "sat" and box.contains(hit.witness)
        ya, yb = evaluate(a, hit.witness), evaluate(b, hit.witness)
        assert ya == list(hit.output_a) and yb == list(hit.output_b) and abs(ya[0] - yb[0]) > Fraction(1, 100)
