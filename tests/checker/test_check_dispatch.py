"""`check` on certificate files of every kind, and the strict checker's exact (Python-int) path on networks with
rational weights, which ONNX files (floats: the residue path) never reach. (issue 14: checker group)"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path


from lumpcheck.checker import check
from lumpcheck.checker.document import parse_claim
from lumpcheck.checker.strict import StrictVerifier
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.prove.prover import prove
from lumpcheck.prove.records import write_certificate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_difference_crafted import A1, B1, PAIR0, document, leaf  # noqa: E402
from exact_nets import dense

RELU = Activation("relu")


def test_check_dispatches_a_differential_certificate(tmp_path):
    a, b, c = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.json"
    save_model(A1, a, dtype="float64")
    save_model(B1, b, dtype="float64")
    box = ([Fraction(-1)], [Fraction(1, 2)])
    c.write_text(json.dumps(document(A1, B1, box, "epsilon=2", [leaf([], 1)], PAIR0)))
    assert check(c, a, b).valid
    res = check(c, b, a)  # the networks swapped: their fingerprints no longer match
    assert not res.valid and "sha256" in res.reasons[0]


def test_check_dispatches_a_graph_certificate(tmp_path):
    from lumpcheck.apps.graph_pipeline import reduce_file
    from lumpcheck.io.onnx.graph_write import write_graph
    from test_graph_check_ops import CASES, graph

    src, dst, cert = tmp_path / "in.onnx", tmp_path / "out.onnx", tmp_path / "cert.json"
    write_graph(graph(*CASES["clip"]), src, "float64")
    reduce_file(src, dst, cert)
    res = check(cert, src, dst)
    assert res.valid, res.reasons


def _claim(tmp_path, net, red, rel):
    a, b, c = tmp_path / "o.onnx", tmp_path / "r.onnx", tmp_path / "c.json"
    save_model(net, a, dtype="float64")
    save_model(red, b, dtype="float64")
    write_certificate(prove(a, b, rel), c)
    return parse_claim(json.loads(c.read_text()))


def exact_check(claim, net, red) -> list[str]:
    return StrictVerifier(claim, net, red, "none", 10_000).run()


GHOST_REL = Relation([LayerRelation([NeuronMap(((0, Fraction(1)),)), NeuronMap(((1, Fraction(1)),), Fraction(0), "dead"),
                                     NeuronMap(((1, Fraction(2)),), Fraction(0), "dead")], 1, ghosts=1)])


def test_ghost_members_are_checked_exactly_with_rational_weights(tmp_path):
    """Neurons 1 (rep) and 2 = 2·(neuron 1) form a ghost class whose outgoing weights cancel; weights 1/3 are not
    floats, so the checker decides in Python ints. A member whose weight is not exactly twice its rep's fails."""
    third = Fraction(1, 3)
    honest = dense(([[1], [third], [2 * third]], [0, 1, 2], RELU), ([[1, 2, -1]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    claim = _claim(tmp_path, dense(([[1], [1], [2]], [0, 1, 2], RELU), ([[1, 2, -1]], [0], IDENTITY)), red, GHOST_REL)
    assert exact_check(claim, honest, red) == []
    for w in (2 * third + Fraction(1, 2**70), third, Fraction(0)):
        bad = dense(([[1], [third], [w]], [0, 1, 2], RELU), ([[1, 2, -1]], [0], IDENTITY))
        reasons = exact_check(claim, bad, red)
        assert any("neuron 2" in r for r in reasons), (w, reasons)


def test_constant_neurons_are_checked_exactly_with_rational_weights(tmp_path):
    """Neuron 1 claimed the constant relu(1/2) = 1/2: with a weight 1/3 on the input it is not constant."""
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([NeuronMap(((0, Fraction(1)),)), NeuronMap((), Fraction(1, 2), "constant")], 1)])
    claim = _claim(tmp_path, dense(([[1], [0]], [0, 0.5], RELU), ([[1, 0]], [0], IDENTITY)), red, rel)
    assert exact_check(claim, dense(([[1], [0]], [0, Fraction(1, 2)], RELU), ([[1, 0]], [0], IDENTITY)), red) == []
    reasons = exact_check(claim, dense(([[1], [Fraction(1, 3)]], [0, Fraction(1, 2)], RELU), ([[1, 0]], [0], IDENTITY)), red)
    assert any("neuron 1" in r and "constant" in r for r in reasons), reasons
