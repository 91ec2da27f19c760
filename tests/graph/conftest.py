"""Graph tests: `zoo_onnx` runs a test once per .onnx file of ../shared/zoo (skipped without the zoo)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared builders beside the tests

ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"
ZOO_MISSING = "../shared/zoo not found: zoo tests need the shared model zoo beside the repo"


def zoo_onnx_files() -> list[Path]:
    return sorted(ZOO.rglob("*.onnx")) if ZOO.is_dir() else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "zoo_onnx" not in metafunc.fixturenames:
        return
    files = zoo_onnx_files()
    if files:
        metafunc.parametrize("zoo_onnx", files, ids=[str(p.relative_to(ZOO)) for p in files])
    else:
        metafunc.parametrize("zoo_onnx", [pytest.param(None, marks=pytest.mark.skip(reason=ZOO_MISSING))])
