"""Batch runs over a model zoo: every model gets a row, artefacts and links exist, runs resume, executors plug in."""

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from html.parser import HTMLParser
from multiprocessing import get_context
from pathlib import Path

import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.zoo import Job, discover, read_instances, run_zoo
from lumpcheck.apps.zoo_summary import Settings
from lumpcheck.checker import check
from lumpcheck.errors import LumpcheckError

EXAMPLE_ZOO = Path(__file__).parents[2] / "examples" / "zoo"


def _rows(result) -> dict[tuple[str, str], object]:
    return {(r.model, r.domain): r for r in result.rows}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [v for k, v in attrs if k == "href"]


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "out"
    jobs = discover(EXAMPLE_ZOO, EXAMPLE_ZOO / "instances.csv")
    return run_zoo(jobs, out, jobs=2), out


def test_discover_pairs_properties():
    rows = read_instances(EXAMPLE_ZOO / "instances.csv")
    assert len(rows) == 2 and all(m.name == "relu_net.onnx" for m, _, _ in rows)
    jobs = discover(EXAMPLE_ZOO, EXAMPLE_ZOO / "instances.csv")
    models = sorted(p.relative_to(EXAMPLE_ZOO).as_posix() for p in EXAMPLE_ZOO.rglob("*") if p.suffix in (".onnx", ".nnet"))
    assert sorted({j.rel for j in jobs}) == models
    assert sorted(j.domain_rel for j in jobs if j.rel == "relu_net.onnx") == ["props/narrow.vnnlib", "props/wide.vnnlib"]
    assert all(j.timeout == 60 for j in jobs if j.domain) and len({j.name for j in jobs}) == len(jobs)
    assert not [j for j in discover(EXAMPLE_ZOO, EXAMPLE_ZOO / "instances.csv", csv_timeouts=False) if j.timeout is not None]


def test_a_first_row_naming_a_model_is_a_row_not_a_header(tmp_path):
    """A header is skipped; a one-row map whose timeout is not a number is an error naming the line, not a header
    that leaves no rows."""
    (tmp_path / "m.onnx").write_bytes((EXAMPLE_ZOO / "relu_net.onnx").read_bytes())
    (tmp_path / "p.vnnlib").write_text("(declare-const X_0 Real)")
    (tmp_path / "ok.csv").write_text("onnx,vnnlib,timeout\nm.onnx,p.vnnlib,30\n")
    assert [(m.name, t) for m, _, t in read_instances(tmp_path / "ok.csv")] == [("m.onnx", 30.0)]
    (tmp_path / "bad.csv").write_text("m.onnx,p.vnnlib,abc\n")
    with pytest.raises(LumpcheckError, match="line 1.*timeout 'abc' is not a number|timeout 'abc' is not a number.*line 1"):
        read_instances(tmp_path / "bad.csv")
    for limit in ("-5", "nan", "inf", "0"):  # numbers, but not time limits: the rule verify's rows follow
        (tmp_path / "bad.csv").write_text(f"onnx,vnnlib,timeout\nm.onnx,p.vnnlib,{limit}\n")
        with pytest.raises(LumpcheckError, match="line 2.*a time limit is a number of seconds"):
            read_instances(tmp_path / "bad.csv")


def test_every_model_gets_a_row(example_run):
    result, out = example_run
    rows = _rows(result)
    assert len(rows) == 5
    broken = rows[("broken.onnx", "")]
    assert broken.status == "error" and broken.reason and "\n" not in broken.reason
    assert str(EXAMPLE_ZOO) not in broken.reason  # one line, no long path
    assert rows[("nets/minimal_tanh.onnx", "")].status == "minimal"
    for key in [("nets/ranged.nnet", ""), ("relu_net.onnx", "props/wide.vnnlib"), ("relu_net.onnx", "props/narrow.vnnlib")]:
        row = rows[key]
        assert (row.status, row.verdict, row.check) == ("reduced", "proved", "valid")
        assert row.params_after < row.params_before
    assert result.counts == {"reduced": 3, "minimal": 1, "error": 1}


def test_artefacts_keep_the_format_and_check(example_run):
    result, out = example_run
    for row in result.rows:
        if row.kind not in ("reduced", "minimal"):
            continue
        d = out / row.dir
        suffix = Path(row.model).suffix
        assert (d / f"reduced{suffix}").is_file() and (d / "report.html").is_file()
        assert check(d / "cert.json", EXAMPLE_ZOO / row.model, d / f"reduced{suffix}").valid
    domain_cert = json.loads((out / _rows(result)[("relu_net.onnx", "props/narrow.vnnlib")].dir / "cert.json").read_text())
    assert domain_cert["claim"]["domain"]["upper"] == ["1/4"] * 3


def test_summary_files_and_index_links(example_run):
    result, out = example_run
    with open(out / "summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["model"], r["domain"], r["status"]) for r in table] == [(r.model, r.domain, r.status) for r in result.rows]
    doc = json.loads((out / "summary.json").read_text())
    assert doc["counts"] == result.counts and len(doc["rows"]) == 5
    index = (out / "index.html").read_text()
    parser = _Links()
    parser.feed(index)
    assert "script" not in parser.tags
    reports = [h for h in parser.hrefs if h.endswith("report.html")]
    assert len(reports) == 4 and all((out / h).is_file() for h in parser.hrefs)
    assert "broken.onnx" in index


def test_rerun_resumes_and_force_redoes(example_run):
    result, out = example_run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("models/*/done.json")}
    again = run_zoo(discover(EXAMPLE_ZOO, EXAMPLE_ZOO / "instances.csv"), out)
    assert all(r.resumed for r in again.rows) and [r.status for r in again.rows] == [r.status for r in result.rows]
    assert {p: p.stat().st_mtime_ns for p in out.glob("models/*/done.json")} == stamps


def test_changed_model_is_redone(tmp_path):
    zoo = tmp_path / "zoo"
    shutil.copytree(EXAMPLE_ZOO / "nets", zoo)
    out = tmp_path / "out"
    first = run_zoo(discover(zoo), out)
    (zoo / "minimal_tanh.onnx").write_bytes(b"now corrupt")
    second = _rows(run_zoo(discover(zoo), out))
    assert second[("minimal_tanh.onnx", "")].kind == "error" and not second[("minimal_tanh.onnx", "")].resumed
    assert second[("ranged.nnet", "")].resumed and len(first.rows) == 2


def test_timeout_and_memory_cap_are_rows_not_crashes(tmp_path):
    model = EXAMPLE_ZOO / "relu_net.onnx"
    out = tmp_path / "out"
    slow = Job(str(model), "relu_net.onnx", timeout=0.05)
    hungry = Job(str(EXAMPLE_ZOO / "nets" / "ranged.nnet"), "ranged.nnet")
    rows = _rows(run_zoo([slow], out))
    assert rows[("relu_net.onnx", "")].status == "timeout"
    assert run_zoo([slow], out).rows[0].resumed  # same limits: not retried
    assert run_zoo([Job(slow.model, slow.rel, timeout=60)], out).rows[0].status == "reduced"  # new limits: retried
    capped = run_zoo([hungry], tmp_path / "out2", settings=Settings(memory_mb=64)).rows[0]
    assert capped.kind == "error" and not (tmp_path / "out2" / capped.dir / "cert.json").exists()


def test_any_executor(tmp_path):
    jobs = discover(EXAMPLE_ZOO / "nets")
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        result = run_zoo(jobs, tmp_path / "out", pool)
    assert result.counts == {"reduced": 1, "minimal": 1}


def test_dask_executor(dask_cluster, tmp_path):
    distributed, cluster = dask_cluster
    with distributed.Client(cluster) as client:
        result = run_zoo(discover(EXAMPLE_ZOO), tmp_path / "out", client.get_executor(pure=False))
    assert result.counts == {"reduced": 2, "minimal": 1, "error": 1}


def test_cli_zoo_on_a_dask_scheduler(dask_cluster, tmp_path):
    _, cluster = dask_cluster
    assert cluster.scheduler_address.startswith("tcp://")
    res = CliRunner().invoke(cli, ["zoo", str(EXAMPLE_ZOO / "nets"), "-o", str(tmp_path / "out"), "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["counts"]
    assert rows == {"reduced": 1, "minimal": 1}


def test_cli_zoo(tmp_path):
    res = CliRunner().invoke(cli, ["zoo", str(EXAMPLE_ZOO / "nets"), "-o", str(tmp_path / "out"), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "reduced" in res.output and "minimal" in res.output and (tmp_path / "out" / "index.html").is_file()
    res = CliRunner().invoke(cli, ["zoo", str(EXAMPLE_ZOO / "nets"), "-o", str(tmp_path / "out")])
    assert "2 taken from the earlier run" in res.output


def _children_of(marker: str) -> list[int]:
    """Pids of processes whose command line mentions `marker` (Linux /proc)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc to watch child processes")
def test_killed_run_resumes_without_redoing_finished_models(tmp_path):
    zoo = tmp_path / "zoo"
    shutil.copytree(EXAMPLE_ZOO, zoo)
    (zoo / "broken.onnx").unlink()
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lumpcheck.apps.cli", "zoo", str(zoo), "-o", str(out), "--jobs", "1",
           "--domain-map", str(zoo / "instances.csv")]
    runner = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not list(out.glob("models/*/done.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("models/*/done.json")}
    assert 1 <= len(finished) < 4, "the run must be killed after its first model and before its last"
    deadline = time.monotonic() + 5  # the orphaned child notices its parent died and exits
    while _children_of(str(out)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children_of(str(out))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert len(rows) == 4 and all(r["status"] in ("reduced", "minimal") for r in rows)
    for r in rows:
        name = Path(r["dir"]).name
        assert r["resumed"] == (name in finished)
        if name in finished:
            assert (out / r["dir"] / "done.json").stat().st_mtime_ns == finished[name]


TWINS = ["twin_ladder-10_inp-2_layers-5_width-1_margin.nnet", "twin_ladder-10_inp-2_layers-10_width-1_margin.nnet",
         "twin_ladder-10_inp-4_layers-5_width-1_margin.nnet"]


@pytest.fixture(scope="module")
def shared_subset(zoo, tmp_path_factory):
    """3 twin-ladder nets, 1 ACAS Xu .nnet and 1 conv net from ../shared/zoo, run once."""
    paths = [zoo / "marabou/resources/nnet/twin" / t for t in TWINS]
    paths += [zoo / "marabou/resources/nnet/acasxu/ACASXU_experimental_v2a_1_1.nnet",
              zoo / "vnncomp2021/benchmarks/verivital/Convnet_maxpool.onnx"]
    result = run_zoo([Job.for_model(p, zoo) for p in paths], tmp_path_factory.mktemp("shared") / "out", jobs=2)
    return {Path(r.model).name: r for r in result.rows}


@pytest.mark.zoo
def test_shared_subset_acas_minimal_conv_through_the_graph_pipeline(shared_subset):
    acas = shared_subset["ACASXU_experimental_v2a_1_1.nnet"]
    assert (acas.status, acas.verdict, acas.check, acas.shape_after) == ("minimal", "proved", "valid", "5-50x6-5")
    conv = shared_subset["Convnet_maxpool.onnx"]
    # a CNN goes through the graph pipeline: no exact channel lumping without a box, certified and checked
    assert (conv.status, conv.verdict, conv.check, conv.shape_after) == ("minimal", "proved", "valid", "graph, 42 channels")
    assert len(shared_subset) == 5


@pytest.mark.zoo
def test_shared_subset_twins_reduced(shared_subset):
    for name in TWINS:
        row = shared_subset[name]
        assert (row.status, row.verdict, row.check) == ("reduced", "proved", "valid"), row.status
