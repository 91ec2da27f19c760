"""Dense chains stay the fast special case: the CLI's reader `load_any` (dense reader first, graph reader only when
it refuses) against the dense reader `load_model`, and read_graph + to_network for reference, on the zoo's dense
ONNX nets, same run, best of N.
Run: python benchmarks/graph_dense_path.py [--repeat N]. Not a test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_any, load_model
from lumpcheck.io.onnx.graph_read import read_graph
from lumpcheck.ir.graph.dense import NotDenseChain, to_network

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "zoo"
NETS = ["marabou/resources/onnx/acasxu/ACASXU_experimental_v2a_1_1.onnx", "vnncomp2021/benchmarks/mnistfc/mnist-net_256x6.onnx",
        "vnncomp2021/benchmarks/eran/nets/mnist_relu_9_200.onnx", "vnncomp2021/benchmarks/eran/nets/ffnnSIGMOID__Point_6x200.onnx",
        "marabou/resources/onnx/mnist5x20_leaky_relu.onnx"]  # fmt: skip


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| net | load_model ms | load_any ms (CLI) | ratio | read_graph+to_network ms | ratio |")
    print("|---|---|---|---|---|---|")
    for name in NETS:
        p = ZOO / name
        if not p.exists():
            continue
        try:
            a = best(lambda: load_model(p), args.repeat)
            c = best(lambda: load_any(p), args.repeat)
            b = best(lambda: to_network(read_graph(p)), args.repeat)
        except (LumpcheckError, NotDenseChain) as e:
            print(f"| {p.name} | skipped: {e} | | | | |")
            continue
        print(f"| {p.name} | {a * 1000:.1f} | {c * 1000:.1f} | {c / a:.2f} | {b * 1000:.1f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
