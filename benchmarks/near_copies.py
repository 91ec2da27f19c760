"""Near-identical ACAS Xu pairs for the differential engine (issue 16): A vs a copy that differs by very little.

Copies of ACAS Xu 1_1 (Marabou's ONNX copy; nothing written to the zoo), on VNN-COMP 2021 prop_1's box:
- 'bias': one bias changed by 0.001 (the ONNX initializer Operation_2_Add_B[39], i.e. hidden layer 2's neuron 39):
  the true max |A − B| on the box is about 2.5e-6;
- 'f16': every weight and bias rounded to float16.
Each instance runs `verify_pair` in its own process (spawn), killed at the deadline + 5 s; reported: status,
the engine's seconds, nodes bounded (incl. look-ahead children), nodes/s, the load average before and after.
Set LUMPCHECK_SNAPSHOT=<dir> to benchmark a frozen copy of the package (e.g. `git archive` of an older commit).
Run: python benchmarks/near_copies.py [--cases bias:epsilon=0.005 f16:epsilon=0.005 ...] [--timeout S]
     [--workers W] [--jsonl out.jsonl] [--label before]. Not a test.
"""

from __future__ import annotations

import os
import sys

_SNAPSHOT = os.environ.get("LUMPCHECK_SNAPSHOT")
if _SNAPSHOT:  # a frozen copy of the package, immune to later edits of the worktree (child processes too)
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, _SNAPSHOT)

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads, in every child too
    os.environ.setdefault(_var, "1")

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from lumpcheck.io import load_model
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.network import Layer, Network

ZOO = Path(os.environ.get("LUMPCHECK_ZOO", Path(__file__).resolve().parents[1].parent / "shared" / "zoo"))
NET = ZOO / "marabou" / "resources" / "onnx" / "acasxu" / "ACASXU_experimental_v2a_1_1.onnx"
PROP = ZOO / "vnncomp2021" / "benchmarks" / "acasxu" / "prop_1.vnnlib"


def bias_tweaked(net: Network, layer: int = 1, neuron: int = 39, delta: float = 0.001) -> Network:
    biases = [np.array(l.bias, dtype=np.float64) for l in net.layers]
    biases[layer][neuron] += delta
    return Network([Layer(l.weight, bias, l.activation) for l, bias in zip(net.layers, biases)])


def float16_rounded(net: Network) -> Network:
    r = lambda a: np.asarray(a, dtype=np.float64).astype(np.float16).astype(np.float64)  # noqa: E731
    return Network([Layer(r(l.weight), r(l.bias), l.activation) for l in net.layers])


COPIES = {"bias": bias_tweaked, "f16": float16_rounded}


def _child(case: str, timeout: float, workers: int, conn) -> None:
    from lumpcheck.equivalence.pair import verify_pair

    copy, mode = case.split(":", 1)
    a = load_model(NET)
    b = COPIES[copy](a)
    box = read_box(PROP)
    t = time.monotonic()
    res = verify_pair(a, b, box, mode, timeout, workers=workers, memory_mb=2048, certificate=False)
    s = res.stats
    conn.send({"status": res.status, "seconds": time.monotonic() - t, "nodes": s.get("nodes", 0),
               "lookahead_nodes": s.get("lookahead_nodes", 0), "leaves": s.get("leaves", 0),
               "bound_s": s.get("bound_s", 0.0), "message": res.message[:160]})


def run_case(case: str, timeout: float, workers: int) -> dict:
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(case, timeout, workers, send))
    p.start()
    out = recv.recv() if recv.poll(timeout + 5.0) else {"status": "timeout", "message": "killed at the deadline + 5 s",
                                                         "seconds": timeout + 5.0}
    p.join(timeout=2)
    if p.is_alive():
        p.kill()
        p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=["bias:epsilon=0.005", "f16:epsilon=0.005", "f16:epsilon=0.05"])
    ap.add_argument("--timeout", type=float, default=100.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--jsonl", default="near_copies.jsonl")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    if not ZOO.is_dir():
        sys.exit(f"{ZOO} not found: the benchmark needs the shared model zoo")
    with open(args.jsonl, "a") as f:
        for case in args.cases:
            load = os.getloadavg()[0]
            row = {"label": args.label, "case": case, "workers": args.workers} | run_case(case, args.timeout, args.workers)
            row["load_before"], row["load_after"] = load, os.getloadavg()[0]
            n = row.get("nodes", 0) + row.get("lookahead_nodes", 0)
            row["nodes_per_s"] = n / max(row["seconds"], 1e-9)
            f.write(json.dumps(row) + "\n")
            f.flush()
            print(f"{args.label} {case}: {row['status']} {row['seconds']:.1f}s nodes {row.get('nodes', 0)}"
                  f"+{row.get('lookahead_nodes', 0)} ({row['nodes_per_s']:.0f}/s) load {load:.1f}", flush=True)


if __name__ == "__main__":
    main()
