"""Domain reduction (lumpcheck.domain_reduce) on the VNN-COMP 2021 ACAS Xu and MNIST-FC instances, certified.

Per (network, property) pair of acasxu_instances.csv (nets: Marabou's byte-identical ONNX copies) and of
mnistfc_instances.csv (pairs whose files are in the zoo): hidden neurons and parameters before/after
`reduce_on_domain` on the property's input box (the hull when it has several), the reduction time, and with
--certify the file flow of `lumpcheck reduce --domain ... --certify`: write the quotient, prove it, re-check
the certificate independently (certified = proved and checked valid), with prove/check times. When the
folded quotient's rational weights do not fit the file's float type exactly, that flow certifies the
quotient without linear folding; the 'file' columns show what was written. The folded quotient itself is
proved in memory (prove_networks: same obligations, no file).
Run: python benchmarks/acasxu_domains.py [--subset N] [--mnist N] [--certify] [--bounds auto|interval|symbolic|split]
     [--json out.json]. Not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from lumpcheck.io import load_model
from lumpcheck.io.atomic import write_text_atomic
from lumpcheck.io.vnnlib import read_box
from lumpcheck.reduction.domain import BOUNDS_METHODS, reduce_on_domain

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "zoo"
ACAS = ZOO / "vnncomp2021" / "benchmarks" / "acasxu"
ACAS_ONNX = ZOO / "marabou" / "resources" / "onnx" / "acasxu"
MNIST = ZOO / "vnncomp2021" / "benchmarks" / "mnistfc"


def acas_instances() -> list[tuple[Path, Path]]:
    """(onnx, vnnlib) pairs of the VNN-COMP instance list, mapped to Marabou's copies of the nets."""
    out = []
    with open(ACAS / "acasxu_instances.csv") as f:
        for row in csv.reader(f):
            a, b = re.match(r"ACASXU_run2a_(\d)_(\d)_batch_2000\.onnx", row[0].strip()).groups()
            out.append((ACAS_ONNX / f"ACASXU_experimental_v2a_{a}_{b}.onnx", ACAS / row[1].strip()))
    return out


def mnist_instances() -> list[tuple[Path, Path]]:
    """(onnx, vnnlib) pairs of mnistfc_instances.csv whose property file is in the zoo."""
    with open(MNIST / "mnistfc_instances.csv") as f:
        pairs = [(MNIST / row[0].strip(), MNIST / row[1].strip()) for row in csv.reader(f)]
    return [(m, p) for m, p in pairs if m.exists() and p.exists()]


def certify(model: Path, prop: Path, bounds: str, workdir: Path) -> dict:
    """The CLI's file flow (pipeline.run_reduction with a domain), then the independent checker."""
    from lumpcheck.apps.pipeline import run_reduction
    from lumpcheck.checker import check

    out, cert = workdir / "reduced.onnx", workdir / "cert.json"
    t = time.perf_counter()
    res = run_reduction(model, out, domain_path=prop, cert_path=cert, bounds_method=bounds)
    prove_s = time.perf_counter() - t
    t = time.perf_counter()
    verdict = check(cert, model, out)
    check_s = time.perf_counter() - t
    return {
        "file_neurons": res.reduction.network.hidden_neurons,
        "file_dtype": res.dtype,
        "certified": res.verdict == "proved" and verdict.valid,
        "why": "" if verdict.valid else verdict.reasons[0],
        "reduce_prove_s": prove_s,
        "check_s": check_s,
    }


def prove_exact(net, red) -> dict:
    """The folded (rational) quotient proved in memory: no file format holds it exactly."""
    from lumpcheck.prove.prover import prove_networks

    t = time.perf_counter()
    records, _, _ = prove_networks(net, red.network, red.relation, red.domain, claims=red.claims)
    return {"exact_proved": all(r.status == "proved" for r in records), "exact_prove_s": time.perf_counter() - t}


def run(model: Path, prop: Path, args: argparse.Namespace, workdir: Path) -> dict:
    net = load_model(model)
    box = read_box(prop, net.input_size)
    red = reduce_on_domain(net, box, bounds_method=args.bounds)
    row = {
        "net": model.stem.replace("ACASXU_experimental_v2a_", ""),
        "prop": prop.stem,
        "neurons": net.hidden_neurons,
        "neurons_after": red.network.hidden_neurons,
        "params": net.param_count,
        "params_after": red.network.param_count,
        "method": red.claims.describe(),
        "seconds": red.stats.seconds,
    }
    if args.certify:
        row.update(prove_exact(net, red))
        row.update(certify(model, prop, args.bounds, workdir))
    return row


def summary(name: str, rows: list[dict]) -> None:
    """Means over the instances (kept fractions per instance, so nets of different sizes mix), per property too."""
    if not rows:
        return
    print(f"\n{name}: {len(rows)} instances")
    groups = {"all": rows, **{p: [r for r in rows if r["prop"] == p] for p in dict.fromkeys(r["prop"] for r in rows)}}
    for label, group in groups.items():
        kept = np.mean([r["neurons_after"] / r["neurons"] for r in group])
        params = np.mean([r["params_after"] / r["params"] for r in group])
        line = (f"  {label:>12} ({len(group):>3}): hidden neurons kept {100 * kept:5.1f}% "
                f"(mean {np.mean([r['neurons_after'] for r in group]):.1f}), params kept {100 * params:5.1f}%, "
                f"reduce {np.mean([r['seconds'] for r in group]):.2f} s")
        if "certified" in group[0]:
            file_kept = np.mean([r["file_neurons"] / r["neurons"] for r in group])
            line += f"; certified file keeps {100 * file_kept:5.1f}%"
        print(line)
    done = [r for r in rows if "certified" in r]
    if done:
        ok = sum(r["certified"] for r in done)
        exact = sum(r["exact_proved"] for r in done)
        print(f"  folded quotient proved in memory {exact}/{len(done)} "
              f"(mean {np.mean([r['exact_prove_s'] for r in done]):.2f} s)")
        print(f"  certified files {ok}/{len(done)}: reduce+write+prove mean {np.mean([r['reduce_prove_s'] for r in done]):.2f} s, "
              f"check mean {np.mean([r['check_s'] for r in done]):.2f} s (max {max(r['check_s'] for r in done):.2f} s)")
        for r in done:
            if not r["certified"]:
                print(f"  NOT certified {r['net']} {r['prop']}: {r['why']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", type=int, default=None, help="first N ACAS Xu instances only")
    ap.add_argument("--mnist", type=int, default=None, help="first N MNIST-FC instances (default all in the zoo; 0: none)")
    ap.add_argument("--certify", action="store_true", help="also write, prove and check the reduced file")
    ap.add_argument("--bounds", choices=BOUNDS_METHODS, default="auto")
    ap.add_argument("--json", type=Path, default=None, help="write per-instance rows here")
    args = ap.parse_args()
    suites = {"ACAS Xu": acas_instances()[: args.subset], "MNIST-FC": mnist_instances()[: args.mnist]}
    cols = f"{'net':>18} {'prop':>12} {'neurons':>11} {'params':>13} {'s':>6}"
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, pairs in suites.items():
            print(f"\n{name}\n{cols}" + ("  file  cert  prove_s check_s" if args.certify else ""))
            rows = results[name] = []
            for model, prop in pairs:
                row = run(model, prop, args, Path(tmp))
                rows.append(row)
                line = (f"{row['net']:>18} {row['prop']:>12} {row['neurons']:>4}->{row['neurons_after']:<5} "
                        f"{row['params']:>6}->{row['params_after']:<6} {row['seconds']:6.2f}")
                if args.certify:
                    line += (f"  {row['file_neurons']:>4}  {'yes' if row['certified'] else 'NO':>4} "
                             f"{row['reduce_prove_s']:7.2f} {row['check_s']:7.2f}")
                print(line, flush=True)
    for name, rows in results.items():
        summary(name, rows)
    if args.json:
        write_text_atomic(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
