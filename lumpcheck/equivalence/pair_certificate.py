"""Certificates for 'unsat' verdicts of the differential engine (format 'lumpcheck-diff-certificate' v1).

{
  "format": "lumpcheck-diff-certificate", "version": 1,
  "claim": {"mode": "epsilon=1/20" | "top1" | "argmin" | "delta-top1=9/10", "box": {"lower": [p/q...], "upper": [p/q...]},
            "a": {"sha256": ..., "shape": ...}, "b": {...},        # sha256 of the exact parameters (ir.network.fingerprint)
            "log_odds": "p/q"},                                     # delta-top1 only: L⁻ <= ln(δ/(1 − δ))
  "pairing": [[[i_A, j_B], ...] per hidden layer of the depth-normalised networks],
  "strategy": "input" | "relu",
  "hidden": "leaf" | "root",       # hidden-layer bounds re-derived per leaf (under its phases), or the root's reused
  "root": null | {"class": c | null, "slopes": BLOB},                # hidden "root": slopes of the root's bounds
  "roots": {"a": {"slopes": BLOB}, "b": {...}},  # optional (relu): slopes of each network's root hidden-layer bounds
  "leaves": [{"path": [...], "part": "all" | "a" | "b", "pass": "pair" | "single", "class": c | null,
              "empty": bool, "slopes": BLOB, "betas": BETAS (optional, pass "single" only),
              "root": true (optional, pass "single" only: hidden-layer bounds intersected with the root's),
              "hidden_slopes": BLOB (optional, pass "single" only: the slopes of its hidden-layer bounds when
                                     they are not "slopes"; the objective rows use "slopes" over those bounds)}, ...],
                                      # pass: bounds of both networks in lockstep, or of one
  "stats": {...}                                                      # informative only
}
path entries: ["x", d, m, side] (x_d <= m for side 0, x_d >= m for side 1; m a float as float.hex()), or
["a" | "b", layer, neuron, phase] (z >= 0 for phase 1, z <= 0 for phase -1). The leaves' paths must form a
complete binary tree for each claim part: for epsilon the leaves' part is "all"; for top1/argmin, part "a"
("the decision of A is exactly {class} here") and part "b" (the same for B) are proved separately, "all"
proving both; the leaves of parts {a, all} and those of parts {b, all} must each form a complete tree, and
an "a" and a "b" leaf whose regions may meet must have the same class (input strategy: one path is a
prefix of the other; relu strategy: always). delta-top1: every leaf has part "all" and a class c, closed by the
rule of objective.Objective (every class cannot exceed δ on the leaf, or B prefers it wherever it could); the
class is then informative only.
BLOB: base64 of little-endian records, one per hidden layer: int32 n_p, int32 n_a, int32[n_p] product
coordinates, float32[n_p][4] their slopes (upper, lower, partner upper, partner lower; NaN where unused),
int32[n_a] A coordinates, float32[n_a][2] their slopes (upper, lower). Coordinates not listed use the
checker's default slopes. Any slopes give sound bounds: offsets are re-derived by the checker.
BETAS: base64 of int32 R (the margin rows), int32 count, then per entry int32 layer, int32 neuron (split in the
leaf's path, in its own network), float32[R] β >= 0: row r's bound is derived for row r + Σ β_r·s·z (s the phase).
"""

from __future__ import annotations

import base64
import struct
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from ..checker.document import BOUND_FORMAT, BOUND_FORMAT_VERSION, DIFF_FORMAT, DIFF_FORMAT_VERSION
from ..ir.domain import Box
from ..ir.exact import ceil_float, fraction_str
from ..ir.network import Network, fingerprint
from .bab import Leaf, Problem, SearchOutcome
from .mode import Mode
from .smooth_split import SplitLeaf


def encode_slopes(records: tuple) -> str:
    parts = []
    for rec in records:
        p_idx, a_idx = rec["p_idx"], rec["a_idx"]
        parts.append(struct.pack("<ii", len(p_idx), len(a_idx)))
        parts.append(np.asarray(p_idx, dtype="<i4").tobytes())
        parts.append(np.asarray(rec["p_vals"], dtype="<f4").tobytes())
        parts.append(np.asarray(a_idx, dtype="<i4").tobytes())
        parts.append(np.asarray(rec["a_vals"], dtype="<f4").tobytes())
    return base64.b64encode(b"".join(parts)).decode("ascii")


def encode_betas(entries: tuple, rows: int) -> str:
    """base64 of int32 R, int32 count, then per entry int32 layer, int32 neuron, float32[R] β (values the prover's
    sound pass used: float32 already)."""
    parts = [struct.pack("<ii", rows, len(entries))]
    for layer, neuron, values in entries:
        parts.append(struct.pack("<ii", layer, neuron))
        parts.append(np.asarray(values, dtype="<f4").tobytes())
    return base64.b64encode(b"".join(parts)).decode("ascii")


def path_json(path: tuple) -> list:
    """A split path as the certificate (and a verdict's undecided regions) write it."""
    out = []
    for entry in path:
        if entry[0] == "x":
            out.append(["x", int(entry[1]), float(entry[2]).hex(), int(entry[3])])
        else:
            out.append([entry[0], int(entry[1]), int(entry[2]), int(entry[3])])
    return out


def _leaf(leaf: Leaf, rows: int) -> dict:
    out = {"path": path_json(leaf.path), "part": leaf.part, "pass": leaf.pass_, "class": leaf.cls, "empty": leaf.empty,
           "slopes": encode_slopes(leaf.slopes)}
    if leaf.betas:
        out["betas"] = encode_betas(leaf.betas, rows)
    if leaf.root is not None:
        out["root"] = True
    if leaf.hidden_slopes is not None:
        hidden = encode_slopes(leaf.hidden_slopes)
        if hidden != out["slopes"]:
            out["hidden_slopes"] = hidden
    return out


def roots_record(leaves: list[Leaf]) -> dict:
    """{'a' / 'b': {'slopes': BLOB}}: the root slopes of each network whose leaves use its root's hidden-layer
    bounds (one root per network and search: the checker re-derives its bounds once from these slopes)."""
    out: dict = {}
    seen: dict = {}
    blobs: dict = {}  # by object: leaves of one task share their root's object
    for leaf in leaves:
        if leaf.root is None:
            continue
        if id(leaf.root) not in blobs:
            blobs[id(leaf.root)] = (leaf.root, encode_slopes(leaf.root.slopes))
        blob = blobs[id(leaf.root)][1]
        if seen.setdefault(leaf.root.part, blob) != blob:
            raise ValueError(f"leaves of network {leaf.root.part} use two different roots' bounds")
        out[leaf.root.part] = {"slopes": blob}
    return out


def written_claim(mode) -> list:
    """A written mode's DNF as the claim records it (specs/diff-certificate.md): exact 'p/q' strings."""
    return [[{"coeffs": [fraction_str(c) for c in atom.coeffs], "op": atom.op, "bound": fraction_str(atom.bound)}
             for atom in conj] for conj in mode.dnf]


def about_models(cert: dict, model_box: Box | None) -> dict:
    """The certificate with claim.models: its claim is about the models on `model_box` (their own box), which the
    checker turns into the chains and box of the claim again (ir.semantics.compare; specs/diff-certificate.md)."""
    cert["claim"]["models"] = {"domain": None if model_box is None else model_box.as_strings()}
    return cert


def pair_claim(a: Network, b: Network, box: Box, model_box: Box) -> dict:
    """The claim fields of a certificate about models A and B on `model_box` (their own box): the plain chains' box
    and fingerprints, which the checker recomputes (checker/pair_claim.py; domain-match, difference-bound)."""
    source = Path(model_box.source).name if model_box.source else ""
    return {"box": box.as_strings(), "models": {"domain": {**model_box.as_strings(), "source": source}},
            "a": network_identity(a), "b": network_identity(b)}


def bound_certificate(a: Network, b: Network, box: Box, model_box: Box, mode: Mode, window: int, bound: Fraction,
                      cls: int | None = None, leaves: Sequence[SplitLeaf] = (),
                      padding: list[list[int]] | None = None) -> dict:
    """The certificate of a difference-bound 'unsat' (specs/bound-certificate.md): |A − B| <= ε on the models' box
    (epsilon/strict), or A's decision `cls` has margins above twice that bound (top1/argmin), which the checker
    re-derives with its own back-substituted bound over `window` layers (checker/bound_pair.py); `bound` (the
    engine's) is informative. With `leaves` (input splitting, smooth_split.py) the claim is proved piece by piece:
    the certificate records the split tree, and for top1/argmin each piece's class instead of one class. With
    `padding` (B a pruned copy: per hidden layer, the neuron of A each neuron of B stands for) the bound is on A and
    B padded to A's widths (ir/padding.pad_to: exactly B), which the checker rebuilds from these maps."""
    claim = {"mode": "epsilon", "epsilon": fraction_str(mode.epsilon)} if not mode.classifies else \
        {"mode": mode.kind, **({} if leaves else {"class": cls})}
    doc = {"format": BOUND_FORMAT, "version": BOUND_FORMAT_VERSION, "claim": {**claim, **pair_claim(a, b, box, model_box)},
           "window": window, "bound": fraction_str(Fraction(ceil_float(bound)))}
    if padding is not None:
        doc["padding"] = [[int(i) for i in m] for m in padding]
    if leaves:
        doc["tree"] = {"leaves": [{"path": path_json(leaf.path), "class": leaf.cls,
                                   "bound": fraction_str(Fraction(ceil_float(leaf.bound)))} for leaf in leaves]}
    return doc


def network_identity(net: Network) -> dict:
    """A claim's record of a network: the sha256 of its exact parameters (checked) and its shape (informative)."""
    return {"sha256": fingerprint(net), "shape": net.shape_str()}


def build_certificate(problem: Problem, outcome: SearchOutcome, a: Network, b: Network) -> dict:
    """The certificate document of an 'unsat' search outcome for the caller's networks a and b."""
    c = problem.coupling
    root = None
    reuse_root = problem.strategy == "relu" and not problem.refresh
    if reuse_root:
        cls = outcome.leaves[0].cls if outcome.leaves else None
        root = {"class": cls, "slopes": encode_slopes(outcome.root_slopes)}
    return {
        "format": DIFF_FORMAT,
        "version": DIFF_FORMAT_VERSION,
        "claim": {
            "mode": "written" if problem.mode.written else str(problem.mode),
            "box": problem.box.as_strings(),
            "a": network_identity(a),
            "b": network_identity(b),
            **({"log_odds": fraction_str(problem.mode.log_odds)} if problem.mode.kind == "delta-top1" else {}),
            **({"dnf": written_claim(problem.mode)} if problem.mode.written else {}),
        },
        "pairing": [[[int(i), int(j)] for i, j in pairs] for pairs in c.pairing.layers],
        "strategy": problem.strategy,
        "hidden": "root" if reuse_root else "leaf",
        "root": root,
        **({"roots": roots} if (roots := roots_record(outcome.leaves)) else {}),
        "leaves": [_leaf(leaf, c.output_size) for leaf in outcome.leaves],
        "stats": {k: v for k, v in outcome.stats.items() if isinstance(v, (int, float, str))},
    }
