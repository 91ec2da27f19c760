"""Proof reports: the verdict sentence, escaping of untrusted names, the chart, Markdown, and a real browser."""

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from lumpcheck.apps.cli import cli
from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.apps.report import build_report, render_html, render_markdown, shape_widths, write_report
from lumpcheck.ir.network import Layer, Network

EXAMPLES = Path(__file__).parents[2] / "examples"
SAME_FUNCTION = "the reduced model computes exactly the same function as the original"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def proved(tmp_path_factory):
    """A certified reduction of planted_relu whose original lives under a path containing a script tag."""
    d = tmp_path_factory.mktemp("rep") / "<script>alert(1)<"
    d.mkdir()
    original = d / "script>.onnx"
    shutil.copy(EXAMPLES / "planted_relu.onnx", original)
    assert EVIL in str(original)
    res = run_reduction(original, d / "small.onnx", cert_path=d / "cert.json")
    assert res.verdict == "proved"
    return d / "cert.json", res


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    return p


def test_verdict_line_says_what_was_proved(proved):
    cert, res = proved
    report = build_report(cert)
    line = report.verdict_line
    assert line.startswith("PROVED (strict equality)") and SAME_FUNCTION in line
    assert "on all of R^4" in line and f"z3 {res.certificate.solver_version}" in line
    assert "both files on disk match" in line
    assert [f.status for f in report.files] == ["matches", "matches"]
    rows = {r.layer: r for r in report.layers}
    for ls in res.reduction.stats.layers:
        assert (rows[ls.layer].before, rows[ls.layer].after) == (ls.before, ls.after)
        assert rows[ls.layer].reasons == ls.reasons


def test_html_escapes_untrusted_names_and_is_self_contained(proved):
    cert, _ = proved
    page = render_html(build_report(cert))
    parsed = _parse(page)
    assert "script" not in parsed.tags  # no live script element anywhere
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert EVIL in "".join(parsed.text)  # ... but the name is shown as text
    assert "svg" in parsed.tags and "rect" in parsed.tags
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "src=" not in page and "<link" not in page
    assert "lumpcheck check " in page and SAME_FUNCTION in page


def test_chart_has_one_pair_of_bars_per_layer_with_merges_highlighted(proved):
    cert, res = proved
    page = render_html(build_report(cert))
    svg = page[page.index("<svg"): page.index("</svg>")]
    for ls in res.reduction.stats.layers:
        assert f"L{ls.layer} before" in svg and f"L{ls.layer} after" in svg
    merged = sum(n for ls in res.reduction.stats.layers for r, n in ls.reasons.items() if r in ("duplicate", "proportional", "negated"))
    classes = sum(sum(len(c) >= 2 for c in layer.classes()) for layer in res.reduction.relation.layers)
    titles = [t.split("</title>")[0] for t in svg.split("<title>")[1:]]
    assert merged > 0 and classes > 0
    assert sum(int(t.split()[0]) for t in titles if t.endswith("merged")) == merged + classes  # before + after bars


def test_markdown_variant_same_content(proved):
    cert, res = proved
    md = render_markdown(build_report(cert))
    assert SAME_FUNCTION in md and "| layer | before | after |" in md
    prose = "".join(md.split("```")[::2])  # outside fenced code blocks (which render as literal text)
    assert "<script" not in prose and "&lt;script&gt;" in prose
    assert "█" in md and "▓" in md  # text bar chart: kept and merged
    for ls in res.reduction.stats.layers:
        assert f"| L{ls.layer} | {ls.before} | {ls.after} |" in md
    assert "```\nlumpcheck check " in md


def test_hash_mismatch_and_missing_file_are_flagged(proved, tmp_path):
    cert, _ = proved
    changed = tmp_path / "small.onnx"
    changed.write_bytes(Path(cert).with_name("small.onnx").read_bytes() + b"\0")
    report = build_report(cert, reduced=changed)
    assert report.files[1].status == "differs" and "WARNING" in report.verdict_line and "differs" in report.verdict_line
    report = build_report(cert, reduced=tmp_path / "nope.onnx")
    assert report.files[1].status == "missing" and "not found" in report.verdict_line
    assert 'class="verdict warn"' in render_html(report)


def test_failed_certificate_says_not_proved(proved, tmp_path):
    cert, _ = proved
    doc = json.loads(Path(cert).read_text())
    target = next(o for o in doc["obligations"] if o["kind"] == "linear")
    target["status"], target["detail"] = "failed", "neuron 3: 1/2 != 1/3"
    bad = tmp_path / "failed.json"
    bad.write_text(json.dumps(doc))
    report = build_report(bad, *(Path(cert).parent / n for n in ("script>.onnx", "small.onnx")))
    assert report.verdict_line.startswith("NOT PROVED: 1 of ") and target["id"] in report.verdict_line
    assert SAME_FUNCTION not in report.verdict_line and 'class="verdict failed"' in render_html(report)


def test_domain_claim_and_box_table(tmp_path):
    cert = tmp_path / "c.json"
    run_reduction(EXAMPLES / "planted_relu.onnx", tmp_path / "s.onnx", domain_path=EXAMPLES / "box.vnnlib", cert_path=cert)
    report = build_report(cert)
    assert "on the input box of" in report.verdict_line and "box.vnnlib" in report.verdict_line
    page = render_html(report)
    assert "Input box" in page and "<td>X_3</td><td>0</td><td>2</td>" in page


def test_cli_report_html_and_md(proved, tmp_path):
    cert, _ = proved
    for name, marker in (("r.html", "<!DOCTYPE html>"), ("r.md", "# lumpcheck proof report")):
        res = CliRunner().invoke(cli, ["report", str(cert), "-o", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        assert SAME_FUNCTION in res.output and (tmp_path / name).read_text().startswith(marker)
    res = CliRunner().invoke(cli, ["report", str(cert), "-o", str(tmp_path / "x.txt"), "--format", "md"])
    assert (tmp_path / "x.txt").read_text().startswith("# lumpcheck proof report")
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "nope.json"), "-o", str(tmp_path / "y.html")])
    assert res.exit_code == 2 and "no such file" in res.output


@given(st.lists(st.integers(1, 40), min_size=2, max_size=9))
def test_shape_strings_expand_back(widths):
    layers = [Layer(np.zeros((b, a)), np.zeros(b)) for a, b in zip(widths, widths[1:])]
    assert shape_widths(Network(layers).shape_str()) == widths


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no headless browser (chromium, chromium-browser or google-chrome) on PATH")
def test_headless_browser_renders_the_verdict(proved, tmp_path):
    cert, _ = proved
    page = tmp_path / "report.html"
    write_report(cert, page)
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)}).stdout
    assert 'id="verdict"' in dom and SAME_FUNCTION in dom
    assert "<script" not in dom.lower()
