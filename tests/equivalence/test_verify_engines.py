"""verify's deciding steps one by one: exact property decisions at their boundaries, the monolithic engine's
answers (each z3 status, the stable neurons it fixes), structural matching of quotients, and modes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import lumpcheck.equivalence.engine
from lumpcheck.equivalence.encode import NotEncodable
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.falsify import Enclosure, decide
from lumpcheck.equivalence.match import LayerMatch, NoMatch, match_networks
from lumpcheck.equivalence.mode import STRICT, TOP1, Mode, epsilon_mode
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network
from lumpcheck.prove.records import ObligationRecord
from lumpcheck.solver import Verdict
from lumpcheck.solver.z3 import Answer
from exact_nets import dense

F = Fraction
RELU = Activation("relu")
TANH = Activation("tanh")


# ---------------------------------------------------------------- exact decisions at their boundaries


def test_epsilon_difference_equal_to_epsilon_is_allowed_both_ways():
    eps = epsilon_mode(F(1, 10))
    assert decide(eps, [F(1, 10)], [F(0)]) is False and decide(eps, [F(0)], [F(1, 10)]) is False
    assert decide(eps, [F(1, 10) + F(1, 10**30)], [F(0)]) is True
    assert decide(eps, [Enclosure(F(1, 10), F(1, 5))], [F(0)]) is None  # may exceed, not proven
    assert decide(eps, [Enclosure(F(0), F(1, 10))], [F(0)]) is False


def test_top1_with_enclosures():
    sure, low = Enclosure(F(5), F(6)), Enclosure(F(0), F(1))
    # both proven unique maxima: decided by comparing them
    assert decide(TOP1, [sure, low], [sure, low]) is False
    assert decide(TOP1, [sure, low], [low, sure]) is True
    # a's maximum is proven (0); in b output 1 is provably above output 0, b's maximum is not proven unique
    assert decide(TOP1, [sure, low, low], [low, Enclosure(F(2), F(3)), Enclosure(F(2), F(3))]) is True
    # touching enclosures prove nothing: [1, 2] vs [2, 3] may be equal at 2
    touching = [Enclosure(F(1), F(2)), Enclosure(F(2), F(3))]
    assert decide(TOP1, touching, touching) is None
    assert decide(TOP1, [Enclosure(F(3), F(4)), Enclosure(F(1), F(3))], [F(0), F(0)]) is None
    # a is provably maximal at 0; in b, output 0 ties output 1 only at an endpoint: not provably beaten
    assert decide(TOP1, [sure, low], [Enclosure(F(1), F(2)), Enclosure(F(2), F(3))]) is None


def test_mode_converts_epsilon_exactly():
    mode = Mode("epsilon", 0.1)
    assert type(mode.epsilon) is Fraction and mode.epsilon == F(0.1)
    assert Mode("strict").epsilon == 0 and type(Mode("strict").epsilon) is Fraction
    with pytest.raises(ValueError, match="only meaningful in epsilon mode"):
        Mode("top1", F(1))
    with pytest.raises(ValueError, match="unknown mode"):
        Mode("loose")


# ---------------------------------------------------------------- the monolithic engine's answers

BOX = Box((F(1),), (F(2),))
A = dense(([[1], [-1]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))  # on [1, 2]: relu(x) + relu(−x) = x
B = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))


def test_monolithic_unsat_fixes_the_stable_neurons():
    result = verify(A, B, BOX, STRICT, 30.0, engines=("monolithic",))
    assert (result.status, result.engine, result.message) == ("unsat", "monolithic",
                                                              "z3: no counterexample exists; z3: 0 unstable neurons as If, 3 fixed by bounds")
    assert {"encode", "z3", "monolithic"} <= set(result.times)
    free = verify(A, A, None, STRICT, 30.0, engines=("monolithic",))
    assert free.status == "unsat" and free.message.endswith(" unstable neurons as If, 0 fixed by bounds")


@pytest.mark.parametrize("nets", [(A, dense(([[1]], [0], TANH), ([[1]], [0], IDENTITY))),
                                  (dense(([[1]], [0], TANH), ([[1]], [0], IDENTITY)), B)])
def test_monolithic_refuses_sigmoid_and_tanh(nets):
    result = verify(*nets, BOX, STRICT, 30.0, engines=("monolithic",))
    assert (result.status, result.engine, result.message) == (
        "unknown", "monolithic", "sigmoid/tanh cannot be encoded exactly in linear real arithmetic")


def test_monolithic_reports_what_the_encoder_cannot_do(monkeypatch):
    def refuse(*args):
        raise NotEncodable("no encoding for this one")

    monkeypatch.setattr(lumpcheck.equivalence.engine, "encode_pair", refuse)
    result = verify(A, B, BOX, STRICT, 30.0, engines=("monolithic",))
    assert (result.status, result.engine, result.message) == ("unknown", "monolithic", "no encoding for this one")


@pytest.mark.parametrize("status", ["unknown", "timeout"])
def test_monolithic_passes_on_undecided_answers(monkeypatch, status):
    monkeypatch.setattr(lumpcheck.equivalence.engine, "solve_constraints",
                        lambda constraints, inputs, timeout: Answer(Verdict(status), reason="gave up"))
    result = verify(A, B, BOX, STRICT, 30.0, engines=("monolithic",))
    assert (result.status, result.engine) == (status, "monolithic")
    assert result.message.startswith("z3: gave up")


def test_engines_run_in_order_and_unknown_engines_are_refused():
    with pytest.raises(ValueError, match="unknown engines"):
        verify(A, B, BOX, STRICT, 5.0, engines=("magic",))
    result = verify(A, B, BOX, STRICT, 30.0, engines=())
    assert (result.status, result.engine, result.message) == ("unknown", "none", "no engine decided")


# ---------------------------------------------------------------- matching quotients up to permutation and scaling


def _copy(net: Network, perm: list[int], scale: list[object]) -> Network:
    """net's hidden neurons permuted (new neuron perm[j] is old j) and scaled by scale[j] (outgoing weights / scale)."""
    first, out = net.layers
    w, b = np.empty(first.weight.shape, dtype=object), np.empty(first.bias.shape, dtype=object)
    wo = np.empty(out.weight.shape, dtype=object)
    for j, (t, c) in enumerate(zip(perm, scale)):
        w[t] = [F(v) * F(c) for v in first.weight[j]]
        b[t] = F(first.bias[j]) * F(c)
        wo[:, t] = [F(v) / F(c) for v in out.weight[:, j]]
    return Network([Layer(w, b, first.activation), Layer(wo, out.bias, out.activation)])


@pytest.mark.parametrize("act, scale, ok", [
    (RELU, [2, F(1, 3), 1], True), (RELU, [-1, 1, 1], False), (Activation("leaky_relu", F(1, 8)), [3, 1, 2], True),
    (IDENTITY, [-2, F(1, 5), 7], True), (TANH, [-1, 1, -1], True), (TANH, [2, 1, 1], False),
    (Activation("sigmoid"), [1, 1, 1], True), (Activation("sigmoid"), [-1, 1, 1], False),
])
def test_match_networks_admits_exactly_the_scalings(act, scale, ok):
    net = dense(([[1, 2], [0, 1], [3, -1]], [1, 0, 2], act), ([[1, 2, 3]], [0], IDENTITY))
    perm = [2, 0, 1]
    other = _copy(net, perm, scale)
    if ok:
        assert match_networks(net, other) == [LayerMatch(tuple(perm), tuple(F(c) for c in scale))]
    else:
        with pytest.raises(NoMatch, match="layer 0: neuron .* is not an admissible multiple of neuron|no counterpart"):
            match_networks(net, other)


def test_match_networks_zero_rows_and_mismatches():
    zero = dense(([[0, 0], [1, 1]], [0, 1], RELU), ([[1, 1]], [0], IDENTITY))
    assert match_networks(zero, zero) == [LayerMatch((0, 1), (F(1), F(1)))]
    killed = dense(([[0, 0], [1, 1]], [0, 1], IDENTITY), ([[1, 1]], [0], IDENTITY))
    zeroed = dense(([[0, 0], [0, 0]], [0, 0], IDENTITY), ([[1, 1]], [0], IDENTITY))
    with pytest.raises(NoMatch):
        match_networks(killed, zeroed)  # a row of zeros is no multiple (c = 0) of a live row
    with pytest.raises(NoMatch, match="output layers differ"):
        match_networks(zero, dense(([[0, 0], [1, 1]], [0, 1], RELU), ([[1, 2]], [0], IDENTITY)))
    with pytest.raises(NoMatch, match="widths differ"):
        match_networks(zero, B)
    with pytest.raises(NoMatch, match="activations differ"):
        match_networks(zero, dense(([[0, 0], [1, 1]], [0, 1], TANH), ([[1, 1]], [0], IDENTITY)))


def test_match_networks_two_hidden_layers_carry_the_scaling():
    net = dense(([[1], [2]], [0, 1], RELU), ([[1, 1], [2, -1]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))
    # other's layer 1: neuron 1 = 2·n0, neuron 0 = 3·n1; its layer 2 re-expresses m0 = n0 + n1 and m1 = 2·n0 − n1
    other = dense(([[6], [2]], [3, 0], RELU), ([[F(1, 3), F(1, 2)], [F(-1, 3), 1]], [0, 0], RELU),
                  ([[1, 1]], [0], IDENTITY))
    assert match_networks(net, other) == [LayerMatch((1, 0), (F(2), F(3))), LayerMatch((0, 1), (F(1), F(1)))]


# ---------------------------------------------------------------- lumping-match and its certificates

LUMPABLE = dense(([[1, 2], [2, 4], [0, 1]], [1, 2, 0], RELU), ([[1, 1, 1]], [0], IDENTITY))  # neuron 1 = 2 × neuron 0
COPY = dense(([[0, 3], [3, 6]], [0, 3], RELU), ([[F(1, 3), 1]], [0], IDENTITY))  # its quotient, permuted, scaled by 3


def test_lumping_match_certifies_both_reductions():
    result = verify(LUMPABLE, COPY, None, STRICT, 60.0, engines=("lumping-match",))
    assert (result.status, result.engine) == ("unsat", "lumping-match")
    count = sum(len(v) for v in result.proofs.values())
    assert result.message == ("coarsest lumped quotients (2-2-1) match up to neuron permutation and scaling; both "
                              f"reductions certified ({count} obligations proved)")
    assert set(result.proofs) == {"a", "b"} and all(r.status == "proved" for v in result.proofs.values() for r in v)


def test_lumping_match_without_certificates_decides_nothing(monkeypatch):
    failed = ObligationRecord("L1.linear", "linear", 1, [0], "statement", "failed", [])
    monkeypatch.setattr(lumpcheck.equivalence.engine, "prove_networks", lambda *a, **kw: ([failed], [], {}))
    result = verify(LUMPABLE, COPY, None, STRICT, 60.0, engines=("lumping-match",))
    assert result.status == "unknown"
    assert "reduction of network a not certified: 1 obligations failed (L1.linear, ...)" in result.message


def test_lumping_match_reports_a_mismatch():
    other = dense(([[0, 3], [3, 7]], [0, 3], RELU), ([[F(1, 3), 1]], [0], IDENTITY))
    result = verify(LUMPABLE, other, None, STRICT, 60.0, engines=("lumping-match",))
    assert result.status == "unknown" and "lumped quotients do not match (layer 0: neuron" in result.message


def test_monolithic_runs_with_a_short_budget():
    """Encoding takes milliseconds: a budget under a second still reaches z3."""
    result = verify(A, B, BOX, STRICT, 0.9, engines=("monolithic",))
    assert (result.status, result.engine) == ("unsat", "monolithic")


def test_counterexample_report_and_a_failing_float_replay(tmp_path):
    """'sat' says how it was found; an onnxruntime replay that cannot run is noted and changes nothing."""

    shifted = dense(([[1]], [0], RELU), ([[1]], [1], IDENTITY))
    pa, pb = tmp_path / "a.onnx", tmp_path / "b.onnx"
    save_model(B, pa, dtype="float64")
    pb.write_bytes(b"not an onnx file")
    result = verify(B, shifted, BOX, STRICT, 30.0, a_path=pa, b_path=pb)
    assert (result.status, result.engine) == ("sat", "falsify")
    assert result.message == "counterexample replayed exactly"
    assert set(result.onnxruntime) == {"a"} and "onnxruntime" in result.times
    assert any(n.startswith(f"onnxruntime replay of {pb} failed: ") for n in result.details["notes"])
