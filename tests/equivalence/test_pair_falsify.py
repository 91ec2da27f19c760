"""The differential engine's falsifier: the integer replay decides exactly as the Fraction replay, points stay in
the exact box, and boundary search finds disagreements of non-robust classifiers (each hit replayed exactly)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.equivalence.mode import Mode, violated
from lumpcheck.equivalence.pair_falsify import Searcher, deepened, float_score, inner_floats, replay
from lumpcheck.ir.domain import Box
from lumpcheck.ir.dyadic import DyadicNetwork
from lumpcheck.ir.network import Layer, Network, evaluate

from pair_helpers import LEAKY, LEAKY_ODD, RELU, near_copy, random_net


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from(["epsilon=1/16", "top1", "argmin"]), st.sampled_from([RELU, LEAKY, LEAKY_ODD]))
def test_fast_replay_decides_like_the_fraction_replay(seed, mode, act):
    rng = np.random.default_rng(seed)
    a = random_net(rng, [3, 5, 4, 3], act)
    b = near_copy(rng, a, "noise")
    box = Box(tuple(Fraction(-3, 10) for _ in range(3)), tuple(Fraction(7, 10) for _ in range(3)))  # not dyadic
    m = Mode.parse(mode)
    fast = (DyadicNetwork(a), DyadicNetwork(b))
    for x in rng.uniform(-0.5, 0.9, (6, 3)):  # partly outside the box: clamped to the exact bounds
        slow, quick = replay(a, b, box, m, x), replay(a, b, box, m, x, fast)
        assert slow == quick
        if quick is not None:
            assert box.contains(quick.x) and violated(m, tuple(evaluate(a, quick.x)), tuple(evaluate(b, quick.x)))


def test_inner_floats_lie_in_the_exact_box():
    box = Box((Fraction(1, 10), Fraction(1, 3), Fraction(1, 2)), (Fraction(2, 10), Fraction(1, 3), Fraction(1, 2)))
    lo, hi = inner_floats(box)
    assert Fraction(lo[0]) >= box.lower[0] and Fraction(hi[0]) <= box.upper[0] and lo[0] <= hi[0]
    assert lo[2] == hi[2] == 0.5
    assert lo[1] == hi[1] == float(Fraction(1, 3))  # no float inside: the nearest one (replay clamps exactly)


def test_classification_scores_prefer_clear_disagreements():
    top1 = Mode.parse("top1")
    ya = np.array([[1.0, 0.0], [1.0, 0.9], [1.0, 0.0]])
    yb = np.array([[0.0, 1.0], [0.95, 1.0], [2.0, 0.0]])
    s = float_score(top1, ya, yb)
    assert s[0] > s[1] >= 0 > s[2]
    assert float_score(Mode.parse("argmin"), ya, yb)[2] < 0


def test_boundary_search_finds_a_shifted_decision_boundary():
    """A is a 1-D classifier switching at x = 0, B the same switching at x = 2^-20: only a sliver of the box
    disagrees, which random points miss and boundary bisection finds; the hit is exact."""
    from lumpcheck.ir.activation import Activation
    from lumpcheck.ir.network import Layer, Network

    ident = Activation("identity")
    a = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.0, 0.0]), ident)])
    b = Network([Layer(np.array([[1.0], [-1.0]]), np.array([-2.0**-21, 2.0**-21]), ident)])
    box = Box((Fraction(-1),), (Fraction(3, 4),))
    searcher = Searcher(a, b, box, Mode.parse("top1"), seed=3)
    assert searcher.check(searcher.random(64)) is None
    found = searcher.run()
    assert found is not None and 0 <= found.x[0] <= Fraction(1, 2**20)
    assert violated(Mode.parse("top1"), tuple(evaluate(a, found.x)), tuple(evaluate(b, found.x)))


def test_relu_search_falsifies_once_a_network_changes_its_decision():
    """ReLU splitting proves one class for the whole box, impossible once A is seen deciding otherwise: the search
    then only falsifies. Identical networks never disagree: no 'sat', no 'unsat', the deadline answers. A copy
    whose boundary is shifted is refuted with an exact witness."""
    from lumpcheck.equivalence.pair import verify_pair
    from lumpcheck.ir.activation import Activation
    from lumpcheck.ir.network import Layer, Network

    relu, ident = Activation("relu"), Activation("identity")
    hidden = Layer(np.array([[1.0, 0.5], [-1.0, 0.25], [0.5, -1.0]]), np.array([0.0, 0.125, 0.0]), relu)
    a = Network([hidden, Layer(np.array([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.0]]), np.array([0.0, 0.0]), ident)])
    box = Box((Fraction(-1), Fraction(-1)), (Fraction(1), Fraction(1)))
    same = verify_pair(a, a, box, "top1", timeout=3, strategy="relu")
    assert same.status == "timeout" and same.stats["attack_s"] > 1.0
    shifted = Network([hidden, Layer(a.layers[1].weight, np.array([2.0**-12, 0.0]), ident)])
    res = verify_pair(a, shifted, box, "top1", timeout=20, strategy="relu")
    assert res.status == "sat"
    cex = res.counterexample
    assert box.contains(cex.x) and violated(Mode.parse("top1"), tuple(evaluate(a, cex.x)), tuple(evaluate(shifted, cex.x)))


def test_a_round_stops_at_its_time_limit():
    """Kills the time limit ignored by a gradient or bisection loop (a round on a wide pair took 18 s, unbounded):
    with a limit already passed, every loop takes one step, so a round makes far fewer float passes than without
    (each mode runs its own loops: epsilon, top1, delta-top1, a written property)."""
    import time

    from lumpcheck.equivalence.mode import written_mode
    from lumpcheck.io.vnnlib import OutputAtom
    from lumpcheck.ir.activation import Activation
    from lumpcheck.ir.network import Layer, Network

    rng = np.random.default_rng(0)
    relu, ident = Activation("relu"), Activation("identity")
    a = Network([Layer(rng.normal(size=(16, 4)), rng.normal(size=16), relu),
                 Layer(rng.normal(size=(3, 16)), np.zeros(3), ident)])
    box = Box((Fraction(-1),) * 4, (Fraction(1),) * 4)
    far = written_mode(((OutputAtom((Fraction(1),) + (Fraction(0),) * 5, "<", Fraction(-10**6)),),))  # y_A0 < -10^6
    for mode in (Mode.parse("epsilon=0.5"), Mode.parse("top1"), Mode.parse("delta-top1=0.6"), far):
        counts = []
        for until in (None, time.monotonic() - 1.0):
            searcher = Searcher(a, a, box, mode, seed=1)
            calls = [0]
            for name in ("outputs", "gradient"):
                real = getattr(searcher.pair, name)
                setattr(searcher.pair, name,
                        lambda *args, real=real: (calls.__setitem__(0, calls[0] + 1), real(*args))[1])
            assert searcher.run(until=until) is None  # equal networks: nothing to find
            counts.append(calls[0])
        assert counts[1] * 5 < counts[0], (mode, counts)


def _plateau_pair(n: int = 40):
    """A classifies by s = mean(x) on [0, 1]^n: y1 − y0 = −1 + relu(½ − (5/3)|s − 0.3|) + 7.5·relu(s − 0.8), a local
    maximum −½ at s = 0.3, flat at −1 on [0.6, 0.8], above 0 (class 1) only for s > 0.9333; B's y1 is 2^-7 lower."""
    from lumpcheck.ir.activation import Activation
    from lumpcheck.ir.network import Layer, Network

    relu, ident = Activation("relu"), Activation("identity")
    mean = np.full((1, n), 1.0 / n)
    first = Layer(np.vstack([mean, -mean, mean]), np.array([-0.3, 0.3, -0.8]), relu)
    second = Layer(np.array([[-5 / 3, -5 / 3, 0.0], [0.0, 0.0, 1.0]]), np.array([0.5, 0.0]), relu)
    nets = [Network([first, second, Layer(np.array([[0.0, 0.0], [1.0, 7.5]]), np.array([0.0, bias]), ident)])
            for bias in (-1.0, -1.0 - 2.0**-7)]
    return nets[0], nets[1], Box((Fraction(0),) * n, (Fraction(1),) * n)


def test_full_width_first_steps_leave_a_local_optimum():
    """Short first steps from random points (s near ½) climb to A's local maximum at s = 0.3 and stop there; the
    full-width ones (FIRST_STEPS) jump past the flat part to s = 1, where A and then the bisection between the
    networks' boundaries find an exact disagreement. Kills FIRST_STEPS without its full-width entry."""
    from lumpcheck.equivalence import pair_falsify

    a, b, box = _plateau_pair()
    top1 = Mode.parse("top1")
    searcher = Searcher(a, b, box, top1, seed=5)
    assert searcher.check(searcher.random(256)) is None  # random points never reach s > 0.93
    found = searcher.run()
    assert found is not None and violated(top1, tuple(evaluate(a, found.x)), tuple(evaluate(b, found.x)))
    assert sum(found.x) / len(found.x) > Fraction(9, 10)
    short = Searcher(a, b, box, top1, seed=5)
    saved = pair_falsify.FIRST_STEPS
    try:
        pair_falsify.FIRST_STEPS = (0.25,)
        assert short.run() is None  # the premise: short steps alone stay on the local maximum
    finally:
        pair_falsify.FIRST_STEPS = saved


def _ridge_pair():
    """|y_A − y_B| = relu(x0 + x1 − 8·|x0 − x1|) on [0, 1]^2: a ridge along the diagonal rising to 2 at (1, 1), where
    sign-gradient steps (both inputs moved by the same amount) zigzag across the ridge instead of climbing it."""
    from lumpcheck.ir.activation import Activation
    from lumpcheck.ir.network import Layer, Network

    relu, ident = Activation("relu"), Activation("identity")
    hidden = Layer(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [-1.0, 1.0]]), np.zeros(4), relu)
    ridge = Layer(np.array([[1.0, 1.0, -8.0, -8.0]]), np.zeros(1), relu)
    a, b = (Network([hidden, ridge, Layer(np.array([[w]]), np.zeros(1), ident)]) for w in (1.0, 0.0))
    return a, b, Box((Fraction(0), Fraction(0)), (Fraction(1), Fraction(1)))


def test_hill_climbing_follows_a_ridge_of_the_difference():
    """epsilon=1.9 is violated only near (1, 1) (within 1/80 of the diagonal): one round finds it from every seed
    with hill climbing (CLIMB_STEPS), exactly replayed; with the gradient steps alone most seeds stall below.
    Kills the climbing removed."""
    from lumpcheck.equivalence import pair_falsify

    a, b, box = _ridge_pair()
    mode = Mode.parse("epsilon=1.9")
    for seed in range(6):
        found = Searcher(a, b, box, mode, seed=seed).run()
        assert found is not None and violated(mode, tuple(evaluate(a, found.x)), tuple(evaluate(b, found.x)))
    saved = pair_falsify.CLIMB_STEPS
    try:
        pair_falsify.CLIMB_STEPS = 0
        assert sum(Searcher(a, b, box, mode, seed=seed).run() is not None for seed in range(6)) <= 2  # the premise
    finally:
        pair_falsify.CLIMB_STEPS = saved


def _line_pair(a_slope, a_shift, b_slope, b_shift):
    """One input, two outputs: A = (a_slope·x + a_shift, 0), B likewise (identity layers: exact lines)."""
    net = lambda k, c: Network([Layer(np.array([[k], [0.0]]), np.array([c, 0.0]))])  # noqa: E731
    return net(a_slope, a_shift), net(b_slope, b_shift)


def test_a_knife_edge_witness_is_moved_where_floats_see_it():
    """A picks class 0 for x > 0, B for x > 1/2: they disagree on (0, 1/2]. The exact witness x = 2^-40 has A's
    margin 2^-40, invisible in float32; deepened moves it to a point with both margins clear, replayed exactly."""
    a, b = _line_pair(1.0, 0.0, 2.0, -1.0)
    box = Box((Fraction(-1),), (Fraction(1),))
    x = (Fraction(1, 2**40),)
    ya, yb = tuple(evaluate(a, x)), tuple(evaluate(b, x))
    assert violated(Mode("top1"), ya, yb)
    clearer = deepened(a, b, box, Mode("top1"), x, ya, yb)
    assert clearer is not None and violated(Mode("top1"), clearer.ya, clearer.yb)
    assert tuple(evaluate(a, clearer.x)) == clearer.ya and tuple(evaluate(b, clearer.x)) == clearer.yb
    assert min(clearer.ya[0] - clearer.ya[1], clearer.yb[1] - clearer.yb[0]) > Fraction(1, 100)


def test_an_epsilon_witness_barely_above_epsilon_is_deepened_and_a_tie_is_left_alone():
    """|A − B| = |x| on [-1, 1] with ε = 1/2: x = 1/2 + 2^-40 becomes a point further out; a top1 disagreement that
    is only a tie (A's classes tied at x = 0) has no clearer point of the same kind: None."""
    a, b = _line_pair(1.0, 0.0, 0.0, 0.0)
    box = Box((Fraction(-1),), (Fraction(1),))
    x = (Fraction(1, 2) + Fraction(1, 2**40),)
    mode = Mode.parse("epsilon=1/2")
    clearer = deepened(a, b, box, mode, x, tuple(evaluate(a, x)), tuple(evaluate(b, x)))
    assert clearer is not None and abs(clearer.ya[0] - clearer.yb[0]) > Fraction(3, 4)
    a, b = _line_pair(1.0, 0.0, 1.0, 0.5)
    tie = (Fraction(0),)
    assert deepened(a, b, box, Mode("top1"), tie, tuple(evaluate(a, tie)), tuple(evaluate(b, tie))) is None
