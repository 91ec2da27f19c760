"""`lumpcheck verify --scheduler`: the differential search on a Dask cluster gives the verdicts it gives locally, its
certificates check, and a bad scheduler address is a one-line error (exit 2)."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.io import save_model

from pair_helpers import near_copy, random_box, random_net, sampled_max_difference


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _pairs():
    """Small pairs with their ε: some provable (ε above the largest sampled difference), some not (below it)."""
    out = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n = 2 + seed % 2
        a = random_net(rng, [n, 6, 6, 2])
        b = near_copy(rng, a, ["noise", "drop", "prune"][seed % 3])
        box = random_box(rng, n)
        factor = 1.3 if seed % 2 == 0 else 0.5
        eps = Fraction(sampled_max_difference(a, b, box, rng) * factor).limit_denominator(256)
        out.append((a, b, box, Mode("epsilon", eps)))
    return out


def test_cluster_search_gives_the_local_verdicts_and_valid_certificates(dask_cluster):
    distributed, c = dask_cluster
    statuses = []
    with distributed.Client(c) as client:
        for a, b, box, mode in _pairs():
            local = verify_pair(a, b, box, mode, timeout=30)
            remote = verify_pair(a, b, box, mode, timeout=30, client=client)
            assert remote.status == local.status, (mode, local.message, remote.message)
            assert remote.stats["tasks"] >= 1  # the leaves were bounded by cluster tasks
            if remote.status == "unsat":
                assert check_certificate(remote.certificate, a, b).valid
            statuses.append(str(remote.status))
    assert "unsat" in statuses and "sat" in statuses  # both verdicts were exercised


def test_cli_scheduler_gives_the_same_verdict_as_without(dask_cluster, tmp_path):
    _, c = dask_cluster
    for k, (a, b, box, mode) in enumerate(_pairs()[:4]):
        save_model(a, tmp_path / f"a{k}.onnx", dtype="float64")
        save_model(b, tmp_path / f"b{k}.onnx", dtype="float64")
        lines = [f"(declare-const X_{i} Real)" for i in range(box.dim)]
        lines += [f"(assert (>= X_{i} {float(lo)!r}))\n(assert (<= X_{i} {float(hi)!r}))"
                  for i, (lo, hi) in enumerate(zip(box.lower, box.upper))]
        (tmp_path / f"box{k}.vnnlib").write_text("\n".join(lines) + "\n")
        args = ["verify", tmp_path / f"a{k}.onnx", tmp_path / f"b{k}.onnx", "--domain", tmp_path / f"box{k}.vnnlib",
                "--mode", str(mode), "--json", "--timeout", "60"]
        plain = run(*args)
        spread = run(*args, "--scheduler", c.scheduler_address, "--certify", tmp_path / f"c{k}.json")
        assert spread.exit_code == plain.exit_code, (plain.output, spread.output)
        assert json.loads(spread.stdout)["status"] == json.loads(plain.stdout)["status"]
        if spread.exit_code == 0:  # these small unsat pairs are decided by the differential search
            assert json.loads(spread.stdout)["engine"] == "differential"
            cert = json.loads((tmp_path / f"c{k}.json").read_text())
            assert cert["stats"]["cluster"] == c.scheduler_address  # its leaves came from the cluster
            checked = run("check", tmp_path / f"c{k}.json", tmp_path / f"a{k}.onnx", tmp_path / f"b{k}.onnx")
            assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "not-an-address", "tcp://127.0.0.1:notaport"])
def test_bad_scheduler_address_is_a_one_line_error(tmp_path, address):
    pytest.importorskip("dask.distributed", reason="dask.distributed not installed (pip install 'lumpcheck[dask]')")
    rng = np.random.default_rng(0)
    a = random_net(rng, [2, 4, 2])
    save_model(a, tmp_path / "a.onnx", dtype="float64")
    res = run("verify", tmp_path / "a.onnx", tmp_path / "a.onnx", "--scheduler", address, "--timeout", "20")
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "scheduler" in lines[0], res.output


def test_help_teaches_the_scheduler_option():
    res = run("verify", "--help")
    assert res.exit_code == 0
    assert "--scheduler" in res.output and "tcp://HOST:PORT" in res.output and "Dask" in res.output


def test_cluster_search_keeps_the_deadline(dask_cluster):
    """A pair the search cannot decide quickly: the master answers at its deadline while tasks may still run."""
    import time

    from lumpcheck.ir.domain import Box

    distributed, c = dask_cluster
    rng = np.random.default_rng(1)
    a = random_net(rng, [6, 40, 40, 40, 3])
    b = near_copy(rng, a, "noise")
    box = Box((Fraction(-8),) * 6, (Fraction(8),) * 6)
    with distributed.Client(c) as client:
        start = time.monotonic()
        res = verify_pair(a, b, box, Mode("epsilon", Fraction(1, 10**6)), timeout=3, client=client)
        elapsed = time.monotonic() - start
    assert res.status in ("timeout", "sat", "unknown")
    assert elapsed < 3 + 2.0, elapsed


def test_a_failing_or_lossy_cluster_task_never_gives_unsat(dask_cluster, monkeypatch):
    """The master decides: a task that raises gives 'error'; a task whose closed leaves get lost on the way gives
    'error' from the coverage check (the leaves no longer tile the box), never 'unsat'."""
    from dataclasses import replace

    import lumpcheck.equivalence.cluster as cluster_mod

    distributed, c = dask_cluster
    a, b, box, mode = next(p for p in _pairs() if verify_pair(*p, timeout=30).status == "unsat")
    real = cluster_mod.run_chunk

    def failing(*args, **kw):
        raise RuntimeError("lost worker")

    def lossy(*args, **kw):
        out = real(*args, **kw)
        return replace(out, leaves=out.leaves[1:])

    with distributed.Client(c) as client:
        monkeypatch.setattr(cluster_mod, "run_chunk", failing)
        res = verify_pair(a, b, box, mode, timeout=30, client=client)
        assert res.status == "error" and "lost worker" in res.message
        monkeypatch.setattr(cluster_mod, "run_chunk", lossy)
        res = verify_pair(a, b, box, mode, timeout=30, client=client)
        assert res.status == "error" and "do not cover the box" in res.message and res.certificate is None


def test_python_api_takes_a_scheduler(dask_cluster):
    import lumpcheck

    _, c = dask_cluster
    a, b, box, mode = _pairs()[0]
    here = lumpcheck.verify(a, b, domain=box, mode=mode, timeout=30)
    there = lumpcheck.verify(a, b, domain=box, mode=mode, timeout=30, scheduler=c.scheduler_address)
    assert there.status == here.status
    if there.status == "unsat" and there.engine == "differential":
        assert there.certificate["stats"]["cluster"] == c.scheduler_address


def test_worker_processes_and_relu_splitting():
    """A cluster of worker processes (tasks and results are pickled, as on remote machines), with input and ReLU
    splitting: the same verdicts as in this process, and valid certificates."""
    distributed = pytest.importorskip("dask.distributed", reason="dask.distributed not installed (pip install 'lumpcheck[dask]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c, \
            distributed.Client(c) as client:
        for strategy, chosen in (("input", _pairs()[:4]), ("relu", _pairs()[1:4])):  # (pair 0 is slow by ReLU splits)
            for a, b, box, mode in chosen:
                local = verify_pair(a, b, box, mode, timeout=30, strategy=strategy)
                remote = verify_pair(a, b, box, mode, timeout=30, strategy=strategy, client=client)
                assert remote.status == local.status, (strategy, local.message, remote.message)
                if remote.status == "unsat":
                    assert remote.stats["strategy"] == strategy
                    assert check_certificate(remote.certificate, a, b).valid
