"""Issue 15's performance goals, before and after, side by side from ONE run.

"before" is the package as of a git revision (default: the merge base of HEAD and main), exported with
`git archive` into a temporary directory; "after" is this checkout. Every measurement runs in a fresh child
process (`perf.py --probe TASK`) with one of the two trees first on PYTHONPATH, the two trees interleaved, best
of --repeat; times are CPU seconds (user + system, all threads) because the machine may be shared.

Measured (planted 8-hidden-layer ReLU MLPs, float32 ONNX, 50% of every hidden layer duplicates or 2^k multiples):
  reduce     in-process: the loaded float32 arrays -> exact IR -> lumpcheck.reduce, against
             * numpy:  one plain numpy pass over the weights (per layer W.sum(axis=1, dtype=float64): every weight
                       read once, one float64 value per neuron out) -- goal reduce <= 5x numpy, linear in weights;
             * load:   onnx.load + numpy_helper.to_array of every initializer, in-process;
  CLI        `lumpcheck reduce M -o OUT` against a process that only loads (python -c: onnx.load + to_array);
             peak RSS of the CLI against the float32 model size -- goal <= 2x;
  check      `checker.check` CPU against `prove.prover.prove` CPU for the same reduction, at widths 256 and 1024
             and on ACAS Xu 1_1 with prop_3's box (domain reduction) -- goal check <= 0.5x prove;
  verify     `verify(A, B, engines=('lumping-match',))`, B = A with hidden neurons permuted and scaled by 2^k --
             goal <= 3 s at width 256, <= 15 s at 1024;
  e2e        8 x 4096: `lumpcheck reduce --certify` then `lumpcheck check`, CPU and peak RSS.
Peak RSS is the kernel's ru_maxrss of the child, which starts from the parent's peak at fork: models are built in
children, so the parent (and that floor) stays small.
For comparison (issue 15, measured once, not re-run here): the only public implementation of the paper,
LucaDeano/Lumpability, was 30-105x slower than lumpcheck at widths 64-512, and gave wrong outputs.

Run: python benchmarks/perf.py [--quick] [--before REV] [--widths 512,1024,2048,4096] [--no-e2e] [--only SECTIONS]
[--reps N] [--json OUT]. Not run by default: acas_reps (ACAS prove/check, N pairs in each of two children per tree,
medians) and nnet (every ACAS Xu .nnet and .onnx file read; 1_1 + prop_3 in both formats, reduce --certify and check).
Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT.parent / "shared" / "zoo"
ACAS_NET = ZOO / "marabou" / "resources" / "onnx" / "acasxu" / "ACASXU_experimental_v2a_1_1.onnx"
ACAS_PROP = ZOO / "vnncomp2021" / "benchmarks" / "acasxu" / "prop_3.vnnlib"
ACAS_NNET_DIR = ZOO / "marabou" / "resources" / "nnet" / "acasxu"
HIDDEN = 8


# ---------------------------------------------------------------- child side: one measurement, JSON on stdout


def _cpu() -> float:
    return time.process_time()


def probe_reduce(path: str, repeat: int) -> dict:
    """In-process: load floor, numpy floor and conversion + reduce, interleaved, best of `repeat`."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from lumpcheck import Layer, Network, reduce
    from lumpcheck.ir.activation import IDENTITY, RELU

    best = {"load": 1e9, "numpy": 1e9, "reduce": 1e9}
    kept = None
    for _ in range(repeat):
        t0 = _cpu()
        model = onnx.load(path)
        arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        t1 = _cpu()
        layers = [(arrays[f"W{k}"], arrays[f"b{k}"]) for k in range(len(arrays) // 2)]
        del model, arrays
        t2 = _cpu()
        for w, _ in layers:
            w.sum(axis=1, dtype=np.float64)
        t3 = _cpu()
        last = len(layers) - 1
        net = Network([Layer(w, b, RELU if k < last else IDENTITY) for k, (w, b) in enumerate(layers)])
        red = reduce(net)
        t4 = _cpu()
        kept = red.network.widths
        best = {k: min(best[k], v) for k, v in (("load", t1 - t0), ("numpy", t3 - t2), ("reduce", t4 - t3))}
        del net, red, layers
    return {**best, "kept": kept}


def probe_prove_check(path: str, out_dir: str, domain: str | None) -> dict:
    """Reduce (with the box for a domain reduction), write the quotient, then prove() and check(), CPU each."""
    from lumpcheck.apps.pipeline import run_reduction
    from lumpcheck.checker import check
    from lumpcheck.prove.prover import prove
    from lumpcheck.prove.records import write_certificate

    out = Path(out_dir)
    reduced, cert_path = out / "reduced.onnx", out / "cert.json"
    kw = {} if domain is None else {"domain_path": domain, "domain_space": "normalized"}
    res = run_reduction(path, reduced, **kw)
    t0 = _cpu()
    cert = prove(path, reduced, res.reduction, domain=res.reduction.domain)
    t1 = _cpu()
    write_certificate(cert, cert_path)
    t2 = _cpu()
    checked = check(cert_path, path, reduced)
    t3 = _cpu()
    exact_only = check(cert_path, path, reduced, solver_check="none")  # no z3 re-check sample of the identities
    t4 = _cpu()
    return {"prove": t1 - t0, "check": t3 - t2, "check_exact": t4 - t3, "verdict": str(cert.verdict),
            "valid": checked.valid and exact_only.valid}


def probe_acas_reps(path: str, out_dir: str, domain: str, reps: int) -> dict:
    """ACAS with its box: reduce once, then `reps` times prove() and check() in turn, CPU each (the medians are
    steadier than one run under load). The first check parses the certificate's rationals cold, later ones warm."""
    from lumpcheck.apps.pipeline import run_reduction
    from lumpcheck.checker import check
    from lumpcheck.prove.prover import prove
    from lumpcheck.prove.records import write_certificate

    out = Path(out_dir)
    reduced, cert_path = out / "reduced.onnx", out / "cert.json"
    res = run_reduction(path, reduced, domain_path=domain, domain_space="normalized")
    proves, checks, valid = [], [], True
    for _ in range(reps):
        t0 = _cpu()
        cert = prove(path, reduced, res.reduction, domain=res.reduction.domain)
        t1 = _cpu()
        write_certificate(cert, cert_path)
        t2 = _cpu()
        valid = check(cert_path, path, reduced).valid and valid
        checks.append(_cpu() - t2)
        proves.append(t1 - t0)
    return {"prove": proves, "check": checks, "valid": valid}


def probe_nnet(nnet_dir: str, onnx_dir: str, domain: str, out_dir: str) -> dict:
    """Every ACAS Xu .nnet file read (exact rationals from decimal text) and every ONNX copy loaded, CPU in total; then
    1_1 with the box, both formats: reduce --certify (run_reduction) and check, CPU each."""
    from lumpcheck.apps.pipeline import run_reduction
    from lumpcheck.checker import check
    from lumpcheck.io import load_model

    nnets, onnxs = sorted(Path(nnet_dir).glob("*.nnet")), sorted(Path(onnx_dir).glob("*.onnx"))
    t0 = _cpu()
    for f in nnets:
        load_model(f)
    t1 = _cpu()
    for f in onnxs:
        load_model(f)
    t2 = _cpu()
    row = {"files": len(nnets), "nnet_read": (t1 - t0) / len(nnets), "onnx_files": len(onnxs),
           "onnx_read": (t2 - t1) / len(onnxs)}
    for fmt, model in (("nnet", Path(nnet_dir) / "ACASXU_experimental_v2a_1_1.nnet"),
                       ("onnx", Path(onnx_dir) / "ACASXU_experimental_v2a_1_1.onnx")):
        out, cert = Path(out_dir) / f"reduced_{fmt}{model.suffix}", Path(out_dir) / f"cert_{fmt}.json"
        t0 = _cpu()
        res = run_reduction(model, out, domain_path=domain, cert_path=cert, domain_space="normalized")
        t1 = _cpu()
        ok = check(cert, model, out).valid
        row[fmt] = {"reduce_prove": t1 - t0, "check": _cpu() - t1, "certified": res.verdict == "proved" and ok}
    return row


def probe_verify(a_path: str, b_path: str) -> dict:
    from lumpcheck.equivalence.engine import verify
    from lumpcheck.equivalence.mode import STRICT
    from lumpcheck.io import load_model

    a, b = load_model(a_path), load_model(b_path)
    t0 = _cpu()
    res = verify(a, b, None, STRICT, 3600.0, engines=("lumping-match",))
    return {"verify": _cpu() - t0, "status": str(res.status)}


def probe_make(path: str, width: int, seed: int, permuted_path: str | None = None) -> dict:
    """Write a planted model (and, if asked, its permuted copy): done in a child so that the parent stays small
    (a child's peak RSS as the kernel reports it starts from its parent's peak at fork)."""
    layers = planted(width, seed)
    save(layers, Path(path))
    if permuted_path:
        save(permuted_copy(layers, seed=width), Path(permuted_path))
    return {"f32": sum(w.nbytes + b.nbytes for w, b in layers) / 2**20, "weights": sum(w.size + b.size for w, b in layers)}


def probe(task: dict) -> dict:
    kind = task.pop("kind")
    return {"reduce": probe_reduce, "prove_check": probe_prove_check, "verify": probe_verify,
            "make": probe_make, "acas_reps": probe_acas_reps, "nnet": probe_nnet}[kind](**task)


# ---------------------------------------------------------------- parent side: models, trees, children


def planted(width: int, seed: int):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from lumping_speed import planted_mlp

    return planted_mlp(width, HIDDEN, seed)


def save(layers, path: Path) -> None:
    from lumping_speed import save_onnx

    save_onnx(layers, path)


def permuted_copy(layers, seed: int):
    """The same function: hidden neurons permuted and scaled by 2^k (k in -2..2), undone in the next layer."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out, prev_perm, prev_scale = [], None, None
    for k, (w, b) in enumerate(layers):
        w, b = w.copy(), b.copy()
        if prev_perm is not None:
            w = w[:, prev_perm] / prev_scale[None, :]
        if k < len(layers) - 1:
            perm = rng.permutation(w.shape[0])
            scale = (2.0 ** rng.integers(-2, 3, size=w.shape[0])).astype(np.float32)
            w, b = w[perm] * scale[perm, None], b[perm] * scale[perm]
            prev_perm, prev_scale = perm, scale[perm]  # v_b[i] = scale[perm[i]] · v_a[perm[i]]
        out.append((w.astype(np.float32), b.astype(np.float32)))
    return out


PYCACHE: Path | None = None  # compiled modules are cached (as in an installed package), outside both trees


def environment(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if PYCACHE is not None:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def child(tree: Path, task: dict, timeout: float) -> dict:
    env = environment(tree)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", json.dumps(task)]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=tree)
    except subprocess.TimeoutExpired:
        return {"error": f">{timeout:.0f}s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measured(argv: list[str], tree: Path, timeout: float) -> dict:
    """CPU seconds and peak RSS (MiB) of one process, with `tree` first on PYTHONPATH."""
    env = environment(tree)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            return {"error": f">{timeout:.0f}s"}
        time.sleep(0.05)
    err = proc.stderr.read().decode(errors="replace").strip()
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": err.splitlines()[-1] if err else f"status {status}"}
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": time.perf_counter() - start, "rss": usage.ru_maxrss / 1024}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "lumpcheck.apps.cli", *args]


LOAD_ONLY = ("import sys, onnx; from onnx import numpy_helper; m = onnx.load(sys.argv[1]); "
             "[numpy_helper.to_array(i) for i in m.graph.initializer]")


def make(path: Path, width: int, seed: int, permuted: Path | None = None) -> dict:
    task = {"kind": "make", "path": str(path), "width": width, "seed": seed,
            "permuted_path": None if permuted is None else str(permuted)}
    made = child(ROOT, task, 3600.0)
    if "error" in made:
        raise RuntimeError(f"building the {width}-wide model failed: {made['error']}")
    return made


def export_tree(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "lumpcheck"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    if (into / "lumpcheck" / "ir" / "exact_loops.c").exists():  # that revision's compiled loops, built as setup.py does
        subprocess.run([sys.executable, "-c", BUILD_EXTENSION], cwd=into, check=True, capture_output=True)
    return into


BUILD_EXTENSION = """
from setuptools import Distribution, Extension
ext = Extension("lumpcheck.ir.exact_loops", ["lumpcheck/ir/exact_loops.c"],
                extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-finite-math-only"])
dist = Distribution({"name": "lumpcheck-before", "ext_modules": [ext]})
cmd = dist.get_command_obj("build_ext")
cmd.inplace = True
dist.run_command("build_ext")
"""


def best(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return min(values) if values else None


# ---------------------------------------------------------------- the run


def table(title: str, header: tuple[str, ...], lines: list[tuple]) -> None:
    cells = [header] + [tuple(_fmt(v) for v in line) for line in lines]
    sizes = [max(len(c[i]) for c in cells) for i in range(len(header))]
    print(f"\n{title}")
    for c in cells:
        print("  ".join(v.rjust(n) for v, n in zip(c, sizes)))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def run_reduce(trees: dict, widths: list[int], tmp: Path, repeat: int, timeout: float) -> list[dict]:
    rows = []
    for width in widths:
        path = tmp / f"mlp_{width}.onnx"
        made = make(path, width, width)
        f32, weights = made["f32"], made["weights"]
        row: dict = {"width": width, "weights": weights, "f32": f32}
        for name, tree in trees.items():
            row[name] = child(tree, {"kind": "reduce", "path": str(path), "repeat": repeat}, timeout)
            runs = [measured(cli("reduce", str(path), "-o", str(tmp / f"out_{name}.onnx")), tree, timeout)
                    for _ in range(repeat)]
            row[name]["cli"], row[name]["rss"] = best(runs, "cpu"), best(runs, "rss")
            if "cpu" not in runs[0]:
                row[name]["cli_error"] = runs[0].get("error")
        loads = [measured([sys.executable, "-c", LOAD_ONLY, str(path)], ROOT, timeout) for _ in range(repeat)]
        row["load_process"], row["load_rss"] = best(loads, "cpu"), best(loads, "rss")
        rows.append(row)
        print(f"  reduce width {width} done", flush=True)
        path.unlink()
    return rows


def run_prove_check(trees: dict, widths: list[int], tmp: Path, timeout: float) -> list[dict]:
    cases = []
    for width in widths:
        path = tmp / f"pc_{width}.onnx"
        make(path, width, width)
        cases.append((f"planted {HIDDEN}x{width}", path, None))
    if ACAS_NET.is_file() and ACAS_PROP.is_file():
        cases.append(("ACAS 1_1 + prop_3 box", ACAS_NET, str(ACAS_PROP)))
    else:
        print(f"  (ACAS Xu skipped: {ACAS_NET} not found)")
    rows = []
    for label, path, domain in cases:
        row: dict = {"case": label}
        for name, tree in trees.items():
            out = tmp / f"pc_{name}"
            out.mkdir(exist_ok=True)
            row[name] = child(tree, {"kind": "prove_check", "path": str(path), "out_dir": str(out), "domain": domain},
                              timeout)
        rows.append(row)
        print(f"  prove/check {label} done", flush=True)
    return rows


def run_verify(trees: dict, widths: list[int], tmp: Path, timeout: float) -> list[dict]:
    rows = []
    for width in widths:
        a, b = tmp / f"va_{width}.onnx", tmp / f"vb_{width}.onnx"
        make(a, width, width + 1, b)
        row: dict = {"width": width}
        for name, tree in trees.items():
            row[name] = child(tree, {"kind": "verify", "a_path": str(a), "b_path": str(b)}, timeout)
        rows.append(row)
        print(f"  verify width {width} done", flush=True)
    return rows


def run_acas_reps(trees: dict, reps: int, tmp: Path, timeout: float) -> list[dict]:
    """Each tree in its own child, twice, interleaved (before, after, before, after): `reps` prove/check pairs each."""
    if not (ACAS_NET.is_file() and ACAS_PROP.is_file()):
        print(f"  (ACAS Xu skipped: {ACAS_NET} not found)")
        return []
    rows = []
    for rnd in range(2):
        for name, tree in trees.items():
            out = tmp / f"reps_{name}_{rnd}"
            out.mkdir(exist_ok=True)
            task = {"kind": "acas_reps", "path": str(ACAS_NET), "out_dir": str(out), "domain": str(ACAS_PROP),
                    "reps": reps}
            rows.append({"tree": name, "round": rnd, **child(tree, task, timeout)})
        print(f"  ACAS reps round {rnd + 1} done", flush=True)
    return rows


def run_nnet(trees: dict, tmp: Path, timeout: float) -> list[dict]:
    if not (ACAS_NNET_DIR.is_dir() and ACAS_PROP.is_file()):
        print(f"  (.nnet skipped: {ACAS_NNET_DIR} not found)")
        return []
    rows = []
    for name, tree in trees.items():
        out = tmp / f"nnet_{name}"
        out.mkdir(exist_ok=True)
        task = {"kind": "nnet", "nnet_dir": str(ACAS_NNET_DIR), "onnx_dir": str(ACAS_NET.parent),
                "domain": str(ACAS_PROP), "out_dir": str(out)}
        rows.append({"tree": name, **child(tree, task, timeout)})
    print("  .nnet done", flush=True)
    return rows


def run_e2e(trees: dict, width: int, tmp: Path, timeout: float) -> list[dict]:
    path = tmp / f"e2e_{width}.onnx"
    make(path, width, width)
    rows = []
    for name, tree in trees.items():
        out, cert = tmp / f"e2e_{name}.onnx", tmp / f"e2e_{name}.json"
        red = measured(cli("reduce", str(path), "-o", str(out), "--certify", str(cert)), tree, timeout)
        chk = measured(cli("check", str(cert), str(path), str(out)), tree, timeout) if "cpu" in red else {}
        rows.append({"tree": name, "reduce": red, "check": chk})
        print(f"  e2e {name} done", flush=True)
    return rows


def report(rev: str, red: list[dict], pc: list[dict], ver: list[dict], e2e: list[dict], e2e_width: int) -> None:
    print(f"\nbefore = {rev} (git archive), after = this checkout; CPU seconds (user+sys), best of the runs")
    lines = []
    for r in red:
        b, a = r["before"], r["after"]
        lines.append((r["width"], r["weights"], r["f32"], r["after"].get("numpy"), b.get("reduce"), a.get("reduce"),
                      ratio(b.get("reduce"), r["before"].get("numpy")), ratio(a.get("reduce"), a.get("numpy")),
                      1e9 * a["reduce"] / r["weights"] if "reduce" in a else None,
                      ratio(b.get("reduce"), b.get("load")), ratio(a.get("reduce"), a.get("load"))))
    table("reduce in-process (float32 arrays -> IR -> reduce) vs one numpy pass and vs onnx.load; goal <= 5x numpy",
          ("width", "weights", "f32 MiB", "numpy s", "before s", "after s", "before/numpy", "after/numpy",
           "after ns/w", "before/load", "after/load"), lines)
    lines = []
    for r in red:
        b, a = r["before"], r["after"]
        lines.append((r["width"], r["load_process"], b.get("cli"), a.get("cli"), ratio(b.get("cli"), r["load_process"]),
                      ratio(a.get("cli"), r["load_process"]), b.get("rss"), a.get("rss"), r["load_rss"],
                      ratio(b.get("rss"), r["f32"]), ratio(a.get("rss"), r["f32"])))
    table("CLI `lumpcheck reduce` vs a load-only process; peak RSS vs float32 model size (goal <= 2x)",
          ("width", "load-only s", "before s", "after s", "before/load", "after/load", "before MiB", "after MiB",
           "load MiB", "before rss/f32", "after rss/f32"), lines)
    lines = []
    for r in pc:
        b, a = r["before"], r["after"]
        lines.append((r["case"], b.get("prove"), b.get("check"), ratio(b.get("check"), b.get("prove")), a.get("prove"),
                      a.get("check"), ratio(a.get("check"), a.get("prove")),
                      ratio(b.get("check_exact"), b.get("prove")), ratio(a.get("check_exact"), a.get("prove")),
                      f"{b.get('verdict', b.get('error'))}/{b.get('valid')}", f"{a.get('verdict', a.get('error'))}/{a.get('valid')}"))
    table("check vs prove (CPU s); goal check <= 0.5x prove (exact-only: check with solver_check='none', z3 still "
          "decides the activation lemmas)",
          ("case", "before prove", "before check", "before ratio", "after prove", "after check", "after ratio",
           "before exact-only ratio", "after exact-only ratio", "before", "after"), lines)
    lines = [(r["width"], r["before"].get("verify", r["before"].get("error")), r["after"].get("verify", r["after"].get("error")),
              ratio(r["before"].get("verify"), r["after"].get("verify")), r["before"].get("status"), r["after"].get("status"))
             for r in ver]
    table("verify by lumping-match (CPU s); goal <= 3 s at 256, <= 15 s at 1024",
          ("width", "before s", "after s", "speed-up", "before", "after"), lines)
    if e2e:
        lines = [(r["tree"], r["reduce"].get("cpu", r["reduce"].get("error")), r["reduce"].get("wall"), r["reduce"].get("rss"),
                  r["check"].get("cpu", r["check"].get("error")), r["check"].get("wall"), r["check"].get("rss")) for r in e2e]
        table(f"{HIDDEN}x{e2e_width} end to end: `reduce --certify` then `check`",
              ("tree", "reduce+certify CPU s", "wall s", "peak MiB", "check CPU s", "wall s", "peak MiB"), lines)


def report_acas_nnet(reps: list[dict], nnet: list[dict]) -> None:
    import statistics

    lines = []
    for name in ("before", "after"):
        runs = [r for r in reps if r["tree"] == name and "prove" in r]
        if not runs:
            continue
        prove = [p for r in runs for p in r["prove"]]
        check = [c for r in runs for c in r["check"]]
        per = sorted(c / p for c, p in zip(check, prove))
        lines.append((name, len(per), statistics.median(prove), statistics.median(check),
                      statistics.median(check) / statistics.median(prove), statistics.median(per), per[0], per[-1],
                      all(r["valid"] for r in runs)))
    if lines:
        table("ACAS 1_1 + prop_3 box, prove() and check() in-process, medians over the reps (two children per tree); "
              "goal check <= 0.5x prove",
              ("tree", "reps", "prove s", "check s", "check/prove (medians)", "median of ratios", "min ratio",
               "max ratio", "valid"), lines)
    lines = []
    for r in nnet:
        if "nnet_read" not in r:
            lines.append((r["tree"], r.get("error")))
            continue
        n, o = r["nnet"], r["onnx"]
        lines.append((r["tree"], r["files"], r["nnet_read"], r["onnx_read"], ratio(r["nnet_read"], r["onnx_read"]),
                      n["reduce_prove"], o["reduce_prove"], ratio(n["reduce_prove"], o["reduce_prove"]), n["check"],
                      o["check"], ratio(n["check"], o["check"]), f"{n['certified']}/{o['certified']}"))
    if lines:
        table("ACAS Xu .nnet vs .onnx: CPU s per file read (all files), then 1_1 + prop_3 reduce --certify and check",
              ("tree", "files", ".nnet read", ".onnx read", "ratio", ".nnet reduce+prove", ".onnx reduce+prove",
               "ratio", ".nnet check", ".onnx check", "ratio", "certified"), lines)


def main() -> None:
    global PYCACHE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="git revision for 'before' (default: merge base of HEAD and main)")
    ap.add_argument("--widths", default="512,1024,2048,4096", help="widths for the reduce tables")
    ap.add_argument("--check-widths", default="256,1024", help="widths for check vs prove")
    ap.add_argument("--verify-widths", default="256,1024", help="widths for verify")
    ap.add_argument("--e2e-width", type=int, default=4096, help="width of the end-to-end run")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end run")
    ap.add_argument("--only", default="reduce,prove_check,verify,e2e",
                    help="comma-separated sections to run (reduce, prove_check, verify, e2e, and two not run by "
                         "default: acas_reps, nnet); the others print empty")
    ap.add_argument("--reps", type=int, default=12, help="prove/check pairs per child in acas_reps")
    ap.add_argument("--quick", action="store_true", help="widths 256,512; no e2e; one run each")
    ap.add_argument("--repeat", type=int, default=2, help="runs per reduce measurement (best is kept)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per child process")
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        print(json.dumps(probe(json.loads(args.probe))))
        return
    if args.quick:
        args.widths, args.check_widths, args.verify_widths, args.no_e2e, args.repeat = "256,512", "256", "256", True, 1
    rev = args.before or subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True,
                                        text=True, check=True).stdout.strip()
    ints = lambda text: [int(w) for w in text.split(",") if w]  # noqa: E731
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        PYCACHE = tmp / "pycache"
        trees = {"before": export_tree(rev, tmp / "before"), "after": ROOT}
        for tree in trees.values():  # compile once, as an installed package would be
            measured(cli("--help"), tree, args.timeout)
        done: dict = {"before": rev, "reduce": [], "prove_check": [], "verify": [], "e2e": [], "acas_reps": [],
                      "nnet": []}

        def save_so_far(key: str, rows: list[dict]) -> list[dict]:
            done[key] = rows
            if args.json:  # after every section: a run cut short keeps what it measured
                Path(args.json).write_text(json.dumps(done, indent=1))
            return rows

        only, known = set(args.only.split(",")), {"reduce", "prove_check", "verify", "e2e", "acas_reps", "nnet"}
        if only - known:
            ap.error(f"--only: unknown sections {sorted(only - known)}")
        red = save_so_far("reduce", run_reduce(trees, ints(args.widths) if "reduce" in only else [], tmp, args.repeat,
                                               args.timeout))
        pc = save_so_far("prove_check", run_prove_check(trees, ints(args.check_widths), tmp, args.timeout)
                         if "prove_check" in only else [])
        ver = save_so_far("verify", run_verify(trees, ints(args.verify_widths) if "verify" in only else [], tmp,
                                               args.timeout))
        e2e = save_so_far("e2e", run_e2e(trees, args.e2e_width, tmp, args.timeout)
                          if "e2e" in only and not args.no_e2e else [])
        reps = save_so_far("acas_reps", run_acas_reps(trees, args.reps, tmp, args.timeout) if "acas_reps" in only else [])
        nnet = save_so_far("nnet", run_nnet(trees, tmp, args.timeout) if "nnet" in only else [])
    report(rev[:12], red, pc, ver, e2e, args.e2e_width)
    report_acas_nnet(reps, nnet)


if __name__ == "__main__":
    main()
