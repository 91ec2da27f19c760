"""The README tells the truth: its Python API examples run (doctest), its ONNX op list is the op table's, and it
lists every command and every model format the code reads (issue 13.2, 13.7, 13.8)."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lumpcheck
from lumpcheck.apps.cli import cli
from lumpcheck.io import READABLE
from lumpcheck.io.onnx.ops import OPS, SUPPORTED

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def doctest_blocks(text: str) -> list[str]:
    """Every ```python block holding `>>>` examples."""
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if ">>>" in b]


def test_readme_has_api_examples():
    assert doctest_blocks(README), "README: no Python API doctest block"


@pytest.mark.parametrize("index", range(len(doctest_blocks(README))))
def test_readme_api_examples_run(tmp_path, monkeypatch, index):
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    block = doctest_blocks(README)[index]
    test = doctest.DocTestParser().get_doctest(block, {}, f"README block {index}", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    lines: list[str] = []
    runner.run(test, out=lines.append)
    assert runner.failures == 0, "".join(lines)


def test_readme_onnx_op_list_is_the_op_table():
    found = re.search(r"The op table \(`lumpcheck/io/onnx/ops.py`\) reads\s+these ops: (.*?)\.\s", README, re.DOTALL)
    assert found, "README: the ONNX op list sentence is missing"
    listed = re.findall(r"`(\w+)`", found[1])
    assert listed == sorted(OPS), f"README lists {listed}, the op table has {sorted(OPS)}"
    unnamed = [op for op in OPS if not re.search(rf"\b{op}\b", SUPPORTED)]
    assert not unnamed, f"the SUPPORTED message omits {unnamed}"


def test_readme_lists_every_command_and_format():
    for name in cli.commands:
        assert f"`lumpcheck {name} " in README, f"README: command {name} missing from the Commands table"
    for suffix in READABLE:
        assert f"`{suffix}`" in README or f"{suffix}" in README, f"README: format {suffix} not listed"
    for suffix in (".vnnlib.gz", ".pt", ".h5"):
        assert suffix in README


def test_public_api_is_exported_lazily_and_typed():
    for name in ("reduce_model", "verify", "check", "load_model", "read_box", "Verdict", "PipelineResult",
                 "CheckResult", "VerifyResult", "Certificate", "Box", "LumpcheckError"):
        assert name in lumpcheck.__all__ and getattr(lumpcheck, name) is not None, name
    assert (Path(lumpcheck.__file__).parent / "py.typed").is_file()
    assert 'lumpcheck = ["py.typed"]' in (REPO / "pyproject.toml").read_text()
    code = "import sys, lumpcheck; print(sorted(m for m in sys.modules if m.startswith(('lumpcheck.', 'numpy', 'z3'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
