"""Build (original, shrunk) CNN pairs made by OTHER tools, for lumpcheck to certify or refute.

Run: python examples/third_party/build_cnn.py [OUTDIR]   (default: this folder). Pairs needing an optional package
are skipped with a note when it is missing. Input 1x1x8x8; cnn_box.vnnlib is [-1, 1]^64.

- cnn_pruned.onnx, cnn_pruned_wrong.onnx (torch): Conv(1->6, 3x3, pad 1)-ReLU-Conv(6->4, 3x3)-ReLU-Flatten-Linear(144->3)
  with torch.nn.utils.prune.ln_structured on the first Conv's output channels (dim 0, half of them; biases KEPT
  and made positive, so each pruned channel is the constant relu(b) > 0 at every position, not dead). Conv
  parameters lie on a 2^-12 grid (as quantised weights do), so the folded biases are exact in float64.
  `lumpcheck reduce` folds them into the next Conv's bias (no zero padding there, so the fold is position-free);
  the "wrong" shrink drops them as if dead and changes the function (`lumpcheck verify` finds a witness).
- cnn_bn.onnx, cnn_bn_onnxoptimizer.onnx, cnn_bn_onnxsim.onnx: Conv-BatchNormalization-ReLU-Conv-ReLU-Gemm with
  float32 BN statistics (1/sqrt(var + eps) irrational) and the tools' BN-folded outputs (float32 roundings of the
  fold: NOT exactly the original; lumpcheck must never call them equal).
- cnn_bn_exact.onnx, cnn_bn_exact_onnxoptimizer.onnx, cnn_bn_exact_onnxsim.onnx: BN with var + eps squares of
  powers of two and dyadic (k/8) first-Conv weights and statistics, so the fold is exact in float32: both tools'
  outputs compute exactly the original function (onnxoptimizer keeps sqrt(var + eps) in the graph; lumpcheck
  folds it exactly because the roots are rational).
- cnn_net2net_parent.onnx, cnn_net2net_wide.onnx, cnn_net2net_broken.onnx: Net2Net channel widening (Chen et al.
  2016): first-Conv channels duplicated with the next Conv's input slices split in half between the copies
  (equivalent), and a broken widening that copies the slices instead of splitting them (not equivalent).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lumpcheck.io.atomic import write_bytes_atomic, write_text_atomic

HERE = Path(__file__).resolve().parent
SHAPE = (1, 1, 8, 8)
INPUTS = 64
BOX = "".join(f"(declare-const X_{i} Real)\n" for i in range(INPUTS)) + "".join(
    f"(declare-const Y_{j} Real)\n" for j in range(3)) + "".join(
    f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))\n" for i in range(INPUTS))
OPSET = 13
GRID = 4096


def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(-1, 1, shape).astype(np.float32)


def cnn_model(convs: list[tuple[np.ndarray, np.ndarray, int]], gemm: tuple[np.ndarray, np.ndarray],
              bn: dict | None = None, name: str = "cnn") -> onnx.ModelProto:
    """Conv(+BN after the first)-ReLU blocks, Flatten, Gemm; `convs`: (weight, bias, pads) per Conv."""
    nodes, inits, x = [], [], "x"
    for i, (w, b, pad) in enumerate(convs):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=list(w.shape[2:]),
                                      pads=[pad] * 4))
        x = f"c{i}"
        if i == 0 and bn is not None:
            names = [f"bn_{k}" for k in ("scale", "bias", "mean", "var")]
            inits += [numpy_helper.from_array(bn[k.removeprefix("bn_")], k) for k in names]
            nodes.append(helper.make_node("BatchNormalization", [x] + names, ["n0"], epsilon=bn["epsilon"]))
            x = "n0"
        nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
        x = f"r{i}"
    wg, bg = gemm
    inits += [numpy_helper.from_array(wg, "wg"), numpy_helper.from_array(bg, "bg")]
    nodes += [helper.make_node("Flatten", [x], ["flat"]), helper.make_node("Gemm", ["flat", "wg", "bg"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, wg.shape[0]])], inits)
    opsets = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    return model


# ---------------------------------------------------------------- torch structured channel pruning


def pruned_cnn(seed: int = 0, amount: float = 0.5):
    """The torch CNN after ln_structured pruning of conv1's output channels: (convs, gemm) as float32 arrays."""
    import torch
    from torch.nn.utils import prune

    torch.manual_seed(seed)
    conv1, conv2, linear = torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.Conv2d(6, 4, 3), torch.nn.Linear(144, 3)
    with torch.no_grad():
        conv1.bias.abs_().add_(0.25)
        for p in (*conv1.parameters(), *conv2.parameters()):  # a 2^-12 grid, as quantised weights: folded sums exact
            p.copy_(torch.round(p * GRID) / GRID)
    prune.ln_structured(conv1, name="weight", amount=amount, n=2, dim=0)
    prune.remove(conv1, "weight")
    arr = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    return [(arr(conv1.weight), arr(conv1.bias), 1), (arr(conv2.weight), arr(conv2.bias), 0)], \
        (arr(linear.weight), arr(linear.bias))


def dead_shrink(convs, gemm):
    """The classic WRONG shrink: conv1 channels with all-zero filters dropped as if dead, with their input slices of
    conv2 (their constant value relu(b) is lost instead of folded into conv2's bias)."""
    (w1, b1, p1), (w2, b2, p2) = convs
    keep = np.flatnonzero(np.any(w1.reshape(len(w1), -1) != 0, axis=1))
    return [(w1[keep], b1[keep], p1), (w2[:, keep], b2, p2)], gemm


# ---------------------------------------------------------------- BatchNorm folding


def bn_cnn(seed: int = 1, exact: bool = False):
    """Conv(1->4, pad 1)-BN-ReLU-Conv(4->3)-ReLU-Gemm. exact: var + eps in {1/4, 1, 4, 16} (eps = 0), so
    1/sqrt(var + eps) is a power of two and the fold is exact in float32."""
    rng = np.random.default_rng(seed)
    convs = [(f32(rng, 4, 1, 3, 3), f32(rng, 4), 1), (f32(rng, 3, 4, 3, 3), f32(rng, 3), 0)]
    gemm = (f32(rng, 3, 108), f32(rng, 3))
    if exact:  # dyadic weights and statistics: every product and sum of the fold is exact in float32
        dyadic = lambda *shape: (rng.integers(-8, 9, shape) / 8).astype(np.float32)  # noqa: E731
        convs[0] = (dyadic(4, 1, 3, 3), dyadic(4), 1)
        bn = {"scale": dyadic(4), "bias": dyadic(4), "mean": dyadic(4),
              "var": np.array([0.25, 1, 4, 16], dtype=np.float32), "epsilon": 0.0}
    else:
        bn = {"scale": f32(rng, 4), "bias": f32(rng, 4), "mean": f32(rng, 4),
              "var": rng.uniform(0.5, 2, 4).astype(np.float32), "epsilon": 1e-5}
    return cnn_model(convs, gemm, bn, "cnn_bn")


def fold_onnxoptimizer(model: onnx.ModelProto) -> onnx.ModelProto | None:
    try:
        import onnxoptimizer
    except ImportError:
        return None
    return onnxoptimizer.optimize(model, ["fuse_bn_into_conv"])


def fold_onnxsim(model: onnx.ModelProto) -> onnx.ModelProto | None:
    try:
        import onnxsim
    except ImportError:
        return None
    simplified, ok = onnxsim.simplify(model)
    if not ok:
        raise RuntimeError("onnxsim could not validate its simplified model")
    return simplified


# ---------------------------------------------------------------- Net2Net channel widening


def net2net_parent(seed: int = 2):
    rng = np.random.default_rng(seed)
    return [(f32(rng, 4, 1, 3, 3), f32(rng, 4), 1), (f32(rng, 3, 4, 3, 3), f32(rng, 3), 0)], (f32(rng, 3, 108), f32(rng, 3))


def net2net_widen(convs, gemm, channels: list[int], split: bool = True):
    """conv1's `channels` duplicated (appended); conv2's input slices of each duplicated channel halved between the
    original and the copy (split), or copied whole (broken)."""
    (w1, b1, p1), (w2, b2, p2) = convs
    w1n, b1n = np.concatenate([w1, w1[channels]]), np.concatenate([b1, b1[channels]])
    w2n = np.concatenate([w2, w2[:, channels]], axis=1)
    if split:
        w2n[:, channels] /= 2  # halving a float32 is exact
        w2n[:, len(w1):] /= 2
    return [(w1n, b1n, p1), (w2n.astype(np.float32), b2, p2)], gemm


def write_all(out: Path) -> list[str]:
    """Write every pair whose tools are installed; returns notes on what was skipped."""
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    write_text_atomic(out / "cnn_box.vnnlib", BOX)
    save = lambda m, name: write_bytes_atomic(out / name, m.SerializeToString())  # noqa: E731
    try:
        pruned = pruned_cnn()
    except ImportError:
        notes.append("torch not installed: cnn_pruned*.onnx skipped")
    else:
        save(cnn_model(*pruned), "cnn_pruned.onnx")
        save(cnn_model(*dead_shrink(*pruned)), "cnn_pruned_wrong.onnx")
    for exact, stem in ((False, "cnn_bn"), (True, "cnn_bn_exact")):
        source = bn_cnn(exact=exact)
        save(source, f"{stem}.onnx")
        for tool, fold in (("onnxoptimizer", fold_onnxoptimizer), ("onnxsim", fold_onnxsim)):
            folded = fold(source)
            if folded is None:
                notes.append(f"{tool} not installed: {stem}_{tool}.onnx skipped")
            else:
                save(folded, f"{stem}_{tool}.onnx")
    parent = net2net_parent()
    save(cnn_model(*parent), "cnn_net2net_parent.onnx")
    save(cnn_model(*net2net_widen(*parent, [1, 3])), "cnn_net2net_wide.onnx")
    save(cnn_model(*net2net_widen(*parent, [1, 3], split=False)), "cnn_net2net_broken.onnx")
    return notes


if __name__ == "__main__":
    for note in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(note)
