"""Issue 13.2: a PyTorch state_dict goes through every command that reads a model (`--arch`), and without `--arch`
every command fails with exit code 2 and a one-line message naming the option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.console import EXIT_USAGE

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]


def state_dict(path: Path) -> Path:
    """Linear(2, 4) with rows 2, 3 duplicating rows 0, 1, ReLU, Linear(4, 1): a state_dict, no architecture."""
    rng = np.random.default_rng(2)
    w = rng.integers(-4, 5, size=(2, 2)) / 4
    lin1, lin2 = torch.nn.Linear(2, 4), torch.nn.Linear(4, 1)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor(np.vstack([w, w]), dtype=torch.float32))
        lin1.bias.copy_(torch.tensor([0.5, -0.25, 0.5, -0.25]))
        lin2.weight.copy_(torch.tensor([[1.0, 0.5, -2.0, 0.25]]))
        lin2.bias.zero_()
    torch.save(torch.nn.Sequential(lin1, torch.nn.ReLU(), lin2).state_dict(), path)
    return path


def box(tmp_path: Path) -> Path:
    p = tmp_path / "box.vnnlib"
    p.write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                 "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n")
    return p


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_every_command_reads_a_state_dict_with_arch(tmp_path):
    sd = state_dict(tmp_path / "net.pt")
    arch = ["--arch", "relu,identity"]
    assert run("info", sd, *arch).exit_code == 0
    res = run("reduce", sd, "-o", tmp_path / "small.onnx", "--certify", tmp_path / "c.json", *arch)
    assert res.exit_code == 0, res.output
    assert "2-2-1" in res.output
    res = run("check", tmp_path / "c.json", sd, tmp_path / "small.onnx", *arch)
    assert res.exit_code == 0 and "valid" in res.output, res.output
    res = run("verify", sd, tmp_path / "small.onnx", *arch, "--arch-b", "relu,identity", "--timeout", "30")
    assert res.exit_code == 0 and "unsat" in res.output, res.output
    res = run("verify", sd, sd, *arch, "--timeout", "30")  # --arch-b defaults to --arch
    assert res.exit_code == 0, res.output
    res = run("approx", sd, "--domain", box(tmp_path), "-t", "0", "-o", tmp_path / "a.onnx", *arch)
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("command", ["info", "reduce", "check", "verify", "verify-b", "approx"])
def test_a_state_dict_without_arch_is_exit_2_naming_the_option(tmp_path, command):
    sd = state_dict(tmp_path / "net.pt")
    other = REPO / "examples" / "planted_relu.onnx"
    args = {
        "info": ["info", sd],
        "reduce": ["reduce", sd, "-o", tmp_path / "s.onnx"],
        "check": ["check", tmp_path / "c.json", sd, tmp_path / "small.onnx"],
        "verify": ["verify", sd, other],
        "verify-b": ["verify", other, sd],
        "approx": ["approx", sd, "--domain", box(tmp_path), "-t", "0", "-o", tmp_path / "a.onnx"],
    }[command]
    if command == "check":
        assert run("reduce", sd, "-o", tmp_path / "small.onnx", "--certify", tmp_path / "c.json", "--arch",
                   "relu,identity").exit_code == 0
    res = run(*args)
    option = "--arch-b" if command == "verify-b" else "--arch"
    assert res.exit_code == EXIT_USAGE, res.output
    assert f"pass {option} " in res.output and "net.pt" in res.output and len(res.output.strip().splitlines()) == 1
