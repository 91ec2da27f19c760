"""Differential verification of near-copies: ACAS Xu and MNIST-FC nets vs pruned / float16 copies.

Pairs (built here, nothing written to the zoo):
- ACAS Xu (Marabou's ONNX copies of the VNN-COMP 2021 nets) vs copies with the smallest-magnitude 5/10/30%
  of every layer's weights zeroed ('mag5'...) and with 5/10/30% of every hidden layer's neurons removed
  (smallest |incoming|·|outgoing|; widths differ: 'neuron5'...), on the VNN-COMP properties' input boxes,
  for epsilon=0.05, epsilon=0.5 and argmin (ACAS advisories are the minimal score).
- MNIST-FC 256x2 / 256x4 vs 10%-magnitude-pruned ('mag10') and float16-rounded ('f16') copies, top1 on the
  VNN-COMP mnistfc ε-balls; with --mnist-free K on VeryDiff-style local boxes instead (K random pixels free in
  [0, 1], the others fixed at the ball's centre).
Engines, same instances, same machine, one at a time: 'diff' = lumpcheck.equivalence.pair.verify_pair (2 worker
processes, hard deadline, 2 GB cap; its certificates checked in 2 processes too); on a subset also 'today' = lumpcheck.equivalence.engine.verify with main's
engines (falsify, difference-bound, lumping-match, monolithic: no 'differential') and a monolithic z3 query
(lumpcheck.equivalence.encode), each in its own process, killed at the deadline + 5 s. Every 'sat' witness is
replayed exactly, every 'unsat' certificate is re-checked by the independent checker (its time is reported
against the search time).
Run: python benchmarks/diffverify_pairs.py [--acas N] [--mnist N] [--timeout S] [--baseline-every K]
     [--modes ...] [--variants ...] [--jsonl out.jsonl]. Not a test.
"""

from __future__ import annotations

import os
import sys

_SNAPSHOT = os.environ.get("LUMPCHECK_SNAPSHOT")
if _SNAPSHOT:  # benchmark a frozen copy of the package, immune to later edits of the worktree (child processes too)
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, _SNAPSHOT)

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads, in every child too
    os.environ.setdefault(_var, "1")

import argparse
import json
import multiprocessing as mp
import random
import re
import resource
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from lumpcheck.io import load_model
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate

ZOO = Path(os.environ.get("LUMPCHECK_ZOO", Path(__file__).resolve().parents[1].parent / "shared" / "zoo"))
ACAS = ZOO / "vnncomp2021" / "benchmarks" / "acasxu"
ACAS_ONNX = ZOO / "marabou" / "resources" / "onnx" / "acasxu"
MNIST = ZOO / "vnncomp2021" / "benchmarks" / "mnistfc"


# ---------------------------------------------------------------- copies


def magnitude_pruned(net: Network, share: float) -> Network:
    layers = []
    for layer in net.layers:
        w = layer.weight.astype(np.float64).copy()
        k = int(round(share * w.size))
        if k:
            cut = np.sort(np.abs(w).reshape(-1))[k - 1]
            w[np.abs(w) <= cut] = 0.0
        layers.append(Layer(w, layer.bias.copy(), layer.activation))
    return Network(layers)


def neuron_pruned(net: Network, share: float) -> Network:
    layers = [Layer(l.weight.astype(np.float64).copy(), l.bias.copy(), l.activation) for l in net.layers]
    for k in range(len(layers) - 1):
        cur, nxt = layers[k], layers[k + 1]
        n = cur.out_features
        drop = max(1, int(round(share * n)))
        saliency = np.linalg.norm(cur.weight, axis=1) * np.linalg.norm(nxt.weight, axis=0)
        keep = np.sort(np.argsort(-saliency)[: n - drop])
        layers[k] = Layer(cur.weight[keep], cur.bias[keep], cur.activation)
        layers[k + 1] = Layer(nxt.weight[:, keep], nxt.bias, nxt.activation)
    return Network(layers)


def float16_rounded(net: Network) -> Network:
    r = lambda a: a.astype(np.float16).astype(np.float64)  # noqa: E731
    return Network([Layer(r(l.weight), r(l.bias), l.activation) for l in net.layers])


VARIANTS = {
    "mag5": lambda n: magnitude_pruned(n, 0.05), "mag10": lambda n: magnitude_pruned(n, 0.10),
    "mag30": lambda n: magnitude_pruned(n, 0.30), "neuron5": lambda n: neuron_pruned(n, 0.05),
    "neuron10": lambda n: neuron_pruned(n, 0.10), "neuron30": lambda n: neuron_pruned(n, 0.30),
    "f16": float16_rounded,
}


# ---------------------------------------------------------------- instances


def acas_instances() -> list[tuple[Path, Path]]:
    out = []
    with open(ACAS / "acasxu_instances.csv") as f:
        for row in f:
            cells = [c.strip() for c in row.split(",")]
            a, b = re.match(r"ACASXU_run2a_(\d)_(\d)_batch_2000\.onnx", cells[0]).groups()
            out.append((ACAS_ONNX / f"ACASXU_experimental_v2a_{a}_{b}.onnx", ACAS / cells[1]))
    return out


def mnist_instances(nets=("256x2", "256x4")) -> list[tuple[Path, Path]]:
    out = []
    with open(MNIST / "mnistfc_instances.csv") as f:
        for row in f:
            cells = [c.strip() for c in row.split(",")]
            if any(cells[0] == f"mnist-net_{n}.onnx" for n in nets):
                out.append((MNIST / cells[0], MNIST / cells[1]))
    return out


# ---------------------------------------------------------------- engines (each run in its own process)


def run_diff(task: dict, report=lambda out: None) -> dict:
    from lumpcheck.equivalence.pair import verify_pair
    from lumpcheck.checker.difference import check_certificate
    from lumpcheck.checker.pool import start_method
    from lumpcheck.equivalence.mode import Mode, violated

    a, b, box = task["a"], task["b"], task["box"]
    t, cpu0, kids0 = time.monotonic(), time.process_time(), _children_cpu()
    res = verify_pair(a, b, box, task["mode"], task["timeout"], workers=WORKERS, memory_mb=2048)
    search_cpu = time.process_time() - cpu0 + _children_cpu() - kids0  # the master and its (joined) workers
    out = {"status": res.status, "seconds": time.monotonic() - t, "message": res.message[:200],
           "peak_rss_mb": res.stats.get("peak_rss_mb", 0.0), "leaves": res.stats.get("leaves", 0),
           "nodes": res.stats.get("nodes", 0), "lookahead_nodes": res.stats.get("lookahead_nodes", 0),
           "search_cpu_s": search_cpu,
           "search_busy_s": res.stats.get("bound_s", 0.0) + res.stats.get("attack_s", 0.0)}
    report(dict(out))  # the engine's answer, before the replay and the checker (the kill deadline is for this)
    if res.status == "sat":
        cex = res.counterexample
        ok = box.contains(cex.x) and tuple(evaluate(a, cex.x)) == cex.ya and tuple(evaluate(b, cex.x)) == cex.yb
        out["witness_replays"] = bool(ok and violated(Mode.parse(task["mode"]), cex.ya, cex.yb))
    out["undecided"] = len(res.undecided)
    if res.status == "unsat":
        out["check_start"] = start_method()
        t, cpu0, kids0 = time.monotonic(), time.process_time(), _children_cpu()
        chk = check_certificate(res.certificate, a, b, jobs=WORKERS)  # as many processes as the search used
        out["check_s"] = time.monotonic() - t
        out["check_cpu_s"] = time.process_time() - cpu0 + _children_cpu() - kids0
        out["check_jobs"] = WORKERS
        out["certificate_valid"] = chk.valid
        out["certificate_reason"] = "" if chk.valid else chk.reasons[0][:200]
        out["certificate_kb"] = len(json.dumps(res.certificate)) // 1024
    return out


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_today(task: dict, report=None) -> dict:
    from lumpcheck.equivalence.engine import ENGINES as ALL
    from lumpcheck.equivalence.engine import verify
    from lumpcheck.equivalence.mode import Mode

    t = time.monotonic()
    res = verify(task["a"], task["b"], task["box"], Mode.parse(task["mode"]), task["timeout"],
                 engines=[e for e in ALL if e != "differential"])
    return {"status": res.status, "seconds": time.monotonic() - t, "today_engine": res.engine}


def run_z3(task: dict, report=None) -> dict:
    from lumpcheck.bounds import symbolic_bounds
    from lumpcheck.equivalence.encode import encode_pair
    from lumpcheck.equivalence.mode import Mode
    from lumpcheck.solver.z3 import solve_constraints

    a, b, box = task["a"], task["b"], task["box"]
    t = time.monotonic()
    enc = encode_pair(a, b, box, Mode.parse(task["mode"]), symbolic_bounds(a, box), symbolic_bounds(b, box))
    res = solve_constraints(enc.constraints, enc.inputs, max(1.0, task["timeout"] - (time.monotonic() - t)))
    return {"status": res.status, "seconds": time.monotonic() - t}


ENGINES = {"diff": run_diff, "today": run_today, "z3": run_z3}
WORKERS = 2
"""Processes of the differential search (verify_pair's workers) and of its certificate's check (check_certificate's
jobs): the same number, so that the checker's wall time compares with the search's."""
CHECK_SECONDS = 600.0
"""The most time the witness replay and the certificate check get after the engine answered (not counted in
wall_s: before this split, a check still running at the deadline + 5 s made an unsat answered in time look like a
timeout, e.g. ACAS 5_6 prop_1 mag30 ε=0.5 in benchmarks/DIFFVERIFY.md)."""


def _child(engine: str, task: dict, conn) -> None:
    try:
        out = ENGINES[engine](task, lambda first: conn.send(("engine", first)))
    except Exception as e:  # noqa: BLE001 - reported as the instance's outcome
        out = {"status": "error", "message": f"{type(e).__name__}: {e}"[:300]}
    out["child_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["grandchildren_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    conn.send(("final", out))


def run_engine(engine: str, task: dict) -> dict:
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(engine, task, send))
    t = time.monotonic()
    p.start()
    limit = task["timeout"] + 5.0
    out, kind = None, None
    if recv.poll(limit):
        kind, out = recv.recv()
    answered = time.monotonic() - t
    if kind == "engine":  # the engine answered in time; the witness replay and the certificate check follow
        if recv.poll(CHECK_SECONDS):
            kind, out = recv.recv()
        else:
            out["check"] = f"replay/check killed after {CHECK_SECONDS:g} s"
    p.join(timeout=2)
    if p.is_alive():
        p.kill()
        p.join()
    if out is None:
        out = {"status": "timeout", "message": "killed at the deadline + 5 s"}
    out["wall_s"] = answered  # process start to the engine's answer (the checker's time is check_s)
    return out


# ---------------------------------------------------------------- driver


def logits_scaled(net: Network, scale: float) -> Network:
    """The net with its output layer multiplied by `scale` (a power of two: exact), i.e. a softmax temperature
    1/scale: the decisions are the same, the softmax confidences sharper (delta-top1 needs confidences near δ)."""
    if scale == 1:
        return net
    assert np.log2(scale) == int(np.log2(scale)), "--logit-scale must be a power of two (exact scaling)"
    last = net.layers[-1]
    layers = net.layers[:-1] + [Layer(last.weight * scale, last.bias * scale, last.activation)]
    return Network(layers, normalization=net.normalization) if net.normalization is not None else Network(layers)


def build_tasks(args) -> list[dict]:
    rng = random.Random(args.seed)
    tasks = []
    acas = acas_instances()
    rng.shuffle(acas)
    for model, prop in acas[: args.acas]:
        a = load_model(model)
        box = read_box(prop)
        for variant in args.variants:
            b = VARIANTS[variant](a)
            for mode in args.modes:
                tasks.append({"family": "acas", "net": model.stem, "prop": prop.stem, "variant": variant, "mode": mode,
                              "a": a, "b": b, "box": box, "timeout": args.timeout})
    mn = mnist_instances(tuple(args.mnist_nets))
    rng.shuffle(mn)
    if args.mnist_props:
        mn = [(model, prop) for model, prop in mn if prop.stem in args.mnist_props]
    for model, prop in mn[: args.mnist]:
        a = logits_scaled(load_model(model), args.logit_scale)
        box = read_box(prop)
        if args.mnist_free:
            box, prop = local_box(box, args.mnist_free, rng), prop.with_name(f"{prop.stem}_free{args.mnist_free}.vnnlib")
        for variant in args.mnist_variants:
            for mode in args.mnist_modes:
                net = model.stem if args.logit_scale == 1 else f"{model.stem}*{args.logit_scale:g}"
                tasks.append({"family": "mnist", "net": net, "prop": prop.stem, "variant": variant, "mode": mode,
                              "a": a, "b": VARIANTS[variant](a), "box": box, "timeout": args.timeout})
    return tasks


def local_box(ball: Box, free: int, rng: random.Random) -> Box:
    """VeryDiff's MNIST 'local' boxes: `free` random pixels vary over [0, 1], every other pixel is fixed at the
    ball's centre (the image up to its clipping at 0 and 1)."""
    keep = set(rng.sample(range(ball.dim), free))
    centre = [(lo + hi) / 2 for lo, hi in zip(ball.lower, ball.upper)]
    return Box(tuple(Fraction(0) if i in keep else c for i, c in enumerate(centre)),
               tuple(Fraction(1) if i in keep else c for i, c in enumerate(centre)), ball.source)


def summarise(rows: list[dict]) -> str:
    lines = ["| family | mode | engine | instances | decided | sat | unsat | timeout/unknown | error | median s | peak RSS MB | checker/search CPU | checker/search wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = sorted({(r["family"], r["mode"], r["engine"]) for r in rows},
                    key=lambda g: (g[0], g[1], list(ENGINES).index(g[2]) if g[2] in ENGINES else 99))
    for family, mode, engine in groups:
        sel = [r for r in rows if r["family"] == family and r["mode"] == mode and r["engine"] == engine]
        if not sel:
            continue
        st = [r["status"] for r in sel]
        dec = sum(s in ("sat", "unsat") for s in st)
        med = float(np.median([r.get("seconds", r["wall_s"]) for r in sel]))
        rss = max(max(r.get("peak_rss_mb", 0), r.get("child_maxrss_mb", 0) + r.get("grandchildren_maxrss_mb", 0)) for r in sel)
        checked = [r for r in sel if "check_s" in r]
        ratio = (sum(r.get("check_cpu_s", r["check_s"]) for r in checked) / max(sum(r.get("search_cpu_s", 0) for r in checked), 1e-9)) if checked else float("nan")
        wall = (sum(r["check_s"] for r in checked) / max(sum(r["seconds"] for r in checked), 1e-9)) if checked else float("nan")
        lines.append(f"| {family} | {mode} | {engine} | {len(sel)} | {dec} ({100 * dec / len(sel):.0f}%) | {st.count('sat')} | "
                     f"{st.count('unsat')} | {st.count('timeout') + st.count('unknown')} | {st.count('error')} | {med:.1f} | "
                     f"{rss:.0f} | {ratio:.2f} | {wall:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--acas", type=int, default=6, help="(net, property) pairs sampled from the VNN-COMP list")
    ap.add_argument("--mnist", type=int, default=8, help="(net, ε-ball) pairs sampled from mnistfc")
    ap.add_argument("--variants", nargs="+", default=["mag5", "mag10", "mag30", "neuron5", "neuron10", "neuron30"])
    ap.add_argument("--mnist-variants", nargs="+", default=["mag10", "f16"])
    ap.add_argument("--mnist-props", nargs="+", default=[], help="only these ε-balls (e.g. prop_1_0.05), before --mnist")
    ap.add_argument("--modes", nargs="+", default=["epsilon=0.05", "epsilon=0.5", "argmin"])
    ap.add_argument("--timeout", type=float, default=100.0)
    ap.add_argument("--baseline-every", type=int, default=6, help="run today's verify and z3 on every K-th instance")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jsonl", default="diffverify_pairs.jsonl")
    ap.add_argument("--mnist-nets", nargs="+", default=["256x2", "256x4"])
    ap.add_argument("--mnist-free", type=int, default=0, help="VeryDiff-style local boxes instead of the ε-balls: this "
                    "many random pixels free in [0, 1], the others fixed at the ball's centre")
    ap.add_argument("--mnist-modes", nargs="+", default=["top1"], help="e.g. top1 delta-top1=0.9 delta-top1=0.99")
    ap.add_argument("--logit-scale", type=float, default=1.0, help="MNIST: multiply A's output layer by this power of "
                    "two before building B (a softmax temperature; the mnistfc nets' confidences are ~0.2-0.5)")
    args = ap.parse_args()
    if not ZOO.is_dir():
        sys.exit(f"{ZOO} not found: the benchmark needs the shared model zoo")
    tasks = build_tasks(args)
    rows = []
    done = set()
    if Path(args.jsonl).exists():  # resumable
        for line in Path(args.jsonl).read_text().splitlines():
            r = json.loads(line)
            rows.append(r)
            done.add((r["family"], r["net"], r["prop"], r["variant"], r["mode"], r["engine"]))
    with open(args.jsonl, "a") as out:
        for i, task in enumerate(tasks):
            engines = ["diff"] + (["today", "z3"] if args.baseline_every and i % args.baseline_every == 0 else [])
            for engine in engines:
                key = (task["family"], task["net"], task["prop"], task["variant"], task["mode"], engine)
                if key in done:
                    continue
                load = os.getloadavg()[0]
                res = run_engine(engine, task)
                row = {k: task[k] for k in ("family", "net", "prop", "variant", "mode")} | {"engine": engine} | res
                row["load_before"], row["load_after"] = load, os.getloadavg()[0]
                rows.append(row)
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"[{i + 1}/{len(tasks)}] {engine:5s} {task['family']} {task['net']} {task['prop']} {task['variant']} "
                      f"{task['mode']}: {row['status']} {row.get('seconds', row['wall_s']):.1f}s"
                      + (f" check {row['check_s']:.1f}s valid={row['certificate_valid']}" if "check_s" in row else ""), flush=True)
    print(summarise(rows))


if __name__ == "__main__":
    main()
