"""ReLU-split searches in parallel tasks: the deadline the optimiser inside a batch honours when a task's slice ends
(the hard one, not the slice's end), and the slices' lengths."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from lumpcheck.equivalence import alpha
from lumpcheck.equivalence.bab import Node, Problem, Search
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.parallel import RELU_SLICE_SECONDS, SLICE_SECONDS, slice_cap, slice_seconds
from lumpcheck.bounds.coupling import couple

from pair_helpers import relu_top1_case

pytest.importorskip("torch", reason="the slope optimiser needs torch")


@pytest.fixture(scope="module")
def split_case():
    case = relu_top1_case(lambda res: res.stats.get("nodes", 0) > 2)
    if case is None:
        pytest.skip("no random instance needed ReLU splits")
    return case


def _problem(split_case) -> Problem:
    a, b, box, _ = split_case
    return Problem(couple(a, b), box, Mode.parse("top1"), "relu", 8, 0)


def test_the_optimiser_gets_the_hard_deadline_not_the_slice_end(split_case):
    """A task's slice ending stops new batches; a batch that started finishes its optimisation under the search's
    hard deadline (cutting it at the slice's end left nodes open that its full steps close)."""
    p = _problem(split_case)
    seen = []
    real = alpha.propose

    def spy(*args, **kw):
        seen.append(kw.get("deadline"))
        return real(*args, **kw)

    hard = time.monotonic() + 120.0
    slice_end = time.monotonic() + 30.0
    with mock.patch.object(alpha, "propose", spy):
        Search(p, hard, [Node(p.xl.copy(), p.xu.copy(), (), part="a")], initial_attack=False, slice_end=slice_end).run()
    assert seen and all(d == hard for d in seen)


def test_a_task_runs_one_batch_after_its_slice_end_and_none_after_the_deadline(split_case):
    """Kills a task ending before any work when its setup outlasts its slice (a 784-1024x4-10 root went to and fro
    between two workers 9 times), and a second batch started after the slice's end or any after the deadline."""
    p = _problem(split_case)
    nodes = [Node(p.xl.copy(), p.xu.copy(), (), part="a")]
    out = Search(p, time.monotonic() + 120.0, nodes, initial_attack=False, slice_end=time.monotonic() - 1.0).run()
    assert out.status == "timeout" and out.stats["batches"] == 1 and out.open_nodes
    nodes = [Node(p.xl.copy(), p.xu.copy(), (), part="a")]
    late = Search(p, time.monotonic() - 1.0, nodes, initial_attack=False).run()
    assert late.status == "timeout" and late.stats["batches"] == 0 and len(late.open_nodes) == 1


def test_slices_grow_to_the_strategy_cap(split_case):
    p = _problem(split_case)
    assert slice_cap(p) == RELU_SLICE_SECONDS
    p.strategy = "input"
    assert slice_cap(p) == SLICE_SECONDS
    lengths = [slice_seconds(t, 2, RELU_SLICE_SECONDS) for t in range(0, 20, 2)]
    assert lengths[0] == 0.25 and all(x <= y for x, y in zip(lengths, lengths[1:]))
    assert lengths[-1] == RELU_SLICE_SECONDS and slice_seconds(100, 2, SLICE_SECONDS) == SLICE_SECONDS


def test_a_node_with_nothing_left_to_split_gets_one_longer_optimisation_before_it_is_given_up(split_case):
    """Kills a one-network node with no unstable neuron left given up at once (linear on its region, its bound with
    the split constraints' optimal β is exact; 20 optimiser steps left 285 such MNIST nodes open, 300 more closed
    92% of them), the longer search not given EXHAUSTED_STEPS, and an endless loop (the second time it is given
    up). A node of both networks ('all') is given up at once, as before."""
    import lumpcheck.equivalence.bab as bab

    p = _problem(split_case)
    search = Search(p, time.monotonic() + 120.0, [], initial_attack=False)
    steps = []
    real = bab.close_with_optimised_slopes

    def spy(*args):
        steps.append(args[-1])
        return real(*args)

    node = Node(p.xl.copy(), p.xu.copy(), (), part="a")
    with mock.patch.object(bab, "relu_choice", lambda *args: None), \
            mock.patch.object(bab, "close_with_optimised_slopes", spy):
        search._split_relu(None, {}, 0, node)
        assert node.exhausted and search.stack == [node] and not search.undecided
        search._prepare_relu_root()
        search._bound(search.stack[:], "a")
        assert steps[-1] == bab.EXHAUSTED_STEPS
        search._split_relu(None, {}, 0, search.stack.pop())
        assert not search.stack and len(search.undecided) == 1
        both = Node(p.xl.copy(), p.xu.copy(), (), part="all")
        search._split_relu(None, {}, 0, both)
        assert not search.stack and len(search.undecided) == 2


def test_a_falsification_round_is_limited_by_the_deadline_not_the_slice(split_case):
    """Kills the round's time limit taken from a task's slice: the first slices of a parallel search last 0.25 s,
    which cut every worker's first round after one step (an MNIST counterexample that full rounds find in 2-4 s
    was never found in 100 s)."""
    import lumpcheck.equivalence.bab as bab

    p = _problem(split_case)
    limits = []
    t0 = time.monotonic()
    search = Search(p, t0 + 120.0, [Node(p.xl.copy(), p.xu.copy(), (), part="a")], slice_end=t0 + 0.01)
    with mock.patch.object(search.searcher, "run", lambda *args, until=None, **kw: limits.append(until)):
        search.run()
    assert limits and limits[0] - t0 >= bab.ATTACK_ROUND_SECONDS - 1.0


def test_a_task_runs_falsification_rounds_while_the_falsifier_is_under_its_share(split_case):
    """Kills rounds counted per task (every 8th batch of a task: a task of fewer batches never ran one) and rounds
    run although the falsifier already took more than ATTACK_SHARE of its wall time."""
    import lumpcheck.equivalence.bab as bab

    p = _problem(split_case)
    for rounds_s, expected in ((0.0, True), (1e6, False)):
        search = Search(p, time.monotonic() + 120.0, [Node(p.xl.copy(), p.xu.copy(), (), part="a")],
                        initial_attack=False, slice_end=time.monotonic() - 1.0)  # one batch only
        search.searcher.born -= 100.0
        search.searcher.rounds_s = rounds_s
        calls = []
        with mock.patch.object(search.searcher, "run", lambda *args, **kw: calls.append(1)):
            out = search.run()
        assert out.stats["batches"] == 1 and bool(calls) == expected, (rounds_s, calls, bab.ATTACK_SHARE)


def test_an_old_falsifier_gets_the_late_share(split_case):
    """Kills the late share ignored (a falsifier past ATTACK_EARLY_SECONDS still taking ATTACK_SHARE of the time from
    a search that by then is a proof) and the early share cut (a young one kept from its rounds)."""
    import lumpcheck.equivalence.bab as bab

    assert bab.ATTACK_LATE_SHARE < 0.1 < bab.ATTACK_SHARE
    p = _problem(split_case)
    for age, expected in ((bab.ATTACK_EARLY_SECONDS / 3, True), (bab.ATTACK_EARLY_SECONDS * 3, False)):
        search = Search(p, time.monotonic() + 120.0, [Node(p.xl.copy(), p.xu.copy(), (), part="a")],
                        initial_attack=False, slice_end=time.monotonic() - 1.0)  # one batch only
        search.searcher.born -= age
        search.searcher.rounds_s = 0.1 * age  # a share of 0.1
        calls = []
        with mock.patch.object(search.searcher, "run", lambda *args, **kw: calls.append(1)):
            out = search.run()
        assert out.stats["batches"] == 1 and bool(calls) == expected, (age, calls)


def test_a_cluster_worker_keeps_a_runs_falsifier_across_its_tasks(split_case):
    """Kills a new falsifier per cluster task (its share of the wall time then starts at 0 in every task, so every
    task ran a falsification round) and a run's falsifier handed to another run."""
    pytest.importorskip("dask", reason="the cluster path needs dask")
    from lumpcheck.equivalence import cluster

    p = _problem(split_case)
    end = time.time() + 60.0
    seen = []
    real = Search.__init__

    def spy(self, *args, **kw):
        seen.append(kw.get("searcher"))
        real(self, *args, **kw)

    with mock.patch.object(Search, "__init__", spy):
        for token in ("run-1", "run-1", "run-2"):
            cluster.run_chunk(p, [Node(p.xl.copy(), p.xu.copy(), (), part="a")], 0.0, end, False, 1, token)
    assert seen[0] is None and seen[1] is cluster._SEARCHERS["run-1"] and seen[2] is None
    assert cluster._SEARCHERS["run-2"] is not cluster._SEARCHERS["run-1"]
