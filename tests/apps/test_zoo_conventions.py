"""Issue 13.4: `zoo` with VNN-COMP conventions: the instance list is validated before anything starts, progress shows
in logs, the exit code says when rows errored, the status column has a fixed vocabulary beside a reason column,
every skipped model file is named, gzipped files are found, and --domain-space reaches every model."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.console import EXIT_UNKNOWN, EXIT_USAGE
from lumpcheck.apps.zoo_summary import ROW_KINDS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ZOO = EXAMPLES / "zoo"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_missing_instance_files_are_listed_and_nothing_starts(tmp_path):
    zoo = tmp_path / "zoo"
    shutil.copytree(ZOO, zoo)
    (zoo / "instances.csv").write_text("relu_net.onnx,props/wide.vnnlib,60\nonnx/gone.onnx,props/wide.vnnlib,60\n"
                                       "relu_net.onnx,vnnlib/missing.vnnlib,60\nonnx/also_gone.onnx,props/nope.vnnlib,9\n")
    out = tmp_path / "out"
    res = run("zoo", zoo, "-o", out, "--domain-map", zoo / "instances.csv")
    assert res.exit_code == EXIT_USAGE, res.output
    for missing in ("line 2: onnx/gone.onnx", "line 3: vnnlib/missing.vnnlib", "line 4: onnx/also_gone.onnx",
                    "line 4: props/nope.vnnlib"):
        assert missing in res.output
    assert "4 file(s)" in res.output and "nothing was started" in res.output
    assert not out.exists()  # no process, no directory


def test_gzipped_files_named_without_gz_are_found(tmp_path):
    zoo = tmp_path / "zoo"
    (zoo / "onnx").mkdir(parents=True)
    (zoo / "vnnlib").mkdir()
    (zoo / "onnx" / "net.onnx.gz").write_bytes(gzip.compress((ZOO / "relu_net.onnx").read_bytes()))
    (zoo / "vnnlib" / "p.vnnlib.gz").write_bytes(gzip.compress((ZOO / "props" / "narrow.vnnlib").read_bytes()))
    (zoo / "instances.csv").write_text("onnx/net.onnx,vnnlib/p.vnnlib,60\n")
    res = run("zoo", zoo, "-o", tmp_path / "out", "--domain-map", zoo / "instances.csv", "--jobs", "1")
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]
    assert [(r["model"], r["domain"], r["status"]) for r in rows] == [("onnx/net.onnx.gz", "vnnlib/p.vnnlib.gz", "reduced")]


def test_progress_lines_reason_column_exit_code_and_skipped_files(tmp_path):
    zoo = tmp_path / "zoo"
    shutil.copytree(ZOO, zoo)
    (zoo / "weights.pt").write_bytes(b"not run")
    (zoo / "nets" / "keras.h5").write_bytes(b"not run")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lumpcheck.apps.cli", "zoo", str(zoo), "-o", str(out), "--jobs", "2"],
                          capture_output=True, text=True, timeout=300)  # stdout is a pipe, not a terminal
    assert proc.returncode == EXIT_UNKNOWN, proc.stdout + proc.stderr  # broken.onnx errored
    progress = [line for line in proc.stdout.splitlines() if line.startswith("zoo [")]
    assert len(progress) == 4 and progress[-1].startswith("zoo [4/4] ")
    assert any("broken.onnx: error (" in line for line in progress)
    assert "weights.pt (PyTorch" in proc.stdout and "nets/keras.h5 (Keras" in proc.stdout
    with open(out / "summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert "reason" in table[0] and {r["status"] for r in table} <= set(ROW_KINDS)
    assert all((r["reason"] == "") == (r["status"] in ("reduced", "minimal")) for r in table)
    doc = json.loads((out / "summary.json").read_text())
    assert sorted(s["file"] for s in doc["skipped"]) == ["nets/keras.h5", "weights.pt"]
    assert "weights.pt" in (out / "index.html").read_text()
    assert "Exit code 1 when some proof or check failed; else 4" in " ".join(run("zoo", "--help").output.split())


def test_domain_space_reaches_every_model(tmp_path):
    """ranged.nnet normalises (x - mean) / range: a box in normalized coordinates is converted, as `reduce` does."""
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    shutil.copy(ZOO / "nets" / "ranged.nnet", zoo / "ranged.nnet")
    (zoo / "p.vnnlib").write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                                  "(declare-const Y_1 Real)\n(assert (>= X_0 -0.1))\n(assert (<= X_0 0.1))\n"
                                  "(assert (>= X_1 0))\n(assert (<= X_1 0.25))\n")
    (zoo / "instances.csv").write_text("ranged.nnet,p.vnnlib,60\n")
    res = run("zoo", zoo, "-o", tmp_path / "out", "--domain-map", zoo / "instances.csv", "--domain-space", "normalized")
    assert res.exit_code == 0, res.output
    row = json.loads((tmp_path / "out" / "summary.json").read_text())["rows"][0]
    zoo_box = json.loads((tmp_path / "out" / row["dir"] / "cert.json").read_text())["claim"]["domain"]
    res = run("reduce", zoo / "ranged.nnet", "-o", tmp_path / "r.nnet", "--domain", zoo / "p.vnnlib", "--domain-space",
              "normalized", "--certify", tmp_path / "c.json")
    assert res.exit_code == 0, res.output
    direct = json.loads((tmp_path / "c.json").read_text())["claim"]["domain"]
    assert (zoo_box["lower"], zoo_box["upper"]) == (direct["lower"], direct["upper"])
    assert zoo_box["lower"] == ["3/10", "-1"]  # mean + range · bound: 1/2 + 2·(-1/10), -1 + 4·0 (not the raw box)
