"""The prover's difference bound (bounds.deviation.difference_bound) and the checker's own (check_epsilon) are the same
exact number, for every activation, phase mix and substitution window: ε equal to it is valid, ε a hair below it is
not. Any change to either bound's arithmetic shows up here."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.checker.epsilon import check_epsilon
from lumpcheck.bounds.deviation import difference_bound
from lumpcheck.epsilon.certificate import apply_corrections, prove_epsilon
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import fraction_str
from lumpcheck.ir.network import Layer, Network
from lumpcheck.reduction.lumping import reduce

F = Fraction
HAIR = F(1, 2**300)
ACTIVATIONS = {"relu": Activation("relu"), "leaky": Activation("leaky_relu", F(1, 8)),
               "steep": Activation("leaky_relu", 3), "negative": Activation("leaky_relu", F(-1, 2)),
               "tanh": Activation("tanh"), "sigmoid": Activation("sigmoid"),
               "identity": IDENTITY}


def net(act: Activation, seed: int) -> Network:
    """3-4-4-2 with float64 weights that float32 cannot hold, biases spread so that neurons are active,
    inactive and undecided on the box."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan, width, bias in ((3, 4, [2.5, -2.5, 0.1, -0.05]), (4, 4, [1.5, -3.0, 0.2, 0.0])):
        layers.append(Layer(rng.uniform(-1, 1, (width, fan)) / 3, np.array(bias) + rng.uniform(-1e-3, 1e-3, width), act))
    layers.append(Layer(rng.uniform(-1, 1, (2, 4)), rng.uniform(-1, 1, 2), IDENTITY))
    return Network(layers)


@pytest.fixture(scope="module", params=sorted(ACTIVATIONS))
def export(request, tmp_path_factory) -> dict:
    d: Path = tmp_path_factory.mktemp(request.param)
    original, reduced = d / "original.onnx", d / "reduced.onnx"
    save_model(net(ACTIVATIONS[request.param], 11), original, dtype="float64")
    red = reduce(load_model(original))
    save_model(red.network, reduced, dtype="float32")
    box = Box((F(-1),) * 3, (F(1),) * 3)
    doc = prove_epsilon(original, reduced, red, box, red.network)
    written = load_model(reduced)
    fixes = [(c[0], c[1], c[2], F(c[3])) for c in doc["epsilon_proof"]["corrections"]]
    return {"doc": doc, "original": original, "reduced": reduced, "box": box, "written": written,
            "quotient": apply_corrections(written, fixes)}


@pytest.mark.parametrize("window", [0, 1, 2])
def test_checker_and_prover_bounds_are_the_same_number(export, window):
    bound, _ = difference_bound(export["quotient"], export["written"], export["box"], window)
    assert bound > 0
    doc = copy.deepcopy(export["doc"])
    doc["epsilon_proof"]["window"] = window
    args = (export["original"], export["reduced"])
    doc["claim"]["epsilon"] = fraction_str(bound)
    result = check_epsilon(doc, *args, solver_check="none")
    assert result.valid, result.reasons
    doc["claim"]["epsilon"] = fraction_str(bound - HAIR)
    result = check_epsilon(doc, *args, solver_check="none")
    assert not result.valid and result.reasons[0].startswith("cannot establish ε=")
