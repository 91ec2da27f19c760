"""Shared fixtures: the public model zoo beside the repository (acceptance tests skip without it); hypothesis
without per-example deadlines (speed is measured in benchmarks/, never by a timed unit test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("lumpcheck", deadline=None)
settings.load_profile("lumpcheck")

from zoo_paths import ZOO, ZOO_MISSING, zoo_onnx_files

MODEL_SUFFIXES = (".onnx", ".nnet")


@pytest.fixture(scope="session")
def zoo() -> Path:
    """Path to ../shared/zoo (read-only; never copy its files into the repo)."""
    if not ZOO.is_dir():
        pytest.skip(ZOO_MISSING)
    return ZOO


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `zoo_model` runs once per .onnx/.nnet file in the zoo, one taking `zoo_onnx` once per .onnx
    file (ids: paths inside the zoo)."""
    for name in ("zoo_model", "zoo_onnx"):
        if name not in metafunc.fixturenames:
            continue
        if name == "zoo_model":
            files = sorted(p for p in ZOO.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES) if ZOO.is_dir() else []
        else:
            files = zoo_onnx_files()
        if files:
            metafunc.parametrize(name, files, ids=[str(p.relative_to(ZOO)) for p in files])
        else:
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=ZOO_MISSING))])


@pytest.fixture(scope="module")
def dask_cluster():
    """(dask.distributed, an in-process LocalCluster with one worker on a tcp address), for one test module."""
    distributed = pytest.importorskip("dask.distributed", reason="dask.distributed not installed (pip install 'lumpcheck[dask]')")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  dashboard_address=":0") as cluster:
        yield distributed, cluster
