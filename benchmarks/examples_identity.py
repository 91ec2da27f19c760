"""Byte-identity of lumpcheck's outputs on examples/ across two checkouts (e.g. before and after a refactor).

    python benchmarks/examples_identity.py produce OUT_DIR [--repo CHECKOUT]   # run the fixed command list
    python benchmarks/examples_identity.py compare DIR_A DIR_B                 # diff, timestamps/timings masked

`produce` copies examples/ into OUT_DIR/work, runs every command there (relative paths, so both runs record the
same paths) with CHECKOUT first on PYTHONPATH (default: this checkout), and keeps every file written plus each
command's exit code, stdout and stderr. `compare` masks only what legitimately changes from run to run (creation
times, seconds, dates, temporary names) and reports every other difference; exit 0 when there is none.
The commands use the CLI only, so they run unchanged against any layout of the package. Every command decides
well within its time budget (a verdict that depends on the machine's speed would make the comparison flaky); run it
on an otherwise idle machine all the same.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CLI = ("import importlib, pathlib, sys\n"
       "import lumpcheck\n"
       "layered = (pathlib.Path(lumpcheck.__file__).parent / 'apps').is_dir()  # the checkout's own layout decides\n"
       "main = importlib.import_module('lumpcheck.apps.cli' if layered else 'lumpcheck.cli').main\n"
       "sys.argv[0] = 'lumpcheck'\n"
       "main()\n")

COMMANDS: list[list[str]] = [
    ["info", "planted_relu.onnx", "--json"],
    ["info", "planted_relu.onnx", "--domain", "box.vnnlib", "--json"],
    ["info", "zoo/nets/ranged.nnet", "--json"],
    ["info", "zoo/nets/ranged.nnet"],
]
for name in ("planted_relu", "planted_tanh", "planted_sigmoid", "near_miss_relu"):
    COMMANDS += [
        ["reduce", f"{name}.onnx", "-o", f"out/{name}.r.onnx", "--certify", f"out/{name}.cert.json",
         "--smtlib", f"out/{name}.smt", "--json"],
        ["reduce", f"{name}.onnx", "-o", f"out/{name}.t.onnx", "--certify", f"out/{name}.t.cert.json"],
        ["check", f"out/{name}.cert.json", f"{name}.onnx", f"out/{name}.r.onnx", "--json"],
        ["check", f"out/{name}.cert.json", f"{name}.onnx", f"out/{name}.r.onnx"],
        ["report", f"out/{name}.cert.json", "-o", f"out/{name}.report.html"],
        ["report", f"out/{name}.cert.json", "-o", f"out/{name}.report.md"],
        ["verify", f"{name}.onnx", f"out/{name}.r.onnx", "--json", "--timeout", "60"],
    ]
COMMANDS += [
    # domain reduction (phase claims) and its refusal to be used off the box
    ["reduce", "planted_relu.onnx", "-o", "out/dom.onnx", "--domain", "box.vnnlib", "--certify", "out/dom.cert.json",
     "--json"],
    ["check", "out/dom.cert.json", "planted_relu.onnx", "out/dom.onnx", "--json"],
    ["report", "out/dom.cert.json", "-o", "out/dom.report.html"],
    ["reduce", "planted_relu.onnx", "-o", "out/nodom.onnx", "--domain", "box.vnnlib", "--no-domain-reduction",
     "--certify", "out/nodom.cert.json", "--json"],
    ["check", "out/nodom.cert.json", "planted_relu.onnx", "out/nodom.onnx"],
    # .nnet with normalisation and clipping, kept / dropped / folded
    ["reduce", "zoo/nets/ranged.nnet", "-o", "out/ranged.nnet", "--certify", "out/ranged.cert.json", "--json"],
    ["check", "out/ranged.cert.json", "zoo/nets/ranged.nnet", "out/ranged.nnet", "--json"],
    ["report", "out/ranged.cert.json", "-o", "out/ranged.report.md"],
    ["reduce", "zoo/nets/ranged.nnet", "-o", "out/ranged_drop.onnx", "--normalization", "drop", "--certify",
     "out/ranged_drop.cert.json", "--json"],
    ["check", "out/ranged_drop.cert.json", "zoo/nets/ranged.nnet", "out/ranged_drop.onnx", "--json"],
    ["reduce", "zoo/nets/ranged.nnet", "-o", "out/ranged_fold.onnx", "--normalization", "fold", "--dtype", "float64",
     "--certify", "out/ranged_fold.cert.json", "--json"],
    ["check", "out/ranged_fold.cert.json", "zoo/nets/ranged.nnet", "out/ranged_fold.onnx", "--json"],
    ["reduce", "zoo/relu_net.onnx", "-o", "out/relu_net.onnx", "--domain", "zoo/props/narrow.vnnlib", "--certify",
     "out/relu_net.cert.json", "--json"],
    ["check", "out/relu_net.cert.json", "zoo/relu_net.onnx", "out/relu_net.onnx", "--json"],
    # ε-certificates: a full-float64 network whose quotient float32 cannot hold, on a box
    ["reduce", "gen_f64.onnx", "-o", "out/gen32.onnx", "--dtype", "float32", "--domain", "gen_box.vnnlib",
     "--certify", "out/gen32.cert.json", "--json"],
    ["check", "out/gen32.cert.json", "gen_f64.onnx", "out/gen32.onnx", "--json"],
    ["report", "out/gen32.cert.json", "-o", "out/gen32.report.html"],
    ["reduce", "gen_sig.onnx", "-o", "out/gensig.onnx", "--dtype", "float32", "--domain", "gen_box.vnnlib",
     "--certify", "out/gensig.cert.json", "--json"],
    ["check", "out/gensig.cert.json", "gen_sig.onnx", "out/gensig.onnx", "--json"],
    ["reduce", "gen_tanh.onnx", "-o", "out/gentanh.onnx", "--dtype", "float32", "--domain", "gen_box.vnnlib",
     "--certify", "out/gentanh.cert.json", "--json"],
    ["check", "out/gentanh.cert.json", "gen_tanh.onnx", "out/gentanh.onnx", "--json"],
    ["approx", "gen_sig.onnx", "--domain", "gen_box.vnnlib", "-t", "0.4", "-o", "out/approx_gensig.onnx", "--json"],
    ["reduce", "gen_f64.onnx", "-o", "out/gen32b.onnx", "--dtype", "float32", "--certify", "out/gen32b.cert.json"],
    # verify: strict, epsilon, top1, counterexamples, on a box and everywhere
    ["verify", "planted_relu.onnx", "near_miss_relu.onnx", "--json", "--timeout", "60"],
    ["verify", "planted_relu.onnx", "near_miss_relu.onnx", "--domain", "box.vnnlib", "--mode", "epsilon=1e-3",
     "--json", "--timeout", "60"],
    ["verify", "planted_relu.onnx", "near_miss_relu.onnx", "--domain", "box.vnnlib", "--mode", "top1", "--json",
     "--timeout", "10"],
    ["verify", "gen_f64.onnx", "out/gen32.onnx", "--domain", "gen_box.vnnlib", "--mode", "epsilon=1/2", "--json"],
    ["verify", "gen_f64.onnx", "out/gen32.onnx", "--domain", "gen_box.vnnlib", "--json", "--timeout", "20"],
    ["verify", "planted_tanh.onnx", "planted_sigmoid.onnx", "--json"],
    # approximate lumping
    ["approx", "planted_relu.onnx", "--domain", "box.vnnlib", "-t", "0.3", "-o", "out/approx.onnx", "--json"],
    ["approx", "planted_tanh.onnx", "--domain", "gen_box.vnnlib", "-t", "0.5", "-o", "out/approx_tanh.onnx", "--json"],
    ["approx", "planted_sigmoid.onnx", "--domain", "gen_box.vnnlib", "-t", "0.5", "-o", "out/approx_sig.onnx",
     "--confirm", "10", "--json"],
    # bad input and refusals (one-line messages, exit codes)
    ["reduce", "planted_relu.onnx", "-o", "planted_relu.onnx"],
    ["check", "out/planted_relu.cert.json", "planted_tanh.onnx", "out/planted_relu.r.onnx"],
    ["reduce", "zoo/broken.onnx", "-o", "out/broken.onnx"],
    # the batch runner
    ["zoo", "zoo", "-o", "out/zoo", "--domain-map", "zoo/instances.csv", "--jobs", "1"],
]


def _gen_network(work: Path, name: str, op: str, factors: list[float]) -> None:
    """NAME.onnx: a 3-8-8-2 net (hidden activation `op`) with full float64 weights and planted multiples by
    `factors` (its quotient is exact in float64 only). Built with onnx alone (no lumpcheck)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(4)
    widths, nodes, inits, x = [3, 8, 8], [], [], "input"
    for i, (fan, width) in enumerate(zip(widths, widths[1:])):
        w, b = rng.standard_normal((width, fan)) / np.sqrt(fan), rng.standard_normal(width) / 10
        for k in range(width * 3 // 5, width):
            base, c = int(rng.integers(width * 3 // 5)), float(rng.choice(factors))
            w[k], b[k] = w[base] * c, b[base] * c
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"z{i}"], transB=1),
                  helper.make_node(op, [f"z{i}"], [f"h{i}"])]
        x = f"h{i}"
    w, b = rng.standard_normal((2, widths[-1])) / np.sqrt(widths[-1]), rng.standard_normal(2) / 10
    inits += [numpy_helper.from_array(w, "w_out"), numpy_helper.from_array(b, "b_out")]
    nodes.append(helper.make_node("Gemm", [x, "w_out", "b_out"], ["output"], transB=1))
    graph = helper.make_graph(nodes, "gen", [helper.make_tensor_value_info("input", TensorProto.DOUBLE, [1, 3])],
                              [helper.make_tensor_value_info("output", TensorProto.DOUBLE, [1, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    onnx.save(model, str(work / f"{name}.onnx"))


def _gen_box(work: Path) -> None:
    """gen_box.vnnlib: [-1, 1]^3."""
    (work / "gen_box.vnnlib").write_text(
        "".join(f"(declare-const X_{i} Real)\n(assert (>= X_{i} -1.0))\n(assert (<= X_{i} 1.0))\n" for i in range(3))
        + "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")


def produce(out: Path, repo: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    work = out / "work"
    shutil.copytree(repo / "examples", work, ignore=shutil.ignore_patterns("__pycache__", "*.py", "third_party"))
    _gen_network(work, "gen_f64", "Relu", [1.0, 2.0, 0.5, 0.25])
    _gen_network(work, "gen_sig", "Sigmoid", [1.0])
    _gen_network(work, "gen_tanh", "Tanh", [1.0, -1.0])
    _gen_box(work)
    (work / "out").mkdir()
    env = {**os.environ, "PYTHONPATH": str(repo), "COLUMNS": "200", "NO_COLOR": "1", "PYTHONHASHSEED": "0"}
    log = []
    for i, args in enumerate(COMMANDS):
        proc = subprocess.run([sys.executable, "-c", CLI, *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=900)
        log.append({"i": i, "args": args, "exit": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr})
        print(f"{i:3d} exit {proc.returncode}: lumpcheck {' '.join(args)}", flush=True)
    (out / "commands.json").write_text(json.dumps(log, indent=1) + "\n")


# What may differ between two runs: times, dates, durations, temporary names, solver timings in text.
_MASKS = [
    (re.compile(r'"(created|finished|started|date)": "[^"]*"'), r'"\1": "<time>"'),
    (re.compile(r'"([a-z_]*seconds|seconds|time|elapsed)": [-0-9.e]+'), r'"\1": <t>'),
    (re.compile(r'"times": \{[^{}]*\}'), '"times": {<t>}'),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?(\+\d\d:\d\d|Z| UTC)?"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)?(e-?\d+)? ?(s|ms|seconds)\b"), "<t>"),
    (re.compile(r"(<td[^>]*>)\d+\.\d+(</td>)"), r"\1<t>\2"),
    (re.compile(r"\b(seconds|seconds_total),?\s*[-0-9.e]+"), r"\1 <t>"),
    (re.compile(r"\.[A-Za-z0-9_.-]+\.[a-z0-9_]{6,12}\.tmp"), "<tmp>"),
    (re.compile(r"(total_seconds|exact_seconds|solver_seconds|seconds)[=:] ?[-0-9.e]+"), r"\1=<t>"),
]
_CSV_TIME_COLUMNS = ("seconds",)


def mask(text: str) -> str:
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def _mask_json(value):
    """Timing and date fields of a JSON document replaced by placeholders (structure kept)."""
    if isinstance(value, dict):
        return {k: ("<t>" if ("seconds" in k or k in ("times", "created", "elapsed")) else _mask_json(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return mask(value) if isinstance(value, str) else value


def _normalised(path: Path, root: Path) -> str:
    data = path.read_bytes().replace(str(root).encode(), b"<root>")
    if path.suffix == ".json":
        try:
            return json.dumps(_mask_json(json.loads(data)), indent=1, sort_keys=False)
        except ValueError:
            pass
    if path.suffix == ".csv":
        lines = data.decode().splitlines()
        header = lines[0].split(",") if lines else []
        drop = [i for i, h in enumerate(header) if h in _CSV_TIME_COLUMNS]
        return "\n".join(",".join("<t>" if i in drop else c for i, c in enumerate(row.split(","))) for row in lines)
    try:
        return mask(data.decode())
    except UnicodeDecodeError:
        return data.hex()


def compare(a: Path, b: Path) -> int:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    problems = [f"only in {a}: {p}" for p in sorted(files_a - files_b)]
    problems += [f"only in {b}: {p}" for p in sorted(files_b - files_a)]
    same_bytes = 0
    for rel in sorted(files_a & files_b):
        pa, pb = a / rel, b / rel
        if pa.read_bytes() == pb.read_bytes():
            same_bytes += 1
            continue
        na, nb = _normalised(pa, a.resolve()), _normalised(pb, b.resolve())
        if na != nb:
            la, lb = na.splitlines(), nb.splitlines()
            first = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
            problems.append(f"differs: {rel} (line {first + 1}: {la[first:first + 1]} vs {lb[first:first + 1]})")
    common = len(files_a & files_b)
    print(f"{common} files in both; {same_bytes} byte-identical, {common - same_bytes} identical after masking "
          f"times/dates, {len(problems)} differences")
    for p in problems:
        print(p)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("produce")
    p.add_argument("out", type=Path)
    p.add_argument("--repo", type=Path, default=HERE)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.cmd == "produce":
        produce(args.out.resolve(), args.repo.resolve())
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
