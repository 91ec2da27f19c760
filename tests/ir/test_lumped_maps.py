"""LumpedMaps, the reducer's array form of a layer's maps: its construction checks refuse every code outside the
table (negative ones in every integer width included) and accept the largest valid one; its reason counts are the
NeuronMap list's, in the same order (first appearance)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir.relation import REASONS, LayerRelation, LumpedMaps

TABLE = (Fraction(0), Fraction(1), Fraction(-1, 2), Fraction(4))
TABLES = st.sampled_from([TABLE, (Fraction(3), Fraction(0), Fraction(1), Fraction(-2)), tuple(reversed(TABLE))])


@st.composite
def lumped(draw, table: tuple[Fraction, ...] = TABLE) -> LumpedMaps:
    n = draw(st.integers(0, 12))
    ints = lambda hi: st.lists(st.integers(0, hi), min_size=n, max_size=n)  # noqa: E731
    cls = np.array(draw(ints(3)), dtype=np.int64) - np.array(draw(ints(1)), dtype=np.int64)  # some -1: no term
    reason = np.array(draw(st.lists(st.integers(0, len(REASONS) - 1), min_size=n, max_size=n)), dtype=np.uint8)
    offsets = draw(st.one_of(st.just([0] * n), ints(len(table) - 1)))  # all code 0 (zero or not), or any
    return LumpedMaps(cls, np.array(draw(ints(len(table) - 1)), dtype=np.int32), np.array(offsets, dtype=np.int32),
                      reason, table)


@settings(max_examples=200, deadline=None)
@given(lumped())
def test_reason_counts_are_the_neuron_maps_counts_in_order(maps: LumpedMaps):
    as_list = LayerRelation(list(maps), 4).reason_counts()  # the NeuronMap path, counting one by one
    assert list(maps.reason_counts().items()) == list(as_list.items())


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("field", ["factor", "offset"])
def test_codes_outside_the_table_are_refused_in_every_width(dtype, field):
    n = 5
    arrays = {"cls": np.zeros(n, dtype=np.int64), "factor": np.zeros(n, dtype=np.int32),
              "offset": np.zeros(n, dtype=np.int32), "reason": np.zeros(n, dtype=np.uint8)}
    for bad in (-1, np.iinfo(dtype).min, len(TABLE)):
        codes = np.zeros(n, dtype=dtype)
        codes[3] = bad
        with pytest.raises(ValueError, match=f"{field} codes outside 0..{len(TABLE) - 1}"):
            LumpedMaps(**{**arrays, field: codes}, table=TABLE)
    codes = np.full(n, len(TABLE) - 1, dtype=dtype)
    assert len(LumpedMaps(**{**arrays, field: codes}, table=TABLE)) == n
    with pytest.raises(ValueError, match="reason codes"):
        LumpedMaps(**{**arrays, "reason": np.full(n, len(REASONS), dtype=np.uint8)}, table=TABLE)


@settings(max_examples=200, deadline=None)
@given(TABLES.flatmap(lumped), st.sampled_from([None, 0, 1, 2, 3]))
def test_flat_terms_are_the_neuron_maps_flat_terms(maps: LumpedMaps, below):
    """The array path of flat_terms (terms on classes < below, nonzero offsets) gives the NeuronMap path's terms."""
    fast, slow = (LayerRelation(m, 4).flat_terms(below) for m in (maps, list(maps)))
    assert fast.rows.tolist() == slow.rows.tolist() and fast.cols.tolist() == slow.cols.tolist()
    assert [fast.table[c] for c in fast.codes] == [slow.table[c] for c in slow.codes]
    assert fast.offsets == slow.offsets
