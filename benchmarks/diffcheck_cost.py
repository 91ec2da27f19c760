"""What checking a differential certificate costs against the search that made it (issue 16: at most 20%).

For each ACAS pair given (net, property, copy, mode; copies as in diffverify_pairs.py), one search
(verify_pair, 2 worker processes, 100 s), then its certificate checked in fresh processes, one after the other:
'new' = this tree's checker with --jobs (default 2: as many processes as the search), and, with --baseline DIR, the
checker of an older lumpcheck package in DIR (e.g. `git archive <commit> lumpcheck | tar -x -C DIR`) in one
process. Reported per instance: search wall and CPU (master + workers), each check's wall and CPU (caller +
workers), and the ratios. Each check runs in its own process (imports excluded from its times).

Run: python benchmarks/diffcheck_cost.py 5_6:prop_1:mag10:epsilon=0.5 4_9:prop_3:mag5:argmin [--baseline DIR]
     [--jobs 2] [--jsonl out.jsonl]. Not a test.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads, in every child too
    os.environ.setdefault(_var, "1")

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diffverify_pairs import ACAS, ACAS_ONNX, VARIANTS

CHECK = """
import json, pickle, resource, sys, time
from lumpcheck.checker.difference import check_certificate
a, b, cert = pickle.load(open(sys.argv[1], "rb"))
kw = {} if sys.argv[2] == "0" else {"jobs": int(sys.argv[2])}
def kids():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
t, c, k = time.monotonic(), time.process_time(), kids()
res = check_certificate(cert, a, b, **kw)
print(json.dumps({"valid": res.valid, "wall_s": time.monotonic() - t, "cpu_s": time.process_time() - c + kids() - k}))
"""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def search(spec: str, timeout: float) -> tuple:
    from lumpcheck.equivalence.pair import verify_pair
    from lumpcheck.io import load_model
    from lumpcheck.io.vnnlib import read_box

    net, prop, variant, mode = spec.split(":")
    a = load_model(ACAS_ONNX / f"ACASXU_experimental_v2a_{net}.onnx")
    b = VARIANTS[variant](a)
    t, cpu, kids = time.monotonic(), time.process_time(), _children_cpu()
    res = verify_pair(a, b, read_box(ACAS / f"{prop}.vnnlib"), mode, timeout, workers=2, memory_mb=2048)
    row = {"instance": spec, "status": str(res.status), "search_wall_s": time.monotonic() - t,
           "search_cpu_s": time.process_time() - cpu + _children_cpu() - kids, "leaves": res.stats.get("leaves", 0)}
    return row, (a, b, res.certificate)


def check(path: str, jobs: int, package_dir: str | None) -> dict:
    env = dict(os.environ)
    if package_dir:
        env["PYTHONPATH"] = package_dir  # the older package shadows the installed one
    out = subprocess.run([sys.executable, "-c", CHECK, path, str(jobs)], capture_output=True, text=True, env=env,
                         cwd=tempfile.gettempdir(), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("instances", nargs="+", help="NET:PROPERTY:COPY:MODE, e.g. 5_6:prop_1:mag10:epsilon=0.5")
    ap.add_argument("--baseline", help="a directory holding an older lumpcheck package to compare with")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=100.0)
    ap.add_argument("--jsonl", default="diffcheck_cost.jsonl")
    args = ap.parse_args()
    with open(args.jsonl, "a") as out, tempfile.TemporaryDirectory() as tmp:
        for spec in args.instances:
            row, evidence = search(spec, args.timeout)
            if row["status"] == "unsat":
                path = str(Path(tmp) / "cert.pkl")
                with open(path, "wb") as f:
                    pickle.dump(evidence, f)
                row["load"] = os.getloadavg()[0]
                row["new"] = check(path, args.jobs, None)
                if args.baseline:
                    row["base"] = check(path, 0, args.baseline)
                for key in ("new", "base"):
                    if key in row:
                        row[key]["wall_ratio"] = row[key]["wall_s"] / row["search_wall_s"]
                        row[key]["cpu_ratio"] = row[key]["cpu_s"] / row["search_cpu_s"]
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
