"""Issue 13.6: every .nnet file lumpcheck writes parses with the reference readers' logic (sisl/NNet), zero-width
layers included. The two readers below re-implement, independently of lumpcheck's own reader, the parsing rules of
sisl/NNet's `utils/readNNet.py` (readNNet) and `python/nnet.py` (class NNet):

- readNNet: skip leading lines starting with "//"; then per layer and per row read ONE line, split it at commas,
  and take fields until the field that is exactly "\\n" (so a row needs a trailing comma and a newline); then one
  line per bias, taking its first field;
- NNet: the same line discipline, but each line is `strip()`ped, split at commas and the last field dropped (the
  empty one after the trailing comma); header and sizes lines are parsed the same way.
Neither skips blank lines or comments after the header: a file that leaves out a line for an empty row breaks both.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lumpcheck.io import load_model
from lumpcheck.io.nnet import nnet_text, write_nnet
from lumpcheck.ir.activation import IDENTITY, RELU
from lumpcheck.ir.network import Layer, Network, evaluate_float
from lumpcheck.ir.normalization import Normalization
from lumpcheck.reduction.lumping import reduce


def read_nnet_like_readNNet(text: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """utils/readNNet.py's rules; weights come back as (out, in) like lumpcheck's."""
    lines = iter(text.splitlines(keepends=True))
    line = next(lines, "")
    while line[:2] == "//":
        line = next(lines, "")
    n_layers = int(line.split(",")[0])
    sizes = [int(v) for v in next(lines).split(",")[: n_layers + 1]]
    for _ in range(5):  # the unused flag line, then minimums, maximums, means, ranges
        next(lines)
    weights = [np.zeros((sizes[k], sizes[k + 1])) for k in range(n_layers)]
    biases = [np.zeros(sizes[k + 1]) for k in range(n_layers)]
    fields = next(lines, "").split(",")
    for k in range(n_layers):
        for row in range(sizes[k + 1]):
            col = 0
            while fields[col] != "\n":  # an IndexError here is what the reference reader does on a short line
                weights[k][col, row] = float(fields[col])
                col += 1
            fields = next(lines, "").split(",")
        for row in range(sizes[k + 1]):
            biases[k][row] = float(fields[0])
            fields = next(lines, "").split(",")
    return [w.T for w in weights], biases


def read_nnet_like_NNet(text: str) -> dict:
    """python/nnet.py's rules: every line stripped, split at commas, last field dropped."""
    lines = iter(text.splitlines())
    line = next(lines)
    while line.startswith("//"):
        line = next(lines)

    def numbers(s: str, kind=float) -> list:
        return [kind(v) for v in s.strip().split(",")[:-1]]

    n_layers, n_in, n_out, _ = numbers(line, int)
    sizes = numbers(next(lines), int)
    int(next(lines).strip().split(",")[0])
    mins, maxs, means, ranges = (numbers(next(lines)) for _ in range(4))
    weights, biases = [], []
    for k in range(n_layers):
        w = np.zeros((sizes[k + 1], sizes[k]))
        for row in range(sizes[k + 1]):
            w[row] = numbers(next(lines))  # a width mismatch raises, as in the reference
        weights.append(w)
        biases.append(np.array([float(next(lines).strip().split(",")[0]) for _ in range(sizes[k + 1])]))
    return {"sizes": sizes, "n_in": n_in, "n_out": n_out, "weights": weights, "biases": biases,
            "mins": mins, "maxs": maxs, "means": means, "ranges": ranges}


def assert_reference_readers_agree(net: Network) -> None:
    text = nnet_text(net)
    floats = [(np.array([float(v) for v in l.weight.flat]).reshape(l.weight.shape),
               np.array([float(v) for v in l.bias.flat])) for l in net.layers]
    w1, b1 = read_nnet_like_readNNet(text)
    ref = read_nnet_like_NNet(text)
    assert ref["sizes"] == net.widths and (ref["n_in"], ref["n_out"]) == (net.input_size, net.output_size)
    for (w, b), wa, ba, wb, bb in zip(floats, w1, b1, ref["weights"], ref["biases"]):
        assert wa.shape == wb.shape == w.shape and np.array_equal(wa, w) and np.array_equal(wb, w)
        assert np.array_equal(ba, b) and np.array_equal(bb, b)
    x = np.random.default_rng(0).uniform(-3, 3, size=(5, net.input_size))
    for xi in x:  # the reference forward pass (ReLU hidden, linear output) on the parsed numbers = lumpcheck's
        h = xi
        for k, (w, b) in enumerate(zip(ref["weights"], ref["biases"])):
            h = w @ h + b
            h = np.maximum(h, 0) if k < len(ref["weights"]) - 1 else h
        np.testing.assert_allclose(h, evaluate_float(net, xi), rtol=1e-12, atol=1e-12)


def net_of(widths: list[int], rng: np.random.Generator) -> Network:
    layers = []
    for i, (m, n) in enumerate(zip(widths, widths[1:])):
        w = rng.integers(-4, 5, size=(n, m)) / 4
        layers.append(Layer(w.reshape(n, m), rng.integers(-4, 5, size=n) / 8, RELU if i < len(widths) - 2 else IDENTITY))
    return Network(layers)


@pytest.mark.parametrize("widths", [[2, 0, 1], [2, 0, 0, 1], [3, 1, 2], [1, 1], [2, 3, 0, 2], [4, 0, 3, 1]])
def test_zero_width_and_tiny_layers_parse_with_the_reference_logic(widths, tmp_path):
    net = net_of(widths, np.random.default_rng(sum(widths)))
    assert_reference_readers_agree(net)
    write_nnet(net, tmp_path / "n.nnet")
    back = load_model(tmp_path / "n.nnet")  # and lumpcheck's own reader still reads it exactly
    assert back.widths == net.widths and all(np.array_equal(a.weight, b.weight) for a, b in zip(back.layers, net.layers))


def test_a_reduction_to_a_constant_and_one_zero_neuron_parse_with_the_reference_logic():
    dead_first = Network([Layer(np.zeros((3, 2)), -np.ones(3), RELU), Layer(np.ones((2, 3)), np.array([1.0, 2.0]), RELU),
                          Layer(np.array([[1.0, -1.0]]), np.zeros(1))])
    constant = reduce(dead_first).network
    assert constant.widths == [2, 0, 0, 1]  # twin ladder to a constant: zero-width layers
    assert_reference_readers_agree(constant)
    one_zero = Network([Layer(np.zeros((1, 2)), np.zeros(1), RELU), Layer(np.array([[0.0]]), np.array([0.5]))])
    assert_reference_readers_agree(one_zero)
    assert_reference_readers_agree(reduce(one_zero).network)


def test_normalisation_lines_parse_with_the_reference_logic():
    norm = Normalization((Fraction(1, 2), 0), (2, 4), (Fraction(-1, 4),), (3,), (-1, -2), (1, 2))
    net = Network(net_of([2, 3, 1], np.random.default_rng(1)).layers, norm)
    ref = read_nnet_like_NNet(nnet_text(net))
    assert ref["mins"] == [-1, -2] and ref["maxs"] == [1, 2] and ref["means"] == [0.5, 0, -0.25] and ref["ranges"] == [2, 4, 3]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_every_reduced_network_lumpcheck_writes_parses_with_the_reference_logic(hidden, n_in, n_out, seed):
    """Random ReLU nets with planted duplicates and dead neurons, reduced: what `reduce -o x.nnet` writes."""
    rng = np.random.default_rng(seed)
    net = net_of([n_in, *hidden, n_out], rng)
    layers = list(net.layers)
    if layers[0].out_features:
        w = layers[0].weight.copy()
        w[0] = 0  # a dead or constant neuron
        layers[0] = Layer(w, layers[0].bias, layers[0].activation)
    net = Network(layers)
    assert_reference_readers_agree(net)
    reduced = reduce(net).network
    try:
        nnet_text(reduced)
    except ValueError:  # a merge factor like 4/3 has no decimal: `reduce -o x.nnet` refuses it, writes nothing
        assume(False)
    assert_reference_readers_agree(reduced)
