"""verify on lumpcheck's own box reductions (issue 16 item 4): `reduce --domain --certify` vs `verify` of the pair.

For ACAS Xu nets (Marabou's ONNX copies in the shared zoo) on VNN-COMP properties, each step is one `lumpcheck`
process, timed wall-clock (process start and imports included, the same for both):
  reduce  lumpcheck reduce NET -o RED --domain PROP --certify CERT
  verify  lumpcheck verify NET RED --domain PROP --certify VCERT (strict mode; expected: unsat by domain-match)
  check   lumpcheck check VCERT NET RED (the domain-match certificate, re-checked independently; expected: valid)
  tamper  lumpcheck verify NET RED' --domain PROP, RED' = RED with its first output bias moved by one float32 ulp
          (expected: sat with a replayed witness, or unknown/timeout; never unsat)
Run: python benchmarks/domain_pairs.py [--nets 1_1 2_3 ...] [--props 1 2 3 4] [--timeout S] [--jsonl out.jsonl].
Not a test; nothing is written to the zoo.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

ZOO = Path(__file__).resolve().parents[2] / "shared" / "zoo"
NETS = ZOO / "marabou/resources/onnx/acasxu"
PROPS = ZOO / "vnncomp2021/benchmarks/acasxu"


def lumpcheck(*args: object, timeout: float) -> tuple[float, int, str]:
    start = time.monotonic()
    try:
        proc = subprocess.run([str(Path(sys.executable).parent / "lumpcheck"), *map(str, args)], capture_output=True, text=True,
                              timeout=timeout + 10)
        return time.monotonic() - start, proc.returncode, proc.stdout
    except subprocess.TimeoutExpired:
        return time.monotonic() - start, -1, ""


def tampered(src: Path, dst: Path) -> None:
    model = onnx.load(src)
    last = [i for i in model.graph.initializer if numpy_helper.to_array(i).ndim == 1][-1]
    arr = numpy_helper.to_array(last).copy()
    arr[0] = np.nextafter(arr[0], arr.dtype.type(np.inf))
    last.CopyFrom(numpy_helper.from_array(arr, last.name))
    onnx.save(model, dst)


def one(net: str, prop: int, timeout: float, tmp: Path) -> dict:
    model, spec = NETS / f"ACASXU_experimental_v2a_{net}.onnx", PROPS / f"prop_{prop}.vnnlib"
    red, cert, bad = tmp / f"{net}_{prop}.onnx", tmp / f"{net}_{prop}.json", tmp / f"{net}_{prop}_bad.onnx"
    vcert = tmp / f"{net}_{prop}_verify.json"
    row: dict = {"net": net, "prop": prop}
    row["reduce_s"], rc, _ = lumpcheck("reduce", model, "-o", red, "--domain", spec, "--certify", cert, timeout=timeout)
    if rc != 0:
        return {**row, "reduce_rc": rc}
    row["shape"] = json.loads(lumpcheck("info", red, "--json", timeout=60)[2] or "{}").get("shape")
    row["verify_s"], rc, out = lumpcheck("verify", model, red, "--domain", spec, "--timeout", timeout, "--json",
                                         "--certify", vcert, timeout=timeout)
    res = json.loads(out) if out else {}
    row.update(verify=res.get("status", f"rc {rc}"), engine=res.get("engine"), times=res.get("times"))
    if vcert.exists():
        row["check_s"], rc, out = lumpcheck("check", vcert, model, red, "--json", timeout=timeout)
        row["check"] = "valid" if (json.loads(out) if out else {}).get("valid") else f"invalid (rc {rc})"
        row["verify_cert_kb"] = vcert.stat().st_size // 1024
    tampered(red, bad)
    row["tamper_s"], rc, out = lumpcheck("verify", model, bad, "--domain", spec, "--timeout", 30, "--json", timeout=30)
    row["tamper"] = (json.loads(out) if out else {}).get("status", f"rc {rc}")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", nargs="+", default=["1_1", "1_9", "2_3", "3_5", "4_2", "5_7"])
    ap.add_argument("--props", nargs="+", type=int, default=[1, 2, 3, 4])
    ap.add_argument("--timeout", type=float, default=100.0)
    ap.add_argument("--jsonl", type=Path)
    args = ap.parse_args()
    if not NETS.is_dir():
        sys.exit(f"the shared zoo is not at {ZOO}")
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.nets:
            for prop in args.props:
                row = one(net, prop, args.timeout, Path(tmp))
                print(json.dumps(row), flush=True)
                if args.jsonl:
                    with args.jsonl.open("a") as f:
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
