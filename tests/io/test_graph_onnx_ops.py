"""Each ONNX op the graph reader supports computes what onnxruntime computes (hypothesis-drawn attributes),
exact evaluation agrees with float evaluation, and unsupported constructs are refused in one line with a reason."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

from lumpcheck.errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from lumpcheck.io.onnx.graph_read import read_model
from onnx_builders import check_against_ort, model

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(-1, 1, shape).astype(np.float32)


@st.composite
def conv_case(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    group = draw(st.sampled_from([1, 2]))
    cin, cout = 2 * draw(st.integers(1, 2)), 2 * draw(st.integers(1, 2))
    size = (draw(st.integers(5, 8)), draw(st.integers(5, 8)))
    auto = draw(st.sampled_from(["NOTSET", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    pads = [draw(st.integers(0, k[i % 2] - 1)) for i in range(4)] if auto == "NOTSET" else None
    if auto.startswith("SAME"):
        d = (1, 1)
    return k, d, s, group, cin, cout, size, auto, pads, draw(st.booleans()), draw(st.integers(0, 2**31))


@SETTINGS
@given(conv_case())
def test_conv_matches_onnxruntime(case) -> None:
    k, d, s, group, cin, cout, size, auto, pads, bias, seed = case
    rng = np.random.default_rng(seed)
    attrs = {"kernel_shape": list(k), "strides": list(s), "dilations": list(d), "group": group}
    attrs.update({"pads": pads} if auto == "NOTSET" else {"auto_pad": auto})
    inits = {"W": f32(rng, cout, cin // group, *k)}
    if bias:
        inits["B"] = f32(rng, cout)
    node = helper.make_node("Conv", ["x", "W"] + (["B"] if bias else []), ["y"], **attrs)
    check_against_ort(model([node], {"x": [1, cin, *size]}, {"y": None}, inits), rng)


@st.composite
def pool_case(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = [draw(st.integers(0, k[i % 2] - 1)) for i in range(4)]
    size = (draw(st.integers(4, 7)), draw(st.integers(4, 7)))
    return k, s, pads, size, draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 2**31))


@SETTINGS
@given(pool_case(), st.sampled_from(["MaxPool", "AveragePool"]))
def test_pools_match_onnxruntime(case, op: str) -> None:
    k, s, pads, size, ceil, include, seed = case
    attrs = {"kernel_shape": list(k), "strides": list(s), "pads": pads, "ceil_mode": int(ceil)}
    if op == "AveragePool":
        attrs["count_include_pad"] = int(include)
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    check_against_ort(model([node], {"x": [1, 2, *size]}, {"y": None}, opset=13), np.random.default_rng(seed))


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools(op: str) -> None:
    check_against_ort(model([helper.make_node(op, ["x"], ["y"])], {"x": [1, 3, 4, 5]}, {"y": None}), np.random.default_rng(1))


@pytest.mark.parametrize("opset", [9, 13])
def test_batchnorm_matches_onnxruntime_and_is_exact(opset: int) -> None:
    rng = np.random.default_rng(2)
    inits = {"s": f32(rng, 3), "b": f32(rng, 3), "m": f32(rng, 3), "v": np.abs(f32(rng, 3)) + np.float32(0.1)}
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["t"], epsilon=1e-3),
             helper.make_node("Relu", ["t"], ["y"])]  # fmt: skip
    check_against_ort(model(nodes, {"x": [1, 3, 2, 2]}, {"y": None}, inits, opset=opset), rng, samples=3)


@pytest.mark.parametrize("opset,axis,shape", [(11, 1, [1, 2, 3]), (13, 1, [1, 2, 3]), (13, -1, [2, 4]), (11, -1, [2, 4])])
def test_softmax_axis_semantics_per_opset(opset: int, axis: int, shape: list[int]) -> None:
    node = helper.make_node("Softmax", ["x"], ["y"], axis=axis)
    check_against_ort(model([node], {"x": shape}, {"y": None}, opset=opset), np.random.default_rng(3), samples=1)


@SETTINGS
@given(st.integers(0, 1), st.integers(0, 1), st.sampled_from([1.0, 0.5, 3.0]), st.sampled_from([1.0, 0.25, -2.0]), st.booleans())
def test_gemm_attributes(ta: int, tb: int, alpha: float, beta: float, data_b: bool) -> None:
    rng = np.random.default_rng(4)
    a_shape, b_shape = ([3, 2] if ta else [2, 3]), ([4, 3] if tb else [3, 4])
    inputs = {"b": b_shape} if data_b else {"a": a_shape}
    inits = {"c": f32(rng, 4), ("a" if data_b else "b"): f32(rng, *(a_shape if data_b else b_shape))}
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=ta, transB=tb, alpha=alpha, beta=beta)
    check_against_ort(model([node], inputs, {"y": None}, inits), rng)


def test_elementwise_constants_and_joins() -> None:
    rng = np.random.default_rng(5)
    inits = {"c": f32(rng, 1, 3, 1, 1), "d": np.abs(f32(rng, 3, 1, 1)) + 1, "w": f32(rng, 3, 4)}
    nodes = [
        helper.make_node("Sub", ["c", "x"], ["t1"]),  # constant − data
        helper.make_node("Div", ["t1", "d"], ["t2"]),
        helper.make_node("Mul", ["t2", "c"], ["t3"]),
        helper.make_node("LeakyRelu", ["t3"], ["t4"], alpha=0.2),
        helper.make_node("Add", ["t4", "x"], ["t5"]),  # residual join
        helper.make_node("Max", ["t5", "t1"], ["t6"]),
        helper.make_node("Clip", ["t6", "lo", "hi"], ["t7"]),
        helper.make_node("Neg", ["t7"], ["t8"]),
        helper.make_node("Tanh", ["t8"], ["y1"]),
        helper.make_node("MatMul", ["t8", "w"], ["y2"]),
    ]
    inits.update(lo=np.array(-0.5, dtype=np.float32), hi=np.array(0.75, dtype=np.float32))
    check_against_ort(model(nodes, {"x": [1, 3, 2, 3]}, {"y1": None, "y2": None}, inits), rng)


def test_layout_ops_and_nhwc_transposes() -> None:
    rng = np.random.default_rng(6)
    inits = {"shape": np.array([1, -1], dtype=np.int64), "axes": np.array([0], dtype=np.int64), "W": f32(rng, 2, 3, 2, 2),
             "pads": np.array([0, 0, 1, 0, 0, 0, 0, 2], dtype=np.int64)}  # fmt: skip
    nodes = [
        helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Pad", ["nchw", "pads"], ["padded"]),
        helper.make_node("Conv", ["padded", "W"], ["c"]),
        helper.make_node("Transpose", ["c"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Concat", ["nhwc", "nhwc"], ["cat"], axis=-1),
        helper.make_node("Reshape", ["cat", "shape"], ["flat"]),
        helper.make_node("Squeeze", ["flat", "axes"], ["sq"]),
        helper.make_node("Unsqueeze", ["sq", "axes"], ["un"]),
        helper.make_node("Flatten", ["un"], ["y"], axis=0),
    ]
    check_against_ort(model(nodes, {"x": [1, 4, 5, 3]}, {"y": None}, inits), rng)


@pytest.mark.parametrize("kind", ["Add", "Sub", "Mul", "Div"])
def test_a_scalar_constant_operand_is_a_constant_like_any_other(kind: str) -> None:
    """A 0-d initializer (`x - 0.5`, `x / 0.25`: a normalisation written with scalars) read as ONNX broadcasts it;
    object-array arithmetic on a 0-d array gives a bare Fraction, which the reader once choked on."""
    rng = np.random.default_rng(12)
    inits = {"c": np.array(0.375, dtype=np.float32), "w": f32(rng, 1, 1, 2, 2)}
    nodes = [helper.make_node(kind, ["x", "c"], ["t"]), helper.make_node("Conv", ["t", "w"], ["y"])]
    check_against_ort(model(nodes, {"x": [1, 1, 4, 4]}, {"y": None}, inits), rng)


def test_constant_subgraphs_fold_exactly_through_shape_arithmetic() -> None:
    rng = np.random.default_rng(7)
    inits = {"idx": np.array(0, dtype=np.int64), "minus1": np.array([-1], dtype=np.int64), "w": f32(rng, 12, 2),
             "w2": f32(rng, 2, 2)}  # fmt: skip
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "idx"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "zero"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("MatMul", ["w", "w2"], ["ww"]),  # constant @ constant, folded exactly
        helper.make_node("MatMul", ["flat", "ww"], ["y"]),
    ]
    inits["zero"] = np.array([0], dtype=np.int64)
    g = check_against_ort(model(nodes, {"x": [1, 3, 4]}, {"y": None}, inits), rng)
    assert [n.op.kind for n in g.nodes] == ["Reshape", "MatMul"]
    w = g.nodes[1].op.weight
    assert w.dtype == object and w[0, 0] == sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(inits["w"][0], inits["w2"][:, 0]))


def test_several_inputs_and_outputs_and_constant_output() -> None:
    rng = np.random.default_rng(8)
    inits = {"w": f32(rng, 3, 3), "k": f32(rng, 2, 2)}
    nodes = [
        helper.make_node("MatMul", ["x1", "w"], ["a"]),
        helper.make_node("Relu", ["x2"], ["b"]),
        helper.make_node("Sub", ["a", "b"], ["y1"]),
        helper.make_node("Identity", ["k"], ["y2"]),
    ]
    g = check_against_ort(model(nodes, {"x1": [1, 3], "x2": [1, 3]}, {"y1": None, "y2": [2, 2]}, inits), rng)
    assert g.input_names == ("x1", "x2") and g.outputs == ("y1", "y2")


@pytest.mark.parametrize(
    "nodes,inputs,inits,fragment,kind",
    [
        ([helper.make_node("Mul", ["x", "x"], ["y"])], {"x": [1, 2]}, {}, "quadratic", UnsupportedModelError),
        ([helper.make_node("Div", ["c", "x"], ["y"])], {"x": [1, 2]}, {"c": np.ones(2, np.float32)}, "1/x", UnsupportedModelError),
        ([helper.make_node("Floor", ["x"], ["y"])], {"x": [1, 2]}, {}, "supports", UnsupportedModelError),
        ([helper.make_node("Dropout", ["x", "r", "t"], ["y"])], {"x": [1, 2]},
         {"r": np.array(0.3, np.float32), "t": np.array(True)}, "random", UnsupportedModelError),
        ([helper.make_node("Cast", ["x"], ["y"], to=7)], {"x": [1, 2]}, {}, "step function", UnsupportedModelError),
        ([helper.make_node("Div", ["x", "c"], ["y"])], {"x": [1, 2]}, {"c": np.zeros(2, np.float32)}, "containing 0", ModelFormatError),
        ([helper.make_node("Conv", ["x", "w"], ["y"])], {"x": [1, 2, 3, 3]}, {"w": np.ones((1, 3, 1, 1), np.float32)}, "cannot take", ModelFormatError),
        ([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=np.nan)], {"x": [1, 2]}, {}, "alpha=nan is not a finite", ModelFormatError),
        ([helper.make_node("Add", ["x"], ["y"])], {"x": [1, 2]}, {}, "a required input is missing", ModelFormatError),
        ([helper.make_node("Cast", ["x"], ["y"])], {"x": [1, 2]}, {}, "a required attribute is missing", ModelFormatError),
        ([helper.make_node("LeakyRelu", ["x"], ["y"], alpha="a")], {"x": [1, 2]}, {}, "wrong type", ModelFormatError),
        ([helper.make_node("Gemm", ["x", "w"], ["y"], beta=-np.inf)], {"x": [1, 2]}, {"w": np.ones((2, 2), np.float32)}, "beta=-inf is not", ModelFormatError),
        ([helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"], epsilon=-2.0)], {"x": [1, 1, 2, 2]},
         {"s": np.ones(1, np.float32)}, "var + epsilon must be positive", ModelFormatError),
    ],
)  # fmt: skip
def test_refusals_are_one_line_and_say_why(nodes, inputs, inits, fragment: str, kind: type) -> None:
    m = model(nodes, inputs, {"y": None}, inits)
    with pytest.raises(kind) as info:
        read_model(m, "t.onnx")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("t.onnx: node 0") and fragment in msg, msg


def test_declared_output_shape_contradiction_is_refused() -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    with pytest.raises(LumpcheckError, match="contradicts itself"):
        read_model(model([node], {"x": [1, 3]}, {"y": [3]}), "t.onnx")


@pytest.mark.parametrize("op", ["Conv", "MaxPool", "AveragePool"])
def test_one_dimensional_windows(op: str) -> None:
    rng = np.random.default_rng(9)
    attrs = {"kernel_shape": [3], "strides": [2], "pads": [1, 0]}
    inits = {"W": f32(rng, 4, 2, 3)} if op == "Conv" else {}
    node = helper.make_node(op, ["x", "W"] if op == "Conv" else ["x"], ["y"], **attrs)
    check_against_ort(model([node], {"x": [1, 2, 9]}, {"y": None}, inits), rng)


def test_sum_and_mean_of_data_tensors() -> None:
    rng = np.random.default_rng(10)
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sum", ["x", "r", "c"], ["s"]),
             helper.make_node("Mean", ["s", "x"], ["y"])]  # fmt: skip
    check_against_ort(model(nodes, {"x": [1, 4]}, {"y": None}, {"c": f32(rng, 4)}), rng)
