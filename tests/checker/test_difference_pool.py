"""The differential checker in several processes (checker/pool.py): the same verdicts as in one process, on valid
and on tampered certificates, and a worker that dies or a chunk that does not come back is never a pass."""

from __future__ import annotations

import base64
import copy
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.checker import difference
from lumpcheck.checker import pool as checker_pool
from lumpcheck.checker.difference import check_certificate
from lumpcheck.checker.pool import ChunkPool, PoolFailure
from lumpcheck.equivalence.pair import verify_pair

from pair_helpers import epsilon_certificate_case, near_copy, random_box, random_net, sampled_max_difference
from pool_helpers import exit_on, raise_on, square

METHODS = pytest.mark.parametrize("method", ["fork", "spawn"])


@pytest.fixture
def start(monkeypatch, method):
    """Workers started by `method` (forked only from a single-threaded caller in real use)."""
    monkeypatch.setattr(checker_pool, "start_method", lambda: method)


@pytest.fixture(scope="module")
def eps_case():
    return epsilon_certificate_case()


def _lower_epsilon(d, true_max):
    lie = Fraction(true_max * 0.9).limit_denominator(1024)
    d["claim"]["mode"] = f"epsilon={lie.numerator}/{lie.denominator}"


def _truncate_last_slopes(d, _):
    d["leaves"][-1]["slopes"] = d["leaves"][-1]["slopes"][:-8]


def _poison_last_slopes(d, _):
    """Huge slopes on the last leaf (checked by a worker, not by the calling process): it no longer closes."""
    for leaf in reversed(d["leaves"]):
        raw = bytearray(base64.b64decode(leaf["slopes"]))
        n_p = int(np.frombuffer(bytes(raw[:4]), "<i4")[0])
        if n_p:
            raw[8 + 4 * n_p: 8 + 20 * n_p] = np.full(4 * n_p, 1e6, dtype="<f4").tobytes()
            leaf["slopes"] = base64.b64encode(bytes(raw)).decode()
            return
    pytest.skip("no leaf records product slopes")


TAMPERINGS = {"none": lambda d, _: None, "epsilon": _lower_epsilon, "truncated": _truncate_last_slopes,
              "poisoned": _poison_last_slopes, "dropped": lambda d, _: d["leaves"].pop(len(d["leaves"]) // 2)}


@METHODS
@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_one_and_two_processes_give_the_same_verdict(eps_case, tampering, start):
    """batch=1: every leaf is its own chunk, so the second process re-derives about half of them."""
    a, b, cert, true_max = eps_case
    doc = copy.deepcopy(cert)
    TAMPERINGS[tampering](doc, true_max)
    one = check_certificate(doc, a, b, batch=1, jobs=1)
    two = check_certificate(doc, a, b, batch=1, jobs=2)
    assert one.valid == two.valid == (tampering == "none"), (one.reasons, two.reasons)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**16), st.sampled_from(["noise", "prune", "drop"]), st.sampled_from([1.2, 0.8]))
def test_random_pairs_same_verdict_in_one_and_two_processes(seed, kind, factor):
    """Certificates of random pairs, as found (factor 1.2: ε above the sampled maximum) or re-targeted at an ε
    below a difference the networks really reach (factor 0.8: a false claim, never valid)."""
    rng = np.random.default_rng(seed)
    a = random_net(rng, [2, 5, 4, 2])
    b = near_copy(rng, a, kind)
    box = random_box(rng, 2)
    true_max = sampled_max_difference(a, b, box, rng, 2000)
    eps = Fraction(max(true_max, 1e-3) * 1.2).limit_denominator(1024)
    res = verify_pair(a, b, box, f"epsilon={eps}", timeout=30)
    if res.status != "unsat":
        return  # nothing to check (a sat answer is replayed elsewhere)
    doc = copy.deepcopy(res.certificate)
    if factor < 1:
        lie = Fraction(true_max * factor).limit_denominator(1024)
        doc["claim"]["mode"] = f"epsilon={lie.numerator}/{lie.denominator}"
    verdicts = {jobs: check_certificate(doc, a, b, batch=1, jobs=jobs).valid for jobs in (1, 2)}
    assert verdicts[1] == verdicts[2]
    if factor > 1:
        assert verdicts[1]  # the engine's own certificate
    elif true_max > 0:
        assert not verdicts[1]  # ε below a difference the networks reach


@METHODS
def test_a_worker_that_dies_fails_the_map(start):
    """A worker dies on a chunk (the calling process, which answers those slowly, sees it between its own chunks)."""
    with pytest.raises(PoolFailure, match="exited"):
        with ChunkPool(2) as pool:
            pool.map(exit_on, 5, [5] * 200)


@METHODS
def test_a_chunk_exception_is_raised_in_the_caller(start):
    with pytest.raises(ValueError, match="chunk 3 is malformed"):
        with ChunkPool(2) as pool:
            pool.map(raise_on, 3, list(range(8)))


@METHODS
def test_the_map_answers_every_chunk_in_order(start):
    with ChunkPool(2) as pool:
        assert pool.map(square, 1, list(range(20))) == [1 + i * i for i in range(20)]


def test_a_pool_failure_makes_the_certificate_not_checked(eps_case, monkeypatch):
    a, b, cert, _ = eps_case

    def broken(self, fn, shared, chunks):
        raise PoolFailure("a checker worker process exited (code -9) before answering")

    monkeypatch.setattr(ChunkPool, "map", broken)
    res = check_certificate(cert, a, b, batch=1, jobs=2)
    assert not res.valid and res.reasons[0].startswith("not checked")


def test_a_lost_chunk_is_never_a_pass(eps_case, monkeypatch):
    """A map that silently loses the last chunk's leaves: the leaf count catches it."""
    a, b, cert, _ = eps_case
    original = ChunkPool.map

    def lossy(self, fn, shared, chunks):
        return original(self, fn, shared, chunks[:-1])

    monkeypatch.setattr(ChunkPool, "map", lossy)
    res = check_certificate(cert, a, b, batch=1, jobs=2)
    assert not res.valid and "leaves re-derived" in res.reasons[0]


def test_chunks_cover_the_leaves_once_and_give_every_process_work():
    for n in range(0, 400, 7):
        for batch in (1, 5, 128):
            for jobs in (1, 2, 3):
                spans = difference.leaf_chunks(n, batch, jobs)
                assert [i for s, size in spans for i in range(s, s + size)] == list(range(n))
                assert all(0 < size <= batch for _, size in spans)
                if jobs > 1 and n > batch:  # enough chunks for every process, of nearly equal sizes
                    assert len(spans) >= jobs and max(s for _, s in spans) - min(s for _, s in spans[:-1] or spans) <= 1


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 12))
def test_a_batch_gives_every_leaf_its_own_bounds(seed, n):
    """The checker's pass over a batch (leaves grouped by their number of coordinates to re-bound, each group
    back-substituted apart) gives each leaf the bounds it gets alone: no group's rows land on another leaf."""
    from lumpcheck.checker.difference_bounds import build_chains
    from lumpcheck.checker.difference_pass import hidden_pass

    rng = np.random.default_rng(seed)
    a = random_net(rng, [3, 6, 6, 6, 2])
    b = near_copy(rng, a, "noise")
    ch = build_chains(a, b, [[(i, i) for i in range(6)] for _ in range(3)])
    centre = rng.uniform(-1, 1, (n, 3))
    radius = rng.uniform(0.01, 1.5, (n, 1)) * np.ones((1, 3))  # from nearly stable to very unstable leaves
    xl, xu = centre - radius, centre + radius

    def slopes(count):
        out = []
        for k in range(3):
            nP, nA, m = len(ch.P[k].b), len(ch.A[k].b), len(ch.d_a[k + 1])
            out.append({key: np.full((count, size), np.nan) for key, size in
                        (("p_su", nP), ("p_sl", nP), ("p_qu", m), ("p_ql", m), ("a_su", nA), ("a_sl", nA))})
        return out

    together = hidden_pass(ch, xl, xu, slopes(n))[3]
    for e in range(n):
        alone = hidden_pass(ch, xl[e:e + 1], xu[e:e + 1], slopes(1))[3]
        for layer_together, layer_alone in zip(together, alone):
            for x, y in zip(layer_together, layer_alone):
                np.testing.assert_allclose(x[e], y[0], rtol=1e-9, atol=1e-12)


def test_workers_are_never_forked_from_a_caller_running_other_threads():
    import threading

    release = threading.Event()
    helper = threading.Thread(target=release.wait, daemon=True)
    helper.start()
    try:
        assert checker_pool.start_method() == "spawn"
    finally:
        release.set()
        helper.join()
