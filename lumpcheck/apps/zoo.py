"""Batch-check a model zoo: every model reduced, certified and checked in its own process, resumably.

Each (model, domain) job runs `python -m lumpcheck.apps.zoo --one JOB.json` in a child process with a memory cap
(RLIMIT_AS) that the scheduling task kills on timeout, so one bad model can never stop or crash the run.
Any concurrent.futures.Executor schedules the tasks (default: threads, since the work is in the children;
a dask.distributed executor spreads them over machines that share the output directory). A finished job
leaves `done.json` keyed by the SHA-256 of its model and domain files and the settings; reruns skip it.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..checker import check
from ..errors import LumpcheckError, UnsupportedModelError
from ..io.atomic import write_text_atomic
from ..io import load_any
from ..io.compressed import format_suffix
from ..ir.graph.dag import Graph
from .graph_pipeline import run_graph_reduction
from .interrupt import signals_deferred
from .outputs import Named, Target, refuse_clashes
from .pipeline import run_reduction
from .report import write_report
from .zoo_jobs import Job, discover, read_instances, skipped_files
from .zoo_summary import ROW_KINDS, Row, Settings, Skipped, ZooResult, write_summaries

__all__ = ["Job", "child_main", "discover", "job_key", "read_instances", "run_job", "run_zoo", "skipped_files", "stop_all"]
"""Public names; Job, discover, read_instances and skipped_files live in zoo_jobs.py."""

_RETRY_WITH_NEW_LIMITS = ("timeout", "error")
_REASON_CHARS = 300
_OOM_MESSAGES = ("out of memory", "failed to map segment", "cannot allocate memory")
"""How memory exhaustion surfaces besides MemoryError: z3 (Z3Exception), shared-library loads (ImportError/OSError)."""
INTERRUPTED = "interrupted"
"""Status of a job the run was interrupted in (Ctrl-C / SIGTERM): never recorded, its directory is removed."""
_CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _one_line(text: str, limit: int = _REASON_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- one job (scheduling side)

_STOP = threading.Event()
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def job_key(job: Job, settings: Settings) -> str | None:
    """SHA-256 over the model's and domain's bytes and the settings; None when a file cannot be read."""
    try:
        parts = {"model": _sha256(job.model), "domain": None if job.domain is None else _sha256(job.domain),
                 **settings.key_fields()}
    except OSError:
        return None
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _limits(job: Job, settings: Settings) -> dict[str, Any]:
    return {"timeout": job.timeout if job.timeout is not None else settings.timeout, "memory_mb": settings.memory_mb}


def _finished(directory: Path, key: str | None, limits: dict[str, Any]) -> Row | None:
    """The row of an earlier run of the same job with the same inputs, unless it hit limits that changed since."""
    try:
        done = json.loads((directory / "done.json").read_text(encoding="utf-8"))
        row = Row(**done["row"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if key is None or done.get("key") != key or row.status not in ROW_KINDS:  # (an older run's free-text status)
        return None
    if row.kind in _RETRY_WITH_NEW_LIMITS and done.get("limits") != limits:
        return None
    return replace(row, resumed=True)


_RESULT_FIELDS = ("status", "reason", "verdict", "check", "shape_before", "shape_after", "params_before", "params_after")
ARTEFACTS = ("done.json", "result.json", "cert.json", "report.html", "reduced.onnx", "reduced.nnet", "log.txt",
             "cert.failed.json", "reduced.unproved.onnx", "reduced.unproved.nnet")


def run_job(job: Job, out_dir: str, settings: Settings = Settings(), force: bool = False) -> Row:
    """Run one job in a child process (or reuse its earlier result); never raises for a bad model."""
    directory = Path(out_dir) / "models" / job.name
    key, limits = job_key(job, settings), _limits(job, settings)
    if not force and (row := _finished(directory, key, limits)) is not None:
        return row
    if _STOP.is_set():
        return Row(job.rel, job.domain_rel or "", INTERRUPTED, dir=f"models/{job.name}")
    directory.mkdir(parents=True, exist_ok=True)
    for name in ARTEFACTS:  # a rerun must never show an earlier run's files as its own
        (directory / name).unlink(missing_ok=True)
    suffix = ".nnet" if format_suffix(job.model) == ".nnet" else ".onnx"  # .nnet keeps its normalisation header
    spec = {"model": job.model, "domain": job.domain, "dir": str(directory), "suffix": suffix,
            "dtype": settings.dtype, "normalization": settings.normalization, "memory_mb": settings.memory_mb,
            "domain_space": settings.domain_space}
    write_text_atomic(directory / "job.json", json.dumps(spec, indent=1) + "\n")
    start = time.perf_counter()
    status = _spawn(directory, limits["timeout"])
    seconds = time.perf_counter() - start
    row = Row(job.rel, job.domain_rel or "", seconds=round(seconds, 3), dir=f"models/{job.name}")
    if status == "stopped":  # an unfinished job leaves nothing behind (its earlier results were removed above)
        shutil.rmtree(directory, ignore_errors=True)
        return replace(row, status=INTERRUPTED)
    if status == "timeout":
        row.status, row.reason = "timeout", f"no result within {limits['timeout']:g} s"
    else:
        try:
            result = json.loads((directory / "result.json").read_text(encoding="utf-8"))
            row = replace(row, **{k: ("" if v is None and k in ("verdict", "check") else v)
                                  for k, v in result.items() if k in _RESULT_FIELDS})
        except (OSError, ValueError):
            row.status, row.reason = "error", f"{status}; {_last_line(directory / 'log.txt')}".rstrip("; ")
    write_text_atomic(directory / "done.json", json.dumps({"key": key, "limits": limits, "row": asdict(row)}, indent=1) + "\n")
    return row


def _spawn(directory: Path, timeout: float) -> str:
    """Run the child; 'ok', 'timeout', 'stopped' (run interrupted) or how it died."""
    cmd = [sys.executable, "-m", "lumpcheck.apps.zoo", "--one", str(directory / "job.json")]
    with open(directory / "log.txt", "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **_CHILD_ENV}, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE.add(proc)
            if _STOP.is_set():  # stop_all ran between the check in run_job and here
                proc.kill()
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return "stopped" if _STOP.is_set() else "timeout"
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    if _STOP.is_set() and code != 0:
        return "stopped"
    if code == 0:
        return "ok"
    if code < 0:
        return f"worker killed by {signal.Signals(-code).name}"
    return f"worker exited with code {code}"


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return _one_line(lines[-1]) if lines else ""


def stop_all() -> None:
    """Kill every child this process started (Ctrl-C); their jobs are left unfinished, not recorded."""
    _STOP.set()
    with _LIVE_LOCK:
        for proc in list(_LIVE):
            proc.kill()


# ---------------------------------------------------------------- one job (child side)


def _watch_parent() -> None:
    """Exit when the scheduling process dies (killed runner or worker): no orphans racing a rerun. On Linux the
    kernel kills us at once (PR_SET_PDEATHSIG; the spawning thread lives until the pool shuts down, after its
    children); a polling thread covers other systems and a parent that died before the request was made."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(75)

    threading.Thread(target=watch, daemon=True).start()


def _cap_memory(memory_mb: int | None) -> None:
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def child_main(spec_path: str) -> int:
    """Reduce, certify, check and report one model as `job.json` says; write result.json. Exit code 0 if written."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    _watch_parent()
    _cap_memory(spec["memory_mb"])  # after z3, onnx and numpy are loaded (by this module's imports): it limits the work
    directory = Path(spec["dir"])
    try:
        result = _reduce_certify_check(spec, directory)
    except UnsupportedModelError as e:
        result = {"status": "unsupported", "reason": _reason(e, spec["model"])}
    except LumpcheckError as e:
        result = {"status": "error", "reason": _reason(e, spec["model"])}
    except Exception as e:  # noqa: BLE001 - a crash on one model is that model's row, never the run's end
        import traceback

        traceback.print_exc()
        oom = isinstance(e, MemoryError) or any(m in str(e).lower() for m in _OOM_MESSAGES)
        result = {"status": "error", "reason": f"out of memory (limit {spec['memory_mb']} MB)" if oom
                  else f"internal: {type(e).__name__}: {_one_line(e)}"
                  + (f" (under a {spec['memory_mb']} MB memory cap)" if spec["memory_mb"] else "")}
    write_text_atomic(directory / "result.json", json.dumps(result, indent=1) + "\n")
    return 0


def _reason(e: LumpcheckError, model: str) -> str:
    """The error in one line, without the model's (long) path, which the row already names."""
    path = None if e.path in (None, model) else Path(e.path).name
    return _one_line(": ".join(p for p in (path, e.where, e.message) if p))


def _graph_certify_check(spec: dict[str, Any], directory: Path, graph: Graph) -> dict[str, Any]:
    """A graph (CNN/ResNet) model: channel reduction on the row's box, certified and checked independently."""
    if spec.get("domain_space", "input") != "input":
        raise LumpcheckError("--domain-space normalized is for dense chains; a graph's box is over its own input")
    res = run_graph_reduction(spec["model"], directory / "reduced.onnx", domain_path=spec["domain"],
                              cert_path=directory / "cert.json", graph=graph)
    s = res.summary
    out: dict[str, Any] = {"verdict": res.verdict, "shape_before": f"graph, {s.channels_before} channels",
                           "shape_after": f"graph, {s.channels_after} channels", "params_before": s.params_before,
                           "params_after": s.params_after}
    # run_graph_reduction's verdict is the independent checker's, run on the written files (as `check` does)
    out["check"] = "valid" if res.verdict == "proved" else _one_line(f"invalid: {(res.reasons or ['?'])[0]}")
    out["status"] = ("minimal" if res.minimal else "reduced") if res.verdict == "proved" else "failed"
    out["reason"] = "" if out["status"] != "failed" else f"check {out['check']}"
    write_report(res.cert_path, directory / "report.html")
    return out


def _reduce_certify_check(spec: dict[str, Any], directory: Path) -> dict[str, Any]:
    source = load_any(spec["model"])
    if isinstance(source, Graph):
        return _graph_certify_check(spec, directory, source)
    res = run_reduction(spec["model"], directory / f"reduced{spec['suffix']}", domain_path=spec["domain"],
                        dtype=spec["dtype"], cert_path=directory / "cert.json", normalization=spec["normalization"],
                        domain_space=spec.get("domain_space", "input"), source=source)
    reduced, cert_path = res.output_path, res.cert_path  # NAME.unproved.EXT / cert.failed.json if the proof failed
    red = res.reduction
    out: dict[str, Any] = {
        "verdict": res.verdict, "shape_before": red.original.shape_str(), "shape_after": red.network.shape_str(),
        "params_before": red.stats.params_before, "params_after": red.stats.params_after,
    }
    if res.verdict != "proved":
        first = res.certificate.failures[0] if res.certificate and res.certificate.failures else None
        out["status"] = "failed"
        out["reason"] = "proof failed" + (f": {_one_line(first.id + ' ' + first.detail)}" if first else "")
    else:
        checked = check(cert_path, spec["model"], reduced)
        out["check"] = "valid" if checked.valid else _one_line(f"invalid: {checked.reasons[0]}")
        minimal = red.original.widths == red.network.widths
        out["status"] = ("minimal" if minimal else "reduced") if checked.valid else "failed"
        out["reason"] = "" if checked.valid else f"check {out['check']}"
    write_report(cert_path, directory / "report.html")
    return out


# ---------------------------------------------------------------- the run


def run_zoo(models: Iterable[Job | str | Path], out_dir: str | Path, executor: Executor | None = None, *,
            settings: Settings = Settings(), jobs: int = 2, progress: bool = False, force: bool = False,
            skipped: Iterable[Skipped] = ()) -> ZooResult:
    """Run every job (or model path) through `executor` (default: `jobs` threads each driving one child process),
    then write OUT/summary.csv, OUT/summary.json and OUT/index.html (which also name the `skipped` files). Rows
    come back sorted by model and domain. `progress`: a bar on a terminal, else one line per finished job on stdout.

    Refuses (OutputClash) an output directory that holds a model or domain. On Ctrl-C / SIGTERM (KeyboardInterrupt)
    the children are killed, unfinished jobs' directories removed, the summaries written for the finished jobs,
    and the interrupt re-raised (with a note saying so).
    """
    job_list = [m if isinstance(m, Job) else Job.for_model(m) for m in models]
    names = [j.name for j in job_list]
    if len(set(names)) != len(names):
        raise LumpcheckError("two jobs share a model and domain: list each (model, domain) once")
    out = Path(out_dir).resolve()
    refuse_clashes([Named("model", j.model) for j in job_list] + [Named("domain", j.domain) for j in job_list],
                   [Target("-o", out, directory=True)])
    (out / "models").mkdir(parents=True, exist_ok=True)
    own = executor is None
    pool = ThreadPoolExecutor(max_workers=max(1, jobs)) if own else executor
    _STOP.clear()
    start = time.perf_counter()
    futures: dict[Any, Job] = {}
    rows: list[Row] = []
    try:
        futures = {pool.submit(run_job, job, str(out), settings, force): job for job in job_list}
        with _progress(progress, len(job_list)) as advance:
            for fut in _completed(futures):
                rows.append(_row_of(fut, futures[fut]))
                advance(rows[-1])
    except KeyboardInterrupt as e:
        with signals_deferred():  # a second Ctrl-C must not stop the clean-up half-way
            stop_all()
            for fut in futures:
                fut.cancel()
            if own:
                pool.shutdown(wait=True, cancel_futures=True)  # the threads end as soon as their children are dead
            rows = [row for fut, job in futures.items() if fut.done() and not fut.cancelled()
                    and (row := _row_of(fut, job)).status != INTERRUPTED]
            _summarise(rows, start, out, settings, list(skipped), unfinished=len(job_list) - len(rows))
        e.add_note(f"summary of the {len(rows)} finished of {len(job_list)} jobs in {out / 'index.html'} "
                   "(rerun the same command to resume)")
        raise
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    return _summarise(rows, start, out, settings, list(skipped))


def _completed(futures: Iterable[Future]) -> Iterator[Future]:
    """The futures as they finish (like as_completed), waking every 0.2 s: a Ctrl-C or SIGTERM that the kernel
    delivered to another thread (a worker, the progress bar, a dask client) leaves a blocked main thread waiting,
    and Python raises the interrupt only when the main thread runs again."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        yield from done


def _row_of(fut: Any, job: Job) -> Row:
    """The row a finished future gives (a scheduler failure, e.g. a lost dask worker, becomes an error row)."""
    try:
        return fut.result()
    except Exception as e:  # noqa: BLE001 - the scheduler itself failed
        return Row(job.rel, job.domain_rel or "", "error", f"scheduler: {type(e).__name__}: {_one_line(e)}",
                   dir=f"models/{job.name}")


def _summarise(rows: list[Row], start: float, out: Path, settings: Settings, skipped: list[Skipped],
               unfinished: int = 0) -> ZooResult:
    rows = sorted(rows, key=lambda r: (r.model, r.domain))
    result = ZooResult(rows, time.perf_counter() - start, str(out), settings, unfinished, skipped)
    with signals_deferred():  # the three files appear as a set
        write_summaries(result)
    return result


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[Row], None]]:
    """A rich progress bar on stderr when stdout is a terminal, else one flushed line per finished job on stdout
    (CI logs show the run as it goes); nothing when not `enabled`."""
    if not enabled:
        yield lambda row: None
        return
    if not sys.stdout.isatty():
        done = [0]

        def line(row: Row) -> None:
            done[0] += 1
            what = row.model + (f" on {row.domain}" if row.domain else "")
            why = f" ({row.reason})" if row.reason else ""
            print(f"zoo [{done[0]}/{total}] {what}: {row.status}{why}, {row.seconds:.1f} s", flush=True)

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("zoo"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=Console(stderr=True, highlight=False)) as bar:
        task = bar.add_task("", total=total)
        yield lambda row: bar.update(task, advance=1, description=f"{row.model[-50:]}: {row.status[:40]}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--one":
        sys.exit("usage: python -m lumpcheck.apps.zoo --one JOB.json  (internal: one zoo job; use `lumpcheck zoo`)")
    sys.exit(child_main(sys.argv[2]))
