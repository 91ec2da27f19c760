"""Size vs certified error of approximate lumping on the VNN-COMP 2021 MNIST FC net (784-256-256-10).

For each tolerance T: hidden neurons kept, the certified ε (sound bound of max |y_orig − y_reduced| over the
VNN-LIB ε-ball), and the measured max deviation on --samples random points of that box (each a certified lower
bound, so measured <= ε always; the script checks it). Prints a Markdown table and writes an SVG plot of the
size/ε curve (matplotlib when installed, else a small hand-written SVG).
Run: python benchmarks/approx_tradeoff.py [--net PATH] [--prop PATH] [--tolerances 0,0.5,...] [--samples N]
     [--svg out.svg] [--json out.json]. Not a test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lumpcheck.epsilon.approx import approximate_reduce
from lumpcheck.io import load_model
from lumpcheck.io.atomic import write_text_atomic
from lumpcheck.io.vnnlib import read_box

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "zoo"
MNIST = ZOO / "vnncomp2021" / "benchmarks" / "mnistfc"
TOLERANCES = "0,0.5,0.6,0.65,0.7,0.75,0.8,0.85,0.9,1.0,1.1,1.2"


def sweep(net_path: Path, prop_path: Path, tolerances: list[float], samples: int) -> list[dict]:
    net = load_model(net_path)
    box = read_box(prop_path, net.input_size)
    rows = []
    for t in tolerances:
        start = time.perf_counter()
        red = approximate_reduce(net, box, t, samples=samples)
        if red.measured > red.epsilon:
            raise AssertionError(f"T={t}: measured {red.measured} exceeds certified {float(red.epsilon)}")
        rows.append(
            {
                "tolerance": t,
                "kept": red.kept,
                "hidden": sum(red.kept),
                "params": red.network.param_count,
                "epsilon": float(red.epsilon),
                "epsilon_exact": f"{red.epsilon.numerator}/{red.epsilon.denominator}",
                "measured": red.measured,
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
        print(f"T={t:g}: kept {red.kept}, ε={float(red.epsilon):.4g}, measured {red.measured:.4g}", flush=True)
    return rows


def table(rows: list[dict], total_hidden: int) -> str:
    lines = [
        "| T | hidden kept | params | certified ε | measured max dev | measured/ε | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["measured"] / r["epsilon"] if r["epsilon"] else 1.0
        kept = "-".join(map(str, r["kept"]))
        lines.append(
            f"| {r['tolerance']:g} | {kept} ({r['hidden']}/{total_hidden}) | {r['params']} | {r['epsilon']:.4g} "
            f"| {r['measured']:.4g} | {ratio:.2f} | {r['seconds']} |"
        )
    return "\n".join(lines)


def svg_plot(rows: list[dict], title: str) -> str:
    """A dependency-free SVG: hidden neurons kept (x) vs certified ε and measured deviation (y), T labels."""
    w, h, left, bottom, top, right = 640, 400, 70, 50, 40, 40
    xs = [r["hidden"] for r in rows]
    ymax = max(max(r["epsilon"] for r in rows), 1e-12) * 1.1
    x0, x1 = min(xs), max(xs)
    span = max(x1 - x0, 1)

    def px(x: float) -> float:
        return left + (x - x0) / span * (w - left - right)

    def py(y: float) -> float:
        return h - bottom - y / ymax * (h - bottom - top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
        f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">hidden neurons kept</text>',
        f'<text x="16" y="{h / 2}" text-anchor="middle" transform="rotate(-90 16 {h / 2})">max |y_orig - y_reduced|</text>',
    ]
    for k in range(5):
        y = ymax * k / 4
        parts.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.3g}</text>')
        x = x0 + span * k / 4
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x:.0f}</text>')
    for key, colour in (("epsilon", "#c0392b"), ("measured", "#2471a3")):
        points = " ".join(f"{px(r['hidden']):.1f},{py(r[key]):.1f}" for r in sorted(rows, key=lambda r: r["hidden"]))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for r in rows:
            parts.append(f'<circle cx="{px(r["hidden"]):.1f}" cy="{py(r[key]):.1f}" r="3" fill="{colour}"/>')
    for r in rows:
        x, y = px(r["hidden"]) + 4, py(r["epsilon"]) - 6
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" fill="#555">T={r["tolerance"]:g}</text>')
    parts += [
        f'<text x="{left + 10}" y="{h - bottom - 26}" fill="#c0392b">certified ε</text>',
        f'<text x="{left + 10}" y="{h - bottom - 10}" fill="#2471a3">measured (random points)</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def write_plot(rows: list[dict], title: str, path: Path) -> None:
    """matplotlib when installed (format from the suffix), else the hand-written SVG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        write_text_atomic(path, svg_plot(rows, title))
        return
    ordered = sorted(rows, key=lambda r: r["hidden"])
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot([r["hidden"] for r in ordered], [r["epsilon"] for r in ordered], "o-", label="certified ε")
    ax.plot([r["hidden"] for r in ordered], [r["measured"] for r in ordered], "s-", label="measured (random points)")
    for r in rows:
        ax.annotate(f"T={r['tolerance']:g}", (r["hidden"], r["epsilon"]), fontsize=7)
    ax.set(xlabel="hidden neurons kept", ylabel="max |y_orig - y_reduced|", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", type=Path, default=MNIST / "mnist-net_256x2.onnx")
    ap.add_argument("--prop", type=Path, default=MNIST / "prop_0_0.03.vnnlib")
    ap.add_argument("--tolerances", default=TOLERANCES, help="comma-separated tolerances T")
    ap.add_argument("--samples", type=int, default=10_000, help="random box points for the measured deviation")
    ap.add_argument("--svg", type=Path, default=Path("approx_tradeoff.svg"), help="plot output (.svg or .png)")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = ap.parse_args()
    if not args.net.is_file():
        raise SystemExit(f"{args.net} not found (the benchmark needs ../shared/zoo beside the repository)")
    rows = sweep(args.net, args.prop, [float(t) for t in args.tolerances.split(",")], args.samples)
    total = sum(load_model(args.net).widths[1:-1])
    print(table(rows, total))
    write_plot(rows, f"approximate lumping: {args.net.name} on {args.prop.name}", args.svg)
    print(f"plot: {args.svg}")
    if args.json:
        write_text_atomic(args.json, json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
