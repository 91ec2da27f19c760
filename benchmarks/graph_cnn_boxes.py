"""Box reduction of the VNN-COMP 2021 CNN benchmarks (oval21, cifar10_resnet, marabou-cifar10, verivital), certified.

Per (network, property) of each benchmark's instances.csv: sound interval bounds on the property's input box
(`bounds.graph_interval`; or symbolic, `bounds.graph_symbolic`), per-position stable ReLUs (inactive / active / all), then channel reduction on the box
(`reduction.channel_lumping.reduce_channels(box=...)`: exact merges, constant/dead channels, whole channels stable on the
box) with its certificate checked by the independent checker (`checker.graph`). Times are wall-clock seconds.
Run: python benchmarks/graph_cnn_boxes.py [--per N] [--bounds interval|symbolic] [--json out.json]. Not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from lumpcheck.bounds.graph_interval import stable_counts
from lumpcheck.bounds.graph_symbolic import BOUNDS_METHODS, bounds_by
from lumpcheck.checker.graph import check_certificate
from lumpcheck.io.onnx.graph_read import read_graph
from lumpcheck.io.vnnlib import read_box
from lumpcheck.prove.graph_prover import certificate_of
from lumpcheck.reduction.channel_lumping import reduce_channels

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "zoo"
BENCH = ZOO / "vnncomp2021" / "benchmarks"
SUITES = ("oval21", "cifar10_resnet", "marabou-cifar10", "verivital")


def instances(suite: str, per: int) -> list[tuple[Path, Path]]:
    d = BENCH / suite
    csv_path = next(d.glob("*instances.csv"))
    seen: dict[str, int] = {}
    out = []
    with open(csv_path) as f:
        for row in csv.reader(f):
            net, spec = (d / row[0].strip()).resolve(), (d / row[1].strip()).resolve()
            if net.exists() and spec.exists() and seen.get(net.name, 0) < per:
                seen[net.name] = seen.get(net.name, 0) + 1
                out.append((net, spec))
    return out


def run(net: Path, spec: Path, method: str) -> dict:
    g = read_graph(net)
    s = g.inputs[0]
    b = read_box(spec, s.size)
    box = {s.name: (np.array(b.lower, dtype=object).reshape(s.shape), np.array(b.upper, dtype=object).reshape(s.shape))}
    t0 = time.perf_counter()
    counts = stable_counts(g, bounds_by(method)(g, box))
    t1 = time.perf_counter()
    r = reduce_channels(g, box=box, bounds=method)
    t2 = time.perf_counter()
    verdict = check_certificate(g, r.reduced, certificate_of(r).to_dict())
    t3 = time.perf_counter()
    before, after = r.channel_counts()
    return {
        "net": net.name, "spec": spec.name, "relu": sum(c[3] for c in counts),
        "inactive": sum(c[1] for c in counts), "active": sum(c[2] for c in counts),
        "channels": f"{before}->{after}", "params": f"{g.param_count}->{r.reduced.param_count}",
        "bounds_s": round(t1 - t0, 3), "reduce_s": round(t2 - t1, 2), "check_s": round(t3 - t2, 2), "valid": verdict.valid,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per", type=int, default=2, help="instances per network")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--bounds", choices=BOUNDS_METHODS, default="interval", help="bounds proving ReLU phases on the box")
    args = ap.parse_args()
    rows = []
    print("| suite | net | spec | ReLU positions | inactive | active | channels | params | bounds s | reduce s | check s | valid |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for suite in SUITES:
        if not (BENCH / suite).is_dir():
            continue
        for net, spec in instances(suite, args.per):
            row = {"suite": suite, **run(net, spec, args.bounds)}
            rows.append(row)
            print("| " + " | ".join(str(v) for v in row.values()) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
