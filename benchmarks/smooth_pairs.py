"""Sigmoid/tanh pairs through `lumpcheck verify`: zoo networks vs their float16-rounded copies, before/after in one
run. The differential engine takes only piecewise-linear layers, so these pairs rest on the difference-bound engine
(back-substituted differences, sigmoid/tanh secant slopes from derivative ranges; top1 by A's decision margin).

Pairs (the copies written into --workdir: every float32 initializer with more than one element rounded to float16):
- tanh: marabou tanh_test.onnx (4-4-256x2-4-2, Tanh), box [−1, 1]^4; epsilon=0.03 and epsilon=0.01, top1;
- lowdim: random sigmoid nets of ACAS-like input sizes (seeded, written by write_smooth): 5-32x3-5 and 3-16x2-2,
  the boxes and modes of LOWDIM_MODES;
- pruned: the 5-32x3-5 sigmoid net and tanh_test.onnx vs copies with 10% of every hidden layer's neurons removed
  (smallest outgoing weights; float32, not rounded), [−1, 1]^n; large ε (removing neurons moves the outputs by
  ~0.35-0.4 on these boxes);
- sigmoid: marabou robust_model_sigmoid_linear.onnx (784-64-32-10), mnistfc prop_K_0.03 boxes, K in --props;
  epsilon=0.05 and top1;
- eran: ERAN ffnnSIGMOID__Point_6x200.onnx (normalised input), its spec idx 56 (ε-ball 0.012); epsilon=0.05,
  epsilon=0.2, top1.
Each (pair, mode) runs `EXE verify A B --domain box --mode M --timeout T --json` for every --exe, one after the
other (bn_fold_pairs.run: verdict, engine, wall seconds, peak RSS); with --certify the unsat verdicts of the last
--exe are certified and checked.

Run: python benchmarks/smooth_pairs.py --exe before=/tmp/before/lc --exe new=.venv/bin/lumpcheck [--timeout 60]
     [--certify] [--pairs tanh sigmoid eran]. Needs ../shared/zoo. Not a test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from bn_fold_pairs import run_table, write_box
from onnx import TensorProto, helper, numpy_helper

from lumpcheck.io import load_model, save_model
from lumpcheck.ir.network import Layer, Network

ZOO = Path(__file__).resolve().parents[2] / "shared" / "zoo"
LOWDIM_MODES = {5: ((-1, 1, "epsilon=0.002"), (-1, 1, "top1"), (-0.5, 0.5, "top1")),
                3: ((-1, 1, "epsilon=0.001"), (-1, 1, "epsilon=0.0006"), (-1, 0, "top1"))}
"""Per input size: (box lower, upper, mode). The ε are below the whole box's certified bound (0.0041 and 0.0015,
sampled maxima 0.0007 and 0.0003); A's decision changes inside [−1, 1]^n (top1 there has no split proof, and a
float16 counterexample is found), but not inside the smaller top1 boxes."""


def float16_copy(src: Path, dst: Path) -> Path:
    """src with every float32 initializer of more than one element rounded to float16 (and stored as float32)."""
    m = onnx.load(str(src))
    for i, init in enumerate(m.graph.initializer):
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size > 1:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(a.astype(np.float16).astype(np.float32), init.name))
    onnx.save(m, str(dst))
    return dst


def write_smooth(rng: np.random.Generator, widths: list[int], act: str, path: Path) -> Path:
    """A random dense net (Gemm + `act` per hidden layer, weights N(0, 4/fan-in), biases N(0, 0.25)) as ONNX."""
    nodes, init, x = [], [], "x"
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        init += [numpy_helper.from_array(rng.normal(0, 2 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32), f"w{k}"),
                 numpy_helper.from_array(rng.normal(0, 0.5, n_out).astype(np.float32), f"b{k}")]
        last = k == len(widths) - 2
        nodes.append(helper.make_node("Gemm", [x, f"w{k}", f"b{k}"], ["y" if last else f"g{k}"], transB=1))
        if not last:
            nodes.append(helper.make_node(act, [f"g{k}"], [f"h{k}"]))
            x = f"h{k}"
    g = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, widths[0]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, widths[-1]])], init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.save(m, str(path))
    return path


def pruned_copy(src: Path, dst: Path, share: float) -> Path:
    """src with the share of every hidden layer's neurons whose outgoing weights are smallest (L1) removed."""
    net = load_model(src)
    layers, keep_prev = [], list(range(net.input_size))
    for k, layer in enumerate(net.layers):
        w, b = np.asarray(layer.weight, dtype=float)[:, keep_prev], np.asarray(layer.bias, dtype=float)
        keep = list(range(layer.out_features))
        if k < len(net.layers) - 1:
            norms = np.abs(np.asarray(net.layers[k + 1].weight, dtype=float)).sum(axis=0)
            keep = sorted(np.argsort(-norms, kind="stable")[:layer.out_features - round(share * layer.out_features)])
        layers.append(Layer(w[keep], b[keep], layer.activation))
        keep_prev = keep
    save_model(Network(layers, net.normalization), dst, dtype="float32")
    return dst


def cases(work: Path, props: list[int], pairs: list[str]) -> list[tuple[str, Path, Path, Path, str]]:
    marabou, vnn = ZOO / "marabou" / "resources" / "onnx", ZOO / "vnncomp2021" / "benchmarks"
    out = []
    if "tanh" in pairs:
        tanh = marabou / "tanh_test.onnx"
        tanh16 = float16_copy(tanh, work / "tanh16.onnx")
        box4 = write_box(work / "box4.vnnlib", -np.ones(4), np.ones(4), 2)
        out += [("tanh 4-4-256x2-4-2, [−1, 1]^4", tanh, tanh16, box4, m) for m in ("epsilon=0.03", "epsilon=0.01", "top1")]
    if "lowdim" in pairs:  # ACAS-like input sizes: the box is split (equivalence/smooth_split.py)
        for widths in ([5, 32, 32, 32, 5], [3, 16, 16, 2]):
            shape, n = "-".join(map(str, widths)), widths[0]
            net = write_smooth(np.random.default_rng(len(widths) + n), widths, "Sigmoid", work / f"sig{shape}.onnx")
            net16 = float16_copy(net, work / f"sig{shape}16.onnx")
            for lo, hi, mode in LOWDIM_MODES[n]:
                box = write_box(work / f"box{n}_{lo}_{hi}.vnnlib", np.full(n, lo), np.full(n, hi), widths[-1])
                out.append((f"sigmoid {shape} (random), [{lo:g}, {hi:g}]^{n}", net, net16, box, mode))
    if "pruned" in pairs:  # B has 10% of each hidden layer's neurons removed: padded to A's widths (ir/padding.py)
        sig = write_smooth(np.random.default_rng(10), [5, 32, 32, 32, 5], "Sigmoid", work / "sig5-32-32-32-5.onnx")
        box5 = write_box(work / "box5_-1_1.vnnlib", -np.ones(5), np.ones(5), 5)
        out += [("sigmoid 5-32x3-5 (random) vs 10% neurons removed, [−1, 1]^5", sig,
                 pruned_copy(sig, work / "sig5pruned.onnx", 0.1), box5, m) for m in ("epsilon=1.2", "epsilon=0.75")]
        tanh = marabou / "tanh_test.onnx"
        box4 = write_box(work / "box4.vnnlib", -np.ones(4), np.ones(4), 2)
        out += [("tanh 4-4-256x2-4-2 vs 10% neurons removed, [−1, 1]^4", tanh,
                 pruned_copy(tanh, work / "tanh_pruned.onnx", 0.1), box4, "epsilon=1.5")]
    if "sigmoid" in pairs:
        sig = marabou / "robust_model_sigmoid_linear.onnx"
        sig16 = float16_copy(sig, work / "sigmoid16.onnx")
        for k in props:
            box = vnn / "mnistfc" / f"prop_{k}_0.03.vnnlib"
            out += [(f"sigmoid 784-64-32-10, prop_{k}_0.03", sig, sig16, box, m) for m in ("epsilon=0.05", "top1")]
    if "eran" in pairs:
        eran = vnn / "eran" / "nets" / "ffnnSIGMOID__Point_6x200.onnx"
        eran16 = float16_copy(eran, work / "eran16.onnx")
        spec = vnn / "eran" / "specs" / "mnist" / "mnist_spec_idx_56_eps_0.01200.vnnlib"
        out += [("eran sigmoid 784-200x6-10, idx 56 (0.012)", eran, eran16, spec, m)
                for m in ("epsilon=0.05", "epsilon=0.2", "top1")]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", action="append", required=True, help="NAME=PATH of a lumpcheck executable")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--props", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--pairs", nargs="+", default=["tanh", "lowdim", "pruned", "sigmoid", "eran"],
                    choices=["tanh", "lowdim", "pruned", "sigmoid", "eran"])
    ap.add_argument("--certify", action="store_true", help="certify and check each unsat of the last --exe")
    ap.add_argument("--workdir", default="/tmp/smooth_pairs")
    o = ap.parse_args()
    if not ZOO.is_dir():
        raise SystemExit(f"needs the zoo at {ZOO}")
    work = Path(o.workdir)
    work.mkdir(parents=True, exist_ok=True)
    run_table(cases(work, o.props, o.pairs), o.exe, o.timeout, o.certify, work)

if __name__ == "__main__":
    main()
