"""solver_check='auto' above the checker's z3 term budget: z3 re-checks an evenly spaced sample of the neurons,
chosen by their query sizes (the exact algebra still checks every one); 'all' checks every neuron, 'none' none."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import lumpcheck.checker.strict
from lumpcheck.checker import check
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.prove.prover import prove
from lumpcheck.prove.records import write_certificate

RELU = Activation("relu")
K = 10


@pytest.fixture(scope="module")
def wrong_biases(tmp_path_factory) -> tuple[Path, Path, Path, list[int]]:
    """K hidden neurons (3 weights each), every reduced bias off by one (the output's too): every claim fails.
    Query sizes: 3 + 3 per hidden neuron, K + K for the output."""
    d = tmp_path_factory.mktemp("sampling")
    rng = np.random.default_rng(0)
    w = rng.integers(1, 5, (K, 3)).astype(float)
    out = rng.integers(1, 5, (1, K)).astype(float)
    original = Network([Layer(w, np.zeros(K), RELU), Layer(out, np.zeros(1), IDENTITY)])
    reduced = Network([Layer(w, np.ones(K), RELU), Layer(out, np.ones(1), IDENTITY)])
    relation = Relation([LayerRelation([NeuronMap(((j, Fraction(1)),)) for j in range(K)], K)])
    a, b, c = d / "a.onnx", d / "b.onnx", d / "c.json"
    save_model(original, a, dtype="float64")
    save_model(reduced, b, dtype="float64")
    write_certificate(prove(a, b, relation, solver_check="none"), c)
    doc = json.loads(c.read_text())
    doc["verdict"] = "proved"
    for ob in doc["obligations"]:
        ob["status"] = "proved"
    c.write_text(json.dumps(doc))
    return a, b, c, [6] * K + [2 * K]


def z3_neurons(result) -> list[int]:
    """The items z3 refuted, numbered as the checker orders them: layer 1's neurons 0..K-1, then the output (K)."""
    return [int(r.split()[3].rstrip(":")) + (K if r.startswith("layer 2") else 0)
            for r in result.reasons if "z3 answers" in r]


def evenly_spaced(costs: list[int], budget: int) -> list[int]:
    """The documented sample: indices round(i·step), step = total cost / budget."""
    step = sum(costs) / budget
    return sorted({min(len(costs) - 1, round(i * step)) for i in range(int(len(costs) / step) + 1)})


@pytest.mark.parametrize("budget", [24, 40, 7, 73, 79])
def test_auto_samples_evenly_by_query_size(wrong_biases, monkeypatch, budget):
    a, b, c, costs = wrong_biases
    monkeypatch.setattr(lumpcheck.checker.strict, "Z3_TERM_BUDGET", budget)
    result = check(c, a, b, solver_check="auto")
    exact = [r for r in result.reasons if "constant term" in r]
    assert len(exact) == 4  # the exact algebra checks every neuron (at most 3 reasons per layer are listed)
    assert z3_neurons(result) == evenly_spaced(costs, budget)


def test_all_and_none_ignore_the_budget(wrong_biases, monkeypatch):
    a, b, c, _ = wrong_biases
    monkeypatch.setattr(lumpcheck.checker.strict, "Z3_TERM_BUDGET", 7)
    assert z3_neurons(check(c, a, b, solver_check="all")) == list(range(K + 1))
    assert z3_neurons(check(c, a, b, solver_check="none")) == []
    monkeypatch.setattr(lumpcheck.checker.strict, "Z3_TERM_BUDGET", 80)  # the total: everything fits
    assert z3_neurons(check(c, a, b, solver_check="auto")) == list(range(K + 1))
