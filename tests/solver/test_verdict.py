"""One verdict type: every untrusted z3 call answers with a Verdict that is today's string, and tells a timeout
from any other 'unknown' in one way."""

from __future__ import annotations

import json

import z3

from lumpcheck.equivalence.mode import STRICT
from lumpcheck.equivalence.result import VerifyResult
from lumpcheck.solver import Verdict
from lumpcheck.solver.z3 import solve_constraints, solve_script


def test_verdicts_are_the_strings_certificates_and_reports_use():
    assert [v.value for v in Verdict] == ["unsat", "sat", "unknown", "timeout", "error"]
    assert Verdict.UNSAT == "unsat" and f"{Verdict.TIMEOUT}" == "timeout" and json.dumps(Verdict.SAT) == '"sat"'
    assert VerifyResult("unsat", STRICT, "x").status is Verdict.UNSAT


def test_script_and_constraint_queries_answer_with_a_verdict():
    assert solve_script("(declare-fun x () Real)(assert (> x x))").status is Verdict.UNSAT
    sat = solve_script("(declare-fun x () Real)(assert (> x 1.0))")
    assert sat.status is Verdict.SAT and "x" in sat.model
    x = z3.Real("x")
    answer = solve_constraints([x > 1, x < 2], [x], 10)
    assert answer.status is Verdict.SAT and 1 < answer.witness[0] < 2


def test_a_query_out_of_time_is_a_timeout_in_both_kinds_of_query():
    holes = 9
    p = [[z3.Bool(f"p{i}_{j}") for j in range(holes)] for i in range(holes + 1)]
    hard = [z3.Or(row) for row in p] + [z3.Not(z3.And(p[i][j], p[k][j]))
                                          for j in range(holes) for i in range(holes + 1) for k in range(i)]
    answer = solve_constraints(hard, [], 0.001)
    assert answer.status is Verdict.TIMEOUT, answer
    solver = z3.Solver()
    solver.add(hard)
    script = solver.to_smt2()
    assert solve_script(script, 1).status is Verdict.TIMEOUT
