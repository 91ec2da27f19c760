"""The report of a union certificate (`verify --certify` on a property whose input region is an `or` of boxes, each
decided on its own): one section per box, each its part's own report (differential, domain-match or
difference-bound), under one verdict line."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..checker.document import BOUND_FORMAT, DIFF_FORMAT, DOMAIN_FORMAT
from .report_bound import build_bound_report, render_bound
from .report_diff import build_diff_report, render_diff, write_pair_report
from .report_domain import build_domain_report, render_domain

PARTS: dict[str, tuple[Callable, Callable]] = {DIFF_FORMAT: (build_diff_report, render_diff),
                                               DOMAIN_FORMAT: (build_domain_report, render_domain),
                                               BOUND_FORMAT: (build_bound_report, render_bound)}


@dataclass
class UnionReport:
    cert_path: str
    parts: list[tuple[Any, Callable]]  # each box's report and its renderer

    @property
    def verdict_line(self) -> str:
        first = self.parts[0][0]
        return (f"unsat (equivalent) on each of the {len(self.parts)} boxes of the region (an `or` of input boxes), "
                f"one certificate per box; re-check with: {first.check_command}")


def build_union_report(doc: dict, cert_path: str | Path, a_path=None, b_path=None) -> UnionReport:
    """Each part's report (ValueError for a part that is not a pair certificate)."""
    parts = doc.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ValueError("parts must be a non-empty list of certificates")
    reports = []
    for i, part in enumerate(parts):
        fmt = part.get("format") if isinstance(part, dict) else None
        if fmt not in PARTS:
            raise ValueError(f"part {i} has format {fmt!r}, not a pair certificate's")
        build, render = PARTS[fmt]
        reports.append((build(part, cert_path, a_path, b_path), render))
    return UnionReport(str(cert_path), reports)


def render_union(report: UnionReport, fmt: str) -> str:
    """The parts' pages, each under 'Box i of n' with its headings two levels down (Markdown) or its body in a
    section (HTML)."""
    n = len(report.parts)
    pages = [render(part, fmt) for part, render in report.parts]
    if fmt == "md":
        sections = [f"## Box {i + 1} of {n}\n\n" + re.sub(r"(?m)^#", "###", page) for i, page in enumerate(pages)]
        return "\n".join(["# lumpcheck union certificate report", "", f"- **verdict**: {report.verdict_line}", ""]
                         + sections)
    bodies = [page.split("<body>", 1)[1].rsplit("</body>", 1)[0] for page in pages]
    bodies = [re.sub(r"<(/?)h([12])>", lambda m: f"<{m[1]}h{int(m[2]) + 2}>", body) for body in bodies]
    e = html.escape
    return ("<!doctype html><html><head><meta charset='utf-8'><title>lumpcheck union report</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
            "display:block;overflow-x:auto}td,th{border:1px solid #ccc;padding:2px 6px}"
            ".v{background:#e8f5e9;padding:6px}</style></head><body><h1>lumpcheck union certificate report</h1>"
            f"<p class='v'><b>{e(report.verdict_line)}</b></p>"
            + "".join(f"<section><h2>Box {i + 1} of {n}</h2>{body}</section>" for i, body in enumerate(bodies))
            + "</body></html>\n")


def write_union_report(doc: dict, cert_path: str | Path, out_path: str | Path, fmt: str, a_path=None,
                       b_path=None) -> UnionReport:
    return write_pair_report(build_union_report, render_union, doc, cert_path, out_path, fmt, a_path, b_path)
