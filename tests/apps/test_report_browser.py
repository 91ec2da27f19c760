"""Issue 13.5: proof reports people read. A 784-input box shows decimals (exact fractions on hover) and is summarised;
the report shows the VNN-LIB output constraint, the stable phases per layer, the proof time per layer, ε and how it
was established, and calls out a constant function; and in a real browser (headless Chromium via Playwright) at
1280 px nothing overflows the page and the verdict is visible without scrolling."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.apps.report import build_report, render_html, render_markdown, write_report
from lumpcheck.io import save_model
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.network import Layer, Network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
UGLY = Fraction(14999999664723873, 500000000000000000)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A 784-input ReLU model reduced on an MNIST-like box whose bounds are float32 values (ugly fractions), under
    a long directory path (long hash-table cells and re-check command)."""
    root = tmp_path_factory.mktemp("wide") / ("a_rather_long_directory_name_for_benchmarks_" * 3) / "mnist_vnncomp_2021"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    w = np.float32(rng.normal(size=(4, 784)) / 10)
    w1 = np.vstack([w, w, -np.abs(w[:1])]).astype(np.float64)
    b1 = np.float32(np.concatenate([rng.normal(size=4), rng.normal(size=4), [-50.0]])).astype(np.float64)
    net = Network([Layer(w1, b1, RELU), Layer(np.float64(np.float32(rng.normal(size=(10, 9)))), np.zeros(10))])
    model = root / "mnist_relu_784_with_a_long_file_name_from_a_benchmark_suite.onnx"
    save_model(net, model, dtype="float32")
    x = rng.uniform(0, 1, 784)
    lines = [f"(declare-const X_{i} Real)" for i in range(784)] + [f"(declare-const Y_{j} Real)" for j in range(10)]
    for i in range(784):
        lines += [f"(assert (>= X_{i} {float(np.float32(max(0.0, x[i] - 0.015)))!r}))",
                  f"(assert (<= X_{i} {float(np.float32(min(1.0, x[i] + 0.015)))!r}))"]
    lines[784 + 10] = f"(assert (>= X_0 {float(UGLY)!r}))"
    lines += ["(assert (or (>= Y_1 Y_0) (>= Y_2 Y_0)))"]
    prop = root / "prop_0_eps_0.015.vnnlib"
    prop.write_text("\n".join(lines) + "\n")
    res = run_reduction(model, root / "reduced.onnx", domain_path=prop, cert_path=root / "certificate.json")
    assert res.verdict == "proved" and res.reduction.claims is not None
    return root / "certificate.json", root


def test_wide_box_shows_decimals_with_exact_values_on_hover_and_is_summarised(wide):
    cert, _ = wide
    page = render_html(build_report(cert))
    assert "14999999664723873/500000000000000000" not in page.split("<details>")[0]  # not in the visible page
    assert 'title="exact: 14999999664723873/500000000000000000">≈0.03</span>' in page  # on hover
    assert "784 inputs; lower bounds" in page and "<summary>all 784 inputs</summary>" in page
    md = render_markdown(build_report(cert))
    assert "784 inputs; lower bounds" in md and "≈0.03 (exact 14999999664723873/500000000000000000)" in md


def test_output_constraint_phases_and_times_are_shown(wide):
    cert, _ = wide
    report = build_report(cert)
    page = render_html(report)
    assert "<h2>Output property</h2>" in page and "(or (&gt;= Y_1 Y_0) (&gt;= Y_2 Y_0))" in page
    assert "<h2>Stable phases on the box</h2>" in page and 'aria-label="stable phases per hidden layer"' in page
    row = report.phases[0]
    assert row.width == 9 and row.inactive >= 1 and row.inactive + row.active + row.unstable == 9
    assert "proof time per layer" in page and "L1 " in page and "L2 " in page
    assert "Stable phases on the box" in render_markdown(report)


def test_epsilon_certificate_shows_epsilon_and_how_it_was_established(tmp_path):
    cert = tmp_path / "c.json"
    res = run_reduction(EXAMPLES / "planted_relu.onnx", tmp_path / "s.onnx", domain_path=EXAMPLES / "box.vnnlib",
                        dtype="float32", cert_path=cert, domain_reduction=False)
    doc = json.loads(cert.read_text())
    if doc["claim"]["mode"] != "epsilon":
        pytest.skip("the float32 export happened to be exact: no ε-certificate to show")
    assert res.verdict == "proved"
    page = render_html(build_report(cert))
    assert "<b>ε</b>" in page and "how ε was established" in page and "difference-backsubstitution" in page


def test_constant_function_is_called_out(tmp_path):
    dead = Network([Layer(np.zeros((3, 2)), -np.ones(3), RELU), Layer(np.array([[1.0, 1.0, 2.0]]), np.array([0.25]))])
    model = tmp_path / "dead.onnx"
    save_model(dead, model, dtype="float64")
    res = run_reduction(model, tmp_path / "c.onnx", cert_path=tmp_path / "c.json")
    assert res.verdict == "proved" and res.reduction.network.widths == [2, 0, 1]
    page = render_html(build_report(tmp_path / "c.json"))
    assert 'id="constant"' in page and "constant function" in page and "outputs 0.25" in page
    assert "constant function" in render_markdown(build_report(tmp_path / "c.json"))
    proved = tmp_path / "p.json"
    run_reduction(EXAMPLES / "planted_relu.onnx", tmp_path / "p.onnx", cert_path=proved)
    assert 'id="constant"' not in render_html(build_report(proved))


def _chromium() -> str | None:
    return next((b for b in map(shutil.which, CHROMIUM) if b), None)


LAYOUT = """() => {
  const vw = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.parentElement && el.parentElement.closest('.scroll')) continue;  // scrolls inside its own box
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 0.5) out.push(el.tagName + '.' + el.className + ' right=' + r.right);
    const text = el.classList.contains('scroll') || el instanceof SVGElement ? 0 : el.scrollWidth - el.clientWidth;
    if (el.clientWidth > 0 && text > 1) out.push(el.tagName + '.' + el.className + ' text overflows by ' + text);
  }
  return {vw: vw, scrollWidth: document.documentElement.scrollWidth, over: out};
}"""


@pytest.mark.parametrize("which", ["wide", "planted"])
def test_report_at_1280px_in_a_headless_browser(wide, tmp_path, which):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[browser]')")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run installs it when it can)")
    if which == "wide":
        cert, root = wide
        page_path = root / "report.html"
    else:
        cert = tmp_path / "c.json"
        run_reduction(EXAMPLES / "planted_relu.onnx", tmp_path / "s.onnx", domain_path=EXAMPLES / "box.vnnlib",
                      cert_path=cert)
        page_path = tmp_path / "report.html"
    write_report(cert, page_path)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(page_path.as_uri())
            layout = page.evaluate(LAYOUT)
            verdict = page.locator("#verdict")
            box = verdict.bounding_box()
            assert verdict.is_visible() and "PROVED" in verdict.inner_text()
            assert box is not None and box["y"] + box["height"] <= 800  # visible without scrolling
            for details in page.locator("details").all():  # opened, the long tables still scroll inside their box
                details.evaluate("d => d.open = true")
            opened = page.evaluate(LAYOUT)
        finally:
            browser.close()
    assert layout["scrollWidth"] <= layout["vw"] and not layout["over"], layout
    assert opened["scrollWidth"] <= opened["vw"] and not opened["over"], opened
