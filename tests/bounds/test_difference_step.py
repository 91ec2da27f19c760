"""The back-substitution step of bounds/difference_chain.py selects slopes without branches (max(c,0)·su +
min(c,0)·sl), works in reused scratch arrays and uses slices for runs of paired coordinates. These are
restructurings of the same arithmetic: every bound must be the same float as with the step written as its
formula (np.where selection, index arrays, fresh arrays), on pairs with partial, non-contiguous pairings too.
The product W^T·D skips the product chain's zero block, which may round differently from the full product (BLAS
sums fewer terms in another grouping): the formula uses the same product, and a test of its own holds it to the
error bound the step charges (A2), against the exact product."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds import difference_chain
from lumpcheck.bounds.coupling import Pairing, align, couple
from lumpcheck.bounds.difference import run, run_single
from lumpcheck.bounds.outward import add_up, enclose, up
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.objective import Objective

from pair_helpers import LEAKY, LEAKY_ODD, RELU, near_copy, random_box, random_net


def formula_step(self, j, C, const, scores, g=None):
    """The step as the module documents it: D = C·(su if C >= 0 else sl), offsets C⁺·mu + C⁻·ml on the varying
    coordinates U, partner slopes of difference coordinates P added to their partners Q, with index arrays."""
    stp, layer = self.steps[j], self.layers[j]
    n = C.shape[0]
    U = stp["U"]
    P = np.arange(n)[stp["P"]]
    Q = np.arange(n)[stp["Q"]] if isinstance(stp["Q"], slice) else stp["Q"]
    D = C * stp["sl"]
    CU = C[U]
    D[U] = CU * np.where(CU >= 0, stp["su_U"], stp["sl_U"])
    off = CU * np.where(CU >= 0, stp["mu"], stp["ml"])
    Tabs = np.abs(D)
    CP = C[P]
    D2 = CP * np.where(CP >= 0, stp["qu"], stp["ql"])
    Tabs[Q] += np.abs(D2)
    D[Q] += D2
    if g is not None:
        D = D + g
        Tabs = Tabs + np.abs(D)
    S_off, T_off = off.sum(axis=0), np.abs(off).sum(axis=0)
    flatD, flatT = D.reshape(n, -1), Tabs.reshape(n, -1)
    S_bias = (layer.bias @ flatD).reshape(const.shape)
    T_bias = (np.abs(layer.bias) @ flatT).reshape(const.shape)
    T_charge = np.einsum("inr,in->nr", Tabs, stp["charge"])
    const = add_up(const, up(S_off + enclose(S_off, T_off, max(len(U), 1))), up(S_bias + enclose(S_bias, T_bias, n)),
                   up(T_charge + enclose(T_charge, T_charge, n)), self.tiny[j][:, None])
    contrib = None
    if scores:
        contrib = np.zeros_like(C)
        contrib[U] = off
    return layer.transposed_product(flatD).reshape((layer.weight.shape[1],) + D.shape[1:]), const, contrib


def same(x, y) -> bool:
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y))
    if x is None or y is None:
        return x is y
    return np.array_equal(x, y)


def sub_boxes(rng, box, count):
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    t, w = rng.random((count, len(lo))), rng.random((count, len(lo))) ** 2
    xl = lo + (hi - lo) * t * (1 - w)
    return xl, xl + (hi - xl) * w


def partial_pairing(rng, a, b) -> Pairing:
    """Pair a random subset of each hidden layer's neurons (B indices with gaps: non-contiguous partners)."""
    layers = []
    for la, lb in zip(a.layers[:-1], b.layers[:-1]):
        size = min(la.out_features, lb.out_features)
        keep = sorted(rng.choice(size, size=int(rng.integers(0, size + 1)), replace=False).tolist())
        layers.append(tuple((i, i) for i in keep))
    return Pairing(tuple(layers))


def outputs(res):
    return (res.uppers, res.coefs, res.contribs, res.product, res.a, res.single)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["noise", "prune", "drop"]), st.sampled_from([RELU, LEAKY, LEAKY_ODD]),
       st.booleans())
def test_step_is_the_formula(seed, kind, act, partial):
    """Also across the many row counts of one run: the scratch arrays are reused by every step of a chain."""
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(2, 4))] + [int(rng.integers(3, 7)) for _ in range(int(rng.integers(1, 4)))] + [2]
    a = random_net(rng, widths, act)
    b = near_copy(rng, a, kind)
    pairing = partial_pairing(rng, a, b) if partial else align(a, b)
    c = couple(a, b, pairing)
    xl, xu = sub_boxes(rng, random_box(rng, a.input_size), 6)
    mode = Mode.parse("epsilon=1/8") if rng.random() < 0.5 else Mode.parse("top1")
    classes = None if mode.kind == "epsilon" else rng.integers(0, 2, len(xl))
    phases = None
    if rng.random() < 0.5:  # ReLU-split branches: phases and β terms
        phases = [(rng.integers(-1, 2, (len(xl), c.chain_a[k].size)).astype(float),
                   rng.integers(-1, 2, (len(xl), c.chain_b[k].size)).astype(float)) for k in range(c.depth - 1)]
    got = outputs(run(c, xl, xu, Objective(mode, classes), phases=phases, scores=True))
    single_obj = Objective(Mode.parse("top1"), np.zeros(len(xl), dtype=int), "a")
    betas = None if phases is None else [rng.random((len(xl), 1, c.chain_a[k].size)) for k in range(c.depth - 1)]
    got_single = outputs(run_single(c, "a", xl, xu, single_obj, phases=phases, scores=True, betas=betas))
    original = difference_chain.Chain._step
    difference_chain.Chain._step = formula_step
    try:
        want = outputs(run(c, xl, xu, Objective(mode, classes), phases=phases, scores=True))
        want_single = outputs(run_single(c, "a", xl, xu, single_obj, phases=phases, scores=True, betas=betas))
    finally:
        difference_chain.Chain._step = original
    assert same(got, want)
    assert same(got_single, want_single)


def test_partner_index_runs_become_slices():
    assert difference_chain._index(np.array([3, 4, 5])) == slice(3, 6)
    gaps = difference_chain._index(np.array([0, 2]))
    assert isinstance(gaps, np.ndarray) and gaps.tolist() == [0, 2]
    assert difference_chain._size(difference_chain._index(np.zeros(0, dtype=int))) == 0



@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(["noise", "prune", "drop"]))
def test_the_product_skipping_the_zero_block_is_within_the_charged_error(seed, kind):
    """ChainLayer.transposed_product (W^T·F without the z_B rows' zero block on the difference and unpaired-A columns)
    errs from the exact product by at most n·2^-52·|W|^T·|F| + n·2^-1072, n = W's rows (what the step charges),
    and the block is found on these pairs."""
    rng = np.random.default_rng(seed)
    a = random_net(rng, [3, 6, 5, 2])
    coupling = couple(a, near_copy(rng, a, kind))
    skipped = 0
    for layer in coupling.product:
        F = rng.standard_normal((layer.weight.shape[0], 3)) * 2.0 ** rng.integers(-30, 30, (layer.weight.shape[0], 1))
        got = layer.transposed_product(F)
        n = layer.weight.shape[0]
        slack = np.abs(layer.weight).T @ np.abs(F) * (n * 2.0**-52) + n * 2.0**-1072
        for i, j in np.ndindex(got.shape):
            exact = sum(Fraction(float(w)) * Fraction(float(f)) for w, f in zip(layer.weight[:, i], F[:, j]))
            assert abs(Fraction(float(got[i, j])) - exact) <= Fraction(float(slack[i, j])), (seed, i, j)
        skipped += layer.zero_block is not None
    assert skipped >= 1
