"""Build (original, shrunk) model pairs made by OTHER tools, for lumpcheck to certify or refute.

Run: python examples/third_party/build.py [OUTDIR]   (default: this folder). Pairs needing an optional package
are skipped with a note when it is missing. All models are small (4 inputs); box.vnnlib is [-1, 1]^4.

- pruned.onnx, pruned_shrunk.onnx, pruned_wrong.onnx (torch): a 4-8-8-3 ReLU MLP structurally pruned with
  torch.nn.utils.prune.ln_structured (half the rows of each hidden Linear zeroed, biases KEPT, so those neurons
  are constants relu(b) > 0, not dead); lumpcheck's exact shrink folds them into the next bias (provable with
  `lumpcheck prove`); the "wrong" shrink drops them as if dead and changes the function (verify finds it).
- simplify_source.onnx, simplify_onnxsim.onnx, simplify_onnxoptimizer.onnx (onnxsim / onnxoptimizer): an
  unsimplified graph (Constant+Reshape weights, MatMul+Add, Identity, Dropout) and the tools' outputs.
- net2net_parent.onnx, net2net_wide.onnx, net2net_broken.onnx: Net2Net widening (Chen et al. 2016): neurons
  duplicated with their outgoing weights split in half between the copies (equivalent), and a broken widening
  whose outgoing weights are copied, not split (not equivalent).
Weights are float32 values, so every file except the shrunk ones is written exactly as float32; shrunk
quotients are written as float64, which holds their sums exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lumpcheck.io.atomic import write_bytes_atomic, write_text_atomic
from lumpcheck.io.onnx import write_onnx
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.reduction.lumping import reduce

HERE = Path(__file__).resolve().parent
INPUTS = 4
BOX = "".join(f"(declare-const X_{i} Real)\n" for i in range(INPUTS)) + "(declare-const Y_0 Real)\n" + "".join(
    f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))\n" for i in range(INPUTS)
)


def normal32(rng: np.random.Generator, size) -> np.ndarray:
    """Standard normal samples rounded to float32 values (held in float64)."""
    return rng.normal(size=size).astype(np.float32).astype(np.float64)


# ---------------------------------------------------------------- torch structured pruning


def pruned_mlp(seed: int = 0, amount: float = 0.5) -> Network:
    """A 4-8-8-3 ReLU torch MLP with ln_structured pruning of each hidden Linear's rows, read by lumpcheck.

    Hidden biases are made positive first, so every pruned neuron is the nonzero constant relu(b).
    """
    import torch
    from torch.nn.utils import prune

    from lumpcheck.io.torch import read_torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(INPUTS, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )
    for linear in (model[0], model[2]):
        with torch.no_grad():
            linear.bias.abs_().add_(0.25)
        prune.ln_structured(linear, name="weight", amount=amount, n=2, dim=0)
        prune.remove(linear, "weight")
    return read_torch(model)


def dead_shrink(net: Network) -> Network:
    """The classic WRONG shrink: hidden neurons with all-zero incoming weights dropped as if dead, together with
    their biases and outgoing weights (their constant value σ(b) is lost instead of folded into the next bias)."""
    layers = [Layer(layer.weight, layer.bias, layer.activation) for layer in net.layers]
    for i in range(len(layers) - 1):
        keep = np.flatnonzero(np.any(layers[i].weight != 0, axis=1))
        cur, nxt = layers[i], layers[i + 1]
        layers[i] = Layer(cur.weight[keep], cur.bias[keep], cur.activation)
        layers[i + 1] = Layer(nxt.weight[:, keep], nxt.bias, nxt.activation)
    return Network(layers, source=f"{net.source} (zero rows dropped)")


# ---------------------------------------------------------------- ONNX simplifiers


def unsimplified_model(seed: int = 1) -> onnx.ModelProto:
    """4-6-3 ReLU net as exporters leave it: a Constant+Reshape weight, MatMul+Add, Identity, Dropout, Reshape."""
    rng = np.random.default_rng(seed)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    w1, b1 = f32(normal32(rng, (INPUTS, 6))), f32(normal32(rng, 6))
    w2, b2 = f32(normal32(rng, (6, 3))), f32(normal32(rng, 3))
    nodes = [
        helper.make_node("Constant", [], ["w1_flat"], value=numpy_helper.from_array(w1.reshape(-1), "w1_flat")),
        helper.make_node("Reshape", ["w1_flat", "w1_shape"], ["w1"]),
        helper.make_node("Reshape", ["x", "x_shape"], ["x1"]),
        helper.make_node("MatMul", ["x1", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["z1"]),
        helper.make_node("Identity", ["z1"], ["z1_copy"]),
        helper.make_node("Relu", ["z1_copy"], ["a1"]),
        helper.make_node("Dropout", ["a1"], ["a1_kept"]),
        helper.make_node("MatMul", ["a1_kept", "w2"], ["h2"]),
        helper.make_node("Add", ["h2", "b2"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([INPUTS, 6], dtype=np.int64), "w1_shape"),
        numpy_helper.from_array(np.array([1, INPUTS], dtype=np.int64), "x_shape"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(b2, "b2"),
    ]
    graph = helper.make_graph(
        nodes,
        "unsimplified",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, INPUTS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    opsets = [helper.make_opsetid("", 13)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    return model


def simplify_onnxsim(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """onnxsim's simplified model (None when onnxsim is not installed)."""
    try:
        import onnxsim
    except ImportError:
        return None
    simplified, ok = onnxsim.simplify(model)
    if not ok:
        raise RuntimeError("onnxsim could not validate its simplified model")
    return simplified


def simplify_onnxoptimizer(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """onnxoptimizer's fuse-and-eliminate passes (None when onnxoptimizer is not installed)."""
    try:
        import onnxoptimizer
    except ImportError:
        return None
    return onnxoptimizer.optimize(model, onnxoptimizer.get_fuse_and_elimination_passes())


# ---------------------------------------------------------------- Net2Net widening


def net2net_parent(seed: int = 2) -> Network:
    """A 4-5-4-2 ReLU parent network (float32 weights)."""
    rng = np.random.default_rng(seed)
    relu = Activation("relu")
    return Network(
        [
            Layer(normal32(rng, (5, INPUTS)), normal32(rng, 5), relu),
            Layer(normal32(rng, (4, 5)), normal32(rng, 4), relu),
            Layer(normal32(rng, (2, 4)), normal32(rng, 2)),
        ],
        source="net2net_parent",
    )


def net2net_widen(net: Network, layer: int, neurons: list[int], split: bool = True) -> Network:
    """Net2WiderNet: append a copy of each listed neuron of hidden layer `layer` (same incoming weights and bias);
    with `split`, the original and its copy each get half its outgoing weights (exact: halving a float)."""
    cur, nxt = net.layers[layer], net.layers[layer + 1]
    weight = np.vstack([cur.weight, cur.weight[neurons]])
    bias = np.concatenate([cur.bias, cur.bias[neurons]])
    out = np.array(nxt.weight, dtype=np.float64)
    if split:
        out[:, neurons] /= 2
    out = np.hstack([out, out[:, neurons]])
    layers = list(net.layers)
    layers[layer] = Layer(weight, bias, cur.activation)
    layers[layer + 1] = Layer(out, nxt.bias, nxt.activation)
    kind = "widened" if split else "widened without splitting (broken)"
    return Network(layers, source=f"{net.source} {kind}")


# ---------------------------------------------------------------- all files


def write_all(out: Path) -> list[str]:
    """Write every pair whose tools are installed; returns notes on what was skipped."""
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    write_text_atomic(out / "box.vnnlib", BOX)
    try:
        pruned = pruned_mlp()
    except ImportError:
        notes.append("torch not installed: pruned*.onnx skipped")
    else:
        write_onnx(pruned, out / "pruned.onnx")
        write_onnx(reduce(pruned).network, out / "pruned_shrunk.onnx", dtype="float64")
        write_onnx(dead_shrink(pruned), out / "pruned_wrong.onnx")
    source = unsimplified_model()
    write_bytes_atomic(out / "simplify_source.onnx", source.SerializeToString())
    for name, tool in (("onnxsim", simplify_onnxsim), ("onnxoptimizer", simplify_onnxoptimizer)):
        simplified = tool(source)
        if simplified is None:
            notes.append(f"{name} not installed: simplify_{name}.onnx skipped")
        else:
            write_bytes_atomic(out / f"simplify_{name}.onnx", simplified.SerializeToString())
    parent = net2net_parent()
    write_onnx(parent, out / "net2net_parent.onnx")
    write_onnx(net2net_widen(parent, 0, [1, 3]), out / "net2net_wide.onnx")
    write_onnx(net2net_widen(parent, 0, [1, 3], split=False), out / "net2net_broken.onnx")
    return notes


if __name__ == "__main__":
    for note in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(note)
