"""Graph checker, step 1: re-derive every claimed channel relation of a round from the claims on each op's
inputs (producer rows exactly proportional after folding the verified input claims; channel-wise ops by the
identities of graph_rules.py), and confirm claimed ReLU phases with sound bounds on the certificate's box.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..bounds.graph_interval import channel_phases
from ..bounds.graph_symbolic import bounds_by
from ..ir.exact import as_fractions
from ..ir.graph import kernels as K
from ..ir.graph.dag import Graph, Node
from ..ir.graph.ops import Act, Affine, AveragePool, BatchNorm, Binary, Clip, Conv, Softmax
from .graph_document import Claim, Round
from .graph_layout import Invalid, Layout, is_producer, reads_channels
from .graph_rules import derive, join, matches, per_channel_values, pool_uniform, relate, softmax_entries


def _fold_columns(w: np.ndarray, b: np.ndarray, claims: dict, ch: np.ndarray, inner: int, padded: bool):
    """Fold claimed input channels into their reps (W[:, ρ] += r·W[:, m], b += o·ΣW[:, m]); constants into the
    bias (under zero padding only κ = 0, others into the first nonzero constant as multiples of one map)."""
    keep = np.ones(w.shape[1], dtype=bool)
    first_const = None
    for c in sorted(claims):
        cl = claims[c]
        cols = np.flatnonzero(ch == c)
        if cl.rep is None and padded and cl.offset != 0:
            if first_const is None:
                first_const = cl
                continue
            target, factor, offset = first_const.channel, cl.offset / first_const.offset, Fraction(0)
        elif cl.rep is None:
            target, factor, offset = None, Fraction(0), cl.offset
        elif padded and cl.offset != 0:
            continue
        else:
            target, factor, offset = cl.rep, cl.factor, cl.offset
        for col in cols:
            block = w[:, col]
            if target is not None:
                tcol = col + (target - c) * inner
                w[:, tcol] = w[:, tcol] + block * factor
            if offset:
                b = b + block.reshape(block.shape[0], -1).sum(axis=1) * offset
            keep[col] = False
    return w[:, keep], b


def producer_rows(node: Node, g: Graph, lays: dict, claims: dict) -> tuple[np.ndarray, np.ndarray]:
    """Exact aggregated rows and bias of a Conv/MatMul given the verified claims on its input."""
    op, x = node.op, node.inputs[0]
    lay = lays.get(x)
    in_claims = claims.get(x, {}) if reads_channels(node, lay, g) else {}
    if isinstance(op, Conv):
        w = K.exact_of(op.weight).copy()
        b = K.exact_of(op.bias if op.bias is not None else np.zeros(op.out_channels))
        ch, inner, padded = np.arange(w.shape[1]), 1, op.window.padded
    else:
        w = K.exact_of(op.weight).T.copy()
        n = w.shape[0]
        bias = np.broadcast_to(as_fractions(op.bias), g.shapes[node.output]).reshape(-1, n) if op.bias is not None else None
        if bias is not None and any(not np.array_equal(bias[0], row) for row in bias[1:]):
            raise Invalid(f"{node.where()}: claims on its output but its bias varies along the leading axes")
        b = bias[0].copy() if bias is not None else K.exact_of(np.zeros(n))
        ch = (np.arange(w.shape[1]) // lay.inner) % lay.channels if in_claims else np.arange(w.shape[1])
        inner, padded = (lay.inner if in_claims else 1), False
    w, b = _fold_columns(w, b, in_claims, ch, inner, padded)
    return w.reshape(w.shape[0], -1), b


def _ctx(node: Node, g: Graph, lay: Layout, phases: dict) -> dict:
    op, shape = node.op, g.shapes[node.output]
    ctx: dict = {"phases": phases[node.output]} if node.output in phases else {}
    if isinstance(op, Affine):
        a = per_channel_values(op.scale, shape, lay.axis, lay.inner, lay.channels)
        s = per_channel_values(op.shift, shape, lay.axis, lay.inner, lay.channels)
        if a is None or s is None:
            return {"affine": None}
        ctx["affine"] = (a, s)
    if isinstance(op, Clip):
        n = lay.channels
        lo = per_channel_values(op.lower, shape, lay.axis, lay.inner, n) if op.lower is not None else [None] * n
        hi = per_channel_values(op.upper, shape, lay.axis, lay.inner, n) if op.upper is not None else [None] * n
        ctx["bounds"] = (lo, hi) if lo is not None and hi is not None else None
    if isinstance(op, AveragePool):
        ctx["uniform"] = pool_uniform(op, g.shapes[node.inputs[0]][2:])
    if isinstance(op, Softmax):
        ctx["softmax_n"] = softmax_entries(op, shape)
    return ctx


def _const_source(node: Node, m: int, ctx: dict) -> Fraction | None:
    """A channel made constant by the op itself (scale 0, BatchNorm γ = 0, ReLU inactive on the box)."""
    op = node.op
    if isinstance(op, Act) and op.activation.kind == "relu" and ctx.get("phases") and ctx["phases"][m] == "inactive":
        return Fraction(0)
    if isinstance(op, Affine) and ctx.get("affine") and ctx["affine"][0][m] == 0:
        return ctx["affine"][1][m]
    if isinstance(op, BatchNorm) and Fraction(op.scale[m]) == 0:
        return Fraction(op.bias[m])
    return None


def _check_claim(node: Node, g: Graph, lays: dict, claims: dict, cl: Claim, rows, phases: dict) -> None:
    op = node.op
    where = f"claim {cl} on {node.output!r}"
    if rows is not None:
        w, b = rows
        if cl.rep is None:
            if np.any(w[cl.channel] != 0) or b[cl.channel] != cl.offset:
                raise Invalid(f"{where}: the channel's aggregated weights are not zero with bias {cl.offset}")
        elif np.any(w[cl.channel] != w[cl.rep] * cl.factor) or b[cl.channel] != cl.factor * b[cl.rep] + cl.offset:
            raise Invalid(f"{where}: aggregated rows are not in that exact proportion")
        return
    lay = lays[node.output]
    ctx = _ctx(node, g, lay, phases)
    if any(v is None for k, v in ctx.items() if k != "phases"):
        raise Invalid(f"{where}: {op.kind} parameters vary within a channel")
    rho = cl.channel if cl.rep is None else cl.rep
    if isinstance(op, Binary):
        pair = join(op, *(relate(claims.get(x, {}), cl.channel, rho) for x in node.inputs))
    else:
        pair = relate(claims.get(node.inputs[0], {}), cl.channel, rho)
        pair = derive(op, pair, cl.channel, rho, ctx) if pair is not None else None
    if cl.rep is None:
        value = pair[1] if pair is not None and pair[0] == "const" else _const_source(node, cl.channel, ctx)
        if value != cl.offset:
            raise Invalid(f"{where}: does not follow from the input's claims ({node.where()})")
    elif not matches(cl, pair):
        raise Invalid(f"{where}: does not follow from the input's claims ({node.where()}: derived {pair})")


def verify_claims(g: Graph, lays: dict, claims: dict[str, dict[int, Claim]], phases: dict) -> None:
    producers = {n.output: n for n in g.nodes}
    for tensor, cls in claims.items():
        node = producers.get(tensor)
        lay = lays.get(tensor)
        if node is None or lay is None:
            raise Invalid(f"claims on {tensor!r}, which has no channel layout (input or channel-mixing op)")
        for cl in cls.values():
            if not (0 <= cl.channel < lay.channels and (cl.rep is None or 0 <= cl.rep < lay.channels)):
                raise Invalid(f"claim {cl} on {tensor!r}: channel out of range 0..{lay.channels - 1}")
            if cl.rep is not None and cl.rep in cls:
                raise Invalid(f"claim {cl} on {tensor!r}: its representative {cl.rep} is itself claimed")
    for node in g.nodes:  # in topological order: inputs' claims were checked first
        cls = claims.get(node.output)
        if not cls:
            continue
        rows = producer_rows(node, g, lays, claims) if is_producer(node.op) else None
        for cl in cls.values():
            _check_claim(node, g, lays, claims, cl, rows, phases)


def verify_phases(g: Graph, lays: dict, rnd: Round, box: dict | None, method: str) -> dict:
    """Claimed ReLU phases, each confirmed by sound interval bounds on the certificate's box."""
    if not rnd.phases:
        return {}
    if box is None:
        raise Invalid("ReLU phases are claimed but the certificate states no box")
    for s in g.inputs:
        sides = box.get(s.name)
        if sides is None or len(sides) != 2 or any(np.size(side) != s.size for side in sides):
            raise Invalid(f"the certificate's box does not bound input {s.name!r} (two lists of {s.size} numbers)")
    exact_box = {s.name: (np.array(box[s.name][0], dtype=object), np.array(box[s.name][1], dtype=object)) for s in g.inputs}
    try:
        bounds = bounds_by(method)(g, exact_box)
    except ValueError as e:
        raise Invalid(str(e)) from None
    by_out = {n.output: n for n in g.nodes}
    for name, claimed in rnd.phases.items():
        node = by_out.get(name)
        lay = lays.get(node.inputs[0]) if node is not None and isinstance(node.op, Act) else None
        if lay is None or node.op.activation.kind not in ("relu", "leaky_relu") or len(claimed) != lay.channels:
            raise Invalid(f"phases claimed for {name!r}, which is not a ReLU/LeakyReLU on channels")
        found = channel_phases(*bounds[node.inputs[0]], lay.axis, lay.inner, lay.channels)
        for c, (p, q) in enumerate(zip(claimed, found)):
            if p is not None and p != q:
                raise Invalid(f"channel {c} of {name!r} is claimed {p} on the box, interval bounds show {q or 'unstable'}")
    return dict(rnd.phases)


