"""Reports for differential certificates (`verify --certify`, format lumpcheck-diff-certificate): one
self-contained HTML page or Markdown.

What the certificate claims (the mode, on which box, about which two networks), whether the given model files
are the certified networks (their comparison form's parameter fingerprints), the split tree (strategy, leaves,
depth, splits per input or per layer, decision classes), the leaves themselves (path, claim part, bound pass,
how many relaxation slopes the optimiser chose), and how `lumpcheck check` re-derives every leaf bound. Like
report.py it re-verifies nothing (that is `lumpcheck check`) and escapes every string it shows.
"""

from __future__ import annotations

import base64
import html
import shlex
import struct
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..ir.network import fingerprint
from ..errors import LumpcheckError
from ..checker.certificate import claim_network
from ..checker.softmax_heads import HeadError, heads_of
from ..io.atomic import write_text_atomic
from ..ir.domain import Box
from ..ir.semantics import ComparisonError, compare
from .outputs import Named, refuse_clashes

LEAF_ROWS = 200  # leaves listed in full; the rest are counted
BOX_ROWS = 20  # inputs listed in full; beyond, the box is summarised

MEANING = {"top1": "the same set of maximal outputs (top-1, ties included)",
           "argmin": "the same set of minimal outputs (argmin, ties included)"}
HOW_CHECKED = (
    "lumpcheck check re-derives every leaf's bounds from the networks and the leaf's path alone, in binary64 with "
    "every rounding error charged outward (rigorous bounds, as specs/diff-certificate.md states): the recorded "
    "relaxation slopes are only hints (any slope gives a sound linear bound, and every offset is recomputed), and "
    "so are recorded β multipliers of split constraints (β >= 0 on a neuron the leaf's path splits adds β·s·z, "
    ">= 0 there, to a margin row; any other β is refused), so a wrong optimiser can lose tightness, never soundness. "
    "It requires the leaves' paths to form a complete split tree of the box for each claim part, every leaf's bound "
    "to prove its part of the claim (for epsilon: |A_i - B_i| <= ε; for top1/argmin: the decision of A, and of B, "
    "is the leaf's class there, and leaves that may meet have the same class; for delta-top1: every class either "
    "cannot exceed δ on the leaf or is B's unique top output wherever it may, with L⁻ re-proved <= ln(δ/(1-δ)); "
    "for a property as written: every disjunct of its output assertions has an atom proven false on the leaf), and "
    "the claim's networks to be the given models' comparison form (normalisation folded, clipping compiled, on the "
    "recorded box). The certificate stores no bound values on purpose: a leaf's bound is whatever the checker "
    "derives from its path and slopes, so none can be forged.")


@dataclass(frozen=True)
class Identity:
    role: str  # "A" or "B"
    shape: str
    sha256: str
    path: str | None
    status: str  # "matches" / "differs" / "not given" / "unreadable: why"


@dataclass(frozen=True)
class Leaf:
    index: int
    path: str
    part: str
    bound_pass: str
    cls: str
    empty: bool
    slopes: int  # coordinates with optimiser-chosen slopes (the rest use the checker's defaults)
    betas: int = 0  # split neurons with β multipliers (one-network leaves); -1 when unreadable


@dataclass(frozen=True)
class DiffReport:
    cert_path: str
    doc: dict
    models: tuple[Identity, Identity]
    leaves: list[Leaf]
    depths: list[int]
    splits: Counter
    internal: int
    inputs: list | None  # searched_inputs(doc)

    @property
    def mode(self) -> str:
        return str((self.doc.get("claim") or {}).get("mode", "?"))

    @property
    def meaning(self) -> str:
        if self.mode.startswith("epsilon="):
            return f"max_i |A_i(x) - B_i(x)| <= {self.mode.partition('=')[2]}"
        if self.mode.startswith("delta-top1="):
            lminus = str((self.doc.get("claim") or {}).get("log_odds", "?"))
            try:
                lminus = f"{lminus} ≈ {float(Fraction(lminus)):.9g}"
            except (ValueError, ZeroDivisionError):
                pass  # a malformed value is shown as written
            return (f"δ-top-1 agreement with δ = {self.mode.partition('=')[2]} (A the reference: where softmax(A)_c > δ, "
                    f"B's unique top output is c; proved through the logit margin L⁻ = {lminus} <= ln(δ/(1-δ)))")
        if self.mode == "written":
            dnf = (self.doc.get("claim") or {}).get("dnf")
            count = len(dnf) if isinstance(dnf, list) else "?"
            return (f"no input makes the written output assertions true ({count} disjuncts over [Y_A | Y_B], "
                    "VNN-COMP semantics: they describe the counterexamples)")
        return MEANING.get(self.mode, self.mode)

    @property
    def head_note(self) -> str:
        """'' or what claim.softmax says: the claim is about logits; the outputs' mode (checker/softmax_heads.py)."""
        entry = (self.doc.get("claim") or {}).get("softmax")
        if not isinstance(entry, dict):
            return ""
        which = [role for role in ("a", "b") if entry.get(role) is True]
        return (f" — proved on the logits of {' and '.join(r.upper() for r in which) or '?'} (the input of the final "
                f"Softmax, which `check` splits off the model files); for the softmax outputs: {entry.get('mode', '?')}")

    @property
    def verdict_line(self) -> str:
        files = "; ".join(f"model {m.role}: {m.status}" for m in self.models)
        what = (f"unsat (as written): {self.meaning} on the box" if self.mode == "written" else
                f"unsat (equivalent): A and B have {self.meaning} at every input of the box{self.head_note}")
        return (f"{what}, as claimed by a differential split tree of {len(self.leaves)} leaves; {files}; "
                f"re-check with: {self.check_command}")

    @property
    def check_command(self) -> str:
        return check_command(self.cert_path, self.models)


def check_command(cert_path: str, models: tuple[Identity, Identity]) -> str:
    """The `lumpcheck check` command that re-verifies a two-model certificate (placeholders for files not given)."""
    paths = [m.path or f"MODEL_{m.role}" for m in models]
    return "lumpcheck check " + " ".join(shlex.quote(p) for p in [cert_path, *paths])


def model_identity(role: str, record: Any, path: str | Path | None, plain: Any) -> Identity:
    record = record if isinstance(record, dict) else {}
    sha, shape = str(record.get("sha256", "")), str(record.get("shape", ""))
    if path is None:
        return Identity(role, shape, sha, None, "not given (pass --original A --reduced B to compare)")
    if isinstance(plain, str):
        return Identity(role, shape, sha, str(path), plain)
    return Identity(role, shape, sha, str(path), "matches" if fingerprint(plain) == sha else "differs")


def plain_models(doc: dict, a_path, b_path) -> tuple[Any, Any]:
    """The comparison form of the given models (as the checker builds it), or a reason string for each."""
    if a_path is None or b_path is None:
        return None, None
    claim = doc.get("claim") or {}
    try:
        heads = heads_of(claim) or (False, False)
    except HeadError as e:
        return f"unreadable: {e}", f"unreadable: {e}"
    nets = []
    for path, head in zip((a_path, b_path), heads):
        try:
            nets.append(claim_network(path, head))
        except (LumpcheckError, HeadError) as e:
            nets.append(f"unreadable: {e}")
    if any(isinstance(n, str) for n in nets):
        return nets[0], nets[1]
    try:
        domain = (claim.get("models") or {}).get("domain")
        box = None if domain is None else Box(tuple(Fraction(v) for v in domain["lower"]),
                                              tuple(Fraction(v) for v in domain["upper"]))
        c = compare(nets[0], nets[1], box, fold_outputs=True, clip_layers=True) if domain is not None else None
        return (c.a, c.b) if c is not None else (nets[0], nets[1])
    except (LumpcheckError, ComparisonError, ValueError, KeyError, TypeError) as e:
        why = f"not comparable: {e}"
        return why, why


def searched_inputs(doc: dict) -> list | None:
    """Per input of the search, the claim box's input it is: None for all of them in order, else the free inputs
    (lower < upper) of a certificate with "inputs": "free" (its fixed inputs were folded into the networks)."""
    if doc.get("inputs") != "free":
        return None
    box = (doc.get("claim") or {}).get("box") or {}
    try:
        return list(Box(tuple(map(Fraction, box.get("lower") or [])), tuple(map(Fraction, box.get("upper") or []))).free)
    except (ValueError, TypeError, ZeroDivisionError):
        return None


def _input(d, inputs: list | None):
    """The claim box's number of searched input d (d itself when out of range: the report renders any document)."""
    return inputs[d] if inputs is not None and isinstance(d, int) and 0 <= d < len(inputs) else d


def path_text(path: list, inputs: list | None = None) -> str:
    """A leaf's path in words: x_d <= m / x_d >= m for input splits (d numbered as in the claim's box, `inputs` from
    searched_inputs), A/B layer.neuron active/inactive for phases."""
    parts = []
    for entry in path:
        if entry[0] == "x":
            m = float.fromhex(entry[2]) if isinstance(entry[2], str) else float(entry[2])
            parts.append(f"x_{_input(entry[1], inputs)} {'<=' if int(entry[3]) == 0 else '>='} {m:.6g}")
        else:
            parts.append(f"{str(entry[0]).upper()} L{entry[1]}.{entry[2]} {'active' if int(entry[3]) > 0 else 'inactive'}")
    return ", ".join(parts) or "(the whole box)"


def slope_count(blob: str) -> int:
    """How many coordinates a leaf's slope BLOB lists (pair_certificate.py's layout); -1 when unreadable."""
    try:
        raw, pos, count = base64.b64decode(blob), 0, 0
        while pos < len(raw):
            n_p, n_a = struct.unpack_from("<ii", raw, pos)
            pos += 8 + n_p * 4 + n_p * 16 + n_a * 4 + n_a * 8
            count += n_p + n_a
        return count if pos == len(raw) else -1
    except (ValueError, struct.error, TypeError):
        return -1


def beta_count(blob: str) -> int:
    """How many split neurons a leaf's β record lists (pair_certificate.encode_betas's layout); 0 without one,
    -1 when unreadable."""
    if not blob:
        return 0
    try:
        raw = base64.b64decode(blob)
        rows, count = struct.unpack_from("<ii", raw, 0)
        return count if rows > 0 and count >= 0 and len(raw) == 8 + count * (8 + 4 * rows) else -1
    except (ValueError, struct.error, TypeError):
        return -1


def _split_name(entry: list, inputs: list | None) -> str:
    return f"x_{_input(entry[1], inputs)}" if entry[0] == "x" else f"{str(entry[0]).upper()} layer {entry[1]}"


def _tree(raw_leaves: list, inputs: list | None) -> tuple[list[int], Counter, int]:
    """Per leaf its depth; per split variable how many internal nodes split on it; the internal node count."""
    nodes: dict[tuple, str] = {}
    for leaf in raw_leaves:
        path = leaf.get("path") or []
        for k, entry in enumerate(path):
            prefix = (leaf.get("part") if path and path[0][0] != "x" else "",) + tuple(tuple(e) for e in path[:k])
            nodes.setdefault(prefix, _split_name(entry, inputs))
    return [len(leaf.get("path") or []) for leaf in raw_leaves], Counter(nodes.values()), len(nodes)


def build_diff_report(doc: dict, cert_path: str | Path, a_path=None, b_path=None) -> DiffReport:
    claim = doc.get("claim") or {}
    pa, pb = plain_models(doc, a_path, b_path)
    models = (model_identity("A", claim.get("a"), a_path, pa), model_identity("B", claim.get("b"), b_path, pb))
    raw = [leaf for leaf in doc.get("leaves") or [] if isinstance(leaf, dict)]
    inputs = searched_inputs(doc)
    leaves = [Leaf(i, path_text(leaf.get("path") or [], inputs), str(leaf.get("part")), str(leaf.get("pass")),
                   "-" if leaf.get("class") is None else str(leaf.get("class")), bool(leaf.get("empty")),
                   slope_count(str(leaf.get("slopes", ""))), beta_count(str(leaf.get("betas") or "")))
              for i, leaf in enumerate(raw)]
    depths, splits, internal = _tree(raw, inputs)
    return DiffReport(str(cert_path), doc, models, leaves, depths, splits, internal, inputs)


def _num(text: str) -> str:
    try:
        return f"{float(Fraction(text)):.6g}"
    except (ValueError, ZeroDivisionError):
        return str(text)


def _box_rows(report: DiffReport) -> tuple[list[list[str]], str]:
    claim = report.doc.get("claim") or {}
    domain = (claim.get("models") or {}).get("domain") or claim.get("box") or {}
    lower, upper = domain.get("lower") or [], domain.get("upper") or []
    rows = [[f"X_{i}", _num(lo), _num(hi), f"{lo} .. {hi}"] for i, (lo, hi) in enumerate(zip(lower, upper))]
    note = ("over the models' own inputs" if (claim.get("models") or {}).get("domain") else "over the networks' inputs")
    if len(rows) > BOX_ROWS:
        widths = [float(Fraction(hi) - Fraction(lo)) for lo, hi in zip(lower, upper)]
        note += (f"; {len(rows)} inputs, widths {min(widths):.6g} to {max(widths):.6g} "
                 f"(first {BOX_ROWS} listed)")
        rows = rows[:BOX_ROWS]
    return rows, note


def _facts(report: DiffReport) -> list[tuple[str, str]]:
    doc, leaves = report.doc, report.leaves
    depth = report.depths or [0]
    strategy = {"input": "input splitting (halving input intervals)", "relu": "ReLU phase splitting"}.get(
        str(doc.get("strategy")), str(doc.get("strategy")))
    facts = [("verdict", report.verdict_line), ("claim", f"mode {report.mode}: {report.meaning}")]
    facts += [(f"network {m.role}", f"{m.shape}, parameter sha256 {m.sha256[:16]}…, file {m.path or '-'}: {m.status}")
              for m in report.models]
    facts += [("split tree", f"{strategy}; {len(leaves)} leaves, {report.internal} splits, depth max {max(depth)}, "
                             f"mean {sum(depth) / len(depth):.2f}; hidden-layer bounds "
                             f"{'re-derived per leaf' if doc.get('hidden') == 'leaf' else 'of the root, reused'}")]
    facts += [("leaves by part", ", ".join(f"{k}: {v}" for k, v in sorted(Counter(x.part for x in leaves).items()))),
              ("leaves by bound pass", ", ".join(f"{k}: {v}" for k, v in sorted(Counter(x.bound_pass for x in leaves).items()))),
              ("empty leaves", f"{sum(x.empty for x in leaves)} (bounds prove no input of the box reaches them)")]
    inputs = report.inputs
    if inputs is not None:
        total = len(((doc.get("claim") or {}).get("box") or {}).get("lower") or [])
        facts.append(("fixed inputs", f"{total - len(inputs)} of {total} inputs are fixed by the box and folded exactly "
                                      f"into both networks' first layers; the search splits the other {len(inputs)}"))
    roots = doc.get("roots")
    if isinstance(roots, dict) and roots:
        used = Counter(leaf.get("part") for leaf in doc.get("leaves", []) if isinstance(leaf, dict) and leaf.get("root"))
        facts.append(("root bounds", "hidden-layer bounds of the whole box, re-derived from the root's recorded slopes, "
                                     "intersected with the leaf's own: " + ", ".join(
                                         f"network {p}: {used.get(p, 0)} leaves" for p in sorted(roots))))
    kept = sum(1 for leaf in doc.get("leaves", []) if isinstance(leaf, dict) and "hidden_slopes" in leaf)
    if kept:
        facts.append(("kept hidden bounds", f"{kept} leaves: hidden-layer bounds from their recorded hidden slopes, "
                                            "the objective rows from their slopes over those bounds"))
    classes = Counter(x.cls for x in leaves if x.cls != "-")
    if classes:
        facts.append(("decision classes", ", ".join(f"output {k}: {v} leaves" for k, v in sorted(classes.items()))))
    if report.splits:
        facts.append(("splits by variable", ", ".join(f"{k}: {v}" for k, v in sorted(report.splits.items()))))
    stats = doc.get("stats") or {}
    if stats:
        facts.append(("search (informative)", ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                                        for k, v in stats.items())))
    facts.append(("how it is checked", HOW_CHECKED))
    return facts


LEAF_HEAD = ["#", "path", "part", "bound pass", "class", "empty", "custom slopes", "β split constraints"]
BOX_HEAD = ["input", "lower", "upper", "exact"]


def _leaf_cells(x: Leaf) -> list[str]:
    return [str(x.index), x.path, x.part, x.bound_pass, x.cls, "yes" if x.empty else "",
            "unreadable" if x.slopes < 0 else str(x.slopes), "unreadable" if x.betas < 0 else str(x.betas or "")]


def render_diff(report: DiffReport, fmt: str) -> str:
    facts = _facts(report)
    box_rows, box_note = _box_rows(report)
    shown = report.leaves[:LEAF_ROWS]
    more = len(report.leaves) - len(shown)
    if fmt == "md":
        def table(head, rows):
            return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
                ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        lines = ["# lumpcheck differential certificate report", ""] + [f"- **{k}**: {v}" for k, v in facts]
        lines += ["", f"## Input box ({box_note})", ""] + table(BOX_HEAD, box_rows)
        lines += ["", "## Leaves", ""] + table(LEAF_HEAD, [_leaf_cells(x) for x in shown])
        if more:
            lines.append(f"\n… and {more} more leaves (all re-checked by lumpcheck check)")
        return "\n".join(lines) + "\n"
    e = html.escape

    def table_html(head, rows, titles=None):
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><tr>{''.join(f'<th>{e(h)}</th>' for h in head)}</tr>{body}</table>"
    return ("<!doctype html><html><head><meta charset='utf-8'><title>lumpcheck differential report</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
            "display:block;overflow-x:auto}td,th{border:1px solid #ccc;padding:2px 6px}"
            ".v{background:#e8f5e9;padding:6px}</style></head><body>"
            "<h1>lumpcheck differential certificate report</h1>"
            f"<p class='v'><b>{e(report.verdict_line)}</b></p><ul>"
            + "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in facts[1:]) + "</ul>"
            + f"<h2>Input box</h2><p>{e(box_note)}</p>" + table_html(BOX_HEAD, box_rows)
            + "<h2>Leaves</h2>" + table_html(LEAF_HEAD, [_leaf_cells(x) for x in shown])
            + (f"<p>… and {more} more leaves (all re-checked by lumpcheck check)</p>" if more else "")
            + "</body></html>\n")


def render_pair(kind: str, verdict: str, facts: list[tuple[str, str]], table: tuple[str, list, list] | None,
                fmt: str) -> str:
    """A two-model certificate's report page ('lumpcheck KIND certificate report'): the verdict, the facts as a
    list, then the optional table (title, head, rows); Markdown or self-contained HTML, every string escaped."""
    if fmt == "md":
        lines = [f"# lumpcheck {kind} certificate report", "", f"- **verdict**: {verdict}"]
        lines += [f"- **{k}**: {v}" for k, v in facts]
        if table is not None:
            title, head, rows = table
            lines += ["", f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    e = html.escape
    body = ""
    if table is not None:
        title, head, rows = table
        body = (f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lumpcheck {e(kind)} report</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}.v{background:#e8f5e9;padding:6px}</style></head><body>"
            f"<h1>lumpcheck {e(kind)} certificate report</h1><p class='v'><b>{e(verdict)}</b></p><ul>"
            + "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in facts) + "</ul>" + body + "</body></html>\n")


def write_pair_report(build, render, doc: dict, cert_path: str | Path, out_path: str | Path, fmt: str, a_path=None,
                      b_path=None):
    """The report of a two-model certificate (`build`, then `render` in `fmt`), written atomically to out_path;
    an output that would overwrite the certificate or a model is refused."""
    inputs = [Named("CERTIFICATE", cert_path)] + [Named(f"model {r}", p) for r, p in (("A", a_path), ("B", b_path)) if p]
    refuse_clashes(inputs, [Named("-o", out_path)])
    report = build(doc, cert_path, a_path, b_path)
    write_text_atomic(out_path, render(report, fmt))
    return report


def write_diff_report(doc: dict, cert_path: str | Path, out_path: str | Path, fmt: str, a_path=None,
                      b_path=None) -> DiffReport:
    return write_pair_report(build_diff_report, render_diff, doc, cert_path, out_path, fmt, a_path, b_path)
