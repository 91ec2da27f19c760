"""Small ONNX models built op by op for the graph tests, and a comparison with onnxruntime."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from lumpcheck.io.onnx.graph_read import read_model
from lumpcheck.ir.graph.dag import Graph
from lumpcheck.ir.graph.evaluate import evaluate_exact, evaluate_float
from lumpcheck.ir.graph.kernels import float_of

ort.set_default_logger_severity(3)


def model(nodes: list, inputs: dict[str, list], outputs: dict[str, list | None], inits: dict[str, np.ndarray] | None = None,
          opset: int = 13) -> onnx.ModelProto:  # fmt: skip
    """A float32 model: `inputs`/`outputs` map names to shapes (None: undeclared output shape)."""
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()]
    init = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    g = helper.make_graph(nodes, "t", ins, outs, init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = max(7, helper.find_min_ir_version_for([helper.make_opsetid("", opset)]))
    return m


def ort_run(m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    types = {i.name: np.float64 if i.type == "tensor(double)" else np.float32 for i in s.get_inputs()}
    return dict(zip(names, s.run(names, {k: v.astype(types[k]) for k, v in feeds.items()})))


def random_feeds(graph: Graph, rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    """float32-representable inputs (so onnxruntime and lumpcheck see the same numbers)."""
    return {s.name: rng.uniform(-scale, scale, s.shape).astype(np.float32).astype(np.float64) for s in graph.inputs}


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-4) -> None:
    """|got − want| <= rtol·(max|want| + 1) elementwise: float32 reference vs exact-weight float64."""
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape or got.size == want.size, (got.shape, want.shape)
    tol = rtol * (np.max(np.abs(want)) + 1) if want.size else 0
    err = np.max(np.abs(got.reshape(-1) - want.reshape(-1))) if want.size else 0
    assert err <= tol, f"max error {err} > {tol}"


def check_against_ort(m: onnx.ModelProto, rng: np.random.Generator, exact: bool = True, samples: int = 2) -> Graph:
    """Read `m`, compare float evaluation with onnxruntime, and exact evaluation with float evaluation."""
    g = read_model(m)
    for _ in range(samples):
        feeds = random_feeds(g, rng)
        want = ort_run(m, feeds)
        got = evaluate_float(g, feeds)
        for name in g.outputs:
            assert_close(got[name], want[name])
        if exact:
            rational = {k: np.vectorize(Fraction, otypes=[object])(v) for k, v in feeds.items()}
            ex = evaluate_exact(g, rational)
            for name in g.outputs:
                np.testing.assert_allclose(float_of(ex[name]), got[name], rtol=1e-9, atol=1e-9)
    return g
