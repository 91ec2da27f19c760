"""`verify` for graph (CNN/ResNet) pairs: falsification with exact replay, then lumping-match, else honest `unknown`.

1. falsify: float samples (box corners, centre and uniform points; standard normal points without a box) rank
   candidates; a candidate is a counterexample only when its exact rational input (the float's own value, clamped
   into the box) violates the mode in exact evaluation (`evaluate_exact`: Fractions, BatchNorm Radicals enclosed
   rigorously). Floats never decide.
2. lumping-match: BatchNorms with rational scales are folded into their Convs exactly (reduction/batchnorm_fold.py,
   so a BN model and its exact fold meet), both graphs are reduced by exact channel lumping (valid on all inputs), each reduction is
   confirmed by the independent checker (`checker.graph.check_certificate`), and the two reduced graphs must be
   identical up to tensor and node names (same ops in the same order, exactly equal parameters). Then
   A = red(A) = red(B) = B everywhere, so `unsat` in every mode. When they differ (e.g. channels permuted or
   positively rescaled), both reduced chains are unrolled exactly into dense chains (ir/graph/unroll.py: each row
   the conv at one position) and matched neuron by neuron like dense pairs (equivalence/match.py: rows hashed,
   every pair then confirmed exactly: same normalised row up to an admissible factor); a match proves
   red(A) ≡ red(B), so again `unsat`. Branches, max-pooling after a non-ReLU and irrational BatchNorms are not
   unrolled (unknown).
3. difference bound (epsilon mode, on a box): the joint graph A(x) − B(x) (one shared input) gets sound symbolic
   bounds (`bounds.graph_symbolic`, float-sound with outward rounding, BatchNorm roots enclosed); when
   max |A − B| <= ε there, `unsat`: A and B agree within the certified ε on the box (e.g. a float BN fold).
4. otherwise `unknown`, saying what was tried (graph equivalence beyond these is not decided here).
"""

from __future__ import annotations

import time
from dataclasses import fields, is_dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..checker.graph import check_certificate
from ..equivalence.falsify import Enclosure, decide, float_scores, onnxruntime_outputs
from ..equivalence.match import NoMatch, match_networks
from ..equivalence.mode import Mode
from ..ir.graph.softmax_head import strip_final_softmax
from ..equivalence.result import VerifyResult
from ..ir.domain import Box
from ..epsilon.certificate import round_up
from ..ir.exact import to_fraction
from ..bounds.graph_symbolic import bounds_by
from ..ir.graph.dag import Graph, Node, TensorSpec
from ..ir.graph.ops import Binary, Reshape
from ..ir.graph.evaluate import ExactnessError, evaluate_exact, evaluate_float
from ..ir.graph.radical import Radical
from ..ir.graph.unroll import UnrollError, unroll
from ..prove.graph_prover import certificate_of
from ..reduction.batchnorm_fold import fold_batchnorms
from ..reduction.channel_lumping import reduce_channels
from .graph_pipeline import box_for

SAMPLES = 256  # float samples (more when time allows is not needed: replays decide, floats only rank)
REPLAYS = 8  # best-ranked candidates replayed exactly
ENCLOSURE_BITS = 128


def shape_problem(a: Graph, b: Graph, box: Box | None) -> str:
    if len(a.inputs) != 1 or len(b.inputs) != 1 or len(a.outputs) != 1 or len(b.outputs) != 1:
        return "graph verify compares single-input, single-output models"
    if a.inputs[0].size != b.inputs[0].size:
        return f"input sizes differ: {a.inputs[0].size} vs {b.inputs[0].size}"
    na, nb = (int(np.prod(g.shapes[g.outputs[0]])) for g in (a, b))
    if na != nb:
        return f"output sizes differ: {na} vs {nb}"
    if box is not None and box.dim != a.inputs[0].size:
        return f"the domain box has {box.dim} inputs but the models take {a.inputs[0].size}"
    return ""


def _value(v: object) -> object:
    """An exactly evaluated output as falsify's Value: a Fraction, or a rigorous Enclosure of a Radical (sympy
    values, after sigmoid/tanh/softmax, are not enclosed here: None, never decided)."""
    if isinstance(v, (Fraction, int)):
        return Fraction(v)
    if isinstance(v, Radical):
        return Enclosure(*v.enclosure(ENCLOSURE_BITS))
    return None


def _flat_out(g: Graph, x: tuple[Fraction, ...]) -> tuple | None:
    s = g.inputs[0]
    try:
        y = evaluate_exact(g, {s.name: np.array(x, dtype=object).reshape(s.shape)})[g.outputs[0]].reshape(-1)
    except ExactnessError:
        return None
    values = tuple(_value(v) for v in y)
    return None if any(v is None for v in values) else values


def _samples(n_in: int, box: Box | None, rng: np.random.Generator) -> np.ndarray:
    if box is None:
        return rng.standard_normal((SAMPLES, n_in))
    lo, hi = np.array([float(v) for v in box.lower]), np.array([float(v) for v in box.upper])
    corners = np.where(rng.integers(0, 2, (SAMPLES // 4, n_in)).astype(bool), hi, lo)
    return np.vstack([(lo + hi) / 2, corners, lo + (hi - lo) * rng.uniform(0, 1, (SAMPLES - 1 - len(corners), n_in))])


def _exact_point(row: np.ndarray, box: Box | None) -> tuple[Fraction, ...]:
    x = [to_fraction(float(v)) for v in row]
    if box is not None:
        x = [min(max(v, lo), hi) for v, lo, hi in zip(x, box.lower, box.upper)]
    return tuple(x)


def falsify(a: Graph, b: Graph, box: Box | None, mode: Mode, deadline: float, seed: int = 0):
    """(witness, exact A(x), exact B(x)) of a replayed violation or None, and (float samples, exact replays)."""
    rng = np.random.default_rng(seed)
    xs = _samples(a.inputs[0].size, box, rng)
    ya, yb = [], []
    for row in xs:
        if time.monotonic() > deadline:
            break
        for g, ys in ((a, ya), (b, yb)):
            s = g.inputs[0]
            ys.append(evaluate_float(g, {s.name: row.reshape(s.shape)})[g.outputs[0]].reshape(-1))
    if not ya:
        return None, (0, 0)
    scores = float_scores(mode, np.array(ya), np.array(yb))
    replays = 0
    for i in np.argsort(-scores)[:REPLAYS]:
        if time.monotonic() > deadline:
            break
        x = _exact_point(xs[i], box)
        oa, ob = _flat_out(a, x), _flat_out(b, x)
        replays += 1
        if oa is not None and ob is not None and decide(mode, oa, ob) is True:
            return (x, oa, ob), (len(ya), replays)
    return None, (len(ya), replays)


def _same_value(u: object, v: object) -> bool:
    """Exact equality of op fields: arrays element by element, the IR's (eq=False) dataclasses field by field."""
    if isinstance(u, np.ndarray) or isinstance(v, np.ndarray):
        return isinstance(u, np.ndarray) and isinstance(v, np.ndarray) and u.shape == v.shape and \
            all(p == q for p, q in zip(u.reshape(-1), v.reshape(-1)))
    if is_dataclass(u) or is_dataclass(v):
        return type(u) is type(v) and all(_same_value(getattr(u, f.name), getattr(v, f.name)) for f in fields(u))
    if isinstance(u, (tuple, list)) and isinstance(v, (tuple, list)):
        return len(u) == len(v) and all(_same_value(p, q) for p, q in zip(u, v))
    return u == v


def same_up_to_names(a: Graph, b: Graph) -> bool:
    """The graphs are the same computation: same input/output shapes, same ops in the same order reading the
    same (renamed) tensors, exactly equal parameters."""
    if [s.shape for s in a.inputs] != [s.shape for s in b.inputs] or len(a.nodes) != len(b.nodes):
        return False
    na = {s.name: i for i, s in enumerate(a.inputs)}
    nb = {s.name: i for i, s in enumerate(b.inputs)}
    for k, (x, y) in enumerate(zip(a.nodes, b.nodes)):
        if type(x.op) is not type(y.op) or [na.get(t) for t in x.inputs] != [nb.get(t) for t in y.inputs]:
            return False
        if not all(_same_value(getattr(x.op, f.name), getattr(y.op, f.name)) for f in fields(x.op)):
            return False
        na[x.output], nb[y.output] = len(a.inputs) + k, len(b.inputs) + k
    return [na.get(o) for o in a.outputs] == [nb.get(o) for o in b.outputs]


def lumping_match(a: Graph, b: Graph) -> tuple[bool, str]:
    """Both exact channel lumpings, each confirmed by the independent checker, and their results compared."""
    reduced, folds = [], 0
    for side, g in (("A", a), ("B", b)):
        g, n = fold_batchnorms(g)  # exact (rational scales only): both sides in the same form
        folds += n
        r = reduce_channels(g)
        checked = check_certificate(g, r.reduced, certificate_of(r).to_dict())
        if not checked.valid:
            return False, f"the channel lumping of {side} did not check ({checked.reasons[0]})"
        reduced.append(r.reduced)
    folded = f" (after folding {folds} BatchNorm(s) with rational scales exactly)" if folds else ""
    if same_up_to_names(*reduced):
        return True, f"both graphs reduce, by checked exact channel lumpings, to the same graph{folded}"
    matched, why = unrolled_match(*reduced)
    if matched:
        return True, f"both graphs reduce, by checked exact channel lumpings{folded}, to graphs {why}"
    return False, f"their exact channel lumpings are different graphs ({why})"


def unrolled_match(a: Graph, b: Graph) -> tuple[bool, str]:
    """Exact dense unrollings of both graphs matched up to neuron (hence channel) permutation and admissible scaling;
    (matched, why) — the reason says what failed."""
    try:
        na, nb = unroll(a), unroll(b)
    except UnrollError as exc:
        return False, f"not matched channel by channel: {exc}"
    if na.normalization != nb.normalization:
        return False, "their input/output maps differ"
    try:
        match_networks(na, nb)
    except NoMatch as exc:
        return False, f"their dense unrollings do not match: {exc}"
    return True, ("whose exact dense unrollings match neuron by neuron (channels permuted/positively rescaled, every "
                  "pair confirmed exactly)")


def joint_difference(a: Graph, b: Graph) -> Graph:
    """The graph of A(x) − B(x): both graphs' nodes (tensors renamed a/…, b/…) on one shared input (reshaped, C order,
    for a graph whose input has the same size in another shape: a dense chain against a CNN)."""
    x = a.inputs[0]

    def renamed(g: Graph, tag: str) -> list[Node]:
        names = {g.inputs[0].name: x.name}
        nodes = []
        if g.inputs[0].shape != x.shape:
            nodes.append(Node(f"{tag}/input", Reshape(tuple(g.inputs[0].shape)), (x.name,), f"{tag}/input"))
            names[g.inputs[0].name] = f"{tag}/input"
        for n in g.nodes:
            names[n.output] = f"{tag}/{n.output}"
            nodes.append(Node(f"{tag}/{n.name}", n.op, tuple(names[t] for t in n.inputs), names[n.output]))
        return nodes

    na, nb = renamed(a, "a"), renamed(b, "b")
    ya = next(n.output for n in na if n.output == f"a/{a.outputs[0]}")
    yb = next(n.output for n in nb if n.output == f"b/{b.outputs[0]}")
    shape = a.shapes[a.outputs[0]]
    nodes = na + nb
    if b.shapes[b.outputs[0]] != shape:
        nodes.append(Node("b/reshape", Reshape(tuple(shape)), (yb,), "b/reshaped"))
        yb = "b/reshaped"
    nodes.append(Node("difference", Binary("sub"), (ya, yb), "difference"))
    return Graph((TensorSpec(x.name, x.shape),), tuple(nodes), ("difference",))


def difference_bound(a: Graph, b: Graph, box: Box) -> Fraction:
    """A sound upper bound of max_i |A(x)_i − B(x)_i| over the box (symbolic bounds on the joint graph)."""
    joint = joint_difference(a, b)
    lo, hi = bounds_by("symbolic")(joint, box_for(joint, box))["difference"]
    return max(Fraction(float(np.max(hi))), Fraction(float(-np.min(lo))), Fraction(0))


def verify_graphs(a: Graph, b: Graph, box: Box | None, mode: Mode, timeout: float, *, a_path: str | Path | None = None,
                  b_path: str | Path | None = None, seed: int = 0) -> VerifyResult:
    """Falsification, then lumping-match, else unknown (see the module docstring). delta-top1 is about A's logits:
    a final Softmax is split off each graph first (B's keeps its top output), so outputs shown are logits."""
    if mode.kind == "delta-top1":
        a, b = strip_final_softmax(a) or a, strip_final_softmax(b) or b
    problem = shape_problem(a, b, box)
    if problem:
        return VerifyResult("error", mode, "shape-check", problem)
    start, times = time.monotonic(), {}
    found, (sampled, replays) = falsify(a, b, box, mode, start + timeout / 2, seed)
    times["falsify"] = time.monotonic() - start
    if found is not None:
        x, oa, ob = found
        ort = {}
        for name, path in (("a", a_path), ("b", b_path)):
            if path is not None and str(path).endswith(".onnx"):
                try:
                    ort[name] = onnxruntime_outputs(path, x)
                except Exception:  # noqa: BLE001 - informative only; never changes the verdict
                    pass
        return VerifyResult("sat", mode, "falsify", "counterexample replayed exactly (graph evaluation)", witness=x,
                            output_a=oa, output_b=ob, onnxruntime=ort, times=times)
    if time.monotonic() - start > timeout:
        return VerifyResult("timeout", mode, "none", f"time budget of {timeout:g} s used up", times=times)
    t = time.monotonic()
    matched, why = lumping_match(a, b)
    times["lumping-match"] = time.monotonic() - t
    if matched:
        where = "on all inputs" if box is None else "on all inputs (so on the box)"
        return VerifyResult("unsat", mode, "lumping-match", f"equivalent {where}: {why}", times=times)
    bound_note = ""
    if box is not None and mode.kind == "epsilon":
        t = time.monotonic()
        bound = difference_bound(a, b, box)
        times["difference-bound"] = time.monotonic() - t
        shown = f"{float(round_up(to_fraction(bound), 3)):.3g}"  # rounded up: a bound printed short stays a bound
        if bound <= mode.epsilon:
            return VerifyResult("unsat", mode, "difference-bound", f"certified max |A − B| <= {shown} <= ε on the box "
                                "(sound symbolic bounds of A − B)", times=times, details={"bound": str(bound)})
        bound_note = f"; the certified bound max |A − B| <= {shown} is above ε"
    return VerifyResult("unknown", mode, "none", f"no counterexample among {sampled} float samples ({replays} replayed "
                        f"exactly); {why}{bound_note}, and graph equivalence beyond this is not decided", times=times)
