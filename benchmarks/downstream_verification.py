"""Why users care: verifying an ACAS Xu property on the domain-reduced network is faster, with the same verdict.

For a handful of (network, property) instances: z3 decides the VNN-LIB query (inputs in the property's
boxes, outputs in its unsafe region: sat = counterexample, unsat = property holds) on the original network
and on the reduced file that `lumpcheck reduce --domain` writes (pipeline.run_reduction: exact on the boxes'
hull, certifiable; so the verdict must agree), and on `reduce_on_domain`'s folded quotient (its rational
weights fit no float file: z3 gets it exactly, Marabou as float64, rounded, which Marabou does anyway).
Encodings are exact (encode.py), ReLUs fixed where each net's own symbolic bounds prove them stable; the
original is also run without bounds. With maraboupy installed (and not --no-marabou), Marabou decides the
same query on the ONNX files. Ratios: original (with bounds) time / reduced time.
Run: python benchmarks/downstream_verification.py [--instances 1_1:prop_3 ...] [--timeout S] [--no-marabou]
     [--json out.json]. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import z3

from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.bounds import symbolic_bounds
from lumpcheck.equivalence.encode import encode_network, real
from lumpcheck.io import load_model, save_model
from lumpcheck.io.atomic import write_text_atomic
from lumpcheck.io.vnnlib import VnnlibSpec, domain_box, read_vnnlib
from lumpcheck.ir.network import Network
from lumpcheck.reduction.domain import reduce_on_domain

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "zoo"
ACAS = ZOO / "vnncomp2021" / "benchmarks" / "acasxu"
ACAS_ONNX = ZOO / "marabou" / "resources" / "onnx" / "acasxu"
DEFAULT = ["4_5:prop_3", "3_4:prop_4", "1_1:prop_4", "2_1:prop_2", "2_3:prop_3", "5_9:prop_4", "1_1:prop_3", "3_3:prop_9"]
_OPS = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, "=": lambda a, b: a == b}


def z3_query(net: Network, spec: VnnlibSpec, use_bounds: bool, timeout: float) -> tuple[str, float]:
    """(verdict, seconds) of the VNN-LIB query on `net`: sat (counterexample), unsat, or timeout/unknown."""
    x = [z3.Real(f"x_{i}") for i in range(net.input_size)]
    bounds = symbolic_bounds(net, domain_box(spec)) if use_bounds else None
    y, _, _ = encode_network(net, x, bounds)
    solver = z3.SolverFor("QF_LRA")
    solver.set("timeout", int(timeout * 1000))
    solver.add(z3.Or([z3.And([v >= real(lo) for v, lo in zip(x, b.lower)] + [v <= real(hi) for v, hi in zip(x, b.upper)])
                      for b in spec.boxes]))
    solver.add(z3.Or([z3.And([_OPS[a.op](z3.Sum([real(c) * yi for c, yi in zip(a.coeffs, y) if c]), real(a.bound))
                              for a in conj]) for conj in spec.output_dnf]))
    t = time.perf_counter()
    answer = solver.check()
    seconds = time.perf_counter() - t
    return (str(answer) if answer != z3.unknown else solver.reason_unknown()), seconds


def marabou_query(onnx_path: Path, prop: Path, timeout: float) -> tuple[str, float]:
    """(verdict, seconds) of Marabou on an ONNX file and a VNN-LIB property."""
    from maraboupy import Marabou

    with _silenced():
        net = Marabou.read_onnx(str(onnx_path))
        options = Marabou.createOptions(timeoutInSeconds=int(timeout), verbosity=0)
        t = time.perf_counter()
        verdict, _, _ = net.solve(verbose=False, options=options, propertyFilename=str(prop))
    return verdict, time.perf_counter() - t


@contextlib.contextmanager
def _silenced():
    """Discard stdout at the file-descriptor level (Marabou's C++ core prints there)."""
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _cells(results: dict[str, tuple[str, float]], base: str) -> str:
    """'verdict seconds' per query, then base-time / reduced-time ratios for file and folded."""
    cells = " ".join(f"{v} {t:.2f}s" for v, t in results.values())
    ratios = " ".join(f"{results[base][1] / max(results[k][1], 1e-6):.1f}x" for k in ("file", "folded"))
    return f"{cells} | {ratios}"


def have_marabou() -> bool:
    try:
        import maraboupy  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", nargs="*", default=DEFAULT, help="NET:PROP pairs, e.g. 1_1:prop_3")
    ap.add_argument("--timeout", type=float, default=30.0, help="z3 seconds per query")
    ap.add_argument("--marabou-timeout", type=float, default=300.0, help="Marabou seconds per query")
    ap.add_argument("--no-marabou", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    marabou = have_marabou() and not args.no_marabou
    rows = []
    print(f"{'instance':>12} {'neurons':>12} | z3: orig, orig+bounds, file, folded | ratios"
          + (" | Marabou: orig, file, folded | ratios" if marabou else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for inst in args.instances:
            name, prop_name = inst.split(":")
            model, prop = ACAS_ONNX / f"ACASXU_experimental_v2a_{name}.onnx", ACAS / f"{prop_name}.vnnlib"
            net, spec = load_model(model), read_vnnlib(prop)
            out, folded_out = Path(tmp) / "reduced.onnx", Path(tmp) / "folded.onnx"
            run_reduction(model, out, domain_path=prop)
            small, folded = load_model(out), reduce_on_domain(net, domain_box(spec)).network
            row = {"instance": inst, "neurons": net.hidden_neurons, "file_neurons": small.hidden_neurons,
                   "folded_neurons": folded.hidden_neurons}
            row["z3"] = {"orig": z3_query(net, spec, False, args.timeout), "orig_bounds": z3_query(net, spec, True, args.timeout),
                         "file": z3_query(small, spec, True, args.timeout), "folded": z3_query(folded, spec, True, args.timeout)}
            line = f"{inst:>12} {net.hidden_neurons}->{small.hidden_neurons}/{folded.hidden_neurons:<3} | "
            line += _cells(row["z3"], "orig_bounds")
            if marabou:
                save_model(folded, folded_out, dtype="float64")
                row["marabou"] = {key: marabou_query(path, prop, args.marabou_timeout)
                                  for key, path in (("orig", model), ("file", out), ("folded", folded_out))}
                line += " | " + _cells(row["marabou"], "orig")
            verdicts = {v for engine in ("z3", "marabou") for v, _ in row.get(engine, {}).values() if v in ("sat", "unsat")}
            row["agree"] = len(verdicts) <= 1
            print(line + ("" if row["agree"] else "   VERDICTS DISAGREE"), flush=True)
            rows.append(row)
    if args.json:
        write_text_atomic(args.json, json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
