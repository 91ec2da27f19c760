"""Shared fixtures: the public model zoo beside the repository (acceptance tests skip without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

ZOO = Path(__file__).parents[1].parent / "shared" / "zoo"
ZOO_MISSING = "../shared/zoo not found: zoo acceptance tests need the shared model zoo beside the repo"
MODEL_SUFFIXES = (".onnx", ".nnet")


@pytest.fixture(scope="session")
def zoo() -> Path:
    """Path to ../shared/zoo (read-only; never copy its files into the repo)."""
    if not ZOO.is_dir():
        pytest.skip(ZOO_MISSING)
    return ZOO


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `zoo_model` runs once per .onnx/.nnet file in the zoo (ids: paths inside the zoo)."""
    if "zoo_model" not in metafunc.fixturenames:
        return
    files = sorted(p for p in ZOO.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES) if ZOO.is_dir() else []
    if files:
        metafunc.parametrize("zoo_model", files, ids=[str(p.relative_to(ZOO)) for p in files])
    else:
        metafunc.parametrize("zoo_model", [pytest.param(None, marks=pytest.mark.skip(reason=ZOO_MISSING))])
