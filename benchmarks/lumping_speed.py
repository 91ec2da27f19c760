"""Speed and memory of `lumpcheck.reduce` against plain ONNX loading and a naive pairwise Fraction reduction.

Builds random 8-hidden-layer ReLU MLPs (float32, half of every hidden layer planted as duplicates or
power-of-two multiples of the other half), saves them as ONNX, then measures in one run:
  load    onnx.load + numpy_helper.to_array (the floor any tool pays),
  reduce  conversion to the exact IR + lumpcheck.reduce,
  naive   O(n²) pairwise comparison of aggregated rows in Fractions (small widths, time-capped),
  memory  tracemalloc peak of conversion + reduce, against the model's float32 size.
Run: python benchmarks/lumping_speed.py [--widths 512,1024,2048,4096] [--quick] [--profile]. Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lumpcheck import Layer, Network, evaluate_float, reduce
from lumpcheck.ir.activation import IDENTITY, RELU

OUTPUTS = 10
FACTORS = np.array([1.0, 1.0, 2.0, 0.5, 4.0, 0.25], dtype=np.float32)  # exact in float32: duplicates and 2**k


def planted_mlp(width: int, hidden: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W (out, in), b) float32 per layer; in each hidden layer half the neurons copy a base neuron times 2**k."""
    rng = np.random.default_rng(seed)
    layers, fan_in = [], width
    for ell in range(hidden + 1):
        out = width if ell < hidden else OUTPUTS
        w = (rng.standard_normal((out, fan_in), dtype=np.float32) / np.float32(np.sqrt(fan_in))).astype(np.float32)
        b = (rng.standard_normal(out, dtype=np.float32) * np.float32(0.1)).astype(np.float32)
        if ell < hidden:
            perm = rng.permutation(out)
            base, copies = perm[: out // 2], perm[out // 2 :]
            source = rng.choice(base, size=len(copies))
            factor = FACTORS[rng.integers(len(FACTORS), size=len(copies))]
            w[copies] = w[source] * factor[:, None]
            b[copies] = b[source] * factor
        layers.append((w, b))
        fan_in = out
    return layers


def save_onnx(layers: list[tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    """Gemm(transB=1) + Relu chain, as PyTorch exports nn.Linear."""
    nodes, inits, x = [], [], "input"
    for ell, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w, f"W{ell}"), numpy_helper.from_array(b, f"b{ell}")]
        z = f"z{ell}"
        nodes.append(helper.make_node("Gemm", [x, f"W{ell}", f"b{ell}"], [z], transB=1))
        if ell < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [z], [f"h{ell}"]))
            z = f"h{ell}"
        x = z
    graph = helper.make_graph(
        nodes,
        "planted_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, layers[0][0].shape[1]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, OUTPUTS])],
        inits,
    )
    onnx.save(helper.make_model(graph), str(path))


def load_arrays(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The load floor: parse the protobuf and get every initializer as a numpy array."""
    model = onnx.load(str(path))
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    return [(arrays[f"W{ell}"], arrays[f"b{ell}"]) for ell in range(len(arrays) // 2)]


def to_network(arrays: list[tuple[np.ndarray, np.ndarray]]) -> Network:
    last = len(arrays) - 1
    return Network([Layer(w, b, RELU if ell < last else IDENTITY) for ell, (w, b) in enumerate(arrays)])


def naive_reduce(arrays: list[tuple[np.ndarray, np.ndarray]], deadline: float) -> int | None:
    """Paper-style baseline: aggregated rows in Fractions, every neuron compared with every class (O(n²)).
    Returns the number of hidden neurons kept, or None when the deadline passes."""
    classes = [([r], [Fraction(1)]) for r in range(arrays[0][0].shape[1])]  # (members, factors) of previous layer
    kept = 0
    for w, b in arrays[:-1]:
        reps: list[tuple[list[Fraction], int]] = []  # (row, pivot) per class
        new_classes: list[tuple[list[int], list[Fraction]]] = []
        for s in range(w.shape[0]):
            if time.perf_counter() > deadline:
                return None
            row = [sum((c * Fraction(float(w[s, r])) for r, c in zip(*cls)), Fraction(0)) for cls in classes]
            row.append(Fraction(float(b[s])))
            p = next((i for i, v in enumerate(row) if v), 0)
            for k, (rep, q) in enumerate(reps):
                same_sign = q == p and row[p] and rep[q] * row[p] > 0  # ReLU: positive factors only
                if same_sign and all(x * rep[q] == y * row[p] for x, y in zip(row, rep)):
                    new_classes[k][0].append(s)
                    new_classes[k][1].append(row[p] / rep[q])
                    break
            else:
                reps.append((row, p))
                new_classes.append(([s], [Fraction(1)]))
        classes = new_classes
        kept += len(classes)
    return kept


def measure(width: int, hidden: int, workdir: Path, naive_max: int, naive_cap: float, repeat: int) -> dict:
    path = workdir / f"mlp_{hidden}x{width}.onnx"
    layers = planted_mlp(width, hidden, seed=width)
    save_onnx(layers, path)
    f32_bytes = sum(w.nbytes + b.nbytes for w, b in layers)
    weights = sum(w.size + b.size for w, b in layers)
    del layers

    t_load = t_convert = t_reduce = float("inf")
    for _ in range(repeat):  # best of `repeat`, load and reduce interleaved (the machine may be shared)
        t0 = time.perf_counter()
        arrays = load_arrays(path)
        t1 = time.perf_counter()
        net = to_network(arrays)
        t2 = time.perf_counter()
        red = reduce(net)
        t3 = time.perf_counter()
        t_load, t_convert, t_reduce = min(t_load, t1 - t0), min(t_convert, t2 - t1), min(t_reduce, t3 - t2)
        assert red.network.widths[1:-1] == [width // 2] * hidden, red.network.widths
        del net, red
    red = reduce(to_network(arrays))
    x = np.random.default_rng(1).standard_normal((16, width))
    drift = float(np.max(np.abs(evaluate_float(red.original, x) - evaluate_float(red.network, x))))
    del red

    tracemalloc.start()
    red = reduce(to_network(arrays))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del red

    t_naive: float | None = None
    if width <= naive_max:
        t0 = time.perf_counter()
        done = naive_reduce(arrays, t0 + naive_cap)
        t_naive = time.perf_counter() - t0 if done is not None else None
    path.unlink()
    return dict(
        width=width, weights=weights, f32=f32_bytes, load=t_load, convert=t_convert, reduce=t_convert + t_reduce,
        naive=t_naive, naive_tried=width <= naive_max, peak=peak, drift=drift,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="512,1024,2048,4096", help="comma-separated hidden widths")
    ap.add_argument("--hidden", type=int, default=8, help="hidden layers")
    ap.add_argument("--quick", action="store_true", help="widths 256,512 and a 20 s naive cap")
    ap.add_argument("--naive-max", type=int, default=1024, help="largest width for the naive baseline")
    ap.add_argument("--naive-cap", type=float, default=120.0, help="time cap (s) for the naive baseline")
    ap.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    ap.add_argument("--profile", action="store_true", help="also profile one reduce at the largest width")
    args = ap.parse_args()
    widths = [256, 512] if args.quick else [int(w) for w in args.widths.split(",")]
    cap = 20.0 if args.quick else args.naive_cap
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width in widths:
            rows.append(measure(width, args.hidden, Path(tmp), args.naive_max, cap, args.repeat))
            r = rows[-1]
            print(f"  width {width}: load {r['load']:.3f}s reduce {r['reduce']:.3f}s", flush=True)
    print(f"\n{args.hidden} hidden ReLU layers, 50% planted (dup + 2^k), float32 ONNX; best of {args.repeat} runs")
    print("reduce = conversion of the loaded arrays to the exact IR (convert) + lumpcheck.reduce; peak: tracemalloc")
    table = [COLUMNS] + [table_row(r, cap) for r in rows]
    sizes = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        print("  ".join(cell.rjust(size) for cell, size in zip(line, sizes)))
    if args.profile:
        net = to_network(planted_mlp(widths[-1], args.hidden, seed=widths[-1]))
        profiler = cProfile.Profile()
        profiler.enable()
        reduce(net)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats("lumpcheck", 15)


COLUMNS = ("width", "weights", "f32 MiB", "load s", "convert s", "reduce s", "reduce/load", "naive s", "naive/reduce",
           "ns/weight", "peak MiB", "peak/f32", "max|dy|")


def table_row(r: dict, cap: float) -> tuple[str, ...]:
    mib = 2.0**20
    naive = "-" if not r["naive_tried"] else (f">{cap:.0f}" if r["naive"] is None else f"{r['naive']:.2f}")
    speedup = "-" if r["naive"] is None else f"{r['naive'] / r['reduce']:.0f}"
    return (
        str(r["width"]), str(r["weights"]), f"{r['f32'] / mib:.0f}", f"{r['load']:.3f}", f"{r['convert']:.3f}",
        f"{r['reduce']:.3f}", f"{r['reduce'] / r['load']:.2f}", naive, speedup, f"{1e9 * r['reduce'] / r['weights']:.1f}",
        f"{r['peak'] / mib:.0f}", f"{r['peak'] / r['f32']:.2f}", f"{r['drift']:.1e}",
    )


if __name__ == "__main__":
    main()
