"""BatchNorm-folding pairs through `lumpcheck verify` (issue 16's "Why": BN folding), before/after in one run.

Pairs (random weights, seeded; written as ONNX into --workdir):
- small: 4-16x2-3, Gemm→BatchNormalization→ReLU ×2 → Gemm, BN statistics as /work/notes/bn_pair_example.py draws
  them (mean U(−.5, .5), var U(.5, 2), γ U(.5, 1.5), β U(−.2, .2)), vs the same with each BN folded into its Gemm in
  float32; box [−1, 1]^4; modes epsilon=1e-4, epsilon=1e-7, top1.
- mnist: 784-256-256-10 of the same kind vs its float32 fold, top1 on the L∞ ball of radius 0.02 around a random
  image in [0, 1]^784 (clipped to [0, 1]).
Each (pair, mode) runs `LUMPCHECK verify A B --domain box --mode M --timeout T --json` for every --exe (e.g. the
main checkout's `lumpcheck` and this tree's), one after the other; reported: verdict, engine, wall seconds (the
whole command: `verify`'s own re-check of an unsat certificate included), the deciding engine's own seconds (its
phase in the verdict's `times`: the search alone), peak RSS (of the verify process, /usr/bin/time).

Run: python benchmarks/bn_fold_pairs.py --exe main=/work/main/.venv/bin/lumpcheck --exe new=.venv/bin/lumpcheck
     [--timeout 60] [--only small] [--certify]. Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EPS = 1e-5


def write_pair(rng: np.random.Generator, widths: list[int], workdir: Path, name: str) -> tuple[Path, Path]:
    """(bn.onnx, fold.onnx): the BN chain and its float32 fold (folded in float64, rounded once)."""
    bn_nodes, fold_nodes, bn_init, fold_init = [], [], [], []
    x_bn = x_fold = "x"
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        w = (rng.uniform(-1, 1, (n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = rng.uniform(-0.1, 0.1, n_out).astype(np.float32)
        last = k == len(widths) - 2
        out_bn = "y" if last else f"g{k}"
        bn_init += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        bn_nodes.append(helper.make_node("Gemm", [x_bn, f"w{k}", f"b{k}"], [out_bn], transB=1))
        if last:
            fold_init += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
            fold_nodes.append(helper.make_node("Gemm", [x_fold, f"w{k}", f"b{k}"], ["y"], transB=1))
            break
        mean = rng.uniform(-0.5, 0.5, n_out).astype(np.float32)
        var = rng.uniform(0.5, 2.0, n_out).astype(np.float32)
        gamma = rng.uniform(0.5, 1.5, n_out).astype(np.float32)
        beta = rng.uniform(-0.2, 0.2, n_out).astype(np.float32)
        bn_init += [numpy_helper.from_array(v, f"{p}{k}") for p, v in (("s", gamma), ("be", beta), ("m", mean), ("v", var))]
        bn_nodes += [helper.make_node("BatchNormalization", [f"g{k}", f"s{k}", f"be{k}", f"m{k}", f"v{k}"], [f"n{k}"],
                                      epsilon=EPS),
                     helper.make_node("Relu", [f"n{k}"], [f"h{k}"])]
        s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + float(np.float32(EPS)))
        wf = (w.astype(np.float64) * s[:, None]).astype(np.float32)
        bf = ((b.astype(np.float64) - mean) * s + beta).astype(np.float32)
        fold_init += [numpy_helper.from_array(wf, f"w{k}"), numpy_helper.from_array(bf, f"b{k}")]
        fold_nodes += [helper.make_node("Gemm", [x_fold, f"w{k}", f"b{k}"], [f"f{k}"], transB=1),
                       helper.make_node("Relu", [f"f{k}"], [f"h{k}"])]
        x_bn = x_fold = f"h{k}"
    paths = []
    for tag, nodes, init in (("bn", bn_nodes, bn_init), ("fold", fold_nodes, fold_init)):
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, widths[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, widths[-1]])], init)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 7
        path = workdir / f"{name}.{tag}.onnx"
        onnx.save(m, str(path))
        paths.append(path)
    return paths[0], paths[1]


def write_box(path: Path, lower: np.ndarray, upper: np.ndarray, outputs: int) -> Path:
    lines = [f"(declare-const X_{i} Real)" for i in range(len(lower))] + [f"(declare-const Y_{j} Real)" for j in range(outputs)]
    for i, (lo, hi) in enumerate(zip(lower, upper)):
        lines += [f"(assert (>= X_{i} {float(lo)!r}))", f"(assert (<= X_{i} {float(hi)!r}))"]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(exe: str, a: Path, b: Path, box: Path, mode: str, timeout: float, certify: Path | None) -> dict:
    cmd = [exe, "verify", str(a), str(b), "--domain", str(box), "--mode", mode, "--timeout", str(timeout), "--json"]
    if certify is not None:
        cmd += ["--certify", str(certify)]
    t = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "RSS_KB %M", *cmd], capture_output=True, text=True, timeout=timeout + 120)
    wall = time.monotonic() - t
    rss = max([int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("RSS_KB ")] or [0])
    try:
        d = json.loads(p.stdout)
        status, engine, msg = d["status"], d["engine"], d["message"]
        phase = (d.get("times") or {}).get(engine)
    except (ValueError, KeyError):
        errs = [line for line in p.stderr.splitlines() if not line.startswith("RSS_KB ")]
        status, engine, msg, phase = f"exit {p.returncode}", "", (errs or [""])[-1], None
    return {"status": status, "engine": engine, "wall": wall, "rss_mb": rss / 1024, "message": msg[:160], "phase": phase}


def check(exe: str, cert: Path, a: Path, b: Path) -> str:
    t = time.monotonic()
    p = subprocess.run([exe, "check", str(cert), str(a), str(b)], capture_output=True, text=True)
    return f"{p.stdout.strip().split(':')[0]} ({time.monotonic() - t:.1f} s)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", action="append", required=True, help="NAME=PATH of a lumpcheck executable")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--only", choices=["small", "mnist"])
    ap.add_argument("--certify", action="store_true", help="also --certify and check each unsat (the last --exe)")
    ap.add_argument("--workdir", default="/tmp/bn_fold_pairs")
    o = ap.parse_args()
    work = Path(o.workdir)
    work.mkdir(parents=True, exist_ok=True)
    cases = []
    if o.only in (None, "small"):
        a, b = write_pair(np.random.default_rng(1), [4, 16, 16, 3], work, "small")
        box = write_box(work / "small.vnnlib", -np.ones(4), np.ones(4), 3)
        cases += [("small 4-16x2-3", a, b, box, m) for m in ("epsilon=0.0001", "epsilon=0.0000001", "top1")]
    if o.only in (None, "mnist"):
        rng = np.random.default_rng(2)
        a, b = write_pair(rng, [784, 256, 256, 10], work, "mnist")
        centre = rng.uniform(0, 1, 784)
        box = write_box(work / "mnist.vnnlib", np.clip(centre - 0.02, 0, 1), np.clip(centre + 0.02, 0, 1), 10)
        cases.append(("mnist 784-256x2-10, L∞ 0.02", a, b, box, "top1"))
    run_table(cases, o.exe, o.timeout, o.certify, work)


def run_table(cases: list, exes: list[str], timeout: float, certify: bool, work: Path) -> None:
    """Print a markdown row per (case, executable): cases are (label, A, B, box, mode), exes NAME=PATH; with
    `certify` the last executable's unsat verdicts are certified and checked."""
    print("| pair | mode | engine version | verdict | by | wall s | its engine s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for label, a, b, box, mode in cases:
        for i, spec in enumerate(exes):
            name, exe = spec.split("=", 1)
            cert = work / "c.json" if certify and i == len(exes) - 1 else None
            r = run(exe, a, b, box, mode, timeout, cert)
            extra = f"; check: {check(exe, cert, a, b)}" if cert is not None and r["status"] == "unsat" else ""
            phase = "–" if r["phase"] is None else f"{r['phase']:.1f}"
            print(f"| {label} | {mode} | {name} | {r['status']}{extra} | {r['engine']} | {r['wall']:.1f} | {phase} | "
                  f"{r['rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
