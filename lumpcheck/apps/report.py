"""Proof reports people read: one self-contained HTML page (or Markdown) per certificate.

The report states what the certificate claims, whether the model files on disk still carry the
certified hashes, how each layer shrank, and every obligation's result. It re-verifies nothing itself
(that is `lumpcheck check`); every string taken from a model or certificate is escaped.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..checker.document import BOUND_FORMAT, DIFF_FORMAT, DOMAIN_FORMAT, GRAPH_FORMAT, UNION_FORMAT
from ..errors import ModelFormatError
from ..io.atomic import write_text_atomic
from ..ir.exact import fraction_str
from ..prove.records import Certificate, ObligationRecord, read_certificate, sha256_file
from .outputs import Named, refuse_clashes
from .report_diff import DiffReport, write_diff_report
from .report_bound import BoundReport, write_bound_report
from .report_domain import DomainReport, write_domain_report
from .report_files import FileCheck
from .report_graph import GraphReport, write_graph_report
from .report_union import UnionReport, write_union_report
from .report_facts import (
    OutputProperty,
    PhaseRow,
    constant_outputs,
    decimal,
    epsilon_method,
    layer_seconds,
    output_property,
    phase_rows,
)
from .report_sections import BOX_ROWS_SHOWN, box_html, box_summary, constant_html, output_property_html, phases_html, q_md

FORMATS = ("html", "md")
MERGED = ("duplicate", "proportional", "negated")
"""Reasons of neurons merged into another neuron's class (highlighted)."""
COLLAPSE_AFTER = 12
"""Obligation lists longer than this are collapsed (<details>)."""
STATEMENT_CHARS = 160
BAR_CHARS = 40


@dataclass(frozen=True)
class LayerRow:
    """One hidden layer: widths before/after, neurons per reason, and reduced neurons standing for 2+ originals."""

    layer: int
    before: int
    after: int
    reasons: dict[str, int]
    merged_classes: int

    @property
    def kept(self) -> int:
        return self.reasons.get("kept", 0)

    @property
    def merged(self) -> int:
        return sum(self.reasons.get(r, 0) for r in MERGED)

    @property
    def removed(self) -> int:
        return self.before - self.kept - self.merged


@dataclass(frozen=True)
class Report:
    """Everything a report shows, gathered from a certificate and the two files it names."""

    cert_path: str
    cert: Certificate
    files: tuple[FileCheck, FileCheck]
    layers: list[LayerRow]
    phases: list[PhaseRow] = field(default_factory=list)  # stable phases per layer (box reductions)
    seconds: dict[int, float] = field(default_factory=dict)  # proof time per layer
    output_property: OutputProperty | None = None  # the VNN-LIB output constraint (from the domain file)
    epsilon_method: str | None = None  # how ε was established (ε-certificates)
    constant: list[Fraction] | None = None  # outputs of a reduced model that is a constant function

    @property
    def proved(self) -> bool:
        return self.cert.verdict == "proved"

    @property
    def hashes_match(self) -> bool:
        return all(f.status == "matches" for f in self.files)

    @property
    def verdict_line(self) -> str:
        return verdict_sentence(self)

    @property
    def check_command(self) -> str:
        paths = [self.cert_path] + [f.path or f.recorded_path for f in self.files]
        return "lumpcheck check " + " ".join(shlex.quote(p) for p in paths)


def _find(recorded: str, override: str | Path | None, cert_dir: Path) -> Path | None:
    """The file as overridden, else as recorded (relative to the working directory, then to the certificate)."""
    candidates = [Path(override)] if override is not None else [Path(recorded), cert_dir / recorded]
    return next((p for p in candidates if p.is_file()), None)


def build_report(cert_path: str | Path, original: str | Path | None = None, reduced: str | Path | None = None) -> Report:
    """Read and validate the certificate, hash the model files it names (or the given ones), tabulate the layers."""
    cert = read_certificate(cert_path)
    cert_dir = Path(cert_path).parent
    files = []
    for role, record, override in (("original", cert.original, original), ("reduced", cert.reduced, reduced)):
        found = _find(record.path, override, cert_dir)
        files.append(FileCheck(role, record.path, None if found is None else str(found), record.sha256,
                               None if found is None else sha256_file(found)))
    layers = [
        LayerRow(ell, len(lr.maps), lr.reduced_width, lr.reason_counts(), sum(len(c) >= 2 for c in lr.classes()))
        for ell, lr in enumerate(cert.relation.layers, start=1)
    ]
    reduced_ok = files[1].path if files[1].status == "matches" else None
    return Report(str(cert_path), cert, (files[0], files[1]), layers, phase_rows(cert), layer_seconds(cert),
                  output_property(cert, cert_dir), epsilon_method(cert_path) if cert.mode == "epsilon" else None,
                  constant_outputs(cert, reduced_ok))


# ---------------------------------------------------------------- the words


def _claim_text(cert: Certificate) -> str:
    if cert.mode == "epsilon":
        return "every output of the reduced model is within ε of the original's"
    if cert.mode == "top1":
        return "the reduced model picks the same top-1 output as the original"
    return "the reduced model computes exactly the same function as the original"


def _mode_text(cert: Certificate) -> str:
    if cert.mode == "epsilon":
        return f"ε = {decimal(cert.epsilon)[0] if cert.epsilon is not None else '?'}"
    return "strict equality" if cert.mode == "strict" else cert.mode


def domain_text(cert: Certificate) -> str:
    """'all of R^n' or the box and where it came from."""
    if cert.domain is None:
        return f"on all of R^{_input_size(cert)}"
    where = f" of {cert.domain.source}" if cert.domain.source else ""
    only = "ONLY " if cert.claims is not None else ""  # domain maps: not equal outside the box in general
    return f"{only}on the input box{where} ({cert.domain.dim} inputs, exact bounds in the certificate)"


def _input_size(cert: Certificate) -> str:
    return cert.original.shape.split("-")[0] or "n"


def _solver_text(cert: Certificate) -> str:
    axioms = sorted({lm.axiom for lm in cert.lemmas if lm.axiom})
    z3 = "z3 not run" if cert.solver_check == "none" else f"re-checked by {cert.solver_name} {cert.solver_version}"
    text = f"by exact rational algebra ({z3})"
    return text + (f", admitting the axiom{'s' if len(axioms) > 1 else ''} {', '.join(axioms)}" if axioms else "")


def _hash_text(files: tuple[FileCheck, FileCheck]) -> str:
    if all(f.status == "matches" for f in files):
        return "both files on disk match the certified SHA-256 hashes"
    problems = [f"the {f.role} file {'was not found' if f.status == 'missing' else 'on disk differs from the certified one'}"
                for f in files if f.status != "matches"]
    return "WARNING: " + " and ".join(problems) + ": the certificate says nothing about the file(s) on disk"


def _first_failure(o: ObligationRecord) -> str:
    return f"{o.id}" + (f": {o.detail}" if o.detail else "")


def verdict_sentence(report: Report) -> str:
    """The one-line verdict: what was proved, where, how strictly, by what, and whether the files still match."""
    cert = report.cert
    if report.proved:
        head = f"PROVED ({_mode_text(cert)}): {_claim_text(cert)} {domain_text(cert)}, {_solver_text(cert)}"
    else:
        failed = cert.failures
        head = (f"NOT PROVED: {len(failed)} of {len(cert.obligations)} obligations did not hold "
                f"(first: {_one_line(_first_failure(failed[0]), 200)}); the two models are not certified equivalent")
    return f"{head}; {_hash_text(report.files)}."


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reasons_text(row: LayerRow) -> str:
    return ", ".join(f"{n} {r}" for r, n in sorted(row.reasons.items()) if r != "kept") or "minimal"


def _engines_text(o: ObligationRecord) -> str:
    return ", ".join(f"{r.engine} {r.result} ({r.seconds:.3f} s)" for r in o.engines)


def shape_widths(shape: str) -> list[int]:
    """Expand a compact shape ('5-50x6-5') into widths."""
    out: list[int] = []
    for part in shape.split("-"):
        width, _, count = part.partition("x")
        out += [int(width)] * int(count or 1) if width.isdigit() and (count or "1").isdigit() else []
    return out


def _params(widths: list[int]) -> int:
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))


def _summary_rows(report: Report) -> list[tuple[str, str]]:
    cert = report.cert
    before, after = shape_widths(cert.original.shape), shape_widths(cert.reduced.shape)
    rows = [
        ("shape", f"{cert.original.shape} → {cert.reduced.shape}"
                  + (" (a constant function: a hidden layer has width 0)" if report.constant is not None else "")),
        ("parameters", f"{_params(before):,} → {_params(after):,}" if before and after else "?"),
        ("hidden neurons", f"{sum(r.before for r in report.layers):,} → {sum(r.after for r in report.layers):,}"),
        ("claim", f"{cert.mode}, {domain_text(cert)}"),
        ("solver", f"{cert.solver_name} {cert.solver_version} (coverage: {cert.solver_check})"),
        ("certificate", f"{report.cert_path} (lumpcheck {cert.lumpcheck_version}, created {cert.created})"),
        ("proof time", f"{cert.times.get('total_seconds', 0.0):.3f} s "
                       f"(exact {cert.times.get('exact_seconds', 0.0):.3f} s, z3 {cert.times.get('solver_seconds', 0.0):.3f} s)"),
    ]
    if cert.mode == "epsilon" and cert.epsilon is not None:
        rows.insert(4, ("ε", f"{decimal(cert.epsilon)[0]} (exact: {fraction_str(cert.epsilon)})"))
    if report.epsilon_method:
        rows.insert(5, ("how ε was established", report.epsilon_method))
    if report.seconds:
        rows.append(("proof time per layer", ", ".join(f"L{ell} {s:.3f} s" for ell, s in sorted(report.seconds.items()))))
    lemmas = ", ".join(f"{lm.id} ({lm.axiom or ('trivial' if lm.trivial else 'theorem')})" for lm in cert.lemmas)
    return rows + [("activation lemmas", lemmas or "none")]


def _title(report: Report) -> str:
    return f"{Path(report.files[0].recorded_path).name} → {Path(report.files[1].recorded_path).name}"


# ---------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222;
overflow-wrap:anywhere}
h1{font-size:1.4em;word-break:break-all}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{font-size:1.05em;padding:.8em 1em;border-radius:6px;border-left:6px solid}
.proved{background:#eaf6ec;border-color:#2e8540}.failed{background:#fbeaea;border-color:#c0392b}
.warn{background:#fff4e0;border-color:#e67e22}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}pre{background:#f5f5f5;padding:.6em;overflow-x:auto}
.s-proved,.s-matches{color:#2e8540}.s-failed,.s-differs,.s-missing,.s-unsupported{color:#c0392b;font-weight:bold}
.hash{word-break:break-all;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
.scroll{overflow-x:auto;max-width:100%}td{overflow-wrap:anywhere}pre{white-space:pre-wrap;overflow-wrap:anywhere}
svg{max-width:100%;height:auto}.q{border-bottom:1px dotted #888;cursor:help}
.callout{padding:.6em 1em;border-radius:6px;background:#eef3fb;border-left:6px solid #4c78a8}
"""
_COLORS = {"kept": "#4c78a8", "merged": "#f58518", "removed": "#bab0ac"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: list[str] | None, rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    """Rows are already-escaped HTML cells; no header row for key/value tables."""
    head = "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table>{head}<tbody>{body}</tbody></table></div>'


def svg_chart(layers: list[LayerRow]) -> str:
    """Inline SVG: per hidden layer a 'before' bar (kept / merged away / removed) and an 'after' bar
    (reduced neurons standing for one original / for a merged class of 2+), merged parts highlighted."""
    label_w, bar_w, bar_h, gap = 70, 480, 13, 14
    widest = max([r.before for r in layers] + [1])
    scale = bar_w / widest
    height = 30 + len(layers) * (2 * bar_h + 4 + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" height="{height}" '
             f'role="img" aria-label="hidden layer widths before and after reduction" font-size="11" font-family="sans-serif">']
    legend = [("kept", "kept / one neuron each"), ("merged", "merged (duplicate, proportional, negated)"),
              ("removed", "removed (constant, dead, …)")]
    x = 0
    for key, text in legend:
        parts.append(f'<rect x="{x}" y="2" width="11" height="11" fill="{_COLORS[key]}"/><text x="{x + 15}" y="12">{_e(text)}</text>')
        x += 25 + 6 * len(text)
    y = 26
    for r in layers:
        parts.append(f'<text x="0" y="{y + bar_h - 2}">L{r.layer} before</text>')
        parts += _bar(label_w, y, bar_h, scale, [("kept", r.kept), ("merged", r.merged), ("removed", r.removed)], r.before)
        y += bar_h + 4
        parts.append(f'<text x="0" y="{y + bar_h - 2}">L{r.layer} after</text>')
        parts += _bar(label_w, y, bar_h, scale, [("kept", r.after - r.merged_classes), ("merged", r.merged_classes)], r.after)
        y += bar_h + gap
    parts.append("</svg>")
    return "".join(parts)


def _bar(x0: float, y: float, h: int, scale: float, segments: list[tuple[str, int]], total: int) -> list[str]:
    out, x = [], x0
    for key, count in segments:
        if count <= 0:
            continue
        w = count * scale
        out.append(f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{h}" fill="{_COLORS[key]}">'
                   f"<title>{count} {key}</title></rect>")
        x += w
    out.append(f'<text x="{x + 4:.2f}" y="{y + h - 2}">{total}</text>')
    return out


def render_html(report: Report) -> str:
    """A single self-contained HTML page (inline CSS and SVG; no scripts, no external assets)."""
    cert = report.cert
    klass = ("proved" if report.hashes_match else "warn") if report.proved else "failed"
    layer_rows = [[f"L{r.layer}", str(r.before), str(r.after), _e(_reasons_text(r)), str(r.merged_classes)] for r in report.layers]
    ob_rows = [[_e(o.id), _e(o.kind), "" if o.layer is None else str(o.layer), str(len(o.neurons)),
                f'<span class="s-{_e(o.status)}">{_e(o.status)}</span>', _e(_engines_text(o)),
                _e(_one_line(o.statement, STATEMENT_CHARS)) + (f"<br><b>{_e(_one_line(o.detail, 400))}</b>" if o.detail else "")]
               for o in cert.obligations]
    failed = len(cert.failures)
    ob_table = _html_table(["id", "kind", "layer", "neurons", "status", "engines", "statement"], ob_rows, frozenset({3}))
    ob_summary = f"{len(cert.obligations)} obligations: {len(cert.obligations) - failed} proved, {failed} not proved"
    obligations = (f"<details><summary>{_e(ob_summary)}</summary>{ob_table}</details>" if len(ob_rows) > COLLAPSE_AFTER
                   else f"<p>{_e(ob_summary)}</p>{ob_table}")
    file_rows = [[_e(f.role), _e(f.recorded_path) + ("" if f.path in (None, f.recorded_path) else f"<br>found at {_e(f.path)}"),
                  f'<span class="hash">{_e(f.recorded_sha256)}</span>', f'<span class="hash">{_e(f.sha256 or "—")}</span>',
                  f'<span class="s-{f.status}">{f.status}</span>'] for f in report.files]
    domain = "" if cert.domain is None else box_html(cert.domain, _html_table)
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>lumpcheck proof report: {_e(_title(report))}</title><style>{_CSS}</style></head><body>\n",
        f"<h1>lumpcheck proof report: {_e(_title(report))}</h1>\n",
        f'<p class="verdict {klass}" id="verdict">{_e(report.verdict_line)}</p>\n',
        constant_html(report.constant, cert.domain is not None),
        "<h2>Summary</h2>", _html_table(None, [[f"<b>{_e(k)}</b>", _e(v)] for k, v in _summary_rows(report)]),
        "<h2>Layers</h2>",
        _html_table(["layer", "before", "after", "why", "merged classes"], layer_rows, frozenset({1, 2, 4})) if layer_rows
        else "<p>No hidden layers.</p>",
        svg_chart(report.layers) if report.layers else "",
        phases_html(report.phases, _html_table),
        domain,
        output_property_html(report.output_property),
        "<h2>Obligations</h2>", obligations,
        "<h2>Files and hashes</h2>", _html_table(["model", "path", "certified sha256", "sha256 on disk", "status"], file_rows),
        "<h2>How to re-check</h2>",
        "<p>This report re-verifies nothing; the independent checker re-derives and re-discharges every obligation from the two files:</p>",
        f"<pre>{_e(report.check_command)}</pre>",
        "</body></html>\n",
    ])


# ---------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def _m(text: object) -> str:
    """Escape for Markdown text and table cells: no HTML, links, emphasis or cell breaks from untrusted strings."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _fence(text: str) -> str:
    """A fenced code block that the text cannot close early."""
    longest = max([len(run) for run in re.findall(r"`+", text)] + [0])
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def text_chart(layers: list[LayerRow]) -> str:
    """The bar chart as text: █ kept / one neuron each, ▓ merged, ░ removed."""
    widest = max([r.before for r in layers] + [1])
    lines = []
    for r in layers:
        before = _text_bar([("█", r.kept), ("▓", r.merged), ("░", r.removed)], widest)
        after = _text_bar([("█", r.after - r.merged_classes), ("▓", r.merged_classes)], widest)
        lines += [f"L{r.layer:<3} before {before.ljust(BAR_CHARS)} {r.before}", f"     after  {after.ljust(BAR_CHARS)} {r.after}"]
    return "\n".join(lines + ["", "█ kept (one neuron each)  ▓ merged (before: merged away; after: classes of 2+)  ░ removed"])


def _text_bar(segments: list[tuple[str, int]], widest: int) -> str:
    return "".join(ch * (max(1, round(n * BAR_CHARS / widest)) if n > 0 else 0) for ch, n in segments)


def render_markdown(report: Report) -> str:
    """The same content as the HTML page, as Markdown (tables and a text bar chart)."""
    cert = report.cert
    lines = [f"# lumpcheck proof report: {_m(_title(report))}", "", f"**{_m(report.verdict_line)}**", ""]
    if report.constant is not None:
        values = ": outputs " + ", ".join(q_md(v) for v in report.constant) if report.constant else ""
        lines += [f"> **The reduced model is a constant function**{_m(values)} (a hidden layer has width 0).", ""]
    lines += ["## Summary", ""]
    lines += _md_table(["", ""], [[_m(k), _m(v)] for k, v in _summary_rows(report)])
    lines += ["", "## Layers", ""]
    lines += _md_table(["layer", "before", "after", "why", "merged classes"],
                       [[f"L{r.layer}", str(r.before), str(r.after), _m(_reasons_text(r)), str(r.merged_classes)] for r in report.layers])
    lines += ["", _fence(text_chart(report.layers)) if report.layers else "No hidden layers."]
    if report.phases:
        lines += ["", "## Stable phases on the box", ""]
        lines += _md_table(["layer", "neurons", "stably inactive", "stably active", "undecided"],
                           [[f"L{r.layer}", str(r.width), str(r.inactive), str(r.active), str(r.unstable)]
                            for r in report.phases])
    if cert.domain is not None:
        lines += ["", "## Input box", ""]
        box_rows = _md_table(["input", "lower", "upper"], [[f"X\\_{i}", _m(q_md(lo)), _m(q_md(hi))]
                                                          for i, (lo, hi) in enumerate(zip(cert.domain.lower, cert.domain.upper))])
        lines += box_rows if cert.domain.dim <= BOX_ROWS_SHOWN else [
            _m(box_summary(cert.domain)), "", "<details><summary>all inputs</summary>", "", *box_rows, "", "</details>"]
    if report.output_property is not None:
        lines += ["", "## Output property", "", f"From {_m(report.output_property.path)} (not part of the certificate):",
                  "", _fence(report.output_property.text)]
    failed = len(cert.failures)
    lines += ["", "## Obligations", "", f"{len(cert.obligations)} obligations: {len(cert.obligations) - failed} proved, {failed} not proved", ""]
    table = _md_table(["id", "kind", "layer", "neurons", "status", "engines", "statement"],
                      [[_m(o.id), _m(o.kind), "" if o.layer is None else str(o.layer), str(len(o.neurons)), _m(o.status),
                        _m(_engines_text(o)), _m(_one_line(o.statement, STATEMENT_CHARS)) + (f" **{_m(_one_line(o.detail, 400))}**" if o.detail else "")]
                       for o in cert.obligations])
    lines += ["<details><summary>all obligations</summary>", "", *table, "", "</details>"] if len(cert.obligations) > COLLAPSE_AFTER else table
    lines += ["", "## Files and hashes", ""]
    lines += _md_table(["model", "path", "certified sha256", "sha256 on disk", "status"],
                       [[f.role, _m(f.path or f.recorded_path), f.recorded_sha256, f.sha256 or "—", f.status] for f in report.files])
    lines += ["", "## How to re-check", "", "This report re-verifies nothing; the independent checker re-derives and re-discharges "
              "every obligation from the two files:", "", _fence(report.check_command), ""]
    return "\n".join(lines)


def render(report: Report, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"report format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return render_html(report) if fmt == "html" else render_markdown(report)


def format_for(path: str | Path) -> str:
    """'md' for .md/.markdown outputs, else 'html'."""
    return "md" if Path(path).suffix.lower() in (".md", ".markdown") else "html"


def graph_document(cert_path: str | Path, fmt: str = GRAPH_FORMAT) -> dict | None:
    """The certificate's JSON when it has format `fmt` (a graph certificate by default; else None: report.py's own
    reader takes it)."""
    try:
        doc = json.loads(Path(cert_path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == fmt else None


def write_report(cert_path: str | Path, out_path: str | Path, fmt: str | None = None, original: str | Path | None = None,
                 reduced: str | Path | None = None) -> Report | GraphReport | DiffReport | DomainReport | BoundReport | UnionReport:
    """Build the report for `cert_path` and write it atomically as HTML or Markdown (default: by suffix).
    Refuses (OutputClash) an `out_path` that is the certificate or one of the model files it reads. A graph
    (CNN/ResNet) certificate gets report_graph.py's report, a differential one (verify --certify) report_diff.py's,
    a domain-match one (verify --certify) report_domain.py's, a difference-bound one report_bound.py's, a union
    one (an `or` of boxes) report_union.py's. A field of
    the wrong type or size is a one-line ModelFormatError naming the certificate (nothing is written)."""
    try:
        return _write_report(cert_path, out_path, fmt, original, reduced)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, ArithmeticError) as e:
        raise ModelFormatError(f"malformed certificate ({type(e).__name__}: {e}); `lumpcheck check` says what is wrong "
                               "with it", str(cert_path)) from None


def _write_report(cert_path, out_path, fmt, original, reduced):
    union_doc = graph_document(cert_path, UNION_FORMAT)
    if union_doc is not None:  # `verify --certify` on an `or` of input boxes: one pair certificate per box
        return write_union_report(union_doc, cert_path, out_path, fmt or format_for(out_path), original, reduced)
    bound_doc = graph_document(cert_path, BOUND_FORMAT)
    if bound_doc is not None:  # `verify --certify` by difference-bound: --original / --reduced are models A and B
        return write_bound_report(bound_doc, cert_path, out_path, fmt or format_for(out_path), original, reduced)
    domain_doc = graph_document(cert_path, DOMAIN_FORMAT)
    if domain_doc is not None:  # `verify --certify` by domain-match: --original / --reduced are models A and B
        return write_domain_report(domain_doc, cert_path, out_path, fmt or format_for(out_path), original, reduced)
    diff_doc = graph_document(cert_path, DIFF_FORMAT)
    if diff_doc is not None:  # `verify --certify`: --original / --reduced are models A and B
        return write_diff_report(diff_doc, cert_path, out_path, fmt or format_for(out_path), original, reduced)
    graph_doc = graph_document(cert_path)
    if graph_doc is not None:
        return write_graph_report(graph_doc, cert_path, out_path, fmt or format_for(out_path), original, reduced)
    report = build_report(cert_path, original, reduced)
    inputs = [Named("CERTIFICATE", cert_path)] + [Named(f"the {f.role} model", f.path) for f in report.files]
    refuse_clashes(inputs, [Named("-o", out_path)])
    write_text_atomic(out_path, render(report, fmt or format_for(out_path)))
    return report
