"""Reports for difference-bound certificates (`verify --certify` decided by difference-bound, format
lumpcheck-difference-bound-certificate): one self-contained HTML page or Markdown.

What the certificate claims (|A − B| <= ε at every point of the box, or both models' common decision there),
whether the given model files are the
certified networks, the engine's bound, and how `lumpcheck check` re-derives its own. Re-verifies nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .report_diff import Identity, check_command, model_identity, plain_models, render_pair, write_pair_report

HOW_CHECKED = (
    "lumpcheck check rebuilds the models' comparison form on the recorded box (normalisation folded, clips compiled) "
    "and requires its parameters to be the certified networks of one architecture; then it computes its own bound on "
    "|A - B| over the box in exact integer arithmetic: the differences of the pre-activations substituted back "
    "through the recorded number of layers, each activation's difference a secant slope times the input difference "
    "(sigmoid/tanh: a range of the derivative on the neuron's bounds), and requires that bound to be <= ε; for "
    "top1/argmin it bounds A's margins of the claimed class over every other output (back-substituted) and requires "
    "each to exceed twice that bound. With a split tree it first checks that the leaves are exactly those of one "
    "complete binary tree of input splits, each split strictly inside its interval (so they cover the box), then "
    "does all this on every leaf's box, with that leaf's class. The certificate's own bounds are informative only.")


@dataclass(frozen=True)
class BoundReport:
    cert_path: str
    doc: dict
    models: tuple[Identity, Identity]

    @property
    def claim(self) -> dict:
        return self.doc.get("claim") or {}

    @property
    def what(self) -> str:
        """The claim in words: the ε bound, or both models' common decision."""
        mode = self.claim.get("mode")
        pieces = f" on each of {len(self.leaves)} pieces of the box (input splitting)" if self.leaves else ""
        if mode in ("top1", "argmin"):
            extreme = "maximal" if mode == "top1" else "minimal"
            if self.leaves:
                return (f"A and B decide alike ({mode}: the same unique {extreme} output) at every point of the box: "
                        f"on each of {len(self.leaves)} pieces of the box (input splitting) both decide that piece's "
                        f"class ({self.classes}), as A's margins exceed twice a certified bound on |A - B| there")
            return (f"A and B both decide output {self.claim.get('class', '?')} (their unique {extreme} output, {mode}) "
                    f"at every point of the box, as A's margins exceed twice a certified bound on |A - B|")
        return f"|A - B| <= {self.claim.get('epsilon', '?')} at every point of the box, by a certified bound{pieces}"

    @property
    def leaves(self) -> list:
        """The split tree's leaves ([] for the whole-box form)."""
        tree = self.doc.get("tree")
        leaves = tree.get("leaves") if isinstance(tree, dict) else None
        return [leaf for leaf in leaves if isinstance(leaf, dict)] if isinstance(leaves, list) else []

    @property
    def classes(self) -> str:
        """How many pieces prove each class, e.g. 'class 0: 12 pieces, class 1: 3 pieces'."""
        counts: dict = {}
        for leaf in self.leaves:
            counts[leaf.get("class")] = counts.get(leaf.get("class"), 0) + 1
        return ", ".join(f"class {c}: {n} piece{'s' if n != 1 else ''}" for c, n in sorted(counts.items(), key=str))

    @property
    def verdict_line(self) -> str:
        files = "; ".join(f"model {m.role}: {m.status}" for m in self.models)
        return f"unsat (equivalent): {self.what}; {files}; re-check with: {self.check_command}"

    @property
    def check_command(self) -> str:
        return check_command(self.cert_path, self.models)


def build_bound_report(doc: dict, cert_path: str | Path, a_path=None, b_path=None) -> BoundReport:
    claim = doc.get("claim") or {}
    pa, pb = plain_models(doc, a_path, b_path)
    return BoundReport(str(cert_path), doc,
                       (model_identity("A", claim.get("a"), a_path, pa), model_identity("B", claim.get("b"), b_path, pb)))


def _facts(report: BoundReport) -> list[tuple[str, str]]:
    doc = report.doc
    domain = ((doc.get("claim") or {}).get("models") or {}).get("domain") or {}
    lower, upper = domain.get("lower") or [], domain.get("upper") or []
    box = ", ".join(f"X_{i} in [{lo}, {hi}]" for i, (lo, hi) in enumerate(zip(lower[:8], upper[:8])))
    facts = [("box", box + (f", … ({len(lower)} inputs)" if len(lower) > 8 else ""))]
    facts += [(f"network {m.role}", f"{m.shape}, parameter sha256 {m.sha256[:16]}…, file {m.path or '-'}: {m.status}")
              for m in report.models]
    decides = report.claim.get("mode") != "epsilon"
    claimed = [("mode", str(report.claim.get("mode", "?")))] if decides else [("ε", str(report.claim.get("epsilon", "?")))]
    if report.leaves:
        depths = [len(leaf.get("path") or []) for leaf in report.leaves]
        claimed += [("pieces (split tree leaves)", f"{len(report.leaves)}, split depth {min(depths)}–{max(depths)}")]
        claimed += [("classes", report.classes)] if decides else []
    elif decides:
        claimed += [("class", str(report.claim.get("class", "?")))]
    return facts + claimed + [("engine's bound on |A - B|" + (" (largest over the pieces)" if report.leaves else ""),
                               str(doc.get("bound", "?"))),
                    ("layers substituted back", str(doc.get("window", "?"))), ("how it is checked", HOW_CHECKED)]


def render_bound(report: BoundReport, fmt: str) -> str:
    return render_pair("difference-bound", report.verdict_line, _facts(report), None, fmt)


def write_bound_report(doc: dict, cert_path: str | Path, out_path: str | Path, fmt: str, a_path=None,
                       b_path=None) -> BoundReport:
    return write_pair_report(build_bound_report, render_bound, doc, cert_path, out_path, fmt, a_path, b_path)
