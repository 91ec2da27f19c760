"""Reports for domain-match certificates (`verify --certify` decided by domain-match, format
lumpcheck-domain-match-certificate): one self-contained HTML page or Markdown.

What the certificate claims (A = B at every point of the box), whether the given model files are the certified
networks, which network was reduced on the box and to what (per layer: kept, removed as stably inactive, folded as
stably linear, merged), the phase claims the reduction rests on, how the reduced network matches the other one
(permutation, scales), the obligations, and how `lumpcheck check` re-verifies it. Like report.py it re-verifies
nothing and escapes every string it shows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .report_diff import Identity, check_command, model_identity, plain_models, render_pair, write_pair_report

HOW_CHECKED = (
    "lumpcheck check rebuilds the models' comparison form on the recorded box and requires its parameters to be the "
    "certified networks; it rebuilds the reduced network R from the other network Y and the recorded matching "
    "(neuron j of R is neuron perm[j] of Y divided by scale[j]; every scale must pass through the activation), so "
    "R = Y everywhere by construction; then it re-checks the embedded reduction certificate X -> R like any strict "
    "certificate (every obligation re-derived in exact arithmetic and by z3, every phase claim confirmed by re-running "
    "the recorded bounds method on X over the box), with its domain required to be exactly the claim's box.")
LAYER_HEAD = ["layer", "neurons of X", "neurons of R", "kept", "removed (inactive)", "folded (linear)", "merged",
              "phase claims (inactive / active)", "permuted", "scaled"]


@dataclass(frozen=True)
class DomainReport:
    cert_path: str
    doc: dict
    models: tuple[Identity, Identity]
    layers: list[list[str]]
    obligations: Counter

    @property
    def side(self) -> str:
        return str(self.doc.get("side", "?")).upper()

    @property
    def verdict_line(self) -> str:
        files = "; ".join(f"model {m.role}: {m.status}" for m in self.models)
        other = "B" if self.side == "A" else "A"
        return (f"unsat (equivalent): A and B give identical outputs at every point of the box (ONLY there), as "
                f"claimed by {self.side} reduced on the box and matched exactly to {other}; {files}; re-check with: "
                f"{self.check_command}")

    @property
    def check_command(self) -> str:
        return check_command(self.cert_path, self.models)


def _layer_rows(doc: dict) -> list[list[str]]:
    red = doc.get("reduction") or {}
    phases = (red.get("bounds") or {}).get("layers") or []
    matching = doc.get("matching") or []
    rows = []
    for k, lay in enumerate(red.get("relation") or []):
        maps = lay.get("neurons") or []
        reasons = Counter(str(m.get("reason", "")) for m in maps if isinstance(m, dict))
        ph = phases[k] if k < len(phases) and isinstance(phases[k], dict) else {}
        match = matching[k] if k < len(matching) and isinstance(matching[k], dict) else {}
        perm, scale = match.get("perm") or [], match.get("scale") or []
        rows.append([str(k + 1), str(len(maps)), str(lay.get("reduced_width", "?")), str(reasons.get("kept", 0)),
                     str(reasons.get("inactive", 0)), str(reasons.get("linear", 0)),
                     str(sum(v for r, v in reasons.items() if r not in ("kept", "inactive", "linear"))),
                     f"{len(ph.get('inactive') or [])} / {len(ph.get('active') or [])}",
                     str(sum(1 for j, t in enumerate(perm) if j != t)), str(sum(1 for c in scale if c != "1"))])
    return rows


def build_domain_report(doc: dict, cert_path: str | Path, a_path=None, b_path=None) -> DomainReport:
    claim = doc.get("claim") or {}
    pa, pb = plain_models(doc, a_path, b_path)
    models = (model_identity("A", claim.get("a"), a_path, pa), model_identity("B", claim.get("b"), b_path, pb))
    obligations = Counter(str(o.get("status")) for o in (doc.get("reduction") or {}).get("obligations") or []
                          if isinstance(o, dict))
    return DomainReport(str(cert_path), doc, models, _layer_rows(doc), obligations)


def _facts(report: DomainReport) -> list[tuple[str, str]]:
    doc = report.doc
    red = doc.get("reduction") or {}
    domain = ((doc.get("claim") or {}).get("models") or {}).get("domain") or {}
    lower, upper = domain.get("lower") or [], domain.get("upper") or []
    box = ", ".join(f"X_{i} in [{lo}, {hi}]" for i, (lo, hi) in enumerate(zip(lower[:8], upper[:8])))
    facts = [("verdict", report.verdict_line), ("box", box + (f", … ({len(lower)} inputs)" if len(lower) > 8 else ""))]
    facts += [(f"network {m.role}", f"{m.shape}, parameter sha256 {m.sha256[:16]}…, file {m.path or '-'}: {m.status}")
              for m in report.models]
    bounds = red.get("bounds") or {}
    other = "B" if report.side == "A" else "A"
    lumping = doc.get("lumping")
    via = (f"{other}'s coarsest lumping ({len((lumping.get('network') or {}).get('layers') or [])} layers, recorded "
           f"exactly, with its own certificate {other} -> {other}')" if isinstance(lumping, dict) else other)
    facts += [("reduced network R", f"{report.side} reduced on the box: "
                                     f"{(red.get('models') or {}).get('reduced', {}).get('shape', '?')}"),
              ("matched to", via),
              ("phase claims", f"bounds method {bounds.get('method', '-')} (re-run by the checker)"),
              ("obligations", ", ".join(f"{k}: {v}" for k, v in sorted(report.obligations.items())) or "none"),
              ("how it is checked", HOW_CHECKED)]
    return facts


def render_domain(report: DomainReport, fmt: str) -> str:
    return render_pair("domain-match", report.verdict_line, _facts(report)[1:], ("Layers", LAYER_HEAD, report.layers),
                       fmt)


def write_domain_report(doc: dict, cert_path: str | Path, out_path: str | Path, fmt: str, a_path=None,
                        b_path=None) -> DomainReport:
    return write_pair_report(build_domain_report, render_domain, doc, cert_path, out_path, fmt, a_path, b_path)
