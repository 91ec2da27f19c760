"""Regions the differential search gives up on (bab.Undecided) do not end the search: a counterexample elsewhere is
still 'sat', and with nothing else open the answer is 'unknown' with the regions and their reasons, never 'unsat'.

The give-up is forced on the left half of a 1-input box (bounding a node there raises FloatOverflow, as a real
overflow would), in one process and on an in-process Dask cluster (the same master as local worker processes:
parallel.Master). The pair: A(x) = x, B(x) = x + a bump of height 1/2 on [0.7, 0.8] (peak at 0.75)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.bounds.arith import FloatOverflow
from lumpcheck.equivalence import bab
from lumpcheck.equivalence.bab import Leaf, Node, SearchOutcome
from lumpcheck.equivalence.undecided import Undecided
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.equivalence.parallel import Master
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate

from pair_helpers import IDENTITY, RELU


def _pair():
    hidden = Layer(np.ones((4, 1)), np.array([0.0, -0.7, -0.75, -0.8]), RELU)
    a = Network([hidden, Layer(np.array([[1.0, 0, 0, 0]]), np.zeros(1), IDENTITY)])
    b = Network([hidden, Layer(np.array([[1.0, 10, -20, 10]]), np.zeros(1), IDENTITY)])
    return a, b, Box((Fraction(0),), (Fraction(1),))


@pytest.fixture
def left_half_overflows(monkeypatch):
    """Bounding a node inside [0, 1/2] overflows; no attack rounds (only the nodes' witnesses are replayed)."""
    original = bab.Search._bound

    def bound(self, batch, part="all"):
        if any(node.hi[0] <= 0.5 for node in batch):
            raise FloatOverflow("forced by the test")
        return original(self, batch, part)

    monkeypatch.setattr(bab.Search, "_bound", bound)
    monkeypatch.setattr(bab.Search, "_attack_round", lambda self, starts, full=True: None)


@pytest.fixture(scope="module")
def client(dask_cluster):
    distributed, cluster = dask_cluster
    with distributed.Client(cluster) as cl:
        yield cl


def _run(where, mode, client):
    a, b, box = _pair()
    return verify_pair(a, b, box, mode, timeout=60, batch=1, client=client if where == "cluster" else None)


@pytest.mark.parametrize("where", ["one process", "cluster"])
def test_a_counterexample_beyond_an_undecided_region_is_sat(left_half_overflows, client, where):
    res = _run(where, "epsilon=1/10", client)
    assert res.status == "sat", res.message
    a, b, _ = _pair()
    x = res.counterexample.x
    assert abs(evaluate(a, x)[0] - evaluate(b, x)[0]) > Fraction(1, 10) and x[0] > Fraction(1, 2)


@pytest.mark.parametrize("where", ["one process", "cluster"])
def test_with_nothing_else_open_the_answer_is_unknown_with_the_regions(left_half_overflows, client, where):
    """ε = 0.55 holds (the bump is 1/2 high), and the right half closes; the left half was given up: unknown."""
    res = _run(where, "epsilon=11/20", client)
    assert res.status == "unknown", res.message
    assert res.undecided and all(u.path and u.path[0][3] == 0 for u in res.undecided)  # all in the left half
    assert "float overflow" in res.message and "undecided" in res.message
    listed = res.to_dict()["undecided"]
    assert listed[0]["path"][0][0] == "x" and "forced by the test" in listed[0]["reason"]
    assert res.stats["undecided"] == len(res.undecided) and res.certificate is None


def test_without_a_give_up_the_same_pair_is_unsat(client):
    for where in ("one process", "cluster"):
        res = _run(where, "epsilon=11/20", client)
        assert res.status == "unsat" and not res.undecided, (where, res.message)


# ---------------------------------------------------------------- the master alone


def _node(side: int) -> Node:
    return Node(np.zeros(1), np.ones(1), (("x", 0, 0.5, side),))


def test_the_master_keeps_going_after_a_task_ends_unknown():
    m = Master([], {"tasks": 0})
    given_up = Undecided(_node(0).path, "all", "cannot be split further")
    assert m.absorb(SearchOutcome("unknown", reason="1 region undecided", undecided=[given_up])) is None
    assert m.absorb(SearchOutcome("timeout", open_nodes=[_node(1)])) is None  # the search goes on with it
    assert len(m.frontier) == 1 and m.undecided == [given_up]
    m.frontier.clear()
    final = m.closed()
    assert final.status == "unknown" and final.undecided == [given_up] and "cannot be split" in final.reason


def test_the_master_answers_sat_after_an_undecided_region():
    m = Master([], {"tasks": 0})
    m.absorb(SearchOutcome("unknown", reason="x", undecided=[Undecided(_node(0).path, "all", "float overflow")]))
    assert m.absorb(SearchOutcome("sat", counterexample="cex")).status == "sat"


def test_a_task_unknown_without_its_regions_is_an_error_not_a_loss():
    m = Master([], {"tasks": 0})
    final = m.absorb(SearchOutcome("unknown", reason="something"))
    assert final is not None and final.status == "error"


def test_a_lost_chunk_is_recorded_and_the_master_is_unsat_only_without_regions():
    m = Master([], {"tasks": 0})
    m.absorb(SearchOutcome("unsat", leaves=[Leaf((), None, ())]))
    assert m.closed().status == "unsat"
    m.give_up([_node(1)], "a worker ran out of memory on this region")
    assert m.closed().status == "unknown"


def test_an_undecided_region_needs_a_reason():
    with pytest.raises(ValueError, match="reason"):
        Undecided((), "all", "")


def test_an_overflow_outside_the_bounding_names_the_whole_box(monkeypatch):
    """Nodes popped for a batch and lost to an overflow while being processed cannot be named one by one: the whole
    box is recorded as undecided, so the answer is unknown (not unsat with a hole in the split tree)."""
    def overflow(self, *args, **kwargs):
        raise FloatOverflow("forced by the test")

    monkeypatch.setattr(bab.Search, "_process", overflow)
    monkeypatch.setattr(bab.Search, "_attack_round", lambda self, starts, full=True: None)
    a, b, box = _pair()
    res = verify_pair(a, b, box, "epsilon=11/20", timeout=60, batch=1)
    assert res.status == "unknown" and any(u.path == () for u in res.undecided), res.message
