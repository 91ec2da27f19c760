"""Ctrl-C and SIGTERM: exit 130 / 143 with a one-line message, no partial or temporary files, even inside z3; the zoo
kills its model processes, removes unfinished models' files and still writes the summary of the finished ones."""

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.apps.interrupt import Interrupted, exit_code, signals_deferred
from lumpcheck.io import save_model
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STOPS = [pytest.param(signal.SIGINT, 130, id="SIGINT"), pytest.param(signal.SIGTERM, 143, id="SIGTERM")]


def _default_sigint() -> None:
    """In the child before exec: a test runner may ignore SIGINT, and a Python started so keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def listing(directory: Path) -> dict[str, str]:
    """Every entry under `directory`, hidden ones included, with the SHA-256 of its bytes (directories: 'dir')."""
    return {p.relative_to(directory).as_posix(): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*"))}


def _wait_for(condition, seconds: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before it could be interrupted:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached the point where the test interrupts it")
        time.sleep(0.01)


def _stop(proc: subprocess.Popen, signum: int, seconds: float = 20) -> tuple[float, str]:
    """Send `signum`; (seconds until the process ended, its stderr)."""
    start = time.monotonic()
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{signal.Signals(signum).name} did not stop the run within {seconds} s")
    return time.monotonic() - start, err


# ---------------------------------------------------------------- reduce --certify, interrupted inside z3


def pigeonhole(n: int) -> str:
    """SMT-LIB: n+1 pigeons in n holes. Unsatisfiable, and takes z3 minutes for n = 11 (seconds for n = 8)."""
    p = lambda i, j: f"p_{i}_{j}"  # noqa: E731
    lines = [f"(declare-const {p(i, j)} Bool)" for i in range(n + 1) for j in range(n)]
    lines += [f"(assert (or {' '.join(p(i, j) for j in range(n))}))" for i in range(n + 1)]
    lines += [f"(assert (or (not {p(i, j)}) (not {p(k, j)})))"
              for j in range(n) for i in range(n + 1) for k in range(i + 1, n + 1)]
    return "\n".join(lines) + "\n"


# Test-only wrapper around the real `lumpcheck` entry point: the proof starts with one hard z3 query (through
# lumpcheck's own solver.z3.solve_script), so a signal sent after the marker file appears lands inside z3.
SLOW_PROOF = textwrap.dedent('''
    import sys
    from pathlib import Path

    import lumpcheck.prove.prover as prover
    from lumpcheck.apps.cli import main
    from lumpcheck.solver.z3 import solve_script

    marker, hard = Path(sys.argv.pop(1)), Path(sys.argv.pop(1)).read_text()
    real = prover.prove_networks

    def slow(*args, **kwargs):
        marker.touch()
        solve_script(hard, 600_000)
        return real(*args, **kwargs)

    prover.prove_networks = slow
    main()
''')


def test_the_hard_query_is_hard_and_solve_reports_it():
    """The query the interrupt test relies on: small instances are decided (unsat), n = 11 is not within 1 s."""
    from lumpcheck.solver.z3 import solve_script

    assert solve_script(pigeonhole(4), 10_000).status == "unsat"
    assert solve_script(pigeonhole(11), 1_000).status in ("timeout", "unknown")


@pytest.mark.parametrize("signum, code", STOPS)
def test_reduce_certify_interrupted_inside_z3_leaves_nothing(tmp_path, signum, code):
    work, aux = tmp_path / "work", tmp_path / "aux"
    work.mkdir()
    aux.mkdir()
    shutil.copy(EXAMPLES / "planted_relu.onnx", work / "model.onnx")
    (aux / "slow.py").write_text(SLOW_PROOF)
    (aux / "hard.smt2").write_text(pigeonhole(11))
    marker = aux / "proving"
    before = listing(work)
    proc = subprocess.Popen(
        [sys.executable, str(aux / "slow.py"), str(marker), str(aux / "hard.smt2"), "reduce", "model.onnx",
         "-o", "out/small.onnx", "--certify", "cert.json", "--smtlib", "obl"],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    _wait_for(marker.exists, 30, proc)
    assert any(p.name.startswith(".small.onnx.") for p in (work / "out").iterdir())  # the staged model exists now
    time.sleep(0.3)  # well inside the z3 query, which would run for minutes
    seconds, err = _stop(proc, signum)
    assert proc.returncode == code, err
    assert f"lumpcheck: interrupted ({signal.Signals(signum).name})" in err and "Traceback" not in err
    assert seconds < 10  # z3 was cancelled, not waited for (and did not swallow the signal as 'unknown')
    assert listing(work) == before  # no model, certificate, SMT-LIB file, temporary file or new directory


# ---------------------------------------------------------------- zoo


def _slow_net(path: Path) -> None:
    """A 100-400-400-400-2 ReLU net of planted proportional copies: a few seconds of reducing, proving, checking."""
    rng = np.random.default_rng(7)
    layers, width = [], 100
    for _ in range(3):
        base = rng.integers(-9, 10, size=(200, width)).astype(float)
        bias = rng.integers(-9, 10, size=200).astype(float)
        layers.append(Layer(np.concatenate([base, 2 * base]), np.concatenate([bias, 2 * bias]), Activation("relu")))
        width = 400
    layers.append(Layer(rng.integers(-9, 10, size=(2, width)).astype(float), np.zeros(2)))
    save_model(Network(layers), path, dtype="float64")


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
@pytest.mark.parametrize("signum, code", STOPS)
def test_interrupted_zoo_kills_children_and_summarises_the_finished(tmp_path, signum, code):
    zoo, out = tmp_path / "zoo", tmp_path / "out"
    zoo.mkdir()
    shutil.copy(EXAMPLES / "planted_relu.onnx", zoo / "a_fast.onnx")
    _slow_net(zoo / "b_slow.onnx")
    proc = subprocess.Popen([sys.executable, "-m", "lumpcheck.apps.cli", "zoo", str(zoo), "-o", str(out), "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    _wait_for(lambda: list(out.glob("models/a_fast*/done.json")) and _children_of(str(out / "models")), 60, proc)
    assert list(out.glob("models/b_slow*/log.txt"))  # b_slow's model process is running, writing its log
    _, err = _stop(proc, signum)
    assert proc.returncode == code, err
    assert f"interrupted ({signal.Signals(signum).name})" in err and "summary of the 1 finished of 2 jobs" in err, err
    summary = json.loads((out / "summary.json").read_text())
    assert [r["model"] for r in summary["rows"]] == ["a_fast.onnx"] and summary["unfinished"] == 1
    assert summary["rows"][0]["status"] == "reduced"
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["a_fast.onnx"]
    assert 'id="interrupted"' in (out / "index.html").read_text()
    assert [p.name.split("-")[0] for p in (out / "models").iterdir()] == ["a_fast.onnx"]  # b_slow's files are gone
    assert not [p for p in out.rglob(".*")]  # no temporary files
    deadline = time.monotonic() + 5
    while _children_of(str(out / "models")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _children_of(str(out / "models"))


# ---------------------------------------------------------------- the pieces


def test_exit_codes_follow_the_shell_convention():
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(Interrupted(signal.SIGINT)) == 130 and exit_code(Interrupted(signal.SIGTERM)) == 143
    assert isinstance(Interrupted(signal.SIGTERM), KeyboardInterrupt)  # every `except KeyboardInterrupt` clean-up runs


def test_signals_deferred_holds_a_signal_until_the_block_ends():
    class Stopped(Exception):
        pass

    def stop(signum, frame):
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        done = []
        with pytest.raises(Stopped):
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler would run here if the signal were not held
                done.append("block finished")
        assert done == ["block finished"]
        assert signal.getsignal(signal.SIGTERM) is stop  # restored
    finally:
        signal.signal(signal.SIGTERM, previous)
