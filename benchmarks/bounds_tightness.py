"""Stable ReLUs found by interval, symbolic, input-split and z3-tightened bounds on the VNN-COMP 2021 ACAS Xu instances.

For each (network, property) pair of acasxu_instances.csv (the ONNX nets are Marabou's byte-identical
copies), counts hidden ReLUs proven stably inactive / active on the property's input box, and times
each method: interval, symbolic (DeepPoly), split (symbolic on a --parts^5 grid of sub-boxes) and
tightened (z3 exact LP per undecided neuron, on the symbolic bounds; slow, so only on the first
--tighten-limit instances).
Run: python benchmarks/bounds_tightness.py [--limit N] [--parts P] [--tighten-limit N] [--timeout S]
     [--method lp|milp] [--json out.json]. Not a test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from acasxu_domains import acas_instances as instances  # one reading of the VNN-COMP instance list

from lumpcheck.bounds import LayerBounds, interval_bounds, split_bounds, stable_phases, symbolic_bounds
from lumpcheck.bounds.tighten import tighten_bounds
from lumpcheck.io import load_model
from lumpcheck.io.atomic import write_text_atomic
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.network import Network


def counts(net: Network, bounds: list[LayerBounds]) -> tuple[int, int]:
    phases = np.concatenate(stable_phases(net, bounds))
    return int(np.sum(phases == -1)), int(np.sum(phases == 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="first N instances only")
    ap.add_argument("--parts", type=int, default=2, help="split every input into P parts (1: no split column)")
    ap.add_argument("--tighten-limit", type=int, default=2, help="tighten the first N instances (0: none)")
    ap.add_argument("--timeout", type=float, default=0.5, help="z3 seconds per optimisation")
    ap.add_argument("--method", choices=["lp", "milp"], default="lp")
    ap.add_argument("--json", type=Path, default=None, help="write per-instance results here")
    args = ap.parse_args()

    methods = {
        "interval": interval_bounds,
        "symbolic": symbolic_bounds,
        "split": lambda net, box: split_bounds(net, box, parts=args.parts),
        "tightened": lambda net, box: tighten_bounds(
            net, box, symbolic_bounds(net, box), timeout=args.timeout, method=args.method
        ),
    }
    if args.parts < 2:
        del methods["split"]
    rows = []
    print(f"{'net':>5} {'prop':>8} | " + " | ".join(f"{name:>9} {'s':>7}" for name in methods))
    for n, (model, prop) in enumerate(instances()[: args.limit]):
        net = load_model(model)
        box = read_box(prop, net.input_size)
        row = {"net": model.stem[-3:], "prop": prop.stem}
        for name, method in methods.items():
            if name == "tightened" and n >= args.tighten_limit:
                continue
            t = time.perf_counter()
            bounds = method(net, box)
            row[name], row[f"{name}_s"] = counts(net, bounds), time.perf_counter() - t
        rows.append(row)
        cells = [f"{sum(row[m]):>9} {row[m + '_s']:7.3f}" if m in row else f"{'-':>9} {'-':>7}" for m in methods]
        print(f"{row['net']:>5} {row['prop']:>8} | " + " | ".join(cells), flush=True)

    print(f"\n{len(rows)} instances (300 hidden ReLUs each); stable = inactive + active, mean per instance")
    for key in methods:
        done = [r for r in rows if key in r]
        if done:
            inactive = np.mean([r[key][0] for r in done])
            active = np.mean([r[key][1] for r in done])
            secs = np.mean([r[f"{key}_s"] for r in done])
            print(f"{key:>10}: {inactive:6.1f} inactive + {active:5.1f} active = {inactive + active:6.1f}  ({secs:.3f} s, {len(done)} instances)")
    if args.json:
        write_text_atomic(args.json, json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
