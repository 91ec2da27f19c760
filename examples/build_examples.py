"""Build the bundled example networks (run: python examples/build_examples.py).

Each network has redundancy planted on purpose, so lumpcheck has something to find and prove:
- planted_relu.onnx: 4-16-12-3 ReLU net with duplicate, proportional (factor 2, 1/2, 3), dead and constant neurons.
- planted_tanh.onnx: 3-8-6-2 tanh net with duplicates and negated (factor -1) neurons.
- planted_sigmoid.onnx: 3-8-2 sigmoid net with duplicates and a sigmoid reflection (σ(-z) = 1 - σ(z)).
- near_miss_relu.onnx: planted_relu with ONE weight of a planted duplicate moved by one ulp (must not merge).
- box.vnnlib: an input box for planted_relu.
Random weights are float32 values stored as float64, like a float32 model: planted multiples (3·w) and
the quotient's sums of weights are then exact in float64, so the reduced model can be written exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lumpcheck.atomic import write_text_atomic
from lumpcheck.io import save_model
from lumpcheck.network import Activation, Layer, Network

HERE = Path(__file__).resolve().parent


def normal32(rng: np.random.Generator, size) -> np.ndarray:
    """Standard normal samples rounded to float32 values (held in float64)."""
    return rng.normal(size=size).astype(np.float32).astype(np.float64)


def planted_layer(rng: np.random.Generator, n_in: int, plan: list[tuple[str, int, float]], n_free: int):
    """Rows: n_free random neurons, then one row per plan entry (kind, source row, factor)."""
    w = normal32(rng, (n_free, n_in))
    b = normal32(rng, n_free)
    rows, biases = list(w), list(b)
    for kind, src, factor in plan:
        if kind == "copy":
            rows.append(factor * rows[src])
            biases.append(factor * biases[src])
        elif kind == "constant":
            rows.append(np.zeros(n_in))
            biases.append(factor)
    return np.array(rows), np.array(biases)


def planted_relu(rng: np.random.Generator) -> Network:
    w1, b1 = planted_layer(rng, 4, [("copy", 0, 1.0), ("copy", 1, 2.0), ("copy", 2, 0.5), ("copy", 0, 3.0), ("constant", 0, 0.75)], 11)
    w2, b2 = planted_layer(rng, 16, [("copy", 3, 1.0), ("copy", 4, 4.0), ("copy", 5, 1.0)], 9)
    w3 = normal32(rng, (3, 12))
    w3[:, 8] = 0.0  # neuron 8 of layer 2 feeds nothing: dead
    relu = Activation("relu")
    return Network([Layer(w1, b1, relu), Layer(w2, b2, relu), Layer(w3, normal32(rng, 3))], source="planted_relu")


def planted_tanh(rng: np.random.Generator) -> Network:
    w1, b1 = planted_layer(rng, 3, [("copy", 0, 1.0), ("copy", 1, -1.0), ("copy", 2, -1.0)], 5)
    w2, b2 = planted_layer(rng, 8, [("copy", 0, -1.0), ("copy", 1, 1.0)], 4)
    tanh = Activation("tanh")
    return Network([Layer(w1, b1, tanh), Layer(w2, b2, tanh), Layer(normal32(rng, (2, 6)), normal32(rng, 2))])


def planted_sigmoid(rng: np.random.Generator) -> Network:
    w1, b1 = planted_layer(rng, 3, [("copy", 0, 1.0), ("copy", 1, -1.0), ("copy", 2, 1.0)], 5)
    sig = Activation("sigmoid")
    return Network([Layer(w1, b1, sig), Layer(normal32(rng, (2, 8)), normal32(rng, 2))])


def near_miss(net: Network) -> Network:
    """Copy of `net` with one weight of the first planted duplicate (row 11 of layer 1) moved by one ulp."""
    w = net.layers[0].weight.copy()
    w[11, 2] = np.nextafter(w[11, 2], np.inf)
    layers = [Layer(w, net.layers[0].bias, net.layers[0].activation), *net.layers[1:]]
    return Network(layers, source="near_miss_relu")


BOX = """; input box for planted_relu.onnx
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const X_2 Real)
(declare-const X_3 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(declare-const Y_2 Real)
(assert (>= X_0 -1.0))
(assert (<= X_0 1.0))
(assert (>= X_1 -1.0))
(assert (<= X_1 1.0))
(assert (>= X_2 -0.5))
(assert (<= X_2 0.5))
(assert (>= X_3 0.0))
(assert (<= X_3 2.0))
(assert (>= Y_0 Y_1))
"""


def main() -> None:
    rng = np.random.default_rng(20261125)
    relu = planted_relu(rng)
    save_model(relu, HERE / "planted_relu.onnx", dtype="float64")
    save_model(near_miss(relu), HERE / "near_miss_relu.onnx", dtype="float64")
    save_model(planted_tanh(rng), HERE / "planted_tanh.onnx", dtype="float64")
    save_model(planted_sigmoid(rng), HERE / "planted_sigmoid.onnx", dtype="float64")
    write_text_atomic(HERE / "box.vnnlib", BOX)
    print(f"wrote examples to {HERE}")


if __name__ == "__main__":
    main()
