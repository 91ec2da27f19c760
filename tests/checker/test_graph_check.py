"""The graph certificate checker accepts what the reducer proves (planted CNNs/ResNets, zoo CNNs widened) and
rejects every tampered field: a claim's factor/offset/representative, a removal's kept/reps/kind/boundaries,
a weight of the reduced graph, a dropped claim."""

from __future__ import annotations

import json
import dataclasses
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings

from lumpcheck.apps.graph_pipeline import reduce_file
from lumpcheck.checker.graph import check_certificate, check_graph
from lumpcheck.io.onnx.graph_write import write_graph
from lumpcheck.ir.graph.dag import Node
from lumpcheck.ir.graph.ops import Conv, MatMul
from lumpcheck.prove.graph_prover import certificate_of
from lumpcheck.prove.graph_records import Claim, GraphCertificate, Removal, Round
from lumpcheck.reduction.channel_lumping import reduce_channels
from planted_cnn import Plan, build, plans

RICH = Plan(base=2, copies=[Fraction(2), Fraction(3, 4)], negated=1, constants=[1, -1], dead=1, near_miss=True, bn=True,
            pool="max", conv2_pads=1, nhwc=True, copies2=1, seed=7)  # fmt: skip
RESIDUAL = Plan(base=2, copies=[Fraction(1, 2)], constants=[1, 1], residual=True, bn=True, seed=3)


def reduced(plan: Plan):
    g = build(plan).graph
    r = reduce_channels(g)
    return g, r.reduced, certificate_of(r)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_certificates_of_planted_cnns_check_valid(plan: Plan) -> None:
    g, red, cert = reduced(plan)
    verdict = check_certificate(g, red, json.loads(cert.to_json()))
    assert verdict.valid, verdict.reasons


def _with_round(cert: GraphCertificate, i: int, rnd: Round) -> GraphCertificate:
    rounds = list(cert.rounds)
    rounds[i] = rnd
    return GraphCertificate(tuple(rounds))


def _merge_round(cert: GraphCertificate) -> int:
    return next(i for i, r in enumerate(cert.rounds) if any(m.kind == "merge" for m in r.removals))


def _claimed(cert: GraphCertificate, i: int) -> tuple[str, Claim]:
    """A claim with a representative on a tensor some removal relies on."""
    for t, cs in cert.rounds[i].claims.items():
        for c in cs:
            if c.rep is not None:
                return t, c
    raise AssertionError("no claim with a representative")


def _replace_claim(cert: GraphCertificate, i: int, t: str, old: Claim, new: Claim | None) -> GraphCertificate:
    rnd = cert.rounds[i]
    claims = dict(rnd.claims)
    claims[t] = tuple(new if c == old else c for c in claims[t] if not (c == old and new is None))
    return _with_round(cert, i, Round(claims, rnd.removals, rnd.phases))


@pytest.mark.parametrize("plan", [RICH, RESIDUAL], ids=["cnn", "resnet"])
def test_honest_certificate_is_valid(plan: Plan) -> None:
    g, red, cert = reduced(plan)
    assert check_certificate(g, red, cert.to_dict()).valid


@pytest.mark.parametrize("plan", [RICH, RESIDUAL], ids=["cnn", "resnet"])
@pytest.mark.parametrize("field", ["factor", "offset", "rep", "drop"])
def test_tampered_claim_is_invalid(plan: Plan, field: str) -> None:
    """Every claim a removal relies on (a removed channel, at a boundary's input) is caught when tampered."""
    g, red, cert = reduced(plan)
    tampered = 0
    for i, rnd in enumerate(cert.rounds):
        graph_i = reduce_rounds(plan)[i]
        inputs = {n.output: n.inputs[0] for n in graph_i.nodes}
        relied = {(inputs[b], m) for rem in rnd.removals for b in rem.boundaries for m, _ in rem.reps}
        for t, cs in rnd.claims.items():
            for c in cs:
                if (t, c.channel) not in relied or (c.rep is None and field in ("factor", "rep")):
                    continue
                if field == "factor":
                    new = dataclasses.replace(c, factor=c.factor + Fraction(1, 2**60))
                elif field == "offset":
                    new = dataclasses.replace(c, offset=c.offset + Fraction(1, 2**60))
                elif field == "rep":
                    new = dataclasses.replace(c, rep=next(k for k in range(64) if k not in (c.channel, c.rep)))
                else:
                    new = None
                verdict = check_certificate(g, red, _replace_claim(cert, i, t, c, new).to_dict())
                assert not verdict.valid, (t, c, new)
                tampered += 1
    assert tampered > 0


def reduce_rounds(plan: Plan) -> list:
    return [rnd[0] for rnd in reduce_channels(build(plan).graph).rounds]


@pytest.mark.parametrize("plan", [RICH, RESIDUAL], ids=["cnn", "resnet"])
def test_tampered_removals_are_invalid(plan: Plan) -> None:
    g, red, cert = reduced(plan)
    i = _merge_round(cert)
    rnd = cert.rounds[i]
    rem = next(m for m in rnd.removals if m.kind == "merge" and any(rep is not None for _, rep in m.reps))
    k = rnd.removals.index(rem)

    def swap(new: Removal) -> GraphCertificate:
        removals = list(rnd.removals)
        removals[k] = new
        return _with_round(cert, i, Round(rnd.claims, tuple(removals), rnd.phases))

    m, rep = next((m, rep) for m, rep in rem.reps if rep is not None)
    other = next(c for c in rem.kept if c != rep)
    bad_reps = tuple((a, other if a == m else b) for a, b in rem.reps)
    assert not check_certificate(g, red, swap(dataclasses.replace(rem, reps=bad_reps)).to_dict()).valid
    assert not check_certificate(g, red, swap(dataclasses.replace(rem, kind="dead", reps=())).to_dict()).valid
    assert not check_certificate(g, red, swap(dataclasses.replace(rem, boundaries=rem.boundaries[1:])).to_dict()).valid
    # remove one more kept channel, claiming it equals another kept one
    extra = rem.kept[-1]
    fewer = tuple(c for c in rem.kept if c != extra)
    assert not check_certificate(g, red, swap(dataclasses.replace(rem, kept=fewer, reps=tuple(sorted(rem.reps + ((extra, fewer[0]),))))).to_dict()).valid


def test_tampered_reduced_graph_is_invalid() -> None:
    g, red, cert = reduced(RICH)
    nodes = list(red.nodes)
    k = next(j for j, n in enumerate(nodes) if isinstance(n.op, (Conv, MatMul)))
    op = nodes[k].op
    w = op.weight.astype(object).copy()
    w.reshape(-1)[0] = Fraction(w.reshape(-1)[0]) + Fraction(1, 2**70)  # Fraction + float would round back
    new = Conv(w, op.bias, op.window, op.group) if isinstance(op, Conv) else MatMul(w, op.bias)
    nodes[k] = Node(nodes[k].name, new, nodes[k].inputs, nodes[k].output)
    verdict = check_certificate(g, red.with_nodes(nodes), cert.to_dict())
    assert not verdict.valid and "differs" in verdict.reasons[0]


def test_marking_a_live_channel_dead_is_invalid() -> None:
    g = build(Plan(base=3, copies=[], dead=0, seed=5)).graph
    conv1 = next(n for n in g.nodes if n.name == "conv1")
    consumer = next(n for n in g.nodes if n.name == "conv2")
    fake = Removal("dead", (conv1.output,), 3, (0, 1), (), (consumer.output,))
    cert = GraphCertificate((Round({}, (fake,)),))
    verdict = check_certificate(g, g, cert.to_dict())
    assert not verdict.valid and "dead" in verdict.reasons[0]


def test_file_round_trip_reduce_write_and_check(tmp_path) -> None:
    # copies by 2 and dead channels: the merged weights stay float64 numbers (folded constants often would not)
    g = build(Plan(base=2, copies=[Fraction(2), Fraction(1, 2)], dead=1, seed=9)).graph
    src, dst, cert = tmp_path / "in.onnx", tmp_path / "out.onnx", tmp_path / "cert.json"
    write_graph(g, src, "float64")
    summary = reduce_file(src, dst, cert)
    assert summary.channels_after < summary.channels_before
    verdict = check_graph(json.loads(cert.read_text()), src, dst)
    assert verdict.valid, verdict.reasons
    other = build(Plan(base=2, copies=[Fraction(2), Fraction(1, 2)], dead=1, seed=10)).graph
    write_graph(other, src, "float64")  # a different original: the certificate no longer fits
    verdict = check_graph(json.loads(cert.read_text()), src, dst)
    assert not verdict.valid and "sha256" in verdict.reasons[0]
