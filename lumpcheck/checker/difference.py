"""Independent checker for differential certificates ('lumpcheck-diff-certificate' v1, see specs/diff-certificate.md).

Claim checked: for every input x of the claim's box, the two given networks satisfy the claim's mode
(epsilon=E: max_i |y_A,i − y_B,i| <= E; top1/argmax or argmin: equal sets of maximal/minimal outputs;
delta-top1=D: softmax(y_A)_c > D implies that c is B's unique maximal output; written: no input makes the claim's
DNF of linear output atoms true, difference_written.py).
Trusted: lumpcheck.ir (the exact IR, exact numbers, boxes), lumpcheck.io (model readers),
bounds.arith.check_float_environment; nothing of the prover (bounds.coupling/pair_relax/difference_chain/difference,
equivalence.bab, ...): difference_bounds.py and difference_pass.py restate what they need.
Checked: the networks' fingerprints; with "inputs": "free", the rest is checked for both networks with the box's
fixed inputs folded exactly into their first layers (ir.network.fix_inputs, values from the claim's box) on the
free inputs; that the leaves' paths form a complete binary split tree (so the leaves cover the box); and for every
leaf, with bounds re-derived here from the recorded slopes
(difference_bounds, difference_pass), that the property holds on it: ±Δ_i <= E, or the leaf's class is the unique
best output of both networks (margins < 0), or (delta-top1, with the claim's L⁻, itself re-proved to be at most
ln(D/(1 − D)) by confidence.py) every class k either cannot have a_k − a_j > L⁻ for all j, or B prefers k over
every j there (b_k − b_j > 0, or Δ_k − Δ_j <= L⁻); the leaf's class is informative only. A leaf whose re-derived bounds are contradictory is empty.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from fractions import Fraction
from dataclasses import replace
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..bounds.arith import check_float_environment
from ..ir.domain import Box
from ..ir.exact import parse_exact
from ..ir.network import Network, fingerprint, fix_inputs
from ..ir.semantics import Comparison, ComparisonError, compare
from .confidence import log_odds_proved
from .difference_betas import BetaError, split_terms
from .difference_bounds import build_chains, q_interval
from .difference_pass import hidden_pass, single_pass
from .difference_written import WrittenClaimError, leaves_closed, parse_dnf, rows as written_rows
from .document import DIFF_FORMAT, DIFF_FORMAT_VERSION, Malformed, Scope, parse_rational
from .heap import warm_heap
from .pool import ChunkPool, PoolFailure
from .result import CheckResult
from .split_tree import TreeError, check_tree, path_entry

BATCH = 128
BLAS_THREADS = 1
"""The re-derivation's matrix products are small (hundreds of columns): one BLAS thread. Measured on ACAS 5_4
prop_1 (698 leaves) on the shared 2-core machine: 3.5 s with one thread, 21-28 s with OpenBLAS's default two
(threads spin-waiting for a busy core). The arithmetic does not depend on the thread count: every dot product's
rounding is charged with a bound valid for any summation order."""


class Invalid(Exception):
    """The certificate is malformed or does not prove its claim."""


def check_certificate(doc: dict | str | Path, a: Network, b: Network, *, batch: int = BATCH, jobs: int = 1) -> CheckResult:
    """Re-check a differential certificate against the networks a and b, its leaves in `jobs` processes.

    A claim with a "models" entry is about the models a and b (normalisation and clipping included) on the
    models' box it records: the checker rebuilds their comparison form with ir.semantics.compare (property (C):
    the plain chains agree on the plain box iff the models agree on the models' box) and requires the claim's
    box to be exactly that plain box. Without it, the claim is about the bare networks a and b on its box.
    The leaves are independent: with jobs > 1 chunks of them are re-derived in worker processes (checker/pool.py,
    one BLAS thread each); the verdict is the same, and a worker that dies or a chunk that does not come back
    makes the result invalid ("not checked"), never valid."""
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"), warm_heap():
        return _check_document(doc, a, b, batch, jobs)


def _check_document(doc: dict | str | Path, a: Network, b: Network, batch: int, jobs: int = 1) -> CheckResult:
    try:
        if not isinstance(doc, dict):
            doc = json.loads(Path(doc).read_text(encoding="utf-8"))
        many = isinstance(doc.get("leaves"), list) and len(doc["leaves"]) > batch
        with ChunkPool(jobs if many else 1) as pool:  # workers start now: they import while the claim is read
            models = doc["claim"].get("models")
            if models is None:
                return CheckResult(True, [], _check(doc, a, b, batch, pool))
            comparison = _comparison(models, doc["claim"]["box"], a, b)
            scope = _check(doc, comparison.a, comparison.b, batch, pool)
        box = comparison.model_box
        return CheckResult(True, [], replace(scope, lower=None if box is None else box.lower,
                                             upper=None if box is None else box.upper, semantics="model"))
    except (Invalid, TreeError, Malformed) as e:
        return CheckResult(False, [str(e)])
    except PoolFailure as e:
        return CheckResult(False, [f"not checked: {e}"])
    except (ValueError, KeyError, TypeError, IndexError, struct.error, ArithmeticError) as e:
        return CheckResult(False, [f"malformed certificate: {type(e).__name__}: {e}"])


# ---------------------------------------------------------------- the document


def _comparison(models: dict, plain_box: dict, a: Network, b: Network) -> Comparison:
    domain = models["domain"]
    box = None if domain is None else Box(_rationals(domain["lower"], "claim.models.domain.lower"),
                                          _rationals(domain["upper"], "claim.models.domain.upper"))
    try:
        comparison = compare(a, b, box, fold_outputs=True, clip_layers=True)
    except ComparisonError as e:
        raise Invalid(f"the models cannot be compared: {e.message}") from None
    plain = comparison.box
    claimed = (_rationals(plain_box["lower"], "claim.box.lower"), _rationals(plain_box["upper"], "claim.box.upper"))
    if plain is None or (plain.lower, plain.upper) != claimed:
        raise Invalid("claim: the box is not the comparison form of the models' box "
                      "(ir.semantics.compare with the output maps folded and clips compiled)")
    return comparison


def _rationals(values, where: str) -> tuple[Fraction, ...]:
    """A list of 'p/q' texts (Malformed for anything else: a number, a boolean)."""
    if not isinstance(values, list):
        raise Malformed(f"certificate: {where} is not a list")
    return tuple(parse_rational(v, where) for v in values)


def _mode(text: str, claim: dict) -> tuple[str, Fraction]:
    """(kind, value): ε for epsilon, the proved L⁻ for delta-top1, 0 for top1/argmin."""
    kind, _, value = text.partition("=")
    if kind == "delta-top1":
        delta, lminus = parse_exact(value), parse_rational(claim["log_odds"], "claim.log_odds")
        if not log_odds_proved(delta, lminus):
            raise Invalid(f"claim: L⁻ = {lminus} is not proved <= ln(δ/(1 - δ)) for δ = {delta} (or δ is not in [1/2, 1))")
        return kind, lminus
    if kind == "epsilon":
        eps = parse_exact(value)
        if eps < 0:
            raise Invalid(f"claim: ε = {eps} is negative")
        return kind, eps
    if kind in ("top1", "argmin", "written") and not value:
        return kind, Fraction(0)
    raise Invalid(f"claim: unknown mode {text!r} (expected epsilon=E, top1, argmin, delta-top1=D or written)")


def _claim(doc: dict, a: Network, b: Network):
    if doc.get("format") != DIFF_FORMAT or doc.get("version") != DIFF_FORMAT_VERSION:
        raise Invalid(f"not a {DIFF_FORMAT} v{DIFF_FORMAT_VERSION} document (format {doc.get('format')!r}, version {doc.get('version')!r})")
    claim = doc["claim"]
    for name, net in (("a", a), ("b", b)):
        if net.normalization is not None:
            raise Invalid(f"network {name} carries normalisation metadata; the claim is about the bare layer chain")
        if claim[name]["sha256"] != fingerprint(net):
            raise Invalid(f"claim: network {name} does not match the certificate (sha256 differs)")
        if not net.piecewise_linear:  # the leaves' relaxations (difference_bounds) are ReLU/LeakyReLU slopes
            kinds = sorted({layer.activation.kind for layer in net.layers if not layer.activation.piecewise_linear})
            raise Invalid(f"network {name} has {', '.join(kinds)} layers; differential certificates cover "
                          "piecewise-linear networks only (identity, ReLU, LeakyReLU)")
    lower = list(_rationals(claim["box"]["lower"], "claim.box.lower"))
    upper = list(_rationals(claim["box"]["upper"], "claim.box.upper"))
    if len(lower) != a.input_size or len(upper) != a.input_size or any(l > u for l, u in zip(lower, upper)):
        raise Invalid(f"claim: the box does not fit the networks' {a.input_size} inputs or is empty")
    if a.input_size != b.input_size or a.output_size != b.output_size:
        raise Invalid("the networks' input or output sizes differ")
    kind, eps = _mode(claim["mode"], claim)
    if kind == "written":
        try:
            eps = parse_dnf(claim.get("dnf"), a.output_size)  # the written claim's "parameter" is its DNF
        except WrittenClaimError as e:
            raise Invalid(str(e)) from None
    return (kind, eps), lower, upper


def _inputs(inputs: str, a: Network, b: Network, lower: list, upper: list):
    """(a, b, lower, upper) over which the leaves are checked: as claimed ("all"), or ("free") on the box's free
    inputs with the fixed ones (lower == upper) folded exactly into both first layers (ir.network.fix_inputs);
    input splits then number the free inputs in order."""
    if inputs == "all":
        return a, b, lower, upper
    if inputs != "free":
        raise Invalid(f"inputs {inputs!r} (expected 'all' or 'free')")
    box = Box(tuple(lower), tuple(upper))
    if not box.free:
        raise Invalid("inputs 'free': every input of the claim's box is fixed")
    try:
        a, b = fix_inputs(a, box), fix_inputs(b, box)
    except ValueError as e:
        raise Invalid(f"inputs 'free': {e}") from None
    return a, b, [lower[i] for i in box.free], [upper[i] for i in box.free]


def _classes_agree(parts, classes) -> None:
    """Leaves proving a decision (top1/argmin) must all claim one class. Each proves its class the UNIQUE decision
    of its network(s) on a closed region, and the regions of one network's leaves cover the claim's connected box
    (input splits: closed boxes sharing faces; ReLU splits: phase regions), so its proved decision is one class
    everywhere; A's leaves and B's (which may be shaped differently) must then name the same one. Comparing only
    leaves on one path let an A tree split on x0 and a B tree split on x1 prove different classes."""
    found = {c for part, c in zip(parts, classes) if part in ("a", "b", "all")}
    if len(found) > 1:
        raise Invalid(f"leaves proving the networks' decisions claim different classes {sorted(found)}")


def _slopes(blobs: list[str], ch, n_layers: int) -> list[dict]:
    """Decode the leaves' slope records into per-layer (N, n) arrays of the chains' sizes (NaN = default).

    The records are read with struct (a few values each) and written into the arrays once per layer, leaf by
    leaf in record order (a coordinate given twice keeps its last value, as numpy's assignment does)."""
    n = len(blobs)
    sizes = [(len(ch.P[k].b), len(ch.A[k].b), ch.nb[k + 1], len(ch.d_a[k + 1])) for k in range(n_layers)]
    got = [([], [], [], [], [], []) for _ in range(n_layers)]  # p rows, p idx, p values, a rows, a idx, a values
    for e, blob in enumerate(blobs):
        data = base64.b64decode(blob, validate=True)
        pos = 0
        for k, (nP, nA, _, _) in enumerate(sizes):
            n_p, n_a = struct.unpack_from("<ii", data, pos)
            pos += 8
            if not (0 <= n_p <= nP and 0 <= n_a <= nA):
                raise Invalid(f"layer {k}: {n_p} product / {n_a} A slopes for {nP} / {nA} coordinates")
            rows_p, idx_p, val_p, rows_a, idx_a, val_a = got[k]
            idx_p += struct.unpack_from(f"<{n_p}i", data, pos)
            val_p += struct.unpack_from(f"<{4 * n_p}f", data, pos + 4 * n_p)
            pos += 20 * n_p
            idx_a += struct.unpack_from(f"<{n_a}i", data, pos)
            val_a += struct.unpack_from(f"<{2 * n_a}f", data, pos + 4 * n_a)
            pos += 12 * n_a
            rows_p += [e] * n_p
            rows_a += [e] * n_a
        if pos != len(data):
            raise Invalid(f"slope record has {len(data) - pos} trailing bytes")
    out = []
    for k, ((nP, nA, nb, m), (rows_p, idx_p, val_p, rows_a, idx_a, val_a)) in enumerate(zip(sizes, got)):
        rec = {key: np.full((n, size), np.nan) for key, size in
               (("p_su", nP), ("p_sl", nP), ("p_qu", m), ("p_ql", m), ("a_su", nA), ("a_sl", nA))}
        p_idx, a_idx = np.array(idx_p, dtype=int), np.array(idx_a, dtype=int)
        p_val, a_val = np.array(val_p, dtype=np.float64).reshape(-1, 4), np.array(val_a, dtype=np.float64).reshape(-1, 2)
        if (len(p_idx) and (p_idx.min() < 0 or p_idx.max() >= nP)) or (len(a_idx) and (a_idx.min() < 0 or a_idx.max() >= nA)):
            raise Invalid(f"layer {k}: slope index out of range")
        if np.isinf(p_val).any() or np.isinf(a_val).any():
            raise Invalid(f"layer {k}: infinite slope")
        rp, ra = np.array(rows_p, dtype=int), np.array(rows_a, dtype=int)
        rec["p_su"][rp, p_idx], rec["p_sl"][rp, p_idx] = p_val[:, 0], p_val[:, 1]
        t = p_idx - nb
        d = (t >= 0) & (t < m)
        rec["p_qu"][rp[d], t[d]], rec["p_ql"][rp[d], t[d]] = p_val[d, 2], p_val[d, 3]
        rec["a_su"][ra, a_idx], rec["a_sl"][ra, a_idx] = a_val[:, 0], a_val[:, 1]
        out.append(rec)
    return out


# ---------------------------------------------------------------- leaves


def _check(doc: dict, a: Network, b: Network, batch: int, pool: ChunkPool) -> Scope:
    check_float_environment()
    (kind, eps), lower, upper = _claim(doc, a, b)
    claimed = tuple(lower), tuple(upper)
    a, b, lower, upper = _inputs(doc.get("inputs", "all"), a, b, lower, upper)
    strategy = doc["strategy"]
    if strategy not in ("input", "relu"):
        raise Invalid(f"unknown strategy {strategy!r}")
    pairing = [[(int(i), int(j)) for i, j in layer] for layer in doc["pairing"]]
    try:
        ch = build_chains(a, b, pairing)
    except ValueError as e:
        raise Invalid(f"pairing: {e}") from None
    leaves = doc["leaves"]
    paths = [tuple(path_entry(e) for e in leaf["path"]) for leaf in leaves]
    parts = [leaf["part"] for leaf in leaves]
    whole = kind in ("epsilon", "delta-top1", "written")  # one claim part: every leaf proves the whole property
    if any(p not in ("all", "a", "b") for p in parts) or (whole and set(parts) != {"all"}):
        raise Invalid(f"leaf parts {sorted(set(parts))} do not fit mode {kind}")
    for claim in (("all",),) if whole else (("a", "all"), ("b", "all")):
        check_tree([path for path, part in zip(paths, parts) if part in claim], strategy)
    if not whole:
        _classes_agree(parts, [leaf["class"] for leaf in leaves])
    hidden = len(ch.P) - 1
    prior = None
    if doc["hidden"] not in ("leaf", "root") or (doc["hidden"] == "root" and strategy != "relu"):
        raise Invalid(f"hidden-layer bounds {doc['hidden']!r} (expected 'leaf', or 'root' with strategy 'relu')")
    if doc["hidden"] == "root":
        xl, xu = _float_box(lower, upper)
        _, _, _, bounds, empty = hidden_pass(ch, xl[None], xu[None], _slopes([doc["root"]["slopes"]], ch, hidden))
        prior = [tuple(v for v in layer) for layer in bounds]
    roots = _root_bounds(doc, ch, lower, upper, hidden)
    shared = (ch, kind, eps, lower, upper, strategy, prior, hidden, roots)
    chunks = [(leaves[s:s + size], paths[s:s + size]) for s, size in leaf_chunks(len(leaves), batch, pool.jobs)]
    checked = pool.map(_check_chunk, shared, chunks)
    if sum(checked) != len(leaves):  # every leaf must have been re-derived: a lost chunk is never a pass
        raise PoolFailure(f"{sum(checked)} of {len(leaves)} leaves re-derived")
    mode = doc["claim"]["mode"] if kind == "delta-top1" else kind
    return Scope(mode, eps if kind == "epsilon" else None, *claimed, "", False, "layers",
                 len(eps) if kind == "written" else None, pair=True)


def _root_bounds(doc: dict, ch, lower, upper, hidden: int) -> dict:
    """Per network ('a', 'b') named in the optional `roots`, its hidden-layer bounds on the claim's box, re-derived
    here: the one-network pass with DeepPoly's slopes, then the pass with the recorded root slopes intersected with
    it layer by layer. They hold on every leaf of a ReLU-split tree (all share that box)."""
    roots = doc.get("roots")
    if roots is None:
        return {}
    if doc["strategy"] != "relu" or not isinstance(roots, dict) or not set(roots) <= {"a", "b"}:
        raise Invalid("'roots' must map 'a' / 'b' to {'slopes': BLOB}, with strategy 'relu'")
    xl, xu = _float_box(lower, upper)
    out = {}
    for part, record in roots.items():
        if not isinstance(record, dict) or not isinstance(record.get("slopes"), str):
            raise Invalid(f"root of network {part}: expected {{'slopes': BLOB}}")
        _, dp_empty, dp = single_pass(ch, part, xl[None], xu[None], _slopes([_no_slopes(hidden)], ch, hidden))
        _, empty, bounds = single_pass(ch, part, xl[None], xu[None], _slopes([record["slopes"]], ch, hidden), root=dp)
        if dp_empty.any() or empty.any():  # sound bounds of a non-empty box never cross: never expected
            raise Invalid(f"root bounds of network {part} contradict each other on the claim's box")
        out[part] = bounds
    return out


def _no_slopes(hidden: int) -> str:
    """A slope record listing no coordinate of any hidden layer: every slope is the default (DeepPoly's)."""
    return base64.b64encode(struct.pack("<ii", 0, 0) * hidden).decode("ascii")


def leaf_chunks(n: int, batch: int, jobs: int) -> list[tuple[int, int]]:
    """(start, size) of the leaf chunks: at most `batch` leaves each, of nearly equal sizes, and (with jobs > 1 and
    more than one batch of leaves) at least `jobs` of them (the processes take chunks from one queue)."""
    count = -(-n // batch)
    if jobs > 1 and n > batch:
        count = -(-count // jobs) * jobs
    size = -(-n // max(count, 1))
    return [(s, min(size, n - s)) for s in range(0, n, size)] if n else []


def _check_chunk(shared: tuple, chunk: tuple) -> int:
    """Re-derive one chunk of leaves (Invalid when one does not prove its part); the number of leaves checked."""
    ch, kind, eps, lower, upper, strategy, prior, hidden, roots = shared
    leaves, paths = chunk
    _check_batch(ch, leaves, paths, kind, eps, lower, upper, strategy, prior, hidden, roots)
    return len(leaves)


def _float_box(lower, upper):
    return np.array([q_interval(v)[0] for v in lower]), np.array([q_interval(v)[1] for v in upper])


def leaf_box(claim, path):
    """Float enclosures (lo, hi) of a leaf's box, or None when it is empty. claim: per input the float enclosures
    ((Ld, Lu), (Ud, Uu)) of the claim's exact bounds L, U (Ld == Lu iff L is a float, else adjacent floats).
    A leaf's bound on an input is the claim's or a split point m (a float); they are compared exactly through the
    enclosure, as no float lies strictly between Ld and Lu: m >= Lu means m >= L, m <= Ld means m <= L."""
    lo, hi = [c[0] for c in claim], [c[1] for c in claim]
    for _, d, m, side in path:
        if not 0 <= d < len(lo):
            raise Invalid(f"split on input {d} of {len(lo)}")
        if not math.isfinite(m):
            raise ValueError(f"split point {m} on input {d}")
        if side == 0 and m <= hi[d][0]:
            hi[d] = (m, m)
        elif side == 1 and m >= lo[d][1]:
            lo[d] = (m, m)
    if any(h[0] < l[0] if l[0] == l[1] else (h[0] == h[1] and h[0] < l[1]) for l, h in zip(lo, hi)):
        return None  # lower > upper: an empty leaf holds no input (two claim bounds never cross: _claim)
    return np.array([l[0] for l in lo]), np.array([h[1] for h in hi])


def _check_batch(ch, leaves, paths, kind, eps, lower, upper, strategy, prior, hidden, roots) -> None:
    claim = [(q_interval(l), q_interval(u)) for l, u in zip(lower, upper)]
    whole = _float_box(lower, upper)
    keep, boxes = [], []
    for e, path in enumerate(paths):
        box = leaf_box(claim, path) if strategy == "input" else whole
        if box is not None:
            boxes.append(box)
            keep.append(e)
    if any(leaf["pass"] not in ("pair", "single") or (leaf["pass"] == "single" and leaf["part"] == "all") for leaf in leaves):
        raise Invalid("a leaf's pass must be 'pair', or 'single' for a one-network part")
    for leaf, path in zip(leaves, paths):
        if leaf.get("root", False) not in (False, True) or (leaf.get("root") and leaf["pass"] != "single"):
            raise Invalid(f"leaf {list(path)}: 'root' must be true or false, and true only with pass 'single'")
        if "hidden_slopes" in leaf and leaf["pass"] != "single":
            raise Invalid(f"leaf {list(path)}: 'hidden_slopes' only on one-network leaves (pass 'single')")
        if leaf.get("root") and leaf["part"] not in roots:
            raise Invalid(f"leaf {list(path)} uses the root's hidden-layer bounds of network {leaf['part']}, "
                          "but the certificate records no root slopes for it ('roots')")
    for part, how in (("all", "pair"), ("a", "pair"), ("b", "pair"), ("a", "single"), ("b", "single")):
        rows = [r for r, e in enumerate(keep) if leaves[e]["part"] == part and leaves[e]["pass"] == how]
        if rows:
            sel = [keep[r] for r in rows]
            _check_part(ch, [leaves[e] for e in sel], [paths[e] for e in sel], [boxes[r] for r in rows], part, how,
                        kind, eps, strategy, prior, hidden, roots.get(part))


def _phases(ch, paths, hidden):
    ph = [(np.zeros((len(paths), len(ch.A[k].b))), np.zeros((len(paths), len(ch.B[k].b)))) for k in range(hidden)]
    for r, path in enumerate(paths):
        for net, layer, neuron, phase in path:
            if net not in ("a", "b") or not 0 <= layer < hidden or phase not in (-1, 1):
                raise Invalid(f"bad neuron split {[net, layer, neuron, phase]}")
            arr = ph[layer][0 if net == "a" else 1]
            if not 0 <= neuron < arr.shape[1]:
                raise Invalid(f"neuron split {[net, layer, neuron, phase]} out of range")
            arr[r, neuron] = phase
    return ph


def _leaf_roots(leaves, root) -> list | None:
    """Per hidden layer (lo, hi) (N, n): the root's bounds for the leaves that use them, −inf / +inf for the others."""
    use = np.array([bool(leaf.get("root")) for leaf in leaves])
    if not use.any():
        return None
    return [(np.where(use[:, None], lo, -np.inf), np.where(use[:, None], hi, np.inf)) for lo, hi in root]


def _check_part(ch, leaves, paths, boxes, part, how, kind, eps, strategy, prior, hidden, root=None) -> None:
    """Re-derive one group of leaves: both networks in lockstep ('pair') or one network alone ('single', its
    hidden-layer bounds intersected with the root's, `root`, on the leaves that say so)."""
    n_out = len(ch.P[-1].b) // 2
    xl = np.array([bx[0] for bx in boxes])
    xu = np.array([bx[1] for bx in boxes])
    slopes = _slopes([leaf["slopes"] for leaf in leaves], ch, hidden)
    ph = _phases(ch, paths, hidden) if strategy == "relu" else None
    last = len(ch.P) - 1
    n = len(leaves)
    if how != "single" and any(leaf.get("betas") for leaf in leaves):
        raise Invalid("β multipliers are recorded only on one-network leaves (pass 'single')")
    if kind == "delta-top1":
        if how != "pair":
            raise Invalid("delta-top1 leaves are derived with both networks in lockstep (pass 'pair')")
        ok, empty = _delta_ok(ch, leaves, xl, xu, slopes, ph, prior, eps)
        what = "a class may exceed δ on it while B is not proved to prefer that class there"
    elif kind == "epsilon":
        cP, _, _, _, empty = hidden_pass(ch, xl, xu, slopes, ph, prior)
        T = np.zeros((n, 2 * n_out, 2 * n_out))
        T[:, np.arange(n_out), n_out + np.arange(n_out)] = 1.0
        T[:, n_out + np.arange(n_out), n_out + np.arange(n_out)] = -1.0
        ok = np.all(cP.rows(last, T) <= q_interval(eps)[0], axis=1)
        what = f"a bound on |y_A − y_B| exceeds ε = {eps}"
    elif kind == "written":  # eps is the claim's DNF here
        try:
            R, thresholds, disjunct = written_rows(eps, n_out)
        except WrittenClaimError as e:
            raise Invalid(str(e)) from None
        cP, _, _, _, empty = hidden_pass(ch, xl, xu, slopes, ph, prior)
        uppers = cP.rows(last, np.broadcast_to(R, (n,) + R.shape).copy()) if len(R) else np.zeros((n, 0))
        ok = leaves_closed(uppers, thresholds, disjunct, len(eps))
        what = "some disjunct of the claim's DNF has no atom proven false"
    else:
        cls = np.array([leaf["class"] for leaf in leaves])
        if np.any((cls < 0) | (cls >= n_out)):
            raise Invalid("leaf class out of range")
        M = np.broadcast_to(np.eye(n_out), (n, n_out, n_out)).copy()
        M[np.arange(n), :, cls] -= 1.0
        M *= 1.0 if kind == "top1" else -1.0
        own = np.arange(n_out)[None, :] == cls[:, None]
        if how == "pair":
            cP, cA, cB, _, empty = hidden_pass(ch, xl, xu, slopes, ph, prior)
            a_ok = np.all(own | (np.minimum(cA.rows(last, M), cP.rows(last, np.concatenate([M, M], axis=2))) < 0), axis=1)
            b_ok = np.all(own | (cB.rows(last, M) < 0), axis=1)
            ok = {"all": a_ok & b_ok, "a": a_ok, "b": b_ok}[part]
        else:
            chain, empty = _single_leaves(ch, part, leaves, xl, xu, slopes, ph, hidden, _leaf_roots(leaves, root))
            sizes = [len(layer.b) for layer in (ch.A if part == "a" else ch.B)[:-1]]
            try:
                split = split_terms(leaves, paths, part, n_out, sizes)
            except BetaError as e:
                raise Invalid(str(e)) from None
            ok = np.all(own | (chain.rows(last, M, split) < 0), axis=1)
        what = "the leaf's class is not proved the unique decision of its network(s)"
    bad = np.flatnonzero(~(ok | empty))
    if len(bad):
        raise Invalid(f"leaf {list(paths[bad[0]])}: {what}")


def _single_leaves(ch, part, leaves, xl, xu, slopes, ph, hidden: int, root):
    """One network's pass over one-network leaves: (chain, empty). A leaf with `hidden_slopes` has its hidden-layer
    bounds derived with those slopes, then its objective rows with `slopes` over these bounds (no hidden layer
    back-substituted again: they are sound for the leaf's region, whatever slopes derived them); the others use
    `slopes` throughout (the second pass then reproduces the first's bounds)."""
    if not any("hidden_slopes" in leaf for leaf in leaves):
        chain, empty, _ = single_pass(ch, part, xl, xu, slopes, ph, root)
        return chain, empty
    first = _slopes([leaf.get("hidden_slopes", leaf["slopes"]) for leaf in leaves], ch, hidden)
    _, empty, bounds = single_pass(ch, part, xl, xu, first, ph, root)
    chain, again, _ = single_pass(ch, part, xl, xu, slopes, ph, bounds, refine=False)
    return chain, empty | again


def _delta_ok(ch, leaves, xl, xu, slopes, ph, prior, lminus: Fraction):
    """delta-top1 per leaf (module docstring), from upper bounds re-derived here, for every class k: a_k − a_j on
    A's chain and through the product chain (a = b + Δ, the smaller counting), b_j − b_k, Δ_k − Δ_j."""
    n_out = len(ch.P[-1].b) // 2
    n, last = len(leaves), len(ch.P) - 1
    cls = np.array([leaf["class"] for leaf in leaves])
    if np.any((cls < 0) | (cls >= n_out)):
        raise Invalid("leaf class out of range")
    limit = q_interval(lminus)[0]  # a float <= L⁻
    cP, cA, cB, _, empty = hidden_pass(ch, xl, xu, slopes, ph, prior)
    eye = np.eye(n_out)
    pairs = np.broadcast_to((eye[:, None, :] - eye[None, :, :]).reshape(-1, n_out), (n, n_out * n_out, n_out))
    square = (n, n_out, n_out)  # [leaf, k, j]
    diagonal = np.eye(n_out, dtype=bool)[None]
    ua = np.minimum(cA.rows(last, pairs), cP.rows(last, np.concatenate([pairs, pairs], axis=2))).reshape(square)
    cannot = np.any(~diagonal & (ua <= limit), axis=2)  # class k cannot exceed δ on the leaf
    b_prefers = cB.rows(last, -pairs).reshape(square) < 0  # b_j − b_k < 0
    shifts = cP.rows(last, np.concatenate([np.zeros_like(pairs), pairs], axis=2)).reshape(square) <= limit
    agrees = np.all(diagonal | b_prefers | shifts, axis=2)
    return np.all(cannot | agrees, axis=1), empty
