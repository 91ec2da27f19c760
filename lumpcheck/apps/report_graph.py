"""Reports for graph (CNN/ResNet) certificates: one self-contained HTML page or Markdown.

What the certificate claims (everywhere, or only on its box), whether the model files still carry the certified
hashes, and per round which channel spaces shrank and why (merged into a kept channel, folded as a constant, or
dead). Like report.py it re-verifies nothing (that is `lumpcheck check`) and escapes every string it shows.
"""

from __future__ import annotations

import html
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.atomic import write_text_atomic
from ..prove.records import sha256_file
from .outputs import Named, refuse_clashes
from .report_files import FileCheck


@dataclass(frozen=True)
class SpaceRow:
    round: int
    kind: str
    producers: str
    before: int
    after: int
    merged: int  # removed channels expressed through a kept one
    constant: int  # removed channels folded as constants (merges) or dead


@dataclass(frozen=True)
class GraphReport:
    cert_path: str
    doc: dict
    files: tuple[FileCheck, FileCheck]
    rows: list[SpaceRow]

    @property
    def only_on_box(self) -> bool:
        return bool((self.doc.get("claim") or {}).get("only_on_domain"))

    @property
    def verdict_line(self) -> str:
        source = ((self.doc.get("claim") or {}).get("domain") or {}).get("source") or "its box"
        scope = f"equal ONLY on the input box of {Path(source).name}, not outside it" if self.only_on_box \
            else "equal on all inputs"
        files = "the model files match the certified hashes" if all(f.status == "matches" for f in self.files) \
            else "; ".join(f"the {f.role} model file {f.status}" for f in self.files if f.status != "matches")
        return f"graph channel reduction, claimed {scope}; {files}; re-check with: {self.check_command}"

    @property
    def check_command(self) -> str:
        return "lumpcheck check " + " ".join(shlex.quote(p) for p in
                                             [self.cert_path] + [f.path or f.recorded_path for f in self.files])


def _file(role: str, record: Any, override: str | Path | None, cert_dir: Path) -> FileCheck:
    record = record if isinstance(record, dict) else {}
    recorded = str(record.get("path", ""))
    candidates = [Path(override)] if override is not None else [Path(recorded), cert_dir / recorded]
    found = next((p for p in candidates if str(p) and p.is_file()), None)
    return FileCheck(role, recorded, None if found is None else str(found), record.get("sha256"),
                     None if found is None else sha256_file(found))


def _rows(doc: dict) -> list[SpaceRow]:
    rows = []
    for i, rnd in enumerate(doc.get("rounds") or [], start=1):
        for m in rnd.get("removals") or []:
            reps = [r for r in m.get("reps") or []]
            merged = sum(1 for r in reps if isinstance(r, list) and len(r) == 2 and r[1] is not None)
            removed = int(m.get("channels", 0)) - len(m.get("kept") or [])
            rows.append(SpaceRow(i, str(m.get("kind")), ", ".join(map(str, m.get("producers") or [])),
                                 int(m.get("channels", 0)), len(m.get("kept") or []), merged, removed - merged))
    return rows


def build_graph_report(doc: dict, cert_path: str | Path, original=None, reduced=None) -> GraphReport:
    models = doc.get("models") or {}
    cert_dir = Path(cert_path).parent
    files = (_file("original", models.get("original"), original, cert_dir),
             _file("reduced", models.get("reduced"), reduced, cert_dir))
    return GraphReport(str(cert_path), doc, files, _rows(doc))


HEAD = ["round", "kind", "producers", "channels", "kept", "merged", "constant/dead"]


def _cells(r: SpaceRow) -> list[str]:
    return [str(r.round), r.kind, r.producers, str(r.before), str(r.after), str(r.merged), str(r.constant)]


def render_graph(report: GraphReport, fmt: str) -> str:
    stats = report.doc.get("stats") or {}
    facts = [("verdict", report.verdict_line)] + [(f"{f.role} model", f"{f.path or f.recorded_path} (sha256 "
                                                   f"{(f.recorded_sha256 or '')[:16]}…, {f.status})") for f in report.files]
    facts += [(str(k), str(v)) for k, v in stats.items()]
    if fmt == "md":
        lines = ["# lumpcheck graph certificate report", ""] + [f"- **{k}**: {v}" for k, v in facts] + ["", "## Channel spaces", ""]
        lines += ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in report.rows]
        if not report.rows:
            lines.append("(nothing removed: the graph was already minimal)")
        return "\n".join(lines) + "\n"
    e = html.escape
    table = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r)) + "</tr>" for r in report.rows)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>lumpcheck graph report</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
            "display:block;overflow-x:auto}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
            "<h1>lumpcheck graph certificate report</h1><ul>"
            + "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in facts) + "</ul><h2>Channel spaces</h2>"
            + (f"<table><tr>{''.join(f'<th>{e(h)}</th>' for h in HEAD)}</tr>{table}</table>" if report.rows
               else "<p>nothing removed: the graph was already minimal</p>") + "</body></html>\n")


def write_graph_report(doc: dict, cert_path: str | Path, out_path: str | Path, fmt: str, original=None,
                       reduced=None) -> GraphReport:
    report = build_graph_report(doc, cert_path, original, reduced)
    inputs = [Named("CERTIFICATE", cert_path)] + [Named(f"the {f.role} model", f.path) for f in report.files]
    refuse_clashes(inputs, [Named("-o", out_path)])
    write_text_atomic(out_path, render_graph(report, fmt))
    return report
