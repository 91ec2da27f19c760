"""HTML and Markdown pieces of a proof report that are about numbers and boxes: exact values shown as decimals (exact
on hover), the input box (collapsed and summarised when wide), the stable-phase chart, the output property and the
constant-function callout. Every string is escaped here; callers pass raw values."""

from __future__ import annotations

import html
from fractions import Fraction

from ..ir.domain import Box
from ..ir.exact import fraction_str
from .report_facts import OutputProperty, PhaseRow, decimal

BOX_ROWS_SHOWN = 20
"""Boxes with more inputs than this are summarised, with the full table collapsed."""
PHASE_COLORS = {"inactive": "#bab0ac", "active": "#54a24b", "unstable": "#4c78a8"}


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def q_html(q: Fraction | int) -> str:
    """A rational as a decimal; when that is not the exact value, the exact p/q on hover (title)."""
    shown, exact = decimal(q)
    if exact:
        return e(shown)
    return f'<span class="q" title="exact: {e(fraction_str(Fraction(q)))}">{e(shown)}</span>'


def q_md(q: Fraction | int) -> str:
    shown, exact = decimal(q)
    return shown if exact else f"{shown} (exact {fraction_str(Fraction(q))})"


def box_summary(box: Box) -> str:
    widths = [hi - lo for lo, hi in zip(box.lower, box.upper)]
    return (f"{box.dim} inputs; lower bounds {decimal(min(box.lower))[0]} … {decimal(max(box.lower))[0]}, upper bounds "
            f"{decimal(min(box.upper))[0]} … {decimal(max(box.upper))[0]}, widths {decimal(min(widths))[0]} … "
            f"{decimal(max(widths))[0]} (decimals; exact values on hover and in the certificate)")


def box_html(box: Box, table) -> str:
    """The input box: a table of decimals (exact on hover); beyond BOX_ROWS_SHOWN inputs, a summary line and the
    table collapsed. `table(header, rows)` renders a table of already-escaped cells (that scrolls when wide)."""
    rows = [[f"X_{i}", q_html(lo), q_html(hi)] for i, (lo, hi) in enumerate(zip(box.lower, box.upper))]
    body = table(["input", "lower", "upper"], rows)
    if box.dim <= BOX_ROWS_SHOWN:
        return "<h2>Input box</h2>" + body
    return (f"<h2>Input box</h2><p>{e(box_summary(box))}</p>"
            f"<details><summary>all {box.dim} inputs</summary>{body}</details>")


def phases_html(rows: list[PhaseRow], table) -> str:
    """Per hidden layer of the original model: neurons proved stably inactive / stably active on the box, and the
    rest; a stacked bar chart and the table."""
    if not rows:
        return ""
    header = ["layer", "neurons", "stably inactive (removed)", "stably active (linear)", "undecided"]
    cells = [[f"L{r.layer}", str(r.width), str(r.inactive), str(r.active), str(r.unstable)] for r in rows]
    return ("<h2>Stable phases on the box</h2><p>What the box reduction rests on: the neurons of each hidden layer "
            "of the original model whose ReLU phase the bounds prove constant on the whole box (each a phase "
            "claim the checker re-proves).</p>" + phase_chart(rows) + table(header, cells))


def phase_chart(rows: list[PhaseRow]) -> str:
    label_w, bar_w, bar_h, gap = 50, 480, 13, 8
    widest = max([r.width for r in rows] + [1])
    height = 26 + len(rows) * (bar_h + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" height="{height}" role="img" '
             'aria-label="stable phases per hidden layer" font-size="11" font-family="sans-serif">']
    x = 0
    for key, text in (("inactive", "stably inactive"), ("active", "stably active"), ("unstable", "undecided")):
        parts.append(f'<rect x="{x}" y="2" width="11" height="11" fill="{PHASE_COLORS[key]}"/>'
                     f'<text x="{x + 15}" y="12">{e(text)}</text>')
        x += 25 + 6 * len(text)
    y = 22
    for r in rows:
        parts.append(f'<text x="0" y="{y + bar_h - 2}">L{r.layer}</text>')
        xx = float(label_w)
        for key, count in (("inactive", r.inactive), ("active", r.active), ("unstable", r.unstable)):
            if count > 0:
                w = count * bar_w / widest
                parts.append(f'<rect x="{xx:.2f}" y="{y}" width="{w:.2f}" height="{bar_h}" fill="{PHASE_COLORS[key]}">'
                             f"<title>{count} {key}</title></rect>")
                xx += w
        parts.append(f'<text x="{xx + 4:.2f}" y="{y + bar_h - 2}">{r.width}</text>')
        y += bar_h + gap
    return "".join(parts + ["</svg>"])


def output_property_html(prop: OutputProperty | None) -> str:
    if prop is None:
        return ""
    note = ("" if prop.same_box else " <b>Its input box differs from the certified one</b>: the certificate is about "
            "the certified box only.")
    return (f"<h2>Output property</h2><p>The output constraint of {e(prop.path)} (read from that file, not part of "
            "the certificate). The reduced model satisfies it at exactly the box inputs where the original does "
            f"(equal outputs there), so it can be verified on the smaller model.{note}</p><pre>{e(prop.text)}</pre>")


def constant_html(outputs: list[Fraction] | None, on_box: bool) -> str:
    if outputs is None:
        return ""
    where = "on the input box" if on_box else "on every input"
    values = (": outputs " + ", ".join(q_html(v) for v in outputs)) if outputs else ""
    return (f'<p class="callout" id="constant"><b>The reduced model is a constant function</b> {where}{values}. '
            "A hidden layer was reduced to width 0: the output does not depend on the input.</p>")
