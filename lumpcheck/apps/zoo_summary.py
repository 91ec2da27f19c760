"""What a zoo run produced: its settings, one Row per (model, domain) job, and the summaries written from them
(summary.csv, summary.json and a self-contained index.html)."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..io.atomic import write_text_atomic
from .console import EXIT_OK, EXIT_REFUTED, EXIT_UNKNOWN

DEFAULT_TIMEOUT = 300.0

DEFAULT_MEMORY_MB = 4096

ROW_KINDS = ("reduced", "minimal", "failed", "unsupported", "error", "timeout")
"""The status column's fixed vocabulary: reduced/minimal (proved and checked), failed (proof or check did not hold),
unsupported (model outside lumpcheck's scope), error (bad file, crash, out of memory), timeout. Why a row is not
reduced/minimal is in its separate `reason` column."""
OK_KINDS = ("reduced", "minimal")


@dataclass(frozen=True)
class Settings:
    """What a run does to every model. `dtype`/`normalization` are part of the resume key; limits are not."""

    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int | None = DEFAULT_MEMORY_MB
    dtype: str = "auto"
    normalization: str = "keep"
    domain_space: str = "input"

    def key_fields(self) -> dict[str, Any]:
        return {"lumpcheck": __version__, "dtype": self.dtype, "normalization": self.normalization,
                "domain_space": self.domain_space}


@dataclass
class Row:
    """One line of the summary."""

    model: str
    domain: str = ""
    status: str = ""  # one of ROW_KINDS
    reason: str = ""  # why it is not reduced/minimal (one line), else ""
    verdict: str = ""  # proved / failed / "" (no proof)
    check: str = ""  # valid / invalid: reason / ""
    shape_before: str = ""
    shape_after: str = ""
    params_before: int | None = None
    params_after: int | None = None
    seconds: float = 0.0
    dir: str = ""  # artefact directory, relative to the output directory
    resumed: bool = False  # taken from an earlier run's done.json

    @property
    def kind(self) -> str:
        return self.status


@dataclass(frozen=True)
class Skipped:
    """A file under the zoo directory that the run does not process, and why."""

    file: str
    reason: str


@dataclass
class ZooResult:
    rows: list[Row]
    wall_seconds: float
    out_dir: str
    settings: Settings = field(default_factory=Settings)
    unfinished: int = 0  # jobs left out because the run was interrupted
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when a proof or check failed; else 4 when a row errored or timed out (the run did not decide every
        model); else 0 (unsupported models do not fail a run: they are outside lumpcheck's scope)."""
        kinds = {r.kind for r in self.rows}
        return EXIT_REFUTED if "failed" in kinds else EXIT_UNKNOWN if kinds & {"error", "timeout"} else EXIT_OK

    @property
    def counts(self) -> dict[str, int]:
        """Rows per status kind, in ROW_KINDS order (kinds with no rows left out)."""
        kinds = [r.kind for r in self.rows]
        return {k: kinds.count(k) for k in ROW_KINDS if k in kinds}


CSV_COLUMNS = [f.name for f in fields(Row)]


def write_summaries(result: ZooResult) -> None:
    """OUT/summary.csv, OUT/summary.json and OUT/index.html, each written atomically."""
    out = Path(result.out_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in result.rows)
    write_text_atomic(out / "summary.csv", buf.getvalue())
    doc = {"lumpcheck_version": __version__, "created": _now(), "wall_seconds": round(result.wall_seconds, 3),
           "settings": asdict(result.settings), "counts": result.counts, "unfinished": result.unfinished,
           "skipped": [asdict(s) for s in result.skipped], "rows": [asdict(r) for r in result.rows]}
    write_text_atomic(out / "summary.json", json.dumps(doc, indent=1) + "\n")
    write_text_atomic(out / "index.html", index_html(result))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_INDEX_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.model{overflow-wrap:anywhere;min-width:12em;max-width:26em}td.status{overflow-wrap:anywhere;max-width:20em}
td.nw,a{white-space:nowrap}small{color:#555}
.k-reduced,.k-minimal{color:#2e8540}.k-failed,.k-error{color:#c0392b;font-weight:bold}.k-timeout{color:#e67e22}
.k-unsupported{color:#777}
"""


def index_html(result: ZooResult) -> str:
    """A self-contained table of every row linking its report, certificate, reduced model and log."""
    out = Path(result.out_dir)
    e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items()) or "no models"
    body = []
    for r in result.rows:
        links = []
        for label, name in (("report", "report.html"), ("certificate", "cert.json"), ("reduced model", "reduced.onnx"),
                            ("reduced model", "reduced.nnet"), ("failed certificate", "cert.failed.json"),
                            ("unproved model", "reduced.unproved.onnx"), ("unproved model", "reduced.unproved.nnet"),
                            ("log", "log.txt")):
            if r.dir and (out / r.dir / name).is_file():
                links.append(f'<a href="{e(r.dir + "/" + name)}">{label}</a>')
        params = f"{r.params_before:,}<br>→ {r.params_after:,}" if r.params_before is not None else ""
        shape = f"{e(r.shape_before)}<br>→ {e(r.shape_after)}" if r.shape_before else ""
        status = f"<b>{e(r.status)}</b>" + (f"<br><small>{e(r.reason)}</small>" if r.reason else "")
        body.append(f'<tr><td class="model">{e(r.model)}</td><td class="status">{e(r.domain)}</td>'
                    f'<td class="status k-{e(r.kind)}">{status}</td><td>{e(r.verdict)}</td><td class="status">{e(r.check)}</td>'
                    f'<td class="nw">{shape}</td><td class="num">{params}</td><td class="num">{r.seconds:.1f}</td>'
                    f'<td>{"<br>".join(links)}{"<br>(resumed)" if r.resumed else ""}</td></tr>')
    s = result.settings
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>lumpcheck zoo: {len(result.rows)} models</title><style>{_INDEX_CSS}</style></head><body>\n",
        f"<h1>lumpcheck zoo: {len(result.rows)} jobs</h1>\n",
        f'<p id="counts">{e(counts)}; wall time {result.wall_seconds:.1f} s; per-model timeout {s.timeout:g} s '
        f"(domain-map rows: their own), memory cap {e(s.memory_mb or 'none')} MB; lumpcheck {e(__version__)}, {e(_now())}.</p>\n",
        f'<p id="interrupted"><b>Interrupted</b>: {result.unfinished} jobs not finished and not listed; rerun the same '
        "command to resume.</p>\n" if result.unfinished else "",
        "<p>reduced / minimal = reduced (or already minimal), proved and independently checked; failed = a proof or check "
        "did not hold; unsupported = outside lumpcheck's scope; error = unreadable file or crash; timeout.</p>\n",
        "" if not result.skipped else f'<p id="skipped">Skipped {len(result.skipped)} file(s): '
        + "; ".join(f"{e(s.file)} ({e(s.reason)})" for s in result.skipped) + "</p>\n",
        "<table><thead><tr><th>model</th><th>domain</th><th>status</th><th>verdict</th><th>check</th><th>shape</th>"
        "<th>params</th><th>s</th><th>artefacts</th></tr></thead><tbody>\n",
        "\n".join(body),
        "\n</tbody></table></body></html>\n",
    ])
