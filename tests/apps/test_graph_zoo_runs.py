"""`lumpcheck zoo` over the VNN-COMP 2021 CNN benchmarks of ../shared/zoo (skipped without it): their instances.csv
as the domain map (rows whose spec was not copied left out with --skip-missing), graph models reduced on their boxes
with certificates the independent checker calls valid, and no "unsupported" row. Tests run a subset (one property
per network); the full sweep is benchmarks/graph_cnn_boxes.py (benchmarks/GRAPH.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.zoo_jobs import read_instances

pytestmark = pytest.mark.zoo
BENCH = ("vnncomp2021", "benchmarks")
SUITES = ("oval21", "cifar10_resnet", "marabou-cifar10", "verivital")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def rows(out: Path) -> list[dict]:
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("suite", SUITES)
def test_instances_csv_with_skip_missing_keeps_exactly_the_present_rows(zoo, suite) -> None:
    csv_path = next((zoo.joinpath(*BENCH) / suite).glob("*instances.csv"))
    missing: list[str] = []
    present = read_instances(csv_path, missing)
    assert present and all(m.is_file() and d.is_file() for m, d, _ in present)
    total = sum(1 for line in csv_path.read_text().splitlines() if line.strip())
    assert len(present) + len({m.split(":")[0] for m in missing}) == total


def test_zoo_on_verivital_with_its_instances_csv(zoo, tmp_path) -> None:
    bench = zoo.joinpath(*BENCH) / "verivital"
    out = tmp_path / "out"
    res = run("zoo", bench, "-o", out, "--domain-map", bench / "verivital_instances.csv", "--skip-missing")
    assert res.exit_code == 0, res.output
    assert "missing file(s) (--skip-missing)" in res.output
    got = rows(out)
    assert len(got) == 6 and {r["status"] for r in got} <= {"reduced", "minimal"}, got
    assert all(r["check"] == "valid" and r["verdict"] == "proved" for r in got)
    assert all(int(r["params_after"]) <= int(r["params_before"]) for r in got)
    one = out / got[0]["dir"]
    assert json.loads((one / "cert.json").read_text())["claim"]["only_on_domain"] in (True, False)
    assert (one / "report.html").read_text().startswith("<!doctype html>")


def test_zoo_on_one_property_of_oval21_base_and_resnet_2b(zoo, tmp_path) -> None:
    bench = zoo.joinpath(*BENCH)
    picks = [("oval21", "nets/cifar_base_kw.onnx"), ("cifar10_resnet", "onnx/resnet_2b.onnx")]
    models, lines = tmp_path / "models", []  # holds only the map: its rows name the zoo's files
    models.mkdir()
    for suite, net in picks:
        csv_path = next((bench / suite).glob("*instances.csv"))
        first = next(m_d for m_d in read_instances(csv_path, []) if m_d[0].name == Path(net).name)
        lines.append(f"{first[0]},{first[1]},300")
    (models / "instances.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    res = run("zoo", models, "-o", out, "--domain-map", models / "instances.csv")
    assert res.exit_code == 0, res.output
    got = rows(out)
    assert len(got) == 2 and all(r["status"] in ("reduced", "minimal") and r["check"] == "valid" for r in got), got
    base = next(r for r in got if "cifar_base_kw" in r["model"])
    assert int(base["params_after"]) < int(base["params_before"])  # stable channels on the box go
