"""Build the bundled example networks (run: python examples/build_examples.py).

Each network has redundancy planted on purpose, so lumpcheck has something to find and prove:
- planted_relu.onnx: 4-16-12-3 ReLU net with duplicate, proportional (factor 2, 1/2, 3), dead and constant neurons.
- planted_tanh.onnx: 3-8-6-2 tanh net with duplicates and negated (factor -1) neurons.
- planted_sigmoid.onnx: 3-8-2 sigmoid net with duplicates and a sigmoid reflection (σ(-z) = 1 - σ(z)).
- near_miss_relu.onnx: planted_relu with ONE weight of a planted duplicate moved by one ulp (must not merge).
- box.vnnlib: an input box for planted_relu.
- zoo/: a tiny model zoo for `lumpcheck zoo` (see ZOO_README below): two reducible models (one .nnet with
  normalisation, one ONNX with two properties in instances.csv), one already minimal, one corrupt file.
Random weights are float32 values stored as float64, like a float32 model: planted multiples (3·w) and
the quotient's sums of weights are then exact in float64, so the reduced model can be written exactly.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from lumpcheck.io import save_model
from lumpcheck.io.atomic import write_bytes_atomic, write_text_atomic
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.normalization import Normalization

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


def zoo_relu(rng: np.random.Generator) -> Network:
    """3-6-4-2 ReLU net with one duplicate and one proportional (factor 2) neuron in layer 1."""
    w1, b1 = planted_layer(rng, 3, [("copy", 0, 1.0), ("copy", 1, 2.0)], 4)
    relu = Activation("relu")
    return Network([Layer(w1, b1, relu), Layer(normal32(rng, (4, 6)), normal32(rng, 4), relu),
                    Layer(normal32(rng, (2, 4)), normal32(rng, 2))], source="zoo_relu")


def zoo_nnet(rng: np.random.Generator) -> Network:
    """2-5-2 ReLU net (.nnet, with input/output normalisation) with a duplicated hidden neuron."""
    w1, b1 = planted_layer(rng, 2, [("copy", 2, 1.0)], 4)
    norm = Normalization((Fraction(1, 2), Fraction(-1)), (Fraction(2), Fraction(4)), (Fraction(3), Fraction(3)),
                         (Fraction(10), Fraction(10)), (Fraction(-5), Fraction(-5)), (Fraction(5), Fraction(5)))
    return Network([Layer(w1, b1, Activation("relu")), Layer(normal32(rng, (2, 5)), normal32(rng, 2))], norm, "zoo_nnet")


def zoo_minimal(rng: np.random.Generator) -> Network:
    """4-5-3 random tanh net: nothing to lump."""
    return Network([Layer(normal32(rng, (5, 4)), normal32(rng, 5), Activation("tanh")),
                    Layer(normal32(rng, (3, 5)), normal32(rng, 3))], source="zoo_minimal")


def box_text(bounds: list[tuple[str, str]], n_outputs: int, note: str) -> str:
    """A VNN-LIB file: an input box and a trivial output constraint."""
    lines = [f"; {note}"] + [f"(declare-const X_{i} Real)" for i in range(len(bounds))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_outputs)]
    for i, (lo, hi) in enumerate(bounds):
        lines += [f"(assert (>= X_{i} {lo}))", f"(assert (<= X_{i} {hi}))"]
    return "\n".join(lines + ["(assert (>= Y_0 Y_1))", ""])


ZOO_README = """Tiny model zoo for `lumpcheck zoo examples/zoo -o out --domain-map examples/zoo/instances.csv`.
Generated by examples/build_examples.py: relu_net.onnx (reducible; two properties in instances.csv),
nets/ranged.nnet (reducible, input/output normalisation in its header), nets/minimal_tanh.onnx (already
minimal), broken.onnx (not an ONNX file: must come out as an error row, not stop the run).
"""


def build_zoo(rng: np.random.Generator, zoo: Path) -> None:
    save_model(zoo_relu(rng), zoo / "relu_net.onnx", dtype="float64")
    save_model(zoo_nnet(rng), zoo / "nets" / "ranged.nnet")
    save_model(zoo_minimal(rng), zoo / "nets" / "minimal_tanh.onnx", dtype="float32")
    write_bytes_atomic(zoo / "broken.onnx", b"\x08\x07this is not a protobuf model\n")
    write_text_atomic(zoo / "props" / "wide.vnnlib", box_text([("-1.0", "1.0")] * 3, 2, "wide box for relu_net.onnx"))
    write_text_atomic(zoo / "props" / "narrow.vnnlib", box_text([("0.0", "0.25")] * 3, 2, "narrow box for relu_net.onnx"))
    write_text_atomic(zoo / "instances.csv", "relu_net.onnx,props/wide.vnnlib,60\nrelu_net.onnx,props/narrow.vnnlib,60\n")
    write_text_atomic(zoo / "README.txt", ZOO_README)


def main() -> None:
    rng = np.random.default_rng(20261125)
    relu = planted_relu(rng)
    save_model(relu, HERE / "planted_relu.onnx", dtype="float64")
    save_model(near_miss(relu), HERE / "near_miss_relu.onnx", dtype="float64")
    save_model(planted_tanh(rng), HERE / "planted_tanh.onnx", dtype="float64")
    save_model(planted_sigmoid(rng), HERE / "planted_sigmoid.onnx", dtype="float64")
    write_text_atomic(HERE / "box.vnnlib", BOX)
    build_zoo(rng, HERE / "zoo")
    print(f"wrote examples to {HERE}")


if __name__ == "__main__":
    main()
