"""A pair where only A clips its input, on boxes beyond the clip range (audit of verify/check): the models are
compared as they compute (clip first), the certificate's claim is about the models on their box, and moving that
box where the pair differs makes the certificate invalid. Ground truth: the models evaluated exactly."""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import Mode
from lumpcheck.ir.activation import IDENTITY, RELU
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.ir.normalization import Normalization

F = Fraction


def _models():
    """y = (relu(x), relu(−x)); A clips x to [0, 1] first, B does not. Top-1: equal on x >= 1/2 (class 0 in
    both), different at x <= 0 (A ties at 0, B picks class 1)."""
    layers = [Layer(np.array([[1.0], [-1.0]]), np.zeros(2), RELU), Layer(np.eye(2), np.zeros(2), IDENTITY)]
    clip = Normalization((F(0),), (F(1),), (F(0),), (F(1),), (F(0),), (F(1),))
    return Network(layers, normalization=clip), Network(layers)


def _box(lo, hi) -> Box:
    return Box((F(lo),), (F(hi),))


@pytest.mark.parametrize("mode", ["top1", "argmin"])
def test_a_box_beyond_the_clip_range_is_certified_for_the_models(mode):
    a, b = _models()
    over = _box(F(1, 2), 3)  # [1/2, 3]: A sees [1/2, 1], B the whole box; same decisions
    res = verify(a, b, over, Mode.parse(mode), 30, engines=("differential",))
    assert res.status == "unsat" and res.certificate is not None, res.message
    doc = json.loads(json.dumps(res.certificate))
    assert doc["claim"]["models"]["domain"] == {"lower": ["1/2"], "upper": ["3"]}
    assert check_certificate(doc, a, b).valid
    under = _box(-1, F(1, 2))
    x = (F(-1),)
    assert evaluate(a, x) == [0, 0] and evaluate(b, x) == [0, 1]  # A clips -1 to 0: a tie; B picks one class
    assert verify(a, b, under, Mode.parse(mode), 30).status == "sat"
    for where in (("models",), ("box",), ("models", "box")):  # the claim moved onto [-1, 1/2], where it is false
        bad = copy.deepcopy(doc)
        for key in where:
            target = bad["claim"][key]["domain"] if key == "models" else bad["claim"]["box"]
            target.update({"lower": ["-1"], "upper": ["1/2"]})
        assert not check_certificate(bad, a, b).valid, where
    assert not check_certificate(doc, b, a).valid  # the models swapped: not the certified pair


def test_the_unclipped_model_alone_is_not_the_certified_pair():
    """The same leaves checked as if A did not clip: the claim's models differ (fingerprints of the compiled clip
    layer), so it is invalid rather than silently about other functions."""
    a, b = _models()
    res = verify(a, b, _box(F(1, 2), 3), Mode.parse("top1"), 30, engines=("differential",))
    assert res.status == "unsat"
    assert not check_certificate(json.loads(json.dumps(res.certificate)), b, b).valid
