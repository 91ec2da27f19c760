"""Which jobs a zoo run has: the model files under a directory (one job per model, or per (model, domain) row of a
VNN-COMP instances.csv, every file it names checked to exist before anything starts), and the model files it does
not run, each named with why."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import LumpcheckError
from ..io.compressed import format_suffix, is_gzipped
from ..io.vnncomp import seconds
from .zoo_summary import Skipped

MODEL_SUFFIXES = (".onnx", ".nnet")
"""What the zoo runs (also gzipped: .onnx.gz, .nnet.gz); other model files are skipped by name (SKIPPED_SUFFIXES)."""
SKIPPED_SUFFIXES = {
    ".pt": "PyTorch: a state_dict needs --arch; run `lumpcheck reduce --arch …` on it",
    ".pth": "PyTorch: a state_dict needs --arch; run `lumpcheck reduce --arch …` on it",
    ".h5": "Keras: run `lumpcheck reduce` on it",
    ".hdf5": "Keras: run `lumpcheck reduce` on it",
}
MISSING_SHOWN = 10


@dataclass(frozen=True)
class Job:
    """One (model, domain) pair to reduce and certify; `rel`/`domain_rel` are the names shown in the summary."""

    model: str
    rel: str
    domain: str | None = None
    domain_rel: str | None = None
    timeout: float | None = None  # from the domain map's timeout column (None: the run's default)

    @property
    def name(self) -> str:
        """Directory name under OUT/models: readable, filesystem-safe, unique per (model, domain)."""
        digest = hashlib.sha256(f"{self.rel}\0{self.domain_rel or ''}".encode()).hexdigest()[:8]
        base = safe_name(self.rel.replace("/", "__"))[:80]
        if self.domain_rel:
            base += "--" + safe_name(Path(self.domain_rel).stem)[:40]
        return f"{base}-{digest}"

    @staticmethod
    def for_model(path: str | Path, root: str | Path | None = None) -> "Job":
        p = Path(path).resolve()
        return Job(str(p), relative(p, Path(root).resolve() if root else p.parent))


def safe_name(text: str) -> str:
    out = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in text)
    return out.strip("._") or "model"


def relative(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


# ---------------------------------------------------------------- finding the jobs


def read_instances(csv_path: str | Path, missing_rows: list[str] | None = None) -> list[tuple[Path, Path, float | None]]:
    """VNN-COMP instances.csv rows `onnx_path,vnnlib_path,timeout` (paths relative to the csv); a header is skipped.
    A named file that is absent but gzipped beside it (`x.onnx.gz` for `x.onnx`) is taken. Every file still missing
    is listed in one LumpcheckError (exit 2) before anything runs; unless `missing_rows` is a list, which then
    receives the rows naming a missing file ('line N: FILE'), and those rows are left out."""
    p = Path(csv_path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LumpcheckError(f"cannot read domain map: {e}", str(p)) from None
    out, missing = [], []
    for n, fields_ in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in fields_]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise LumpcheckError("expected onnx_path,vnnlib_path,timeout", str(p), f"line {n}")
        if cells[0].startswith("["):
            raise LumpcheckError("a two-network row (VNN-COMP's [('f', A), ('g', B)]): the zoo reduces one model per "
                                 "row; compare pairs with `lumpcheck verify --instances` instead", str(p), f"line {n}")
        text = cells[2] if len(cells) > 2 else ""
        try:
            timeout = float(text) if text else None
        except ValueError:
            if not out and n == 1 and not _present(p.parent / cells[0]).is_file():
                continue  # a header row (a first row naming a model file is a row, its timeout an error)
            raise LumpcheckError(f"timeout {text!r} is not a number", str(p), f"line {n}") from None
        try:
            timeout = None if timeout is None else seconds(text)  # the one rule for time limits (verify's rows too)
        except ValueError as e:
            raise LumpcheckError(f"timeout column: {e}", str(p), f"line {n}") from None
        model, domain = (_present(p.parent / cell) for cell in cells[:2])
        absent = [f"line {n}: {cell}" for cell, path in zip(cells[:2], (model, domain)) if not path.is_file()]
        missing += absent
        if not absent or missing_rows is None:
            out.append((model, domain, timeout))
    if missing and missing_rows is not None:
        missing_rows.extend(missing)
    elif missing:
        more = f"; … {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
        raise LumpcheckError(f"{len(missing)} file(s) it names do not exist (nothing was started): "
                             f"{'; '.join(missing[:MISSING_SHOWN])}{more}", str(p))
    return out


def _present(path: Path) -> Path:
    """The path, or its gzipped sibling (x.onnx.gz for x.onnx) when only that exists, resolved."""
    gz = path.with_name(path.name + ".gz")
    return (gz if not path.exists() and gz.is_file() else path).resolve()


def discover(root: str | Path, domain_map: str | Path | None = None, *, csv_timeouts: bool = True,
             exclude: Iterable[str | Path] = (), missing_rows: list[str] | None = None) -> list[Job]:
    """Every .onnx/.nnet (also .gz) under `root` (except under `exclude`), one job per domain-map row naming it (else
    one without a domain), plus the domain map's rows for models not under `root` (every file the map names must
    exist: see read_instances)."""
    base = Path(root).resolve()
    models = [p for p in _files(base, exclude) if format_suffix(p) in MODEL_SUFFIXES]
    rows = read_instances(domain_map, missing_rows) if domain_map is not None else []
    paired: dict[Path, list[tuple[Path, float | None]]] = {}
    for model, domain, timeout in rows:
        paired.setdefault(model, []).append((domain, timeout if csv_timeouts else None))
    jobs = []
    for model in models + [m for m in paired if m not in set(models)]:
        rel = relative(model, base)
        if model not in paired:
            jobs.append(Job(str(model), rel))
        for domain, timeout in paired.get(model, []):
            jobs.append(Job(str(model), rel, str(domain), relative(domain, base), timeout))
    return jobs


def _files(base: Path, exclude: Iterable[str | Path]) -> list[Path]:
    skip = [Path(e).resolve() for e in exclude]
    return sorted(p for p in base.rglob("*") if p.is_file() and not any(p.is_relative_to(s) for s in skip))


def skipped_files(root: str | Path, exclude: Iterable[str | Path] = ()) -> list[Skipped]:
    """Model files under `root` that the zoo does not run (PyTorch, Keras, other gzipped files), each with why."""
    base = Path(root).resolve()
    out = []
    for p in _files(base, exclude):
        suffix = format_suffix(p)
        if suffix in SKIPPED_SUFFIXES and not is_gzipped(p):
            out.append(Skipped(relative(p, base), SKIPPED_SUFFIXES[suffix]))
        elif is_gzipped(p) and suffix not in (*MODEL_SUFFIXES, ".vnnlib"):
            out.append(Skipped(relative(p, base), f"gzipped {suffix or 'file'}: the zoo reads .onnx.gz, .nnet.gz and "
                                              ".vnnlib.gz"))
    return out
