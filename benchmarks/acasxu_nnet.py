"""ACAS Xu `.nnet` + VNN-COMP property + --certify, end to end, beside the ONNX copy of the same network.

Per instance of acasxu_instances.csv (the properties each network is used with; --all-props: all 10 for every
net): `reduce --domain prop --domain-space normalized --certify` on Marabou's `.nnet` (raw inputs, clipping and
normalisation in the header; VNN-COMP's boxes are in normalised coordinates) and `reduce --domain prop
--certify` on the ONNX copy (no normalisation), each followed by the independent `check`. Columns: params
kept, reduce+prove and check seconds for both, certified (proved and checked valid), and whether both keep the
same neurons (the same per-neuron reasons in every layer; the .nnet text and the float32 ONNX weights differ by
rounding, so stable sets may differ at the margin). Ratios .nnet/ONNX are from the same run.
Run: python benchmarks/acasxu_nnet.py [--subset N] [--every K [--start S]] [--all-props] [--json out.json] [--markdown table.md].
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from acasxu_domains import ACAS, ACAS_ONNX, ZOO, acas_instances

from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.checker import check

ACAS_NNET = ZOO / "marabou" / "resources" / "nnet" / "acasxu"


def run(model: Path, prop: Path, space: str, workdir: Path) -> dict:
    """reduce --domain --certify, then check; times and what was kept."""
    out, cert = workdir / f"reduced{model.suffix}", workdir / "cert.json"
    t = time.perf_counter()
    res = run_reduction(model, out, domain_path=prop, cert_path=cert, domain_space=space)
    prove_s = time.perf_counter() - t
    t = time.perf_counter()
    verdict = check(cert, model, out)
    check_s = time.perf_counter() - t
    red = res.reduction
    return {
        "params_before": red.stats.params_before,
        "params_after": red.stats.params_after,
        "certified": res.verdict == "proved" and verdict.valid,
        "why": "" if verdict.valid else verdict.reasons[0],
        "reduce_prove_s": prove_s,
        "check_s": check_s,
        "reasons": [[m.reason for m in lr.maps] for lr in red.relation.layers],
    }


def instances(all_props: bool) -> list[tuple[str, Path]]:
    """(net id 'A_B', property) pairs."""
    if all_props:
        return [(f"{a}_{b}", ACAS / f"prop_{p}.vnnlib") for a in range(1, 6) for b in range(1, 10) for p in range(1, 11)]
    return [(onnx.stem.removeprefix("ACASXU_experimental_v2a_"), prop) for onnx, prop in acas_instances()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", type=int, help="only the first N instances")
    ap.add_argument("--every", type=int, default=1, help="only every K-th instance (a sample across properties)")
    ap.add_argument("--start", type=int, default=0, help="with --every: start at this instance (0-based)")
    ap.add_argument("--all-props", action="store_true", help="every net with every property (450 instances)")
    ap.add_argument("--json", type=Path, help="write the rows as JSON")
    ap.add_argument("--markdown", type=Path, help="write the table as Markdown")
    args = ap.parse_args()
    todo = instances(args.all_props)[args.start :: args.every][: args.subset]
    rows = []
    print(f"{'net':5} {'prop':7} {'kept nnet':>9} {'kept onnx':>9} {'nnet s':>7} {'onnx s':>7} {'chk nnet':>8} "
          f"{'chk onnx':>8} {'cert':>5} {'same':>5}", flush=True)
    for net_id, prop in todo:
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "n").mkdir()
            (Path(d) / "o").mkdir()
            n = run(ACAS_NNET / f"ACASXU_experimental_v2a_{net_id}.nnet", prop, "normalized", Path(d) / "n")
            o = run(ACAS_ONNX / f"ACASXU_experimental_v2a_{net_id}.onnx", prop, "input", Path(d) / "o")
        row = {"net": net_id, "prop": prop.stem, "nnet": n, "onnx": o, "same_neurons": n["reasons"] == o["reasons"]}
        rows.append(row)
        print(f"{net_id:5} {prop.stem:7} {n['params_after'] / n['params_before']:9.1%} "
              f"{o['params_after'] / o['params_before']:9.1%} {n['reduce_prove_s']:7.2f} {o['reduce_prove_s']:7.2f} "
              f"{n['check_s']:8.2f} {o['check_s']:8.2f} {'yes' if n['certified'] and o['certified'] else 'NO':>5} "
              f"{'yes' if row['same_neurons'] else 'no':>5}", flush=True)
    summary = summarise(rows)
    print(summary)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    if args.markdown:
        args.markdown.write_text(markdown(rows, summary))


def summarise(rows: list[dict]) -> str:
    if not rows:
        return "no instances"
    ratio = [r["nnet"]["reduce_prove_s"] / r["onnx"]["reduce_prove_s"] for r in rows]
    check_ratio = [r["nnet"]["check_s"] / r["onnx"]["check_s"] for r in rows]
    certified = sum(r["nnet"]["certified"] for r in rows)
    same = sum(r["same_neurons"] for r in rows)
    total_n = sum(r["nnet"]["reduce_prove_s"] for r in rows)
    total_o = sum(r["onnx"]["reduce_prove_s"] for r in rows)
    return (f"{len(rows)} instances: .nnet certified {certified}/{len(rows)}, ONNX certified "
            f"{sum(r['onnx']['certified'] for r in rows)}/{len(rows)}; same neurons kept {same}/{len(rows)}; "
            f".nnet/ONNX reduce+prove time: median {statistics.median(ratio):.2f}x, total {total_n / total_o:.2f}x; "
            f"check: median {statistics.median(check_ratio):.2f}x; mean params kept (.nnet) "
            f"{statistics.mean(r['nnet']['params_after'] / r['nnet']['params_before'] for r in rows):.1%}")


def markdown(rows: list[dict], summary: str) -> str:
    lines = ["| net | prop | params kept .nnet | params kept ONNX | reduce+prove s .nnet | ONNX | check s .nnet | ONNX "
             "| certified | same neurons |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        n, o = r["nnet"], r["onnx"]
        lines.append(f"| {r['net']} | {r['prop']} | {n['params_after']:,}/{n['params_before']:,} | "
                     f"{o['params_after']:,}/{o['params_before']:,} | {n['reduce_prove_s']:.2f} | "
                     f"{o['reduce_prove_s']:.2f} | {n['check_s']:.2f} | {o['check_s']:.2f} | "
                     f"{'yes' if n['certified'] and o['certified'] else 'NO'} | {'yes' if r['same_neurons'] else 'no'} |")
    return "\n".join(lines) + f"\n\n{summary}\n"


if __name__ == "__main__":
    main()
