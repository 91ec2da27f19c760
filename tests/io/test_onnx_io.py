"""ONNX reading (every supported op form, checked against onnxruntime and exact expectations) and writing.

Input/output normalisation is metadata (`Network.normalization`), not part of the layers: comparisons with
onnxruntime apply it through `raw_float` / `raw_exact` (evaluate/evaluate_float compute the layers only).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from lumpcheck.apps.cli import cli
from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.checker import check
from lumpcheck.errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from lumpcheck.io.onnx import read_onnx, write_onnx
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.exact import NO_CLIP, as_fractions, exact_equal
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_float, layers_only
from lumpcheck.ir.normalization import Normalization
from lumpcheck.ir.rounding import nearest_float32, nearest_float64, round_network

RNG = np.random.default_rng(20261125)
F32 = TensorProto.FLOAT
node = helper.make_node


def tensor(name: str, arr: np.ndarray | list) -> TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, in_shape, out_shape, inits=(), opset: int = 17, elem: int = F32) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info("x", elem, in_shape)],
        [helper.make_tensor_value_info("y", elem, out_shape)],
        list(inits),
    )
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))


def save(tmp_path: Path, m: onnx.ModelProto, name: str = "m.onnx") -> Path:
    p = tmp_path / name
    p.write_bytes(m.SerializeToString())
    return p


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def floats(values) -> np.ndarray:
    return np.array([float(v) if abs(v) < NO_CLIP else np.copysign(np.inf, float(np.sign(v))) for v in values])


def raw_float(net: Network, x: np.ndarray) -> np.ndarray:
    """The network on raw inputs (a row or rows): clip, normalise, the layers, de-normalise (floats)."""
    norm, v = net.normalization, np.asarray(x, dtype=np.float64)
    if norm is None:
        return evaluate_float(net, v)
    if norm.input_min:
        v = np.clip(v, floats(norm.input_min), floats(norm.input_max))
    y = evaluate_float(layers_only(net), (v - floats(norm.input_mean)) / floats(norm.input_range))
    got = y * floats(norm.output_range) + floats(norm.output_mean)
    np.testing.assert_allclose(evaluate_float(net, x), got, rtol=1e-12, atol=1e-12)  # evaluate_float: the same model
    return got


def raw_exact(net: Network, x: list[Fraction]) -> list[Fraction]:
    """The same in exact arithmetic (piecewise-linear layers)."""
    norm = net.normalization
    if norm is None:
        return evaluate(net, x)
    if norm.input_min:
        x = [min(max(v, lo), hi) for v, lo, hi in zip(x, norm.input_min, norm.input_max)]
    y = evaluate(layers_only(net), [(v - m) / r for v, m, r in zip(x, norm.input_mean, norm.input_range)])
    scale, shift = (np.broadcast_to(np.array(t, dtype=object), len(y)) for t in (norm.output_range, norm.output_mean))
    got = [v * a + b for v, a, b in zip(y, scale, shift)]
    assert evaluate(net, x) == got  # lumpcheck's own model semantics agrees with this restatement
    return got


def assert_matches_ort(path: Path, net: Network, shape: list[int], dtype=np.float32, samples: int = 4) -> None:
    """The read network (with its normalisation) computes what onnxruntime computes, sample by sample."""
    for _ in range(samples):
        x = RNG.standard_normal(shape).astype(dtype)
        expected = ort_run(path, x).reshape(-1).astype(np.float64)
        got = raw_float(net, x.reshape(-1).astype(np.float64))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def fr(arr: np.ndarray) -> np.ndarray:
    return as_fractions(np.asarray(arr, dtype=np.float64))


def weights(k: int, n: int) -> np.ndarray:
    return RNG.standard_normal((k, n)).astype(np.float32)


# ---------------------------------------------------------------- supported forms


@pytest.mark.parametrize("data", ["A", "B"])
@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.25, -2.0), (0.3, 0.7)])
@pytest.mark.parametrize("bias", ["vector", "scalar", "none"])
def test_gemm_forms(tmp_path, data, trans_a, trans_b, alpha, beta, bias) -> None:
    k, n = 3, 4
    nodes, x = [], "x"
    needs_column = (data == "A" and trans_a) or (data == "B" and not trans_b)
    if needs_column:  # the sample as a (K, 1) column
        nodes.append(node("Reshape", ["x", "col"], ["xc"]))
        x = "xc"
    other = weights(k, n)  # B' (K, N) when the data is A; A' (N, K) transposed when the data is B
    if data == "A":
        stored = other.T if trans_b else other
        inputs, out_shape, c = [x, "w"], [1, n], np.float32([1.5, -2, 0.5, 3])
    else:
        stored = other if trans_a else other.T
        inputs, out_shape, c = ["w", x], [n, 1], np.float32([[1.5], [-2], [0.5], [3]])
    if bias == "scalar":
        c = np.float32(0.75)
    inits = [tensor("w", stored), tensor("col", np.int64([k, 1]))]
    if bias != "none":
        inits.append(tensor("c", c))
        inputs.append("c")
    nodes.append(node("Gemm", inputs, ["y"], alpha=alpha, beta=beta, transA=trans_a, transB=trans_b))
    path = save(tmp_path, model(nodes, [1, k], out_shape, inits))
    net = read_onnx(path)
    assert net.shape_str() == f"{k}-{n}" and net.layers[0].activation.kind == "identity"
    a, b = Fraction(float(np.float32(alpha))), Fraction(float(np.float32(beta)))
    assert np.all(as_fractions(net.layers[0].weight) == fr(other.T) * a)
    expected_bias = np.zeros(n) if bias == "none" else np.broadcast_to(np.float64(c).reshape(-1), (n,))
    assert np.all(as_fractions(net.layers[0].bias) == fr(expected_bias) * b)
    assert_matches_ort(path, net, [1, k])


@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_add_either_order(tmp_path, bias_first) -> None:
    w1, w2, b1, b2 = weights(3, 5), weights(5, 2), weights(1, 5)[0], weights(1, 2)[0]
    add1 = ["b1", "m1"] if bias_first else ["m1", "b1"]
    nodes = [
        node("MatMul", ["x", "w1"], ["m1"]),
        node("Add", add1, ["h1"]),
        node("Relu", ["h1"], ["r1"]),
        node("MatMul", ["r1", "w2"], ["m2"]),
        node("Add", ["m2", "b2"], ["y"]),
    ]
    inits = [tensor("w1", w1), tensor("w2", w2), tensor("b1", b1), tensor("b2", b2)]
    path = save(tmp_path, model(nodes, ["N", 3], ["N", 2], inits))
    net = read_onnx(path)
    assert [str(layer.activation) for layer in net.layers] == ["relu", "identity"]
    assert exact_equal(net.layers[0].weight, w1.T.astype(np.float64))
    assert exact_equal(net.layers[0].bias, b1.astype(np.float64))
    assert_matches_ort(path, net, [1, 3])
    batch = RNG.standard_normal((6, 3)).astype(np.float32)  # symbolic batch: every row is one sample
    np.testing.assert_allclose(evaluate_float(net, batch), ort_run(path, batch), rtol=1e-5, atol=1e-5)


def test_matmul_weight_first_on_a_vector(tmp_path) -> None:
    """TestNetwork2 style: 1-D input, MatMul(W, x)."""
    w, b = weights(4, 3), weights(1, 4)[0]
    nodes = [node("MatMul", ["w", "x"], ["m"]), node("Add", ["m", "b"], ["h"]), node("Tanh", ["h"], ["y"])]
    path = save(tmp_path, model(nodes, [3], [4], [tensor("w", w), tensor("b", b)]))
    net = read_onnx(path)
    assert exact_equal(net.layers[0].weight, w.astype(np.float64)) and str(net.layers[0].activation) == "tanh"
    assert_matches_ort(path, net, [3])


def test_unsorted_graph_is_sorted(tmp_path) -> None:
    w = weights(2, 3)
    nodes = [
        node("Sigmoid", ["h"], ["y"]),
        node("Add", ["m", "b"], ["h"]),
        node("MatMul", ["x", "w"], ["m"]),
        node("Constant", [], ["w"], value=tensor("wv", w)),
        node("Constant", [], ["b"], value=tensor("bv", np.float32([0.5, -1, 2]))),
    ]
    m = model(nodes, [1, 2], [1, 3])
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(m)
    path = save(tmp_path, m)
    net = read_onnx(path)
    assert exact_equal(net.layers[0].weight, w.T.astype(np.float64)) and str(net.layers[0].activation) == "sigmoid"
    assert_matches_ort(path, net, [1, 2])


def eran_nodes(prefix: list[onnx.NodeProto], last: str = "y") -> list[onnx.NodeProto]:
    """ERAN style: `prefix` on the (1, 1, 2, 2) image 'x' -> 'p', then Flatten, Gemm(w, b), Relu, Gemm(w2, b2)."""
    return prefix + [
        node("Flatten", ["p"], ["f"], axis=1),
        node("Gemm", ["f", "w", "b"], ["g"], transB=1),
        node("Relu", ["g"], ["r"]),
        node("Gemm", ["r", "w2", "b2"], [last], transB=1),
    ]


@pytest.mark.parametrize("per_pixel", [False, True])
def test_input_normalisation_is_kept_as_exact_metadata(tmp_path, per_pixel) -> None:
    """ERAN style Sub(mean)/Div(std)/Flatten before the first Gemm: exact Normalization, float weights untouched."""
    shape = (1, 1, 2, 2) if per_pixel else (1, 1, 1, 1)
    mean = np.float32(RNG.uniform(0, 1, shape))
    std = np.float32(RNG.uniform(0.2, 0.5, shape))
    w, b, w2, b2 = weights(3, 4), weights(1, 3)[0], weights(2, 3), weights(1, 2)[0]
    nodes = eran_nodes([node("Sub", ["x", "mean"], ["s"]), node("Div", ["s", "std"], ["p"])])
    inits = [tensor(n, v) for n, v in zip(["mean", "std", "w", "b", "w2", "b2"], [mean, std, w, b, w2, b2])]
    path = save(tmp_path, model(nodes, [1, 1, 2, 2], [1, 2], inits))
    net = read_onnx(path)
    mu = tuple(fr(np.broadcast_to(mean, (1, 1, 2, 2)).reshape(-1)))
    sigma = tuple(fr(np.broadcast_to(std, (1, 1, 2, 2)).reshape(-1)))
    assert net.normalization == Normalization(mu, sigma, (Fraction(0),), (Fraction(1),))
    assert exact_equal(net.layers[0].weight, np.float64(w)) and exact_equal(net.layers[0].bias, np.float64(b))
    assert net.shape_str() == "4-3-2" and net.param_count == 4 * 3 + 3 + 3 * 2 + 2
    assert_matches_ort(path, net, [1, 1, 2, 2])
    x = [Fraction(1, 3), Fraction(-2), Fraction(5, 7), Fraction(0)]  # exact semantics, not just float agreement
    z = (np.array(x, dtype=object) - np.array(mu, dtype=object)) / np.array(sigma, dtype=object)
    hidden = [max(v, 0) for v in fr(w).dot(z) + fr(b)]
    assert raw_exact(net, x) == list(fr(w2).dot(np.array(hidden, dtype=object)) + fr(b2))


def test_reversed_sub_mul_and_add_constants(tmp_path) -> None:
    """c - x and x * c on the input, x + c after a MatMul (its bias) and c * x after it: exact affine maps."""
    nodes = [
        node("Sub", ["c1", "x"], ["a"]),
        node("Mul", ["a", "c2"], ["b"]),
        node("Gemm", ["b", "w"], ["g"]),
        node("Add", ["c3", "g"], ["h"]),
        node("Mul", ["c4", "h"], ["y"]),
    ]
    c1, c3, c4 = np.float32([0.5, -1, 2]), np.float32([1, -1]), np.float32([[2, 0.5]])
    w = weights(3, 2)
    inits = [tensor("c1", c1), tensor("c2", np.float32(3)), tensor("w", w), tensor("c3", c3), tensor("c4", c4)]
    path = save(tmp_path, model(nodes, [1, 3], [1, 2], inits))
    net = read_onnx(path)
    assert len(net.layers) == 1 and exact_equal(net.layers[0].weight, w.T.astype(np.float64))
    assert exact_equal(net.layers[0].bias, c3.astype(np.float64))  # the Add right after the MatMul is its bias
    # 3 (c1 - x) = (x - c1) / (-1/3); the output is scaled per output by c4
    assert net.normalization == Normalization(tuple(fr(c1)), (Fraction(-1, 3),) * 3, (Fraction(0),), tuple(fr(c4[0])))
    assert_matches_ort(path, net, [1, 3])


@pytest.mark.parametrize("zero", [0.0, 1.0])
def test_identity_or_non_invertible_input_maps(tmp_path, zero) -> None:
    """Sub 0 / Div 1 (ACAS Xu and ERAN MNIST ONNX files) is no normalisation; a zero scale cannot be one, so
    it is folded into layer 1 as before."""
    scale = np.float32([2, zero, 1, 1])
    prefix = [node("Sub", ["x", "zeros"], ["s"]), node("Mul", ["s", "scale"], ["p"])]
    w, b, w2 = weights(3, 4), weights(1, 3)[0], weights(2, 3)
    inits = [tensor("zeros", np.float32(np.zeros((1, 1, 1, 1)))), tensor("scale", scale.reshape(1, 1, 2, 2))]
    inits += [tensor("w", w), tensor("b", b), tensor("w2", w2), tensor("b2", weights(1, 2)[0])]
    path = save(tmp_path, model(eran_nodes(prefix), [1, 1, 2, 2], [1, 2], inits))
    net = read_onnx(path)
    if zero:
        assert net.normalization == Normalization(
            (Fraction(0),) * 4, (Fraction(1, 2), Fraction(1), Fraction(1), Fraction(1)), (Fraction(0),), (Fraction(1),)
        )
        assert exact_equal(net.layers[0].weight, w.astype(np.float64))
    else:
        assert net.normalization is None
        assert exact_equal(net.layers[0].weight, w.astype(np.float64) * scale.astype(np.float64)[None, :])
    assert_matches_ort(path, net, [1, 1, 2, 2])


@pytest.mark.parametrize("form", ["gemm_bias", "after_activation", "matmul_bias_then_scale", "between_layers"])
def test_output_maps(tmp_path, form) -> None:
    """An element-wise map after the last layer is the output normalisation (the Add right after a bias-less
    MatMul stays its bias); one between layers is folded into the next layer, as before."""
    w, c, r, m = weights(3, 2), np.float32([0.5, -1]), np.float32([2, -0.25]), np.float32(0.75)
    inits = [tensor("w", w), tensor("c", c), tensor("r", r), tensor("m", m), tensor("w2", weights(2, 2))]
    forms = {
        "gemm_bias": [
            node("Gemm", ["x", "w", "c"], ["g"]), node("Mul", ["g", "r"], ["s"]), node("Add", ["s", "m"], ["y"]),
        ],
        "after_activation": [
            node("Gemm", ["x", "w", "c"], ["g"]), node("Sigmoid", ["g"], ["a"]),
            node("Mul", ["r", "a"], ["s"]), node("Add", ["s", "m"], ["y"]),
        ],
        "matmul_bias_then_scale": [
            node("MatMul", ["x", "w"], ["g"]), node("Add", ["g", "c"], ["h"]),
            node("Mul", ["h", "r"], ["s"]), node("Add", ["s", "m"], ["y"]),
        ],
        "between_layers": [
            node("Gemm", ["x", "w", "c"], ["g"]), node("Relu", ["g"], ["a"]), node("Mul", ["a", "r"], ["s"]),
            node("Add", ["s", "m"], ["t"]), node("MatMul", ["t", "w2"], ["y"]),
        ],
    }
    path = save(tmp_path, model(forms[form], [1, 3], [1, 2], inits))
    net = read_onnx(path)
    if form == "between_layers":
        assert net.normalization is None and net.widths == [3, 2, 2]
    else:
        assert len(net.layers) == 1 and exact_equal(net.layers[0].bias, c.astype(np.float64))
        expected = Normalization((Fraction(0),) * 3, (Fraction(1),) * 3, (Fraction(3, 4),), tuple(fr(r)))
        assert net.normalization == expected
    assert_matches_ort(path, net, [1, 3])


@pytest.mark.parametrize(
    "clip,opset,lower,upper",
    [
        (["Clip", "lo", "hi"], 17, [-0.5] * 4, [1.5] * 4),
        (["Clip", "", "hi"], 17, [-NO_CLIP] * 4, [1.5] * 4),  # a missing bound is no bound
        (["Clip"], 9, [-0.5] * 4, [1.5] * 4),  # attributes before opset 11
        (["Clip", "-inf"], 9, [-NO_CLIP] * 4, [1.5] * 4),  # min=-inf: ONNX's no lower bound
        (["Max", "vlo", "Min", "vhi"], 17, [0, -1, -2, -3], [1, 2, 3, 4]),
        (["Min", "vhi", "Max", "vlo"], 17, [0, -1, -2, -3], [1, 2, 3, 4]),
        (["Clip", "", ""], 17, [], []),  # no bounds: no clipping
    ],
)
def test_input_clipping_is_metadata(tmp_path, clip, opset, lower, upper) -> None:
    """Clip, or Max/Min by constants, on the raw input before the normalisation: input_min/input_max."""
    inits = [tensor("lo", np.float32(-0.5)), tensor("hi", np.float32(1.5)), tensor("mean", np.float32(0.25))]
    inits += [tensor("vlo", np.float32([[[[0, -1], [-2, -3]]]])), tensor("vhi", np.float32([[[[1, 2], [3, 4]]]]))]
    inits += [tensor("w", weights(3, 4)), tensor("b", weights(1, 3)[0]), tensor("w2", weights(2, 3))]
    inits.append(tensor("b2", weights(1, 2)[0]))
    if clip[0] == "Clip" and opset < 11:
        prefix = [node("Clip", ["x"], ["c0"], min=-np.inf if clip[1:] == ["-inf"] else -0.5, max=1.5)]
    elif clip[0] == "Clip":
        prefix = [node("Clip", ["x", *clip[1:]], ["c0"])]
    else:
        prefix = [node(clip[0], ["x", clip[1]], ["c"]), node(clip[2], ["c", clip[3]], ["c0"])]
    prefix.append(node("Sub", ["c0", "mean"], ["p"]))
    path = save(tmp_path, model(eran_nodes(prefix), [1, 1, 2, 2], [1, 2], inits, opset=opset))
    net = read_onnx(path)
    assert net.normalization.input_mean == (Fraction(1, 4),) * 4
    assert net.normalization.input_min == tuple(map(Fraction, lower))
    assert net.normalization.input_max == tuple(map(Fraction, upper))
    for _ in range(4):
        x = RNG.uniform(-5, 5, (1, 1, 2, 2)).astype(np.float32)
        np.testing.assert_allclose(raw_float(net, x.reshape(-1)), ort_run(path, x).reshape(-1), rtol=1e-5, atol=1e-5)


def test_clipping_is_read_only_on_the_raw_input(tmp_path) -> None:
    after_sub = [node("Sub", ["x", "c"], ["s"]), node("Clip", ["s", "c"], ["t"]), node("Gemm", ["t", "w"], ["y"])]
    m = model(after_sub, [1, 2], [1, 2], [tensor("c", np.float32(1)), tensor("w", weights(2, 2))])
    reject(tmp_path, m, UnsupportedModelError, "node 1 (Clip)", "raw input")
    after_relu = [node("Gemm", ["x", "w"], ["g"]), node("Relu", ["g"], ["r"]), node("Max", ["r", "c"], ["y"])]
    m = model(after_relu, [1, 2], [1, 2], [tensor("c", np.float32(1)), tensor("w", weights(2, 2))])
    reject(tmp_path, m, UnsupportedModelError, "node 2 (Max)", "raw input")


def test_consecutive_linear_ops_stay_separate_layers(tmp_path) -> None:
    w1, w2 = weights(3, 4), weights(4, 2)
    nodes = [node("MatMul", ["x", "w1"], ["m"]), node("MatMul", ["m", "w2"], ["z"]), node("Relu", ["z"], ["y"])]
    path = save(tmp_path, model(nodes, [1, 3], [1, 2], [tensor("w1", w1), tensor("w2", w2)]))
    net = read_onnx(path)
    assert net.widths == [3, 4, 2] and [str(layer.activation) for layer in net.layers] == ["identity", "relu"]
    assert exact_equal(net.layers[0].weight, w1.T.astype(np.float64)) and not np.any(net.layers[0].bias)
    assert_matches_ort(path, net, [1, 3])


@pytest.mark.parametrize("opset", [11, 17])
def test_dropout_squeeze_unsqueeze_identity(tmp_path, opset) -> None:
    w = weights(4, 3)
    if opset >= 13:
        squeeze = [node("Unsqueeze", ["x", "ax"], ["u"]), node("Squeeze", ["u", "ax"], ["s"])]
        dropout = node("Dropout", ["s", "ratio", "train"], ["d", "mask"])
    else:
        squeeze = [node("Unsqueeze", ["x"], ["u"], axes=[1]), node("Squeeze", ["u"], ["s"], axes=[1])]
        dropout = node("Dropout", ["s"], ["d", "mask"], ratio=0.5)
    nodes = squeeze + [dropout, node("Identity", ["d"], ["i"]), node("Gemm", ["i", "w"], ["y"])]
    inits = [tensor("w", w), tensor("ax", np.int64([1]))]
    inits += [tensor("ratio", np.float32(0.5)), tensor("train", np.bool_(False))]
    path = save(tmp_path, model(nodes, [1, 4], [1, 3], inits, opset=opset))
    net = read_onnx(path)
    assert net.meta["opset"] == opset and net.shape_str() == "4-3"
    assert_matches_ort(path, net, [1, 4])


@pytest.mark.parametrize("alpha", [None, 0.1, 0.3])
def test_leaky_relu_alpha_is_the_exact_float32_value(tmp_path, alpha) -> None:
    attrs = {} if alpha is None else {"alpha": alpha}
    nodes = [node("Gemm", ["x", "w"], ["g"]), node("LeakyRelu", ["g"], ["y"], **attrs)]
    path = save(tmp_path, model(nodes, [1, 3], [1, 2], [tensor("w", weights(3, 2))]))
    net = read_onnx(path)
    slope = Fraction(float(np.float32(0.01 if alpha is None else alpha)))
    assert net.layers[0].activation == Activation("leaky_relu", slope)
    assert slope != Fraction(str(0.01 if alpha is None else alpha))  # the decimal is not what ONNX stores
    assert_matches_ort(path, net, [1, 3])


def test_final_activation_and_float64_source(tmp_path) -> None:
    w = RNG.standard_normal((3, 2))
    nodes = [node("Gemm", ["x", "w"], ["g"]), node("Relu", ["g"], ["y"])]
    path = save(tmp_path, model(nodes, [1, 3], [1, 2], [tensor("w", w)], elem=TensorProto.DOUBLE))
    net = read_onnx(path)
    assert str(net.layers[-1].activation) == "relu"
    assert {k: net.meta[k] for k in ("dtype", "opset")} == {"dtype": "float64", "opset": 17} and net.source == str(path)
    assert exact_equal(net.layers[0].weight, w.T)
    assert_matches_ort(path, net, [1, 3], dtype=np.float64)


def test_float16_weights_are_exact(tmp_path) -> None:
    w = weights(3, 2).astype(np.float16)
    nodes = [node("MatMul", ["x", "w"], ["y"])]
    net = read_onnx(save(tmp_path, model(nodes, [1, 3], [1, 2], [tensor("w", w)], elem=TensorProto.FLOAT16)))
    assert exact_equal(net.layers[0].weight, w.T.astype(np.float64)) and net.meta["dtype"] == "float32"


def test_activation_without_dense_layer_is_an_identity_layer(tmp_path) -> None:
    path = save(tmp_path, model([node("Relu", ["x"], ["y"])], [1, 3], [1, 3]))
    net = read_onnx(path)
    assert net.shape_str() == "3-3" and exact_equal(net.layers[0].weight, np.eye(3))
    assert_matches_ort(path, net, [1, 3])


# ---------------------------------------------------------------- rejections


def reject(tmp_path, m: onnx.ModelProto, error: type[LumpcheckError], *fragments: str) -> str:
    path = save(tmp_path, m, "bad.onnx")
    with pytest.raises(error) as info:
        read_onnx(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_rejects_conv_naming_the_node(tmp_path) -> None:
    nodes = [node("Relu", ["x"], ["r"]), node("Conv", ["r", "k"], ["y"], name="Conv_0")]
    m = model(nodes, [1, 1, 3, 3], [1, 1, 1, 1], [tensor("k", weights(9, 1).reshape(1, 1, 3, 3))])
    reject(tmp_path, m, UnsupportedModelError, "node 1 'Conv_0' (Conv): unsupported op", "Gemm")


def test_rejects_softmax_and_batchnorm_with_reasons(tmp_path) -> None:
    soft = [node("Gemm", ["x", "w"], ["g"]), node("Softmax", ["g"], ["y"])]
    soft_model = model(soft, [1, 2], [1, 2], [tensor("w", weights(2, 2))])
    reject(tmp_path, soft_model, UnsupportedModelError, "node 1 (Softmax)", "logits")
    bn = [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")]
    inits = [tensor(n, np.float32([1, 2])) for n in "sbmv"]
    bn_model = model(bn, [1, 2], [1, 2], inits)
    reject(tmp_path, bn_model, UnsupportedModelError, "node 0 'bn' (BatchNormalization)", "sqrt")


def test_rejects_branches(tmp_path) -> None:
    w = tensor("w", weights(3, 3))
    merge = [node("Relu", ["x"], ["r"]), node("MatMul", ["r", "w"], ["m"]), node("Add", ["r", "m"], ["y"])]
    reject(tmp_path, model(merge, [1, 3], [1, 3], [w]), UnsupportedModelError, "node 2 (Add)", "branching")
    concat = merge[:2] + [node("Concat", ["r", "m"], ["y"], axis=1)]
    reject(tmp_path, model(concat, [1, 3], [1, 6], [w]), UnsupportedModelError, "node 2 (Concat): unsupported op")
    fork = merge[:2] + [node("Sigmoid", ["r"], ["y"])]
    reject(tmp_path, model(fork, [1, 3], [1, 3], [w]), UnsupportedModelError, "node 2 (Sigmoid)", "already consumed")
    two_in = helper.make_graph(
        [node("Add", ["x", "x2"], ["y"])],
        "g",
        [helper.make_tensor_value_info(n, F32, [1, 3]) for n in ("x", "x2")],
        [helper.make_tensor_value_info("y", F32, [1, 3])],
    )
    reject(tmp_path, helper.make_model(two_in), UnsupportedModelError, "graph: 2 data inputs")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rejects_non_finite_weights_naming_the_tensor(tmp_path, bad) -> None:
    w = weights(2, 2)
    w[1, 0] = bad
    kind = "NaN" if np.isnan(bad) else "Inf"
    m = model([node("MatMul", ["x", "W1"], ["y"])], [1, 2], [1, 2], [tensor("W1", w)])
    reject(tmp_path, m, ModelFormatError, "initializer 'W1'", kind)
    const = [node("Constant", [], ["cw"], value=tensor("cw", w)), node("MatMul", ["x", "cw"], ["y"])]
    reject(tmp_path, model(const, [1, 2], [1, 2]), ModelFormatError, "node 0 (Constant)", "tensor 'cw'", kind)


@pytest.mark.parametrize("op,attrs", [("Gemm", {"alpha": np.nan}), ("Gemm", {"beta": np.inf}),
                                      ("LeakyRelu", {"alpha": np.nan}), ("Clip", {"min": np.inf}),
                                      ("Clip", {"max": -np.inf})])
def test_rejects_non_finite_attributes_naming_the_node(tmp_path, op, attrs) -> None:
    """A NaN/Inf float attribute is a one-line error naming node and attribute, not a crash (a Clip side of -inf
    below or +inf above is no bound, test_input_clipping_is_metadata)."""
    (name, value), = attrs.items()
    if op == "Gemm":
        nodes = [node("Gemm", ["x", "W1"], ["y"], **attrs)]
    elif op == "Clip":
        nodes = [node("Clip", ["x"], ["c"], **attrs), node("MatMul", ["c", "W1"], ["y"])]
    else:
        nodes = [node("MatMul", ["x", "W1"], ["h"]), node(op, ["h"], ["y"], **attrs)]
    where = f"node {len(nodes) - 1 if op == 'LeakyRelu' else 0} ({op})"
    reject(tmp_path, model(nodes, [1, 2], [1, 2], [tensor("W1", weights(2, 2))], opset=9), ModelFormatError, where,
           f"attribute {name}={value!r} is not a finite number")


def test_malformed_nodes_and_an_outputless_chain_are_one_line_errors(tmp_path) -> None:
    """A Gemm with a string alpha, a Gemm without its weight, a chain whose last weight has no rows: errors naming
    the node (or the model), never an internal error."""
    w = tensor("W1", weights(2, 2))
    reject(tmp_path, model([node("Gemm", ["x", "W1"], ["y"], alpha="a")], [1, 2], [1, 2], [w]), ModelFormatError,
           "node 0 (Gemm)", "wrong type")
    reject(tmp_path, model([node("Gemm", ["x"], ["y"])], [1, 2], [1, 2], []), LumpcheckError, "node 0 (Gemm)")
    reject(tmp_path, model([node("Gemm", ["x", "W0"], ["y"])], [1, 2], [1, 0], [tensor("W0", np.zeros((2, 0)))]),
           ModelFormatError, "0 outputs")


def test_rejects_every_truncation_of_a_valid_file(tmp_path) -> None:
    nodes = [node("Gemm", ["x", "w", "b"], ["g"], transB=1), node("Relu", ["g"], ["y"])]
    inits = [tensor("w", weights(2, 3)), tensor("b", np.float32([1, 2]))]
    data = model(nodes, [1, 3], [1, 2], inits).SerializeToString()
    path = tmp_path / "cut.onnx"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(ModelFormatError) as info:
            read_onnx(path)
        assert str(info.value).startswith(f"{path}: ")


def test_rejects_empty_graph_and_bad_shapes(tmp_path) -> None:
    reject(tmp_path, model([], [1, 2], [1, 2]), ModelFormatError, "empty graph")
    gemm = [node("Gemm", ["x", "w"], ["y"], transB=1)]
    wrong_k = model(gemm, [1, 3], [1, 2], [tensor("w", weights(2, 4))])
    reject(tmp_path, wrong_k, ModelFormatError, "node 0 (Gemm)", "3 features", "expects 4")
    bias = [node("Gemm", ["x", "w", "c"], ["y"])]
    inits = [tensor("w", weights(3, 2)), tensor("c", np.float32([1, 2, 3]))]
    reject(tmp_path, model(bias, [1, 3], [1, 2], inits), ModelFormatError, "constant 'c' of shape [3]")
    reshape = [node("Reshape", ["x", "s"], ["y"])]
    wrong_count = model(reshape, [1, 3], [1, 4], [tensor("s", np.int64([1, 4]))])
    reject(tmp_path, wrong_count, ModelFormatError, "node 0 (Reshape)", "cannot reshape")
    declared = [node("Gemm", ["x", "w"], ["y"])]
    wrong_out = model(declared, [1, 3], [1, 5], [tensor("w", weights(3, 2))])
    reject(tmp_path, wrong_out, ModelFormatError, "output 'y'", "declared shape")
    symbolic = model([node("Relu", ["x"], ["y"])], [1, "F"], [1, "F"])
    reject(tmp_path, symbolic, ModelFormatError, "input 'x'", "fixed feature")


def test_rejects_non_batch_reshapes_and_non_affine_ops(tmp_path) -> None:
    rows = [node("Reshape", ["x", "s"], ["r"]), node("MatMul", ["r", "w"], ["y"])]
    inits = [tensor("s", np.int64([2, 2])), tensor("w", weights(2, 3))]
    reject(tmp_path, model(rows, [1, 4], [2, 3], inits), UnsupportedModelError, "node 1 (MatMul)", "several rows")
    mixed = [node("Flatten", ["x"], ["y"], axis=2)]
    mixed_model = model(mixed, [2, 2, 2], [4, 2])
    reject(tmp_path, mixed_model, UnsupportedModelError, "node 0 (Flatten)", "batch dimension (size 2)")
    div = [node("Div", ["c", "x"], ["y"])]
    div_model = model(div, [1, 2], [1, 2], [tensor("c", np.float32([1, 2]))])
    reject(tmp_path, div_model, UnsupportedModelError, "node 0 (Div)", "divides by the data")
    transpose = [node("Transpose", ["x"], ["y"])]
    reject(tmp_path, model(transpose, [1, 2], [2, 1]), UnsupportedModelError, "node 0 (Transpose): unsupported op")
    train = [node("Dropout", ["x", "r", "t"], ["y"])]
    inits = [tensor("r", np.float32(0.5)), tensor("t", np.bool_(True))]
    reject(tmp_path, model(train, [1, 2], [1, 2], inits), UnsupportedModelError, "node 0 (Dropout)", "training mode")


# ---------------------------------------------------------------- writing


def small_net() -> Network:
    rng = np.random.default_rng(7)
    return Network(
        [
            Layer(np.float32(rng.standard_normal((4, 3))), np.float32(rng.standard_normal(4)), Activation("relu")),
            Layer(rng.standard_normal((3, 4)), rng.standard_normal(3), Activation("leaky_relu", Fraction(1, 4))),
            Layer(rng.standard_normal((2, 3)), rng.standard_normal(2), Activation("sigmoid")),
            Layer(rng.standard_normal((2, 2)), rng.standard_normal(2), Activation("tanh")),
            Layer(rng.standard_normal((1, 2)), rng.standard_normal(1)),
        ]
    )


def test_write_float64_round_trip_is_exact(tmp_path) -> None:
    net = small_net()
    path = tmp_path / "out.onnx"
    report = write_onnx(net, path, dtype="float64")
    assert report.exact and report.total == net.param_count + 1
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    back = read_onnx(path)
    assert {k: back.meta[k] for k in ("dtype", "opset")} == {"dtype": "float64", "opset": 17}
    for a, b in zip(net.layers, back.layers):
        assert exact_equal(a.weight, b.weight) and exact_equal(a.bias, b.bias) and a.activation == b.activation
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, out.name, out.shape) == ("input", ["batch", 3], "output", ["batch", 1])
    x = RNG.standard_normal((5, 3))
    np.testing.assert_allclose(session.run(None, {"input": x})[0], evaluate_float(net, x), rtol=1e-12)
    assert [p.name for p in tmp_path.iterdir()] == ["out.onnx"]  # atomic write leaves no temporary file


def test_read_write_read_of_an_onnx_file_is_exact(tmp_path) -> None:
    """The input normalisation comes back exactly; a map between layers is folded (w/3) and rounded, and said so."""
    nodes = [node("Sub", ["x", "mu"], ["s"]), node("Gemm", ["s", "w"], ["g"]), node("LeakyRelu", ["g"], ["a"], alpha=0.2)]
    nodes += [node("Div", ["a", "three"], ["d"]), node("Gemm", ["d", "w2"], ["y"])]
    mu = np.float32([0.1, 0.2, 0.3])
    inits = [tensor("mu", mu), tensor("w", weights(3, 2)), tensor("three", np.float32(3))]
    inits.append(tensor("w2", np.float32([[1, -2], [0.5, 1.25]])))  # w2/3: no entry is a float
    src = save(tmp_path, model(nodes, [1, 3], [1, 2], inits))
    net = read_onnx(src)
    report = write_onnx(net, tmp_path / "again.onnx", dtype="float64")
    back = read_onnx(tmp_path / "again.onnx")
    assert back.normalization == net.normalization and net.normalization.input_mean == tuple(fr(mu))
    for a, b in zip(net.layers, back.layers):
        assert a.activation == b.activation and exact_equal(a.bias, b.bias)
        rounded = [Fraction(nearest_float64(v)) for v in as_fractions(a.weight).reshape(-1)]
        assert list(as_fractions(b.weight).reshape(-1)) == rounded
    assert report.rounded == 4 and report.per_layer == [0, 4] and report.normalization == 0
    assert_matches_ort(tmp_path / "again.onnx", net, [1, 3], dtype=np.float64)


def normalised_net(norm: Normalization | None = None) -> Network:
    """A small float32 network with ERAN-like normalisation and per-feature clipping."""
    rng = np.random.default_rng(3)
    mean, std = (tuple(Fraction(float(np.float32(v))) for v in vs) for vs in ([0.1307] * 4, [0.3081, 0.5, 2, 0.25]))
    bounds = tuple(Fraction(v) for v in (0, -1, -2, -3)), tuple(Fraction(v) for v in (1, 2, 3, 4))
    norm = norm or Normalization(mean, std, (Fraction(-3, 4),), (Fraction(2), Fraction(1, 8)), *bounds)
    layers = [Layer(np.float32(rng.standard_normal((3, 4))), np.float32(rng.standard_normal(3)), Activation("relu")),
              Layer(np.float32(rng.standard_normal((2, 3))), np.float32(rng.standard_normal(2)))]
    return Network(layers, normalization=norm)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_write_emits_the_normalisation(tmp_path, dtype) -> None:
    net = normalised_net()
    path = tmp_path / "n.onnx"
    report = write_onnx(net, path, dtype=dtype)
    assert report.exact and report.total == net.param_count + 4 * 4 + 1 + 2
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops == ["Max", "Min", "Sub", "Div", "Gemm", "Relu", "Gemm", "Mul", "Add"]
    back = read_onnx(path)
    assert back.normalization == net.normalization
    x = RNG.uniform(-5, 5, (6, 4))
    np_type = np.float32 if dtype == "float32" else np.float64
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(ort_run(path, x.astype(np_type)), raw_float(net, x), rtol=tol, atol=tol)


def test_write_leaves_identity_parts_out_and_multiplies_by_exact_reciprocals(tmp_path) -> None:
    """Range 1/3 is no float, but its reciprocal 3 is: the file multiplies by 3 and reads back as range 1/3."""
    third = (Fraction(1, 3),) * 4
    net = normalised_net(Normalization((Fraction(0),) * 4, third, (Fraction(0),), (Fraction(1),)))
    path = tmp_path / "r.onnx"
    assert write_onnx(net, path).exact
    graph = onnx.load(str(path)).graph
    assert [n.op_type for n in graph.node] == ["Mul", "Gemm", "Relu", "Gemm"]
    assert numpy_helper.to_array(graph.initializer[0]).tolist() == [3.0] * 4
    assert read_onnx(path).normalization == net.normalization


def test_write_rounds_normalisation_constants_and_says_so(tmp_path) -> None:
    norm = Normalization((Fraction(1, 3),) * 4, (Fraction(3, 10),) * 4, (Fraction(0),), (Fraction(1),))
    net = normalised_net(norm)
    report = write_onnx(net, tmp_path / "x.onnx", dtype="float32")
    assert (report.rounded, report.normalization, report.per_layer) == (8, 8, [0, 0])
    assert "8 of them normalisation constants" in report.summary()
    back = read_onnx(tmp_path / "x.onnx").normalization
    assert back.input_mean == (Fraction(nearest_float32(Fraction(1, 3))),) * 4
    assert back.input_range == (Fraction(nearest_float32(Fraction(3, 10))),) * 4  # neither 3/10 nor 10/3 is a float
    changes = [abs(Fraction(nearest_float32(v)) - v) for v in (Fraction(1, 3), Fraction(3, 10))]
    assert report.max_abs_change == max(changes)


def dyadic(low: int, high: int) -> st.SearchStrategy[Fraction]:
    """Float32 values k/16 in [low, high]."""
    return st.integers(low * 16, high * 16).map(lambda k: Fraction(k, 16))


@settings(max_examples=25, deadline=None)
@given(
    means=st.lists(dyadic(-8, 8), min_size=3, max_size=3),
    ranges=st.sampled_from([(1, -2, Fraction(1, 4), 3), (1, Fraction(1, 5), Fraction(-1, 3))]).flatmap(
        lambda choices: st.lists(st.sampled_from([Fraction(c) for c in choices]), min_size=3, max_size=3)
    ),  # all floats, or all reciprocals of floats
    out=st.lists(st.tuples(dyadic(-4, 4), dyadic(-4, 4)), min_size=1, max_size=2),
    clip=st.one_of(st.none(), st.tuples(dyadic(-4, 0), dyadic(0, 4))),
)
def test_round_trip_of_normalisation_is_exact(tmp_path_factory, means, ranges, out, clip) -> None:
    """write -> read gives the Normalization back whenever its constants are float32 values (or reciprocals)."""
    lower, upper = ((clip[0],) * 3, (clip[1],) * 3) if clip else ((), ())
    norm = Normalization(tuple(means), tuple(ranges), tuple(m for _, m in out), tuple(r for r, _ in out), lower, upper)
    rng = np.random.default_rng(len(out))
    net = Network([Layer(np.float32(rng.standard_normal((len(out), 3))), np.zeros(len(out)), Activation("tanh"))], norm)
    path = tmp_path_factory.mktemp("rt") / "n.onnx"
    assert write_onnx(net, path).exact
    back = read_onnx(path)
    identity = not clip and set(means) <= {0} and set(ranges) <= {1} and all(o == (1, 0) for o in out)
    shared = lambda t: t[:1] if len(set(t)) == 1 else t  # noqa: E731 (equal output values read back as one)
    expected = None if identity else Normalization(
        norm.input_mean, norm.input_range, shared(norm.output_mean), shared(norm.output_range), lower, upper)
    assert back.normalization == expected
    x = RNG.uniform(-6, 6, (4, 3))
    np.testing.assert_allclose(ort_run(path, x.astype(np.float32)), raw_float(net, x), rtol=1e-5, atol=1e-5)


def test_write_float32_reports_rounding_that_bounds_the_output(tmp_path) -> None:
    n_in = 6
    numerators, denominators = RNG.integers(-50, 50, (3, n_in)), 3 * RNG.integers(1, 30, (3, n_in))
    w = np.array([[Fraction(int(p), int(q)) for p, q in zip(*rows)] for rows in zip(numerators, denominators)])
    b = np.array([Fraction(1, 3), Fraction(-2, 7), Fraction(5, 11)], dtype=object)
    net = Network([Layer(w, b)])
    path = tmp_path / "f32.onnx"
    report = write_onnx(net, path, dtype="float32")
    assert report.dtype == "float32" and report.rounded > 0 and report.per_layer == [report.rounded]
    rounded, _ = round_network(net, "float32")
    exact_values = np.concatenate([w.reshape(-1), b])
    rounded_values = np.concatenate([rounded.layers[0].weight.reshape(-1), rounded.layers[0].bias])
    for exact, r in zip(exact_values, rounded_values):
        assert abs(Fraction(float(r)) - exact) <= report.max_abs_change
        assert exact == 0 or abs(Fraction(float(r)) - exact) / abs(exact) <= report.max_rel_change
    x = RNG.standard_normal((20, n_in)).astype(np.float32)
    y = ort_run(path, x).astype(np.float64)
    w_abs = np.abs(rounded.layers[0].weight)
    for xi, yi in zip(x, y):
        exact_y = evaluate(net, [float(v) for v in xi])
        magnitude = w_abs @ np.abs(xi.astype(np.float64)) + np.abs(rounded.layers[0].bias)
        float32_error = (n_in + 2) * 2.0**-24 * magnitude * 1.01
        bound = float(report.max_abs_change) * (np.abs(xi).sum() + 1) + float32_error
        assert np.all(np.abs(yi - np.array([float(v) for v in exact_y])) <= bound)


def test_write_refuses_bad_normalisation_and_non_float32_slopes(tmp_path) -> None:
    sizes = Normalization((Fraction(0),) * 2, (Fraction(2),) * 2, (Fraction(0),), (Fraction(1),))
    with pytest.raises(ValueError, match="2 input means"):
        write_onnx(Network([Layer(np.ones((1, 1)), np.zeros(1))], normalization=sizes), tmp_path / "n.onnx")
    with pytest.raises(ValueError, match="opset >= 8"):
        write_onnx(normalised_net(), tmp_path / "n.onnx", opset=7)
    slope = Network([Layer(np.ones((1, 1)), np.zeros(1), Activation("leaky_relu", Fraction(1, 10)))])
    with pytest.raises(ValueError, match="float32"):
        write_onnx(slope, tmp_path / "s.onnx", dtype="float64")
    report = write_onnx(slope, tmp_path / "s.onnx", dtype="float32")  # float32 export rounds the slope, and says so
    assert report.rounded == 1
    assert read_onnx(tmp_path / "s.onnx").layers[0].activation.alpha == Fraction(float(np.float32(0.1)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.onnx"]


# ---------------------------------------------------------------- reduce -> write -> certify -> check


def test_eran_style_net_reduces_certifies_and_checks(tmp_path) -> None:
    """Sub/Div normalisation stays metadata, so the quotient is a float32 file: proved, checked, same raw outputs."""
    rng = np.random.default_rng(11)
    w = np.float32(rng.standard_normal((3, 4)))
    w1, b1 = np.concatenate([w, w]), np.float32(np.tile(rng.standard_normal(3), 2))  # neurons 3..5 duplicate 0..2
    nodes = eran_nodes([node("Sub", ["x", "mean"], ["s"]), node("Div", ["s", "std"], ["p"])])
    nodes[-2] = node("Sigmoid", ["g"], ["r"])
    inits = [tensor("mean", np.float32([[[[0.1307]]]])), tensor("std", np.float32([[[[0.3081]]]])), tensor("w", w1)]
    inits += [tensor("b", b1), tensor("w2", np.float32(rng.standard_normal((2, 6)))), tensor("b2", np.float32([0.5, -1]))]
    src = save(tmp_path, model(nodes, [1, 1, 2, 2], [1, 2], inits))
    out, cert = tmp_path / "small.onnx", tmp_path / "c.json"
    res = run_reduction(src, out, cert_path=cert)
    assert res.verdict == "proved" and res.rounding.exact  # (float64 when merged outgoing weights need it)
    assert read_onnx(out).widths == [4, 3, 2] and read_onnx(out).normalization == read_onnx(src).normalization
    assert check(cert, src, out).valid
    x = RNG.uniform(0, 1, (1, 1, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(ort_run(out, x), ort_run(src, x), rtol=1e-5, atol=1e-6)  # a drop-in: same feed


ERAN = [f"vnncomp2021/benchmarks/eran/nets/{name}.onnx" for name in ("ffnnSIGMOID__Point_6x200", "mnist_relu_9_200")]


@pytest.mark.zoo
@pytest.mark.parametrize("relative", ERAN)
def test_eran_zoo_nets_round_trip_and_certify(zoo, tmp_path, relative) -> None:
    """ffnnSIGMOID normalises by (x - 0.1307)/0.3081, mnist_relu_9_200 by (x - 0)/1 (no normalisation)."""
    src = zoo / relative
    net = read_onnx(src)
    assert (net.normalization is None) == ("relu" in relative)
    report = write_onnx(net, tmp_path / "again.onnx")
    back = read_onnx(tmp_path / "again.onnx")
    assert report.exact and back.normalization == net.normalization
    assert all(exact_equal(a.weight, b.weight) and exact_equal(a.bias, b.bias) for a, b in zip(net.layers, back.layers))
    out, cert = tmp_path / "small.onnx", tmp_path / "c.json"
    reduced = CliRunner().invoke(cli, ["reduce", str(src), "-o", str(out), "--certify", str(cert)])
    assert reduced.exit_code == 0, reduced.output
    checked = CliRunner().invoke(cli, ["check", str(cert), str(src), str(out)])
    assert checked.exit_code == 0 and "valid" in checked.output and "invalid" not in checked.output


@pytest.mark.zoo
def test_nnet_clipping_and_normalisation_go_into_onnx(zoo, tmp_path) -> None:
    """.nnet -> .onnx keeps the normalisation: twin ladders (clip to ±10, dyadic) certify; ACAS Xu's decimal
    constants (e.g. 3.141593) are no floats, so certifying is refused and the refusal says so."""
    twin = zoo / "marabou/resources/nnet/twin/twin_ladder-5_inp-2_layers-5_width-1_margin.nnet"
    res = run_reduction(twin, tmp_path / "t.onnx", cert_path=tmp_path / "t.json")
    assert res.verdict == "proved" and read_onnx(tmp_path / "t.onnx").normalization.input_max == (Fraction(10),) * 5
    assert check(tmp_path / "t.json", twin, tmp_path / "t.onnx").valid
    acas = zoo / "marabou/resources/nnet/acasxu/ACASXU_experimental_v2a_1_1.nnet"
    with pytest.raises(LumpcheckError, match="normalisation constants"):
        run_reduction(acas, tmp_path / "a.onnx", cert_path=tmp_path / "a.json")


@pytest.mark.parametrize("conv", [False, True])
def test_an_opset_newer_than_onnx_knows_is_refused_in_one_line(tmp_path, conv):
    """A dense chain and a CNN exported with an opset the installed onnx does not know: their operators' meaning is
    that opset's, so both readers refuse the file by name (it was an internal error when writing a reduced CNN)."""
    from lumpcheck.io import load_any
    newer = onnx.defs.onnx_opset_version() + 2
    w = numpy_helper.from_array(np.ones((2, 1, 1, 1) if conv else (2, 3), dtype=np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"]) if conv else helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)
    shape_x, shape_y = ([1, 1, 2, 2], [1, 2, 2, 2]) if conv else ([1, 3], [1, 2])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_x)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape_y)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", newer)])
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedModelError, match=f"opset {newer} is newer than the installed onnx"):
        load_any(tmp_path / "m.onnx")
    res = CliRunner().invoke(cli, ["reduce", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "r.onnx")])
    assert res.exit_code == 3 and "m.onnx" in res.output and not (tmp_path / "r.onnx").exists(), res.output


@pytest.mark.parametrize("conv", [False, True])
def test_a_weight_of_another_float_type_than_its_input_is_refused(tmp_path, conv):
    """A float16 weight on a float32 input breaks ONNX's type rules (onnx.checker and onnxruntime refuse the file): it
    has no ONNX meaning, so neither reader certifies anything about it; a float16 model throughout reads."""
    from lumpcheck.io import load_any
    for dtype, ok in ((np.float16, False), (np.float32, True)):
        w = numpy_helper.from_array(np.ones((2, 1, 1, 1) if conv else (2, 3), dtype=dtype), "w")
        node_ = helper.make_node("Conv", ["x", "w"], ["y"]) if conv else helper.make_node("Gemm", ["x", "w"], ["y"],
                                                                                          transB=1)
        shape_x, shape_y = ([1, 1, 2, 2], [1, 2, 2, 2]) if conv else ([1, 3], [1, 2])
        graph = helper.make_graph([node_], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_x)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape_y)], [w])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
        if ok:
            load_any(tmp_path / "m.onnx")
            continue
        with pytest.raises(ModelFormatError, match="not valid ONNX .*inconsistent type") as info:
            load_any(tmp_path / "m.onnx")
        assert str(info.value).startswith(f"{tmp_path / 'm.onnx'}: ") and "\n" not in str(info.value)
