"""Root margin bounds of one MNIST-FC network on mnistfc ε-balls: DeepPoly slopes vs optimised lower slopes.

For each (net, ball): the worst top-1 margin bound of network A alone (bounds.difference.run_single, the sound
float bound the ReLU-split search and the checker use) with default slopes and with slopes proposed by
lumpcheck.equivalence.alpha (joint: hidden-layer bounds recomputed from the same slopes), and the optimiser's time.
Run: python benchmarks/alpha_root.py [--net 256x4] [--props prop_12_0.05 prop_13_0.05] [--steps 30]. Not a test.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import time
from pathlib import Path

import numpy as np

from lumpcheck.bounds.arith import round_to_floats
from lumpcheck.bounds.coupling import couple
from lumpcheck.bounds.difference import run_single
from lumpcheck.equivalence import alpha
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.objective import Objective
from lumpcheck.io import load_model
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.network import evaluate

ZOO = Path(os.environ.get("LUMPCHECK_ZOO", Path(__file__).resolve().parents[1].parent / "shared" / "zoo"))
MNIST = ZOO / "vnncomp2021" / "benchmarks" / "mnistfc"


def margin(coupling, xl, xu, objective, slopes=None) -> float:
    res = run_single(coupling, "a", xl, xu, objective, slopes=slopes)
    g = objective.gaps(res.uppers)
    return float(g.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--net", default="256x4")
    ap.add_argument("--props", nargs="+", default=["prop_12_0.05", "prop_13_0.05"])
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    a = load_model(MNIST / f"mnist-net_{args.net}.onnx")
    coupling = couple(a, a)
    mode = Mode.parse("top1")
    for prop in args.props:
        box = read_box(MNIST / f"{prop}.vnnlib")
        xl = round_to_floats(box.lower, up=False)[None]
        xu = round_to_floats(box.upper, up=True)[None]
        y = evaluate(a, [float(v) for v in 0.5 * xl[0] + 0.5 * xu[0]])
        cls = int(np.argmax(np.asarray(y, dtype=float)))
        obj = Objective(mode, np.array([cls]), "a")
        before = margin(coupling, xl, xu, obj)
        rows = obj.rows(coupling, 1)["a"]
        for joint in (False, True):
            t = time.monotonic()
            sl = alpha.optimise(coupling.chain_a, xl, xu, rows, steps=args.steps, joint=joint)
            spent = time.monotonic() - t
            after = margin(coupling, xl, xu, obj, [{"a_sl": s} for s in sl])
            print(f"{args.net} {prop} class {cls}: worst margin bound {before:.3f} -> {after:.3f} "
                  f"(joint={joint}, {args.steps} steps, {spent:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
