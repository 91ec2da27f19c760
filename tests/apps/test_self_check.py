"""`verify --self-check` (the default): an unsat's certificate is re-derived by the independent checker from the
model files before it is reported; a certificate the checker refuses withdraws the unsat (unknown, exit 4)."""

from __future__ import annotations

import copy
import time
from fractions import Fraction

import numpy as np
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.cli_verify import self_checked
from lumpcheck.apps.verify_batch import Settings
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import epsilon_mode
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network

F = Fraction
BOX = Box((F(-1), F(-1)), (F(1), F(1)))


def _pair(tmp_path):
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(0, 1, (6, 2)), rng.normal(0, 1, (2, 6))
    a = Network([Layer(w1, np.zeros(6), Activation("tanh")), Layer(w2, np.zeros(2), IDENTITY)])
    b = Network([Layer(w1.astype(np.float16).astype(float), np.zeros(6), Activation("tanh")), Layer(w2, np.zeros(2), IDENTITY)])
    paths = [tmp_path / "a.onnx", tmp_path / "b.onnx"]
    for net, p in zip((a, b), paths):
        save_model(net, p, dtype="float64")
    box = tmp_path / "box.vnnlib"
    box.write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
                   "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n")
    return a, b, [str(p) for p in paths], str(box)


def test_the_cli_reports_the_recheck(tmp_path):
    _, _, paths, box = _pair(tmp_path)
    args = ["verify", *paths, "--domain", box, "--mode", "epsilon=0.01", "--timeout", "60"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0 and "certificate re-checked: valid" in out.output, out.output
    off = CliRunner().invoke(cli, [*args, "--no-self-check"])
    assert off.exit_code == 0 and "re-checked" not in off.output, off.output


def test_a_refused_certificate_withdraws_the_unsat(tmp_path):
    a, b, paths, _ = _pair(tmp_path)
    result = verify(a, b, BOX, epsilon_mode(F(1, 100)), 60, engines=("difference-bound",))
    assert result.status == "unsat" and result.certificate is not None
    settings = Settings("epsilon=0.01", "input", 1, 2048, None, "keep", None, None)
    assert "valid" in self_checked(result, *paths, settings, time.monotonic() + 60).message
    bad = copy.copy(result)
    bad.certificate = copy.deepcopy(result.certificate)
    bad.certificate["claim"]["epsilon"] = "1/1000000000000"  # an ε below the true difference: a prover bug
    withdrawn = self_checked(bad, *paths, settings, time.monotonic() + 60)
    assert withdrawn.status == "unknown" and "withdrawn" in withdrawn.message and "cannot establish" in withdrawn.message


def test_the_recheck_compares_the_certified_box_with_the_domain_file(tmp_path):
    """A certificate proved on a smaller box than the --domain file's (a prover bug in the box's coordinates) is
    valid on its own box but withdrawn against the file: its region must lie inside the certified box."""
    a, b, paths, box = _pair(tmp_path)
    settings = Settings("epsilon=0.01", "input", 1, 2048, None, "keep", None, None)
    smaller = Box((F(-1, 2), F(-1, 2)), (F(1, 2), F(1, 2)))
    result = verify(a, b, smaller, epsilon_mode(F(1, 100)), 60, engines=("difference-bound",))
    assert result.status == "unsat"
    assert "valid" in self_checked(result, *paths, settings, time.monotonic() + 60).message
    withdrawn = self_checked(result, *paths, settings, time.monotonic() + 60, box)
    assert withdrawn.status == "unknown" and "withdrawn" in withdrawn.message and "input 0" in withdrawn.message
