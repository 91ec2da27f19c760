"""Where the public model zoo is (../shared/zoo beside the repository) and which ONNX files it holds."""

from __future__ import annotations

from pathlib import Path

ZOO = Path(__file__).parents[1].parent / "shared" / "zoo"
ZOO_MISSING = "../shared/zoo not found: zoo acceptance tests need the shared model zoo beside the repo"


def zoo_onnx_files() -> list[Path]:
    return sorted(ZOO.rglob("*.onnx")) if ZOO.is_dir() else []
