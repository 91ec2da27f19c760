"""io/onnx/chain.py: element-wise affine maps folded into a layer's bias are the exact rationals, whether the float
fast path or the Fraction path computes them."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from lumpcheck.io.onnx.chain import Chain
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.exact import canonical

FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # subnormals and values near the overflow threshold included
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0**-1074, 2.0**1023, 3.0, 0.1]),
    st.integers(-60, 60).map(lambda e: 2.0**e),
)


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(*[st.lists(FLOATS, min_size=n, max_size=n)] * 3)),
       st.booleans())
@example(([0.0], [-2.0], [-0.0]), False)
@example(([0.1], [0.1], [1.0]), False)
def test_affine_map_folded_into_the_bias_is_exact(vectors, unit_scale):
    """dense(W, b) then v -> s*v + t then ReLU: the layer's bias is s*b + t exactly (canonical: float64 where every
    value is one, else Fractions), and a zero is +0.0. unit_scale: s = 1, the MatMul-then-bias-Add case."""
    b, s, t = (np.array(v, dtype=np.float64) for v in vectors)
    if unit_scale:
        s = np.ones_like(s)
    chain = Chain(width=len(b))
    chain.dense(np.eye(len(b)), b, bias_open=False)
    chain.affine(s, t)
    chain.activate(RELU)
    bias = chain.layers[0].stored_bias
    exact = [Fraction(x) * Fraction(y) + Fraction(z) for x, y, z in zip(b, s, t)]
    expected = np.empty(len(exact), dtype=object)
    expected[:] = exact
    expected = canonical(expected)
    assert bias.dtype == expected.dtype
    assert [Fraction(v) for v in bias] == exact
    if bias.dtype == np.float64 and not (np.all(s == 1) and np.all(t == 0)):  # (an identity map is skipped)
        assert not np.any(np.signbit(bias) & (bias == 0))
